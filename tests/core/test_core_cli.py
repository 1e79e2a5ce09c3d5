"""The CLI a user meets first: demo, report, audit verify, budget show, doctor — offline, in a fresh folder."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli")
    return path


def cli(workdir, *args: str, check: bool = True, **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "APPLICATIONINSIGHTS_"))}
    env.update(COLUMNS="140", LLMOPS_DATA_DIR=str(workdir / ".llmops"), **extra_env)
    proc = subprocess.run([sys.executable, "-m", "llmops_kit.cli", *args], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=180)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_demo_then_report_verify_budget_doctor(workdir):
    demo = cli(workdir, "demo")
    for expected in ("blocked_input", "budget_denied", "ToolError", "invoke_agent support", "chat gpt-4o-mini",
                     "execute_tool lookup_policy", "safety:input", "eval:", "budget", ".jsonl#seq="):
        assert expected in demo.stdout, expected

    report = cli(workdir, "report")
    assert "4 runs" in report.stdout and "by tenant" in report.stdout and "contoso" in report.stdout

    verify = cli(workdir, "audit", "verify")
    assert "4" in verify.stdout

    # the demo's own limits live in its process; the same daily limit from .env shows what it used
    budget = cli(workdir, "budget", "show", "--tenant", "contoso", DAILY_TOKEN_BUDGET="1000000")
    assert "1,000,000" in budget.stdout

    doctor = cli(workdir, "doctor")
    assert "local-heuristic" in doctor.stdout and "unreachable" not in doctor.stdout


def test_invalid_setting_is_one_clear_line(workdir):
    (workdir / ".env").write_text("DAILY_COST_BUDGET_USD=-5\n")
    try:
        proc = cli(workdir, "doctor", check=False)
    finally:
        (workdir / ".env").unlink()
    assert proc.returncode == 2
    assert "DAILY_COST_BUDGET_USD" in proc.stdout and "Traceback" not in proc.stdout + proc.stderr


def test_tampered_audit_is_detected(workdir):
    cli(workdir, "demo")
    files = sorted((workdir / ".llmops" / "audit").glob("*.jsonl"))
    lines = files[-1].read_text().splitlines()
    lines[1] = lines[1].replace('"status":"blocked_input"', '"status":"ok"')
    files[-1].write_text("\n".join(lines) + "\n")
    proc = cli(workdir, "audit", "verify", check=False)
    assert proc.returncode == 1
