"""Rich renderings shared by ``llmops-kit demo`` and ``llmops-kit report``."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from llmops_kit.results import RunResult
from llmops_kit.telemetry import semconv as sc

STATUS_STYLE = {
    "ok": "bold green",
    "blocked_input": "bold yellow",
    "blocked_output": "bold yellow",
    "budget_denied": "bold magenta",
    "error": "bold red",
}


def span_tree(spans: Iterable[Mapping[str, Any]], trace_id: str | None = None) -> Tree | None:
    """A tree of one trace's spans with durations and the GenAI facts that matter."""
    rows = [s for s in spans if trace_id is None or s["trace_id"] == trace_id]
    if not rows:
        return None
    ids = {s["span_id"] for s in rows}
    children: dict[str | None, list[Mapping[str, Any]]] = defaultdict(list)
    for s in sorted(rows, key=lambda s: s.get("start_ns", 0)):
        parent = s.get("parent_span_id")
        children[parent if parent in ids else None].append(s)
    roots = children[None]
    tree = Tree(Text(f"trace {rows[0]['trace_id'][:16]}…", style="dim"))

    def add(node: Tree, span: Mapping[str, Any]) -> None:
        branch = node.add(_span_label(span))
        for child in children.get(span["span_id"], []):
            add(branch, child)

    for root in roots:
        add(tree, root)
    return tree


def _span_label(span: Mapping[str, Any]) -> Text:
    a = span.get("attributes", {})
    label = Text()
    style = "red" if span.get("status") == "ERROR" else "cyan"
    label.append(span["name"], style=f"bold {style}")
    label.append(f"  {span.get('duration_ms', 0):.1f} ms", style="dim")
    facts = []
    if sc.GEN_AI_USAGE_INPUT_TOKENS in a:
        facts.append(f"in {a[sc.GEN_AI_USAGE_INPUT_TOKENS]} / out {a.get(sc.GEN_AI_USAGE_OUTPUT_TOKENS, 0)} tok")
    if a.get(sc.LLMOPS_COST_USD):
        facts.append(f"${a[sc.LLMOPS_COST_USD]:.6f}")
    if sc.GEN_AI_RESPONSE_TTFC in a and span.get("kind") == "CLIENT":
        facts.append(f"ttft {a[sc.GEN_AI_RESPONSE_TTFC] * 1000:.0f} ms")
    if sc.LLMOPS_RUN_STATUS in a:
        facts.append(f"status={a[sc.LLMOPS_RUN_STATUS]}")
    if a.get(sc.ERROR_TYPE):
        facts.append(f"error={a[sc.ERROR_TYPE]}")
    if facts:
        label.append("  " + " · ".join(facts), style="white")
    return label


def result_panel(title: str, result: RunResult, spans: Iterable[Mapping[str, Any]] = ()) -> Panel:
    """Everything about one run on one screen: outcome, trace, usage, decisions, scores, budget."""
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    facts.add_row("status", Text(result.status, style=STATUS_STYLE.get(result.status, "")))
    if result.reason:
        facts.add_row("reason", result.reason)
    facts.add_row("response", Text(result.response[:300] or "—"))
    usage = result.usage
    tokens = f"in {usage.input_tokens:,} · out {usage.output_tokens:,}"
    if usage.cache_read_input_tokens:
        tokens += f" · cached {usage.cache_read_input_tokens:,}"
    if result.usage_missing:
        tokens += "  (not reported; settled at reservation)"
    facts.add_row("tokens", tokens)
    facts.add_row("cost", f"${result.cost_usd:.6f}" + (f"  ({result.model})" if result.model else ""))
    latency = f"{result.latency_ms:.1f} ms"
    if result.ttft_ms is not None:
        latency += f" · ttft {result.ttft_ms:.1f} ms"
    facts.add_row("latency", latency)
    for v in result.safety:
        verdict = f"{v.action} ({v.analyzer}, {v.status})"
        if v.reason:
            verdict += f" — {v.reason}"
        if v.findings:
            verdict += f"  findings: {', '.join(v.findings[:5])}"
        facts.add_row(f"safety:{v.stage}", Text(verdict, style="green" if v.allowed else "yellow"))
    for e in result.evaluations:
        score = "—" if e.score is None else f"{e.score:.2f}"
        mark = {True: "pass", False: "fail", None: ""}[e.passed]
        facts.add_row(f"eval:{e.name}", f"{score} {mark}  {e.explanation[:80]}")
    if result.budget.limits:
        for lim in result.budget.limits:
            unit = "USD" if lim.unit == "cost_micro_usd" else lim.unit.replace("_", " ")
            fmt = (lambda x: f"${x / 1e6:,.4f}") if lim.unit == "cost_micro_usd" else (lambda x: f"{x:,}")
            facts.add_row("budget", f"{lim.label}: {fmt(lim.remaining)} left of {fmt(lim.limit)} {unit}")
    else:
        facts.add_row("budget", "no limits configured")
    facts.add_row("audit", result.audit.location if result.audit else "—")
    facts.add_row("trace", result.trace_id or "—")
    parts: list[Any] = [facts]
    tree = span_tree(spans, result.trace_id) if result.trace_id else None
    if tree is not None:
        parts.append(tree)
    style = STATUS_STYLE.get(result.status, "white").replace("bold ", "")
    return Panel(Group(*parts), title=f"[bold]{title}[/]", border_style=style, expand=True)


def summary_table(rows: Iterable[tuple[str, RunResult]]) -> Table:
    table = Table(title="Runs", show_lines=False)
    for col in ("run", "status", "tokens in/out", "cost USD", "ms"):
        table.add_column(col, justify="left" if col in ("run", "status") else "right")
    for title, r in rows:
        table.add_row(
            title, Text(r.status, style=STATUS_STYLE.get(r.status, "")),
            f"{r.usage.input_tokens}/{r.usage.output_tokens}", f"{r.cost_usd:.6f}", f"{r.latency_ms:.0f}",
        )
    return table
