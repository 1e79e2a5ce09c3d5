"""``llmops-kit``: demo, report, doctor, audit, budget and eval commands."""

from __future__ import annotations

import asyncio
import importlib
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from llmops_kit.config import Settings, SettingsError

app = typer.Typer(
    help="Production guardrails and telemetry for LangChain and Microsoft Agent Framework agents.",
    no_args_is_help=True, add_completion=False, rich_markup_mode="rich",
)
console = Console()


def _load_settings() -> Settings:
    try:
        return Settings.load()
    except SettingsError as exc:
        # one line, never wrapped: CI logs and grep must see the variable and the fix together
        console.print(f"[bold red]configuration error[/] {exc}", soft_wrap=True)
        raise typer.Exit(2) from None


@app.command()
def demo() -> None:
    """Run a scripted support agent through every lifecycle outcome, offline."""
    from llmops_kit.console import result_panel, summary_table
    from llmops_kit.demo.run import demo_settings, run_demo

    settings = demo_settings(_load_settings())
    console.rule("[bold]llmops-kit demo[/] — a scripted support agent, governed by ProductionAgent")
    outcomes, providers = asyncio.run(run_demo(settings))
    for i, o in enumerate(outcomes, 1):
        console.print(result_panel(f"{i}. {o.scenario.title}  (expected: {o.scenario.expect})", o.result, o.spans))
    console.print(summary_table((o.scenario.title, o.result) for o in outcomes))
    console.print(f"telemetry: [bold]{providers.mode}[/] → {providers.destination}   "
                  f"audit: {outcomes[0].result.audit.location.split('#')[0] if outcomes[0].result.audit else '—'}")
    console.print("next: [bold]llmops-kit report[/] (add --html report.html) · [bold]llmops-kit audit verify[/] · "
                  "[bold]llmops-kit doctor[/] · [bold]DAILY_TOKEN_BUDGET=1000000 llmops-kit budget show[/]")
    providers.shutdown()
    mismatched = [o for o in outcomes if o.result.status != o.scenario.expect]
    if mismatched:
        console.print(f"[bold red]{len(mismatched)} scenario(s) ended differently than expected[/]")
        raise typer.Exit(1)


