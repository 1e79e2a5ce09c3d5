"""``llmops-kit report --html``: one self-contained page (inline SVG, no scripts from anywhere).

The page must open on an air-gapped laptop and in a CI artifact viewer, so it carries its
own charts as SVG and its own few lines of JavaScript (only the run selector); nothing is
fetched. Every label comes from recorded telemetry and is HTML-escaped.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from llmops_kit.report import (
    BLOCK_STATUSES,
    GroupStats,
    TelemetryReport,
    latency_over_time,
    load_traces,
    percentile,
    top_sessions,
)
from llmops_kit.telemetry import semconv as sc

#: One accent per chart, so a screenshot test can tell each chart drew marks.
COLORS = {
    "p50": "#1f77b4", "p95": "#ff7f0e", "p99": "#d62728",
    "tokens_in": "#2ca02c", "tokens_out": "#98df8a", "cost": "#9467bd",
    "blocks": "#e377c2", "eval": "#17becf", "sessions": "#8c564b",
    "span_ok": "#4c78a8", "span_error": "#e45756", "grid": "#e6e6e6", "axis": "#555555",
}
MAX_WATERFALL_RUNS = 200
W, H = 620, 260
PAD_L, PAD_R, PAD_T, PAD_B = 64, 16, 16, 40


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 1:
        return f"{v:.1f}"
    return f"{v:.4f}".rstrip("0")


def _svg(body: str, height: int = H, label: str = "") -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" '
            f'viewBox="0 0 {W} {height}" '
            f'role="img" aria-label="{_e(label)}">{body}</svg>')


def _empty(label: str) -> str:
    return _svg(f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle" fill="{COLORS["axis"]}">'
                f'no data: {_e(label)}</text>', label=label)


def _y_axis(vmax: float, height: int = H) -> str:
    parts = []
    for i in range(5):
        v = vmax * i / 4
        y = height - PAD_B - (height - PAD_T - PAD_B) * i / 4
        parts.append(f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'stroke="{COLORS["grid"]}"/>'
                     f'<text x="{PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
                     f'fill="{COLORS["axis"]}">{_fmt(v)}</text>')
    return "".join(parts)


def line_chart(series: dict[str, list[float]], x_labels: Sequence[str], label: str) -> str:
    """Lines with dots; ``series`` name -> values aligned with ``x_labels`` (name is a COLORS key)."""
    n = len(x_labels)
    if n == 0:
        return _empty(label)
    vmax = max((max(v) for v in series.values() if v), default=0.0) * 1.1 or 1.0
    plot_w, plot_h = W - PAD_L - PAD_R, H - PAD_T - PAD_B

    def xy(i: int, v: float) -> tuple[float, float]:
        x = PAD_L + (plot_w * (i + 0.5) / n)
        return x, H - PAD_B - plot_h * v / vmax

    body = [_y_axis(vmax)]
    # Drawn last-to-first, each narrower than the one beneath: equal percentiles (few runs per
    # slice) show as nested stripes instead of the top line hiding the others.
    names = list(series)
    for rank, name in reversed(list(enumerate(names))):
        values = series[name]
        pts = [xy(i, v) for i, v in enumerate(values)]
        color, width = COLORS[name], 2 + 2.5 * rank
        if len(pts) > 1:
            body.append(f'<polyline fill="none" stroke="{color}" stroke-width="{width}" '
                        f'points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in pts)}"/>')
        body += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{3 + 2 * rank}" fill="{color}"><title>{_e(name)} '
                 f'{_fmt(v)} ms</title></circle>' for (x, y), v in zip(pts, values, strict=True)]
    step = max(1, n // 8)
    for i in range(0, n, step):
        x, _ = xy(i, 0)
        body.append(f'<text x="{x:.1f}" y="{H - PAD_B + 16}" text-anchor="middle" font-size="11" '
                    f'fill="{COLORS["axis"]}">{_e(x_labels[i])}</text>')
    legend = "".join(f'<rect x="{PAD_L + 8 + k * 70}" y="{PAD_T}" width="12" height="12" '
                     f'fill="{COLORS[name]}"/>'
                     f'<text x="{PAD_L + 24 + k * 70}" y="{PAD_T + 11}" font-size="12">{_e(name)}</text>'
                     for k, name in enumerate(series))
    return _svg("".join(body) + legend, label=label)


def bar_chart(rows: Sequence[tuple[str, Sequence[float]]], colors: Sequence[str], label: str,
              legend: Sequence[str] = (), value_fmt: Any = _fmt) -> str:
    """Horizontal stacked bars: each row is (name, values stacked in ``colors`` order)."""
    if not rows or not any(sum(v) for _, v in rows):
        return _empty(label)
    rows = list(rows)[:12]
    bar_h, gap, left = 18, 8, 150
    height = PAD_T + 22 + len(rows) * (bar_h + gap) + 10
    vmax = max(sum(v) for _, v in rows) or 1.0
    plot_w = W - left - 90
    body = []
    for k, name in enumerate(legend):
        body.append(f'<rect x="{left + k * 110}" y="{PAD_T - 4}" width="12" height="12" '
                    f'fill="{COLORS[colors[k]]}"/>'
                    f'<text x="{left + 16 + k * 110}" y="{PAD_T + 7}" font-size="12">{_e(name)}</text>')
    for i, (name, values) in enumerate(rows):
        y = PAD_T + 22 + i * (bar_h + gap)
        x = float(left)
        body.append(f'<text x="{left - 8}" y="{y + 13}" text-anchor="end" font-size="12">'
                    f'{_e(name[:22])}</text>')
        for v, color in zip(values, colors, strict=False):
            w = plot_w * v / vmax
            if w > 0:
                body.append(f'<rect x="{x:.1f}" y="{y}" width="{max(w, 2):.1f}" height="{bar_h}" '
                            f'fill="{COLORS[color]}"><title>{_e(name)}: {value_fmt(v)}</title></rect>')
            x += w
        body.append(f'<text x="{x + 6:.1f}" y="{y + 13}" font-size="11" fill="{COLORS["axis"]}">'
                    f'{_e(value_fmt(sum(values)))}</text>')
    return _svg("".join(body), height=height, label=label)


def histogram(values: Sequence[float], label: str, bins: int = 10) -> str:
    """Score distribution over [0, 1] (wider when scores fall outside)."""
    if not values:
        return _empty(label)
    lo, hi = min(0.0, min(values)), max(1.0, max(values))
    width = (hi - lo) / bins or 1.0
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int((v - lo) / width))] += 1
    vmax = max(counts) * 1.1 or 1.0
    height = 180
    plot_w, plot_h = W - PAD_L - PAD_R, height - PAD_T - PAD_B
    body = [_y_axis(vmax, height)]
    bw = plot_w / bins
    for i, c in enumerate(counts):
        h = plot_h * c / vmax
        x = PAD_L + i * bw
        body.append(f'<rect x="{x + 2:.1f}" y="{height - PAD_B - h:.1f}" width="{bw - 4:.1f}" '
                    f'height="{h:.1f}" '
                    f'fill="{COLORS["eval"]}"><title>{_fmt(lo + i * width)}–{_fmt(lo + (i + 1) * width)}: {c}'
                    f'</title></rect>')
        body.append(f'<text x="{x + bw / 2:.1f}" y="{height - PAD_B + 16}" text-anchor="middle" '
                    f'font-size="11" '
                    f'fill="{COLORS["axis"]}">{lo + i * width:.1f}</text>')
    return _svg("".join(body), height=height, label=label)


def waterfall(spans: Sequence[dict[str, Any]]) -> str:
    """Spans of one trace as bars on a shared time axis, indented by depth."""
    if not spans:
        return _empty("waterfall")
    t0 = min(int(s.get("start_ns", 0) or 0) for s in spans)
    t1 = max(int(s.get("end_ns", 0) or 0) for s in spans)
    total = max(1, t1 - t0)
    by_id = {s.get("span_id"): s for s in spans}

    def depth(s: dict[str, Any]) -> int:
        d, seen = 0, set()
        while s.get("parent_span_id") in by_id and s.get("span_id") not in seen:
            seen.add(s.get("span_id"))
            s = by_id[s["parent_span_id"]]
            d += 1
        return d

    row_h, left = 22, 250
    rows = list(spans)[:80]
    height = 30 + len(rows) * row_h
    plot_w = W - left - 70
    body = [f'<text x="{left}" y="14" font-size="11" fill="{COLORS["axis"]}">0 ms</text>'
            f'<text x="{W - 70}" y="14" font-size="11" text-anchor="end" fill="{COLORS["axis"]}">'
            f'{total / 1e6:.1f} ms</text>']
    for i, s in enumerate(rows):
        y = 22 + i * row_h
        start, end = int(s.get("start_ns", 0) or 0), int(s.get("end_ns", 0) or 0)
        x = left + plot_w * (start - t0) / total
        w = max(2.0, plot_w * (end - start) / total)
        color = COLORS["span_error"] if s.get("status") == "ERROR" else COLORS["span_ok"]
        indent = 6 + 12 * min(depth(s), 8)
        body.append(f'<text x="{indent}" y="{y + 13}" font-size="12">'
                    f'{_e(str(s.get("name", "?"))[:30])}</text>'
                    f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row_h - 6}" fill="{color}">'
                    f'<title>{_e(s.get("name"))}: {float(s.get("duration_ms", 0.0)):.2f} ms</title></rect>'
                    f'<text x="{x + w + 4:.1f}" y="{y + 13}" font-size="11" fill="{COLORS["axis"]}">'
                    f'{float(s.get("duration_ms", 0.0)):.1f}</text>')
    return _svg("".join(body), height=height, label="trace waterfall")


# --- sections ---------------------------------------------------------------------------------
def _card(title: str, content: str, key: str) -> str:
    return f'<section class="card" id="{_e(key)}"><h2>{_e(title)}</h2>{content}</section>'


def _latency_section(report: TelemetryReport) -> str:
    slices = latency_over_time(report)
    span_s = (slices[-1][0] - slices[0][0]) / 1e9 if slices else 0
    fmt = "%H:%M:%S.%f" if span_s < 60 else "%m-%d %H:%M"  # short runs of runs need sub-second labels
    labels = [datetime.fromtimestamp(t / 1e9, tz=timezone.utc).strftime(fmt)[: 12 if span_s < 60 else None]
              for t, *_ in slices]
    series = {"p50": [s[2] for s in slices], "p95": [s[3] for s in slices], "p99": [s[4] for s in slices]}
    return _card("Run latency percentiles over time (ms)", line_chart(series, labels, "latency"), "latency")


def _group_rows(groups: dict[str, GroupStats], cost: bool) -> list[tuple[str, list[float]]]:
    ordered = sorted(groups.items(), key=lambda kv: (-kv[1].cost_usd, kv[0]))
    if cost:
        return [(name, [g.cost_usd]) for name, g in ordered]
    return [(name, [float(g.input_tokens), float(g.output_tokens)]) for name, g in ordered]


def _usage_section(report: TelemetryReport) -> str:
    parts = []
    dims = (("agent", report.by_agent), ("model", report.by_model), ("tenant", report.by_tenant))
    for title, groups in dims:
        parts.append(f"<h3>Tokens by {title}</h3>" + bar_chart(
            _group_rows(groups, cost=False), ("tokens_in", "tokens_out"), f"tokens by {title}",
            legend=("input", "output"), value_fmt=lambda v: f"{v:,.0f}"))
        parts.append(f"<h3>Cost (USD) by {title}</h3>" + bar_chart(
            _group_rows(groups, cost=True), ("cost",), f"cost by {title}", value_fmt=lambda v: f"${v:.6f}"))
    return _card("Tokens and cost", "".join(parts), "usage")


def _blocks_section(report: TelemetryReport) -> str:
    total = report.total.runs or 1
    rows = [(reason, [n / total * 100]) for reason, n in report.block_reasons.most_common(12)]
    statuses = ", ".join(f"{_e(k)} {v} ({v / total:.0%})" for k, v in report.statuses.most_common())
    blocked = sum(v for k, v in report.statuses.items() if k in BLOCK_STATUSES)
    summary = (f"<p>block rate <b>{blocked / total:.1%}</b> · outcomes: {statuses}</p>"
               "<p class='note'>share of all runs (%) per block or error reason</p>")
    return _card("Block and error rates by reason", summary + bar_chart(
        rows, ("blocks",), "block rates", value_fmt=lambda v: f"{v:.1f}%"), "blocks")


def _eval_section(report: TelemetryReport) -> str:
    if not report.eval_scores:
        return _card("Evaluation score distributions", _empty("no evaluation results recorded"), "evals")
    parts = []
    for name, vals in sorted(report.eval_scores.items()):
        parts.append(f"<h3>{_e(name)} <small>n={len(vals)} · mean {sum(vals) / len(vals):.3f} · "
                     f"p50 {percentile(vals, 50):.3f}</small></h3>" + histogram(vals, name))
    return _card("Evaluation score distributions", "".join(parts), "evals")


def _sessions_section(report: TelemetryReport) -> str:
    sessions = top_sessions(report, 10)
    chart = bar_chart([(s.session_id, [s.cost_usd]) for s in sessions], ("sessions",), "top sessions",
                      value_fmt=lambda v: f"${v:.6f}")
    rows = "".join(f"<tr><td>{_e(s.session_id)}</td><td>{_e(s.tenant)}</td>"
                   f"<td>{_e(', '.join(sorted(s.agents)))}</td><td>{s.runs}</td><td>{s.tokens:,}</td>"
                   f"<td>${s.cost_usd:.6f}</td></tr>" for s in sessions)
    table = ("<table><tr><th>session</th><th>tenant</th><th>agents</th><th>runs</th><th>tokens</th>"
             f"<th>cost</th></tr>{rows}</table>")
    return _card("Top costly sessions", chart + table, "sessions")


def _waterfall_section(report: TelemetryReport, directory: Path) -> str:
    runs = sorted(report.run_spans, key=lambda s: int(s.get("start_ns", 0) or 0), reverse=True)
    runs = runs[:MAX_WATERFALL_RUNS]
    traces = load_traces(directory, {str(r.get("trace_id")) for r in runs})
    if not runs:
        return _card("Trace waterfall", _empty("no runs"), "waterfall")
    options, panes = [], []
    for i, r in enumerate(runs):
        a = r.get("attributes", {})
        tid = str(r.get("trace_id"))
        label = (f"{a.get(sc.GEN_AI_AGENT_NAME, '?')} · {a.get(sc.LLMOPS_RUN_STATUS, '?')} · "
                 f"{float(r.get('duration_ms', 0.0)):.0f} ms · {str(a.get(sc.LLMOPS_RUN_ID, tid))[:12]}")
        options.append(f'<option value="wf-{i}">{_e(label)}</option>')
        hidden = "" if i == 0 else " hidden"
        reason = a.get(sc.LLMOPS_RUN_REASON)
        detail = f"<p class='note'>trace {_e(tid)}{' · ' + _e(reason) if reason else ''}</p>"
        panes.append(f'<div class="wf" id="wf-{i}"{hidden}>{detail}{waterfall(traces.get(tid, [r]))}</div>')
    select = (f'<label>run <select id="run-select" onchange="showRun(this.value)">{"".join(options)}'
              f"</select></label>")
    return _card("Trace waterfall", select + "".join(panes), "waterfall")


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#fff;color:#222}
header{padding:16px 24px;border-bottom:1px solid #ddd}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:0 0 8px} h3{font-size:13px;margin:10px 0 2px}
main{display:grid;grid-template-columns:repeat(auto-fill,660px);gap:16px;padding:16px 24px}
.card{border:1px solid #ddd;border-radius:6px;padding:12px;width:634px;overflow:hidden}
.note{color:#666;font-size:12px;margin:2px 0} small{color:#666;font-weight:normal}
table{border-collapse:collapse;font-size:12px;margin-top:8px}
td,th{border-bottom:1px solid #eee;padding:2px 8px;text-align:left}
.kpi{display:inline-block;margin-right:24px}
"""
_JS = ("function showRun(id){document.querySelectorAll('.wf').forEach(function(d){d.hidden=(d.id!==id);});}")


