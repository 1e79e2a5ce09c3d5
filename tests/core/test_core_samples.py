"""The framework-neutral sample runs offline end to end, as a user would run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_production_agent_sample_runs_offline(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "APPLICATIONINSIGHTS_"))}
    env.update(LLMOPS_DATA_DIR=str(tmp_path / ".llmops"), LLMOPS_TELEMETRY="local", COLUMNS="120")
    proc = subprocess.run([sys.executable, str(ROOT / "samples" / "production_agent.py")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "status" in proc.stdout and "ok" in proc.stdout
    audit = list((tmp_path / ".llmops" / "audit").glob("*.jsonl"))
    assert audit and json.loads(audit[0].read_text().splitlines()[0])["record"]["status"] == "ok"
    spans = (tmp_path / ".llmops" / "telemetry" / "spans.jsonl").read_text().splitlines()
    assert any(json.loads(s)["name"] == "invoke_agent support" for s in spans)
