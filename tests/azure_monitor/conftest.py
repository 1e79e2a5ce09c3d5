"""Capture server fixture and a runner for configure_azure_monitor scenarios in subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.fixtures.appinsights_capture import CaptureServer, appinsights_capture  # noqa: F401 - fixture

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = Path(__file__).resolve().parent / "scenarios"

#: research/azure.md 1.2: no statsbeat, sdkstats, OneSettings poll or IMDS resource detection.
HERMETIC_ENV = {
    "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
    "APPLICATIONINSIGHTS_SDKSTATS_DISABLED": "true",
    "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true",
    "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "otel",
}


def scenario_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The parent's environment minus Azure/OTel settings, plus hermetic and scenario values."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APPLICATIONINSIGHTS_", "OTEL_"))}
    for name in ("LLMOPS_TELEMETRY", "CONTENT_SAFETY_ENDPOINT", "AUDIT_STORAGE_CONNECTION_STRING",
                 "REDIS_URL", "AUDIT_STORAGE_ACCOUNT_URL"):
        env.pop(name, None)
    env.update(HERMETIC_ENV)
    env.update({
        "PYTHONPATH": os.pathsep.join(str(REPO / p) for p in ("src", "integrations", ".")),
        "LLMOPS_DATA_DIR": str(tmp_path / ".llmops"),
        "BUDGET_LEDGER": "sqlite",
    })
    env.update(extra)
    return env


def run_script(script: Path, *args: str, env: dict[str, str], cwd: Path, timeout: float = 60.0) -> dict[str, Any]:
    """Run a scenario script in a fresh interpreter; return its last JSON line (stderr on failure)."""
    proc = subprocess.run([sys.executable, str(script), *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)
    name = script.stem
    assert proc.returncode == 0, f"scenario {name} failed ({proc.returncode}):\n{proc.stderr[-4000:]}"
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert lines, f"scenario {name} printed no result:\n{proc.stdout}\n{proc.stderr[-2000:]}"
    result: dict[str, Any] = json.loads(lines[-1])
    result["stderr"] = proc.stderr
    return result


@pytest.fixture
def run_scenario(tmp_path: Path) -> Callable[..., dict[str, Any]]:
    """Run ``scenarios/<name>.py`` in a fresh interpreter; return its JSON line (stderr on failure)."""

    def run(name: str, *args: str, env: dict[str, str], timeout: float = 60.0) -> dict[str, Any]:
        return run_script(SCENARIOS / f"{name}.py", *args, env=env, cwd=tmp_path, timeout=timeout)

    return run


@pytest.fixture
def distro_env(tmp_path: Path, appinsights_capture: CaptureServer) -> dict[str, str]:  # noqa: F811
    return scenario_env(
        tmp_path,
        APPLICATIONINSIGHTS_CONNECTION_STRING=appinsights_capture.connection_string,
        TELEMETRY_STORAGE_DIRECTORY=str(tmp_path / "ai-storage"),
        TELEMETRY_READ_TIMEOUT_SECONDS="2",
    )
