"""``llmops-kit eval``: run a suite as a CI gate (default command) and diff two result files.

``llmops-kit eval cases.json --agent module:factory`` is ``llmops-kit eval run …``: the
group inserts ``run`` when the first argument is not a sub-command, so the documented
short form works while ``diff`` stays a normal sub-command.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from typer.core import TyperGroup

EXIT_GATE_FAILED = 1
EXIT_USAGE = 2


class _DefaultRunGroup(TyperGroup):
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


eval_app = typer.Typer(
    cls=_DefaultRunGroup,
    no_args_is_help=True,
    add_completion=False,
    help="Run an evaluation suite (a CI gate) and compare results.",
)


async def _run(
    cases_path: Path, agent_spec: str, concurrency: int, min_pass_rate: float, console: Console
) -> Any:
    from llmops_kit.evaluation.cases import load_cases
    from llmops_kit.evaluation.suite import load_factory, run_suite
    from llmops_kit.pipeline import ProductionAgent
    from llmops_kit.runtime import build_runtime

    suite = load_cases(cases_path)
    factory = load_factory(agent_spec)
    agent = factory()
    # Scoring is the suite's job (inline, 100 %); the runtime's own runner gets no evaluators.
    runtime = build_runtime(evaluators=[])
    pa = (
        agent
        if hasattr(agent, "run") and hasattr(agent, "adapter")
        else ProductionAgent(agent, name=getattr(agent, "__name__", None) or suite.name, runtime=runtime)
    )
    try:
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as progress:
            task = progress.add_task(f"eval {suite.name}", total=len(suite.cases))
            results = await run_suite(
                suite,
                pa,
                concurrency=concurrency,
                min_pass_rate=min_pass_rate,
                on_case_done=lambda _r: progress.advance(task),
            )
    finally:
        await runtime.aclose()
    return results


def _print(results: Any, console: Console) -> None:
    table = Table(title=f"suite {results.suite}")
    for col in ("case", "result", "status", "scores", "failures", "ms"):
        table.add_column(col, overflow="fold")
    for c in results.cases:
        scores = "\n".join(f"{k}={v:.2f}" for k, v in c.scores.items() if v is not None)
        table.add_row(
            c.id,
            "[green]pass[/]" if c.passed else "[red]FAIL[/]",
            c.status,
            scores,
            "; ".join(c.failures),
            f"{c.latency_ms:.1f}",
        )
    console.print(table)
    s = results.summary
    summary = Table(title="summary", show_header=False)
    summary.add_row(
        "pass rate", f"{s['pass_rate']:.1%} ({s['passed']}/{s['cases']}), gate {results.min_pass_rate:.0%}"
    )
    for name, mean in s["mean_scores"].items():
        summary.add_row(f"mean {name}", f"{mean:.3f}")
    summary.add_row("tokens", f"{s['total_tokens']} (in {s['input_tokens']}, out {s['output_tokens']})")
    summary.add_row("cost", f"${s['cost_usd']:.6f}")
    summary.add_row(
        "latency p50 / p95", f"{s['latency_ms_p50'] or 0:.1f} / {s['latency_ms_p95'] or 0:.1f} ms"
    )
    console.print(summary)


@eval_app.command("run")
def run_command(
    cases: Path = typer.Argument(..., help="cases.json (versioned test cases)"),
    agent: str = typer.Option(..., "--agent", help="module:factory or file.py:factory returning the agent"),
    min_pass_rate: float = typer.Option(0.9, "--min-pass-rate", min=0.0, max=1.0, help="exit 1 below this"),
    report: Path | None = typer.Option(None, "--report", help="write a self-contained HTML report here"),
    output: Path = typer.Option(Path("eval-results.json"), "--output", "-o", help="JSON results file"),
    concurrency: int = typer.Option(4, "--concurrency", min=1, help="cases in flight at once"),
) -> None:
    """Run every case through ProductionAgent, score it, and gate on the pass rate."""
    from llmops_kit.evaluation.cases import CasesError
    from llmops_kit.evaluation.report_html import write_html

    console = Console()
    try:
        results = asyncio.run(_run(cases, agent, concurrency, min_pass_rate, console))
    except (CasesError, ValueError, ImportError) as exc:
        console.print(f"[red]error:[/] {exc}", soft_wrap=True)
        raise typer.Exit(EXIT_USAGE) from exc
    _print(results, console)
    data = results.to_dict()
    console.print(f"results: {results.write_json(output)}")
    if report is not None:
        console.print(f"report: {write_html(data, report)}")
    if not results.gate_passed:
        console.print(
            f"[red]gate failed:[/] pass rate {results.summary['pass_rate']:.1%} < {min_pass_rate:.0%}"
        )
        raise typer.Exit(EXIT_GATE_FAILED)
    console.print(
        f"[green]gate passed:[/] pass rate {results.summary['pass_rate']:.1%} >= {min_pass_rate:.0%}"
    )


@eval_app.command("diff")
def diff_command(
    old: Path = typer.Argument(..., help="baseline results JSON"),
    new: Path = typer.Argument(..., help="new results JSON"),
    fail_on_regression: bool = typer.Option(
        False, "--fail-on-regression", help="exit 1 if any case regressed"
    ),
) -> None:
    """Per-case regressions and score deltas between two result files."""
    from llmops_kit.evaluation.suite import diff_results, load_results

    console = Console()
    try:
        rows = diff_results(load_results(old), load_results(new))
    except ValueError as exc:
        console.print(f"[red]error:[/] {exc}", soft_wrap=True)
        raise typer.Exit(EXIT_USAGE) from exc
    table = Table(title=f"{old.name} → {new.name}")
    for col in ("case", "change", "old", "new", "score deltas"):
        table.add_column(col, overflow="fold")
    style = {"regressed": "[red]regressed[/]", "fixed": "[green]fixed[/]"}
    for r in rows:
        deltas = " ".join(f"{k}{v:+.3f}" for k, v in r.score_deltas.items() if v)
        table.add_row(
            r.id, style.get(r.change, r.change), str(r.old_passed), str(r.new_passed), deltas or "-"
        )
    console.print(table)
    regressed = [r.id for r in rows if r.change == "regressed"]
    console.print(f"{len(regressed)} regression(s)" + (f": {', '.join(regressed)}" if regressed else ""))
    if regressed and fail_on_regression:
        raise typer.Exit(EXIT_GATE_FAILED)
