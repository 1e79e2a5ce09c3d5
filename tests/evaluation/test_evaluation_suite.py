"""The evaluation suite end to end: sample cases through ProductionAgent via the CLI, offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmops_kit.evaluation.cases import CasesError, load_cases
from llmops_kit.evaluation.cli import eval_app
from llmops_kit.evaluation.report_html import render_html
from llmops_kit.evaluation.suite import diff_results, load_factory, percentile

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "samples" / "evaluation" / "cases.json"
AGENT = "samples.evaluation.support_agent:make_agent"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the CLI in a scratch directory with the kit's local data there, no .env."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LLMOPS_DATA_DIR", str(tmp_path / ".llmops"))
    monkeypatch.syspath_prepend(str(ROOT))
    return tmp_path


def test_sample_suite_fails_the_gate_and_writes_results(workdir: Path) -> None:
    res = CliRunner().invoke(
        eval_app,
        [
            str(CASES),
            "--agent",
            AGENT,
            "--min-pass-rate",
            "0.9",
            "--report",
            "out.html",
            "-o",
            "res.json",
            "--concurrency",
            "3",
        ],
    )
    assert res.exit_code == 1, res.output
    assert "gate failed" in res.output
    data = json.loads((workdir / "res.json").read_text())
    by = {c["id"]: c for c in data["cases"]}
    assert [c["id"] for c in data["cases"]] == [c.id for c in load_cases(CASES).cases]
    assert by["warranty-claim"]["passed"] is False
    assert any("heuristic_quality" in f for f in by["warranty-claim"]["failures"])
    assert all(
        by[k]["passed"] for k in ("refund-damaged-order", "shipping-time", "password-reset", "cancel-order")
    )
    assert by["refund-damaged-order"]["scores"]["tool_called"] == 1.0
    s = data["summary"]
    assert s["pass_rate"] == pytest.approx(0.8) and s["failed"] == 1
    assert s["total_tokens"] > 0 and s["cost_usd"] > 0
    assert s["latency_ms_p95"] >= s["latency_ms_p50"] > 0
    html = (workdir / "out.html").read_text()
    assert "<svg" in html and "warranty-claim" in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "").split("<table")[0]
    assert "<script" not in html


def test_gate_passes_at_lower_threshold_and_diff_shows_regression(workdir: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(
        eval_app, ["run", str(CASES), "--agent", AGENT, "--min-pass-rate", "0.8", "-o", "new.json"]
    )
    assert ok.exit_code == 0, ok.output
    new = json.loads((workdir / "new.json").read_text())
    old = json.loads(json.dumps(new))
    old_case = next(c for c in old["cases"] if c["id"] == "warranty-claim")
    old_case["passed"], old_case["scores"]["heuristic_quality"] = True, 0.9
    (workdir / "old.json").write_text(json.dumps(old))
    d = runner.invoke(eval_app, ["diff", "old.json", "new.json", "--fail-on-regression"])
    assert d.exit_code == 1, d.output
    assert "1 regression(s): warranty-claim" in d.output
    rows = {r.id: r for r in diff_results(old, new)}
    assert rows["warranty-claim"].change == "regressed"
    assert rows["warranty-claim"].score_deltas["heuristic_quality"] == pytest.approx(
        next(c for c in new["cases"] if c["id"] == "warranty-claim")["scores"]["heuristic_quality"] - 0.9,
        abs=1e-3,
    )
    assert rows["shipping-time"].change == "same"


def test_usage_errors_exit_2(workdir: Path) -> None:
    (workdir / "bad.json").write_text(json.dumps({"version": 1, "cases": [{"id": "x"}]}))
    res = CliRunner().invoke(eval_app, ["bad.json", "--agent", AGENT])
    assert res.exit_code == 2 and "'input' must be a non-empty string" in res.output
    res = CliRunner().invoke(eval_app, [str(CASES), "--agent", "nomodule_here:factory"])
    assert res.exit_code == 2
    res = CliRunner().invoke(eval_app, ["diff", str(CASES), str(CASES)])
    assert res.exit_code == 2 and "not an llmops-kit results file" in res.output


@pytest.mark.parametrize(
    "payload,message",
    [
        ({"version": 2, "cases": []}, "unsupported 'version'"),
        (
            {"version": 1, "cases": [{"id": "a", "input": "q"}, {"id": "a", "input": "q"}]},
            "duplicate case id",
        ),
        (
            {"version": 1, "cases": [{"id": "a", "input": "q", "pass_criteria": {"x": "high"}}]},
            "pass_criteria",
        ),
        ({"version": 1, "cases": [{"id": "a", "input": "q", "expected_status": "fine"}]}, "expected_status"),
        ({"version": 1, "cases": [{"id": "a", "input": "q", "colour": "red"}]}, "unknown field"),
    ],
)
def test_cases_validation(tmp_path: Path, payload: dict, message: str) -> None:
    p = tmp_path / "c.json"
    p.write_text(json.dumps(payload))
    with pytest.raises(CasesError, match=message):
        load_cases(p)


def test_helpers(tmp_path: Path) -> None:
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 50) == 3.0 and percentile([], 95) is None
    assert percentile([float(i) for i in range(1, 101)], 95) == 95.0
    f = tmp_path / "agent_file.py"
    f.write_text("def build():\n    return 'built'\n")
    assert load_factory(f"{f}:build")() == "built"
    with pytest.raises(ValueError, match="module:factory"):
        load_factory("no_colon")
    html = render_html(
        {
            "suite": "<x>",
            "summary": {},
            "cases": [
                {
                    "id": "<script>alert(1)</script>",
                    "passed": False,
                    "status": "ok",
                    "scores": {},
                    "failures": [],
                    "response": "<b>",
                }
            ],
        }
    )
    assert "<script>" not in html and "&lt;script&gt;" in html
