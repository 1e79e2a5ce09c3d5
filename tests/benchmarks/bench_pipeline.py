"""What ProductionAgent adds per run on the embedded defaults, part by part, in one process.

Run: ``python tests/benchmarks/bench_pipeline.py [--runs 300] [--rounds 5]``. The same async agent
is called bare and through ProductionAgent with parts switched on one at a time, interleaved
round by round so machine drift hits every variant alike. Reported: median µs per run, µs added
over the bare call, and that cost as a share of a typical 500 ms model call (the bare agent here
answers in microseconds, so a ratio to it would say nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "integrations")]

from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from llmops_kit import AgentReply, ProductionAgent, Settings, TokenUsage  # noqa: E402
from llmops_kit.runtime import build_runtime  # noqa: E402

QUERY = "What is the refund policy for annual plans?"
ANSWER = "Annual plans can be refunded within 30 days of purchase. Source: policy/refunds-v3."


class Drop(SpanExporter):
    def export(self, spans):  # type: ignore[no-untyped-def]
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


async def agent(question: str) -> AgentReply:
    await asyncio.sleep(0)  # a real agent awaits its model at least once
    return AgentReply(text=ANSWER, usage=TokenUsage(120, 40), model="gpt-4o-mini")


def variants(tmp: Path) -> dict[str, object]:
    tp = TracerProvider()
    tp.add_span_processor(BatchSpanProcessor(Drop(), max_queue_size=100_000))

    def governed(name: str, **overrides: object) -> ProductionAgent:
        settings = Settings.load(None, data_dir=tmp / name, telemetry="off", **overrides)
        return ProductionAgent(agent, name="support", runtime=build_runtime(settings, tracer_provider=tp))

    return {
        "bare": agent,
        "telemetry+safety (no budget limits, no eval)": governed("min", evaluation_mode="off", budget_ledger="memory"),
        "+ evaluators (inline)": governed("eval", budget_ledger="memory"),
        "+ budget (memory ledger)": governed("mem", budget_ledger="memory", daily_token_budget=10**12),
        "full embedded default (SQLite budget)": governed("sqlite", budget_ledger="sqlite", daily_token_budget=10**12),
        "full, evaluators in background": governed("bg", budget_ledger="sqlite", daily_token_budget=10**12,
                                                   evaluation_mode="background"),
    }


async def batch(target: object, runs: int) -> float:
    start = time.perf_counter()
    if isinstance(target, ProductionAgent):
        for _ in range(runs):
            await target.run(QUERY, tenant_id="t1", user_id="u1")
    else:
        for _ in range(runs):
            await target(QUERY)  # type: ignore[operator]
    return (time.perf_counter() - start) / runs


async def main(runs: int, rounds: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    targets = variants(tmp)
    samples: dict[str, list[float]] = {name: [] for name in targets}
    for target in targets.values():
        await batch(target, 30)  # warm-up: tokenizer, price table, first SQLite connection
    for r in range(rounds):
        names = list(targets)
        names = names[r % len(names):] + names[: r % len(names)]  # rotate the start
        for name in names:
            samples[name].append(await batch(targets[name], runs))
    for target in targets.values():
        if isinstance(target, ProductionAgent):
            await target.aclose()
    med = {name: statistics.median(v) * 1e6 for name, v in samples.items()}
    table = Table(title=f"ProductionAgent overhead ({runs} runs x {rounds} rounds, median µs per run)")
    for col in ("variant", "µs/run", "added µs", "added vs a 500 ms model call"):
        table.add_column(col, justify="left" if col == "variant" else "right")
    for name, value in med.items():
        added = value - med["bare"]
        table.add_row(name, f"{value:,.0f}", f"{added:+,.0f}", f"{added / 500_000:.3%}")
    Console().print(table)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.rounds))
