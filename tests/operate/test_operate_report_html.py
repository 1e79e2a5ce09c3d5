"""``llmops-kit report --html``: real demo telemetry in, a self-contained page out, checked in Chromium."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.operate.png import read_png
from typer.testing import CliRunner

from llmops_kit.cli import app
from llmops_kit.config import Settings
from llmops_kit.demo.run import demo_settings, run_demo
from llmops_kit.report import build_report, latency_over_time, load_traces, top_sessions
from llmops_kit.report_html import COLORS, render_html, write_html_report
from llmops_kit.results import RunResult
from llmops_kit.telemetry import semconv as sc


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[RunResult]]:
    data_dir = tmp_path_factory.mktemp("demo-data")
    settings = demo_settings(Settings.load(env_file=None, data_dir=data_dir, telemetry="local"))
    results: list[RunResult] = []
    for _ in range(2):
        outcomes, providers = asyncio.run(run_demo(settings))
        providers.shutdown()
        results += [o.result for o in outcomes]
    return settings.telemetry_dir, results


def _rgb(hex_color: str) -> tuple[int, int, int]:
    return int(hex_color[1:3], 16), int(hex_color[3:5], 16), int(hex_color[5:7], 16)


def test_report_figures_match_the_runs(demo_data: tuple[Path, list[RunResult]]) -> None:
    directory, results = demo_data
    rep = build_report(directory)
    assert rep.total.runs == len(results)
    assert rep.total.cost_usd == pytest.approx(sum(r.cost_usd for r in results), abs=1e-5)
    sessions = top_sessions(rep)
    assert sum(s.runs for s in sessions) == len(results)
    slices = latency_over_time(rep, buckets=4)
    assert sum(n for _, n, *_ in slices) == len(results)
    assert all(p50 <= p95 <= p99 for *_, p50, p95, p99 in slices)
    traces = load_traces(directory, {r.trace_id for r in results})
    for r in results:
        names = [s["name"] for s in traces[r.trace_id]]
        assert f"{sc.OP_INVOKE_AGENT} support" in names
    ok_trace = traces[next(r.trace_id for r in results if r.status == "ok")]
    assert any(n["name"].startswith(sc.OP_CHAT) for n in ok_trace)


def test_cli_writes_a_self_contained_page(demo_data: tuple[Path, list[RunResult]], tmp_path: Path) -> None:
    directory, results = demo_data
    out = tmp_path / "report.html"
    res = CliRunner().invoke(app, ["report", "--dir", str(directory), "--html", str(out)])
    assert res.exit_code == 0, res.output
    page = out.read_text(encoding="utf-8")
    assert re.findall(r"""(?:src|href)\s*=\s*["']?https?:""", page) == []
    assert "<link" not in page and "@import" not in page
    for section in ("latency", "blocks", "usage", "evals", "sessions", "waterfall"):
        assert f'id="{section}"' in page
    assert page.count("<option ") == len(results)
    embedded = re.search(r"<script type='application/json' id='summary'>(.*?)</script>", page)
    assert embedded is not None
    summary = json.loads(embedded.group(1))
    assert summary["runs"] == len(results)


def test_labels_from_telemetry_are_escaped_and_bad_lines_skipped(tmp_path: Path) -> None:
    row = {"name": "invoke_agent <script>alert(1)</script>", "trace_id": "ab" * 16, "span_id": "cd" * 8,
           "parent_span_id": None, "start_ns": 1, "end_ns": 5_000_001, "duration_ms": 5.0, "status": "UNSET",
           "attributes": {sc.LLMOPS_RUN_STATUS: "ok", sc.GEN_AI_AGENT_NAME: "<img src=x onerror=alert(1)>",
                          sc.LLMOPS_SESSION_ID: "s&1"}, "events": []}
    (tmp_path / "spans.jsonl").write_text(json.dumps(row) + "\n{torn line\n", encoding="utf-8")
    page = render_html(build_report(tmp_path), tmp_path)
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and "s&amp;1" in page
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no data" in write_html_report(build_report(empty), empty, empty / "r.html").read_text()


def test_page_renders_charts_in_headless_chromium(demo_data: tuple[Path, list[RunResult]],
                                                  tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("chromium is not installed: apt-get install -y chromium (scripts/ensure_peers.sh)")
    directory, _ = demo_data
    page = write_html_report(build_report(directory), directory, tmp_path / "report.html")
    png = tmp_path / "shot.png"
    proc = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={png}", "--window-size=1400,2400",
         "--hide-scrollbars", page.resolve().as_uri()],
        capture_output=True, text=True, timeout=90, check=False)
    assert png.exists(), f"chromium wrote no screenshot (rc {proc.returncode}): {proc.stderr[-2000:]}"
    image = read_png(png)
    assert (image.width, image.height) == (1400, 2400)
    assert image.pixel(2, 2) == (255, 255, 255)
    # every chart drew its marks: count pixels of each chart's own accent colour
    for key in ("p50", "p99", "tokens_in", "tokens_out", "cost", "blocks", "eval", "sessions", "span_ok",
                "span_error"):
        assert image.count(_rgb(COLORS[key])) > 150, f"the {key} marks are missing from the rendered page"
    # and nothing but the background (and the header's 1-px rule) right of the two chart columns
    assert image.count((255, 255, 255), (1400 - 20, 0, 1400, 2400)) >= 20 * (2400 - 1)
