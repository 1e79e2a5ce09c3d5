"""A self-contained HTML report of a suite run: inline CSS and SVG charts, no scripts, no CDN.

CI machines and reviewers' mail clients are often offline or block remote content, so the
file must render from itself alone. Every string from cases and responses is escaped.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

_CSS = (
    "body{font:14px system-ui,sans-serif;margin:2em;color:#222}h1{margin:0 0 .2em}"
    "table{border-collapse:collapse;margin:1em 0}"
    "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}"
    ".pass{color:#176f2c}.fail{color:#b3261e;font-weight:600}"
    ".kpi{display:inline-block;margin:0 2em 1em 0}.kpi b{display:block;font-size:1.6em}"
    "small{color:#666}svg text{font:12px system-ui,sans-serif}"
)


def _bar_chart(values: dict[str, float], *, title: str, max_value: float = 1.0) -> str:
    """Horizontal bars, one per key; values are clipped to 0..max_value."""
    if not values:
        return ""
    row, label_w, bar_w = 22, 190, 320
    height = row * len(values) + 30
    parts = [
        f'<svg role="img" aria-label="{escape(title)}" width="{label_w + bar_w + 70}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg"><text x="0" y="14" font-weight="600">{escape(title)}</text>'
    ]
    for i, (name, v) in enumerate(values.items()):
        y = 24 + i * row
        w = max(0.0, min(1.0, v / max_value if max_value else 0.0)) * bar_w
        color = "#2e7d32" if v / (max_value or 1) >= 0.6 else "#c62828"
        parts.append(
            f'<text x="0" y="{y + 13}">{escape(name[:28])}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="16" fill="{color}"/>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + 13}">{v:.3g}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _histogram(values: list[float], *, title: str, bins: int = 10) -> str:
    if not values:
        return ""
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int((v - lo) / span * bins))] += 1
    top, w, h = max(counts), 36, 140
    parts = [
        f'<svg role="img" aria-label="{escape(title)}" width="{bins * w + 20}" height="{h + 50}" '
        f'xmlns="http://www.w3.org/2000/svg"><text x="0" y="14" font-weight="600">{escape(title)}</text>'
    ]
    for i, c in enumerate(counts):
        bh = c / top * h if top else 0
        parts.append(
            f'<rect x="{10 + i * w}" y="{20 + h - bh:.1f}" width="{w - 4}" height="{bh:.1f}" fill="#1565c0">'
            f"<title>{lo + i * span / bins:.1f}–{lo + (i + 1) * span / bins:.1f} ms: {c}</title></rect>"
        )
    parts.append(
        f'<text x="10" y="{h + 38}">{lo:.1f} ms</text>'
        f'<text x="{bins * w - 40}" y="{h + 38}">{hi:.1f} ms</text></svg>'
    )
    return "".join(parts)


def render_html(results: dict[str, Any]) -> str:
    """HTML for a results dict as written by ``SuiteResults.to_dict()``."""
    s = results.get("summary", {})
    cases = results.get("cases", [])
    gate_ok = s.get("pass_rate", 0) >= results.get("min_pass_rate", 0)
    kpis = [
        ("pass rate", f"{s.get('pass_rate', 0):.1%}"),
        ("cases", f"{s.get('passed', 0)}/{s.get('cases', 0)}"),
        ("gate", f"{'PASS' if gate_ok else 'FAIL'} (min {results.get('min_pass_rate', 0):.0%})"),
        ("tokens", str(s.get("total_tokens", 0))),
        ("cost", f"${s.get('cost_usd', 0):.6f}"),
        ("latency p50 / p95", f"{s.get('latency_ms_p50') or 0:.1f} / {s.get('latency_ms_p95') or 0:.1f} ms"),
    ]
    rows = []
    for c in cases:
        scores = ", ".join(f"{escape(k)}={v:.2f}" for k, v in c.get("scores", {}).items() if v is not None)
        rows.append(
            f"<tr><td>{escape(c['id'])}<br><small>{escape(', '.join(c.get('tags', [])))}</small></td>"
            f'<td class="{"pass" if c["passed"] else "fail"}">{"pass" if c["passed"] else "FAIL"}</td>'
            f"<td>{escape(c['status'])}</td><td>{scores}</td>"
            f"<td>{escape('; '.join(c.get('failures', [])))}</td>"
            f"<td>{c.get('latency_ms', 0):.1f}</td>"
            f"<td><small>{escape(c.get('response', '')[:300])}</small></td></tr>"
        )
    charts = _bar_chart(s.get("mean_scores", {}), title="mean score per evaluator (0–1 scales)") + _histogram(
        [c.get("latency_ms", 0.0) for c in cases], title="latency per case"
    )
    suite = escape(str(results.get("suite", "")))
    head = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>llmops-kit eval: {suite}</title>'
        f"<style>{_CSS}</style></head><body><h1>Evaluation: {suite}</h1>"
        f"<small>{escape(str(results.get('source', '')))}</small>"
    )
    kpi_html = "".join(f'<div class="kpi">{escape(k)}<b>{escape(v)}</b></div>' for k, v in kpis)
    header_row = "".join(
        f"<th>{h}</th>" for h in ("case", "result", "status", "scores", "failures", "ms", "response")
    )
    table = f"<table><tr>{header_row}</tr>{''.join(rows)}</table>"
    return f"{head}<div>{kpi_html}</div>{charts}{table}</body></html>"


def write_html(results: dict[str, Any], path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(render_html(results), encoding="utf-8")
    return p
