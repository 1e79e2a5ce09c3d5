"""The LangChain sample runs offline (scripted model, local telemetry) end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_sample_runs_offline(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_OPENAI", "APPLICATIONINSIGHTS"))}
    env.update(
        {
            "LLMOPS_DATA_DIR": str(tmp_path / "data"),
            "LLMOPS_TELEMETRY": "local",
            "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "integrations")]),
        }
    )
    proc = subprocess.run(
        [sys.executable, str(ROOT / "samples" / "langchain_chain.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Days elapsed: 25. The refund window is 30 days." in proc.stdout
    assert "[blocked_input] prompt_injection" in proc.stdout
    spans = [
        json.loads(line)
        for line in (tmp_path / "data" / "telemetry" / "spans.jsonl").read_text().splitlines()
    ]
    names = [s["name"] for s in spans]
    assert names.count("invoke_workflow RunnableSequence") == 2
    assert {"retrieval KeywordRetriever", "chat gpt-4o-mini", "execute_tool days_between"} <= set(names)
    assert "chat gpt-4o-mini" in names and names.count("chat gpt-4o-mini") == 1  # the blocked call never ran
    blocked_root = [s for s in spans if s["name"].startswith("invoke_workflow") and s["status"] == "ERROR"]
    assert len(blocked_root) == 1 and blocked_root[0]["attributes"]["error.type"].endswith(
        "InputBlockedError"
    )
