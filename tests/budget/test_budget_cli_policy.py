"""Policy parsing and the ``budget`` CLI against a real SQLite ledger built from Settings."""

from __future__ import annotations

import asyncio

import pytest
from typer.testing import CliRunner

from llmops_kit.budget.base import BudgetAmount, BudgetSubject
from llmops_kit.budget.cli import budget_app
from llmops_kit.budget.from_settings import manager_from_settings
from llmops_kit.budget.policy import BudgetPolicy, BudgetPolicyError
from llmops_kit.config import Settings


def test_settings_values_map_to_limits() -> None:
    policy = BudgetPolicy.from_settings_values(
        max_tokens_per_request=500,
        daily_token_budget=10_000,
        daily_cost_budget_usd=5,
        monthly_cost_budget_usd=100,
        tenant_daily_cost_budget_usd=1.5,
        user_daily_token_budget=2_000,
        tenant_overrides='{"acme": {"daily_cost_budget_usd": 3, "monthly_token_budget": 9}}',
    )
    got = {(lim.scope, lim.match, lim.window, lim.unit): lim.limit for lim in policy.limits}
    assert got == {
        ("run", None, "run", "total_tokens"): 500,
        ("call", None, "call", "total_tokens"): 500,
        ("global", None, "day", "total_tokens"): 10_000,
        ("global", None, "day", "cost_micro_usd"): 5_000_000,
        ("global", None, "month", "cost_micro_usd"): 100_000_000,
        ("tenant", None, "day", "cost_micro_usd"): 1_500_000,
        ("user", None, "day", "total_tokens"): 2_000,
        ("tenant", "acme", "day", "cost_micro_usd"): 3_000_000,
        ("tenant", "acme", "month", "total_tokens"): 9,
    }
    assert BudgetPolicy.from_settings_values().limits == ()


def test_policy_file_yaml(tmp_path) -> None:
    f = tmp_path / "budgets.yaml"
    f.write_text(
        "soft_thresholds: [75, 100]\nlimits:\n"
        "  - {scope: agent, window: day, unit: cost_usd, limit: 2.5}\n"
        "  - {scope: session, window: month, unit: output_tokens, limit: 100, soft: [90]}\n"
        "tenants:\n  acme: {daily_token_budget: 1000}\n"
    )
    policy = BudgetPolicy.load_file(f)
    assert policy.soft_thresholds == (75, 100)
    agent = next(lim for lim in policy.limits if lim.scope == "agent")
    assert agent.limit == 2_500_000 and agent.unit == "cost_micro_usd"
    session = next(lim for lim in policy.limits if lim.scope == "session")
    assert policy.thresholds_for(session) == (90,)
    applicable = policy.applicable(BudgetSubject(tenant_id="acme", agent="bot"))
    assert {(lim.scope, sid) for lim, sid in applicable} == {("agent", "bot"), ("tenant", "acme")}


@pytest.mark.parametrize(
    "text,match",
    [
        ("limits:\n  - {scope: planet, window: day, limit: 1}\n", "scope 'planet'"),
        ("limits:\n  - {scope: user, window: week, limit: 1}\n", "window 'week'"),
        ("limits:\n  - {scope: user, window: day, unit: words, limit: 1}\n", "unit 'words'"),
        ("limits:\n  - {scope: user, window: day, unit: total_tokens, limit: 1.5}\n", "whole"),
        (
            "limits:\n  - {scope: user, window: day, unit: total_tokens, limit: 1, soft: [120]}\n",
            "between 1 and 100",
        ),
        ("tenants:\n  acme: {weekly: 1}\n", "unknown key 'weekly'"),
        ("limits: [\n", "not valid YAML"),
    ],
)
def test_policy_file_errors_are_clear(tmp_path, text, match) -> None:
    f = tmp_path / "p.yaml"
    f.write_text(text)
    with pytest.raises(BudgetPolicyError, match=match):
        BudgetPolicy.load_file(f)


def test_cli_set_persists_and_show_reports(tmp_path, monkeypatch) -> None:
    env = tmp_path / ".env"
    env.write_text(
        f"LLMOPS_DATA_DIR={tmp_path}\nBUDGET_LEDGER=sqlite\nDAILY_COST_BUDGET_USD=5\n"
        "TENANT_DAILY_COST_BUDGET_USD=1\nBUDGET_TIMEZONE=Europe/Berlin\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    result = runner.invoke(
        budget_app, ["set", "tenant", "day", "2.5", "--id", "acme", "--env-file", str(env)]
    )
    assert result.exit_code == 0, result.output
    assert "set tenant acme day cost_micro_usd = 2,500,000" in result.output

    settings = Settings.load(env_file=env)

    async def spend() -> None:
        mgr = manager_from_settings(settings)
        res = await mgr.reserve(BudgetSubject(tenant_id="acme"), BudgetAmount(cost_micro_usd=2_000_000))
        assert res.granted  # 2.00 > the .env tenant limit of 1.00, within the stored 2.50 override
        await mgr.settle(res, BudgetAmount(cost_micro_usd=1_250_000))
        await mgr.aclose()

    asyncio.run(spend())
    result = runner.invoke(
        budget_app, ["show", "--tenant", "acme", "--env-file", str(env)], terminal_width=200
    )
    assert result.exit_code == 0, result.output
    assert "tenant acme daily cost USD" in result.output and "$2.500000" in result.output
    assert "$1.250000" in result.output and "Europe/Berlin" in result.output
    assert "global daily cost USD" in result.output and "$5.0000" in result.output

    result = runner.invoke(
        budget_app, ["set", "global", "day", "--unit", "cost_usd", "--remove", "--env-file", str(env)]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(budget_app, ["policy", "--env-file", str(env)], terminal_width=200)
    assert "global" not in result.output.split("budget policy")[1] and "acme" in result.output


def test_cli_rejects_bad_input(tmp_path) -> None:
    env = tmp_path / ".env"
    env.write_text(f"LLMOPS_DATA_DIR={tmp_path}\n")
    result = CliRunner().invoke(budget_app, ["set", "galaxy", "day", "1", "--env-file", str(env)])
    assert result.exit_code == 2 and "scope 'galaxy'" in result.output
    result = CliRunner().invoke(budget_app, ["set", "user", "day", "--env-file", str(env)])
    assert result.exit_code == 2
