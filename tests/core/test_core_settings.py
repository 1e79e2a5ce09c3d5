"""Settings: every variable documented, invalid values fail with one clear line, secrets never leak."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from llmops_kit.config import Settings, SettingsError

ROOT = Path(__file__).resolve().parents[2]
SECRET = "Sup3rS3cretValue"


@pytest.mark.parametrize("env,variable", [
    ({"DAILY_COST_BUDGET_USD": "-1"}, "DAILY_COST_BUDGET_USD"),
    ({"LLMOPS_TELEMETRY": "sometimes"}, "LLMOPS_TELEMETRY"),
    ({"CONTENT_SAFETY_FAIL_MODE": "maybe"}, "CONTENT_SAFETY_FAIL_MODE"),
    ({"APPLICATIONINSIGHTS_CONNECTION_STRING": f"InstrumentationKey={SECRET}"},
     "APPLICATIONINSIGHTS_CONNECTION_STRING"),
    ({"APPLICATIONINSIGHTS_CONNECTION_STRING": f"garbage{SECRET}"}, "APPLICATIONINSIGHTS_CONNECTION_STRING"),
    ({"AUDIT_STORAGE_CONNECTION_STRING": f"AccountKey={SECRET}"}, "AUDIT_STORAGE_CONNECTION_STRING"),
    ({"REDIS_URL": f"http://user:{SECRET}@host"}, "REDIS_URL"),
    ({"MAX_TOKENS_PER_REQUEST": "0"}, "MAX_TOKENS_PER_REQUEST"),
    ({"BUDGET_TIMEZONE": "Mars/Olympus"}, "BUDGET_TIMEZONE"),
    ({"LLMOPS_TELEMETRY": "azure"}, "LLMOPS_TELEMETRY"),
    ({"SAFETY_THRESHOLD_HATE": "9"}, "SAFETY_THRESHOLD_HATE"),
])
def test_invalid_values_name_the_variable_in_one_line(monkeypatch, tmp_path, env, variable):
    monkeypatch.chdir(tmp_path)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(SettingsError) as info:
        Settings.load()
    message = str(info.value)
    assert message.startswith(f"{variable}:")
    assert "expected" in message and "\n" not in message
    assert SECRET not in message


def test_secrets_never_in_repr(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONTENT_SAFETY_KEY", SECRET)
    monkeypatch.setenv("CONTENT_SAFETY_ENDPOINT", "https://cs.example.test")
    settings = Settings.load()
    assert SECRET not in repr(settings) and SECRET not in str(settings.model_dump())
    assert settings.content_safety_key.get_secret_value() == SECRET


def test_reads_dot_env(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("MAX_TOKENS_PER_REQUEST=7777\nLLMOPS_TELEMETRY=off\n")
    settings = Settings.load()
    assert settings.max_tokens_per_request == 7777 and settings.telemetry == "off"


def test_every_setting_is_in_env_example():
    example = (ROOT / "samples" / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, re.M))
    for name, info in Settings.model_fields.items():
        aliases = getattr(info.validation_alias, "choices", None)
        env = str(aliases[0]) if aliases else name.upper()
        assert env in documented, f"{env} missing from samples/.env.example"


@pytest.mark.parametrize("env,variable", [
    ({"BUDGET_TENANT_OVERRIDES": "{bad"}, "BUDGET_TENANT_OVERRIDES"),
    ({"BUDGET_SOFT_THRESHOLDS": "50,abc"}, "BUDGET_SOFT_THRESHOLDS"),
    ({"BUDGET_POLICY_FILE": "/nonexistent/policy.yaml"}, "BUDGET_POLICY_FILE"),
    ({"MAX_TOKENS_PER_REQUEST": "800"}, "MAX_TOKENS_PER_REQUEST"),
])
def test_budget_policy_inputs_fail_at_start_up(monkeypatch, tmp_path, env, variable):
    monkeypatch.chdir(tmp_path)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(SettingsError) as info:
        Settings.load()
    assert str(info.value).startswith(f"{variable}:") and "\n" not in str(info.value)