@app.command()
def report(
    directory: Path | None = typer.Option(
        None, "--dir", help="Telemetry directory (default: LLMOPS_DATA_DIR/telemetry)."
    ),
    html: Path | None = typer.Option(None, "--html", help="Also write an HTML report to this file."),
) -> None:
    """Summarise the local telemetry store: runs, tokens, cost, block rates, latency."""
    from datetime import datetime, timezone

    from llmops_kit.report import build_report, latency_over_time, percentile, top_sessions

    settings = _load_settings()
    directory = directory or settings.telemetry_dir
    rep = build_report(directory)
    if rep.total.runs == 0:
        console.print(f"no runs recorded under {directory} — run [bold]llmops-kit demo[/] first")
        raise typer.Exit(0)
    lat = rep.total.latencies_ms
    console.print(f"[bold]{rep.total.runs}[/] runs · safety blocks {rep.rate('blocked_input', 'blocked_output'):.1%}"
                  f" · budget denials {rep.rate('budget_denied'):.1%} · errors {rep.rate('error'):.1%} · "
                  f"latency p50 {percentile(lat, 50):.1f} ms · p95 {percentile(lat, 95):.1f} ms · "
                  f"cost ${rep.total.cost_usd:.6f}")
    for title, groups in (("by agent", rep.by_agent), ("by model", rep.by_model), ("by tenant", rep.by_tenant)):
        table = Table(title=title)
        for col in ("name", "runs", "tokens in", "tokens out", "cost USD", "p50 ms", "p95 ms"):
            table.add_column(col, justify="right" if col != "name" else "left")
        for name, g in sorted(groups.items(), key=lambda kv: -kv[1].cost_usd):
            table.add_row(name, str(g.runs), f"{g.input_tokens:,}", f"{g.output_tokens:,}", f"{g.cost_usd:.6f}",
                          f"{percentile(g.latencies_ms, 50):.1f}", f"{percentile(g.latencies_ms, 95):.1f}")
        console.print(table)
    status_table = Table(title="outcomes")
    status_table.add_column("status")
    status_table.add_column("runs", justify="right")
    status_table.add_column("share", justify="right")
    for status, n in rep.statuses.most_common():
        status_table.add_row(status, str(n), f"{n / rep.total.runs:.1%}")
    console.print(status_table)
    if rep.block_reasons:
        reasons = Table(title="block and error reasons")
        reasons.add_column("reason")
        reasons.add_column("runs", justify="right")
        for reason, n in rep.block_reasons.most_common(10):
            reasons.add_row(reason, str(n))
        console.print(reasons)
    if rep.eval_scores:
        scores = Table(title="evaluation scores")
        for col in ("evaluator", "n", "mean", "p50", "min"):
            scores.add_column(col)
        for name, vals in sorted(rep.eval_scores.items()):
            scores.add_row(name, str(len(vals)), f"{sum(vals) / len(vals):.3f}", f"{percentile(vals, 50):.3f}",
                           f"{min(vals):.3f}")
        console.print(scores)
    sessions = top_sessions(rep)
    if sessions:
        table = Table(title="top costly sessions")
        for col in ("session", "tenant", "agents", "runs", "tokens", "cost USD"):
            table.add_column(col, justify="right" if col in ("runs", "tokens", "cost USD") else "left")
        for st in sessions:
            table.add_row(st.session_id, st.tenant, ", ".join(sorted(st.agents)), str(st.runs), f"{st.tokens:,}",
                          f"{st.cost_usd:.6f}")
        console.print(table)
    slices = latency_over_time(rep)
    if len(slices) > 1:
        table = Table(title="latency over time (ms)")
        for col in ("from (UTC)", "runs", "p50", "p95", "p99"):
            table.add_column(col, justify="left" if col.startswith("from") else "right")
        for start_ns, n, p50, p95, p99 in slices:
            when = datetime.fromtimestamp(start_ns / 1e9, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
            table.add_row(when, str(n), f"{p50:.1f}", f"{p95:.1f}", f"{p99:.1f}")
        console.print(table)
    if html is not None:
        try:
            from llmops_kit.report_html import write_html_report
        except ImportError:
            console.print("[yellow]HTML report is not available in this version[/]")
            raise typer.Exit(1) from None
        write_html_report(rep, directory, html)
        console.print(f"wrote {html}")


@app.command()
def doctor() -> None:
    """Show which backend each part uses and whether it is reachable (never prints a secret)."""
    from llmops_kit.doctor import run_doctor

    settings = _load_settings()
    rows = asyncio.run(run_doctor(settings))
    table = Table(title="llmops-kit doctor")
    for col in ("part", "backend", "status", "detail"):
        table.add_column(col, overflow="fold")  # the fix hint must survive an 80-column CI log
    failed = False
    for part, backend, ok, detail in rows:
        failed |= not ok
        table.add_row(part, backend, "[green]ok[/]" if ok else "[red]unreachable[/]", detail)
    console.print(table)
    if failed:
        raise typer.Exit(1)


def _mount(module: str, attr: str, name: str, help_text: str) -> None:
    """Sub-apps live with the feature they belong to; a missing optional extra must not break the CLI."""
    try:
        sub = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        why = f"{type(exc).__name__}: {exc}"
        missing = typer.Typer(help=f"{help_text} (unavailable: {why})")

        @missing.callback(invoke_without_command=True)
        def _unavailable() -> None:
            console.print(f"[red]{name} is unavailable:[/] {why}")
            raise typer.Exit(1)

        app.add_typer(missing, name=name)
        return
    app.add_typer(sub, name=name, help=help_text)


_mount("llmops_kit.audit.cli", "audit_app", "audit", "Verify the tamper-evident audit trail.")
_mount("llmops_kit.budget.cli", "budget_app", "budget", "Show and edit token and cost budgets.")
_mount("llmops_kit.safety.cli", "safety_app", "safety", "Check or redact a text with the configured safety backend.")
_mount("llmops_kit.evaluation.cli", "eval_app", "eval", "Run an evaluation suite (a CI gate) and compare results.")


def main() -> None:  # pragma: no cover - console entry point
    sys.exit(app())


if __name__ == "__main__":  # pragma: no cover
    main()