def render_html(report: TelemetryReport, directory: Path) -> str:
    lat = report.total.latencies_ms
    tokens = report.total.input_tokens + report.total.output_tokens
    kpis = (f'<span class="kpi"><b>{report.total.runs}</b> runs</span>'
            f'<span class="kpi">block rate <b>{report.block_rate:.1%}</b></span>'
            f'<span class="kpi">p50 <b>{percentile(lat, 50):.1f} ms</b> · '
            f'p95 <b>{percentile(lat, 95):.1f} ms</b></span>'
            f'<span class="kpi">tokens <b>{tokens:,}</b></span>'
            f'<span class="kpi">cost <b>${report.total.cost_usd:.6f}</b></span>')
    sections = [_latency_section(report), _blocks_section(report), _usage_section(report),
                _eval_section(report), _sessions_section(report), _waterfall_section(report, Path(directory))]
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
            "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">"
            f"<title>llmops-kit report</title><style>{_CSS}</style></head><body>"
            f"<header><h1>llmops-kit telemetry report</h1><div>{kpis}</div>"
            f"<p class='note'>from {_e(directory)} · generated {generated}</p></header>"
            f"<main>{''.join(sections)}</main><script>{_JS}</script>"
            f"<script type='application/json' id='summary'>{_summary_json(report)}</script></body></html>")


def _summary_json(report: TelemetryReport) -> str:
    data = {"runs": report.total.runs, "statuses": dict(report.statuses), "cost_usd": report.total.cost_usd}
    return json.dumps(data).replace("</", "<\\/")


def write_html_report(report: TelemetryReport, directory: Path, html_path: Path) -> Path:
    """Write the page atomically (a half-written report is worse than none)."""
    html_path = Path(html_path)
    html_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = html_path.with_name(html_path.name + ".tmp")
    tmp.write_text(render_html(report, Path(directory)), encoding="utf-8")
    tmp.replace(html_path)
    return html_path


__all__ = ["bar_chart", "histogram", "line_chart", "render_html", "waterfall", "write_html_report"]
