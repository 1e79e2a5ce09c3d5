"""MAF benchmark: what the llmops-kit middleware stack adds per agent run, next to MAF's own tracing.

Run: ``.venv/bin/python tests/benchmarks/bench_maf.py [--runs 200] [--rounds 7]``. Not collected
by pytest (timing lives here only).

The same scripted agent (one tool call -> two model calls per run) is run five ways,
interleaved round by round in one process so machine noise hits them all alike:

* ``bare``       - MAF instrumentation off (``enable_instrumentation = False``), no middleware;
* ``maf-otel``   - MAF's own instrumentation on: ``invoke_agent``/``chat``/``execute_tool`` spans and
                   its metrics through SDK providers (batch span processor, no-op exporter);
* ``no-op mw``   - MAF instrumentation + an agent and a chat middleware that only call on: what MAF
                   charges for hosting any such pair (its pipelines, stream wrappers and the garbage
                   their closures leave) - part of what the ``llmops`` stack adds, reported alongside;
* ``llmops``     - MAF instrumentation + ``llmops_middleware()`` on the embedded defaults (offline safety
                   analyzer, SQLite budget ledger, JSONL audit file, inline default evaluators);
* ``+budget``     - the same with a daily token budget set, so every model call really reserves and
                   settles in the SQLite ledger (the defaults set no limit, which skips the ledger).

Reported: the median µs per run of each variant, the µs each layer adds, and the ratio of
what llmops adds to what MAF's instrumentation adds (target: <= 1.0) - of the best batches, as the
median of per-round ratios, and a 90% bootstrap interval of that median. Both ``stream=False``
and ``stream=True`` runs are measured. On a shared, busy machine wall-clock medians swing by
±30%; ``--clock cpu --stat min`` (process CPU time, best batch) is far steadier for A/B work.

Telemetry goes through SDK tracer, meter and logger providers, measured two ways (``--export``):

* ``drop``  - every span and log record is produced, batched and handed to an exporter that
              drops it: the cost of *making* the telemetry, the strictest comparison for us;
* ``jsonl`` - the embedded defaults' JSONL span and log exporters write it to files, as an
              application with telemetry on pays for it (MAF's spans are four per run with a
              dozen attributes each; the stack writes its decisions on them and sends one
              evaluation event, so exporting costs MAF's instrumentation more than it costs us).

Each batch ends by flushing the span and log processors and the audit sink inside the timed
part, so every variant pays for the export and audit work its own runs caused (their
background threads would otherwise do it during whichever variant runs next).

Every batch starts from a collected heap (``gc.collect()`` outside the timed part). Without
it a batch pays for the garbage the *previous* variant's batch left behind: a full collection
of this process's heap (~20 ms) lands on whichever variant happens to run when the threshold
trips, which moved the ratio by ±10% between identical runs. Each batch still pays for the
young-generation collections its own garbage triggers (MAF's middleware pipeline leaves ~100
objects in reference cycles per run, for example); full collections, whose cost depends on
the host application's heap rather than on the code measured, are left out for every variant
alike. Every run asks about a different city (``next_query``), so per-text caches help a
benchmark run no more than a production one. ``--stream-chunks N`` makes the scripted model
stream its answers in about N chunks (real providers send one per token or so; the default
fixture sends two).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "src"), str(ROOT / "integrations")]

from agent_framework import Agent, AgentContext, AgentMiddleware, ChatContext, ChatMiddleware  # noqa: E402
from agent_framework.observability import OBSERVABILITY_SETTINGS  # noqa: E402
from opentelemetry import _logs, metrics, trace  # noqa: E402
from opentelemetry.sdk._logs import LoggerProvider  # noqa: E402
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter, LogRecordExportResult  # noqa: E402
from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from llmops_kit.config import Settings  # noqa: E402
from llmops_kit.runtime import build_runtime  # noqa: E402
from llmops_kit.telemetry.jsonl import JsonlLogExporter, JsonlSpanExporter  # noqa: E402
from llmops_kit_agent_framework import llmops_middleware  # noqa: E402
from llmops_kit_agent_framework.testing import ScriptedChatClient, get_weather  # noqa: E402

QUERY = "What's the weather in {city}?"
_SYLLABLES = ("ka", "lo", "mi", "ren", "ta", "vor", "bel", "sun", "da", "wen", "po", "lis", "ar", "ve", "nor",
              "ham", "ber", "gen", "to", "mo")


def _city_names() -> list[str]:
    """4,000 made-up city names of letters only (digits would trip the safety analyzer's leetspeak
    pass, which real city names do not), each checked to be a name the analyzer lets through
    without a finding, so no chance syllable makes a run take a blocked path."""
    from llmops_kit.safety.local import LocalSafetyAnalyzer

    analyzer = LocalSafetyAnalyzer()
    names = ("".join(parts).capitalize() for parts in itertools.product(_SYLLABLES, repeat=3))
    return [n for n in itertools.islice(names, 4400)
            if analyzer.analyze(QUERY.format(city=n)).action == "allow"][:4000]


#: A different city in each run's question (so a different answer too), cycling through more names than
#: any per-text cache holds (the PII scan's keeps 128 texts, the evaluators' topic variants 512): real
#: traffic differs from request to request, and such caches must not help a benchmark run more than
#: they help a production one. One name repeated in every run made the stack look ~20 µs cheaper.
_QUERIES = itertools.cycle([QUERY.format(city=name) for name in _city_names()])


def next_query() -> str:
    return next(_QUERIES)


class DropExporter(SpanExporter):
    """Counts and drops spans (the breakdown benchmark's exporter: it measures our own code only)."""

    def __init__(self) -> None:
        self.count = 0

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        self.count += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


class SwitchableSpanExporter(DropExporter):
    """Writes spans as JSONL (the embedded default) or drops them, per measurement pass."""

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.jsonl = JsonlSpanExporter(directory)
        self.write = False

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        super().export(spans)
        return self.jsonl.export(spans) if self.write else SpanExportResult.SUCCESS


class SwitchableLogExporter(LogRecordExporter):
    """Writes log records as JSONL (the embedded default) or drops them, per measurement pass."""

    def __init__(self, directory: Path) -> None:
        self.jsonl = JsonlLogExporter(directory)
        self.write = False

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        return self.jsonl.export(batch) if self.write else LogRecordExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    def shutdown(self) -> None:
        return None


class PassThroughAgentMiddleware(AgentMiddleware):
    """Does nothing but call on: what MAF itself charges for running any agent middleware."""

    async def process(self, context: AgentContext, call_next: Callable[[], Awaitable[None]]) -> None:
        await call_next()


class PassThroughChatMiddleware(ChatMiddleware):
    """Does nothing but call on: what MAF itself charges for running any chat middleware."""

    async def process(self, context: ChatContext, call_next: Callable[[], Awaitable[None]]) -> None:
        await call_next()


async def one_batch(agent: Agent, runs: int, stream: bool, instrumented: bool,
                    clock: Any = time.perf_counter, *, collect: bool = False,
                    settle: Callable[[], Awaitable[None]] | None = None) -> float:
    """Seconds per run over ``runs`` sequential runs; ``collect``: start from a collected heap;
    ``settle``: awaited inside the timed part after the runs (flush what they left to background threads)."""
    OBSERVABILITY_SETTINGS.enable_instrumentation = instrumented
    if collect:
        gc.collect()
    start = clock()
    for _ in range(runs):
        if stream:
            s = agent.run(next_query(), stream=True)
            async for _update in s:
                pass
            await s.get_final_response()
        else:
            await agent.run(next_query())
    if settle is not None:
        await settle()
    return (clock() - start) / runs


def round_ratios(samples: dict[str, list[float]], variant: str) -> list[float]:
    """(variant - maf-otel) / (maf-otel - bare) within each round.

    The variants of one round run back to back, so a slow stretch of the machine inflates all
    of them alike; a ratio per round cancels it, where the ratio of each variant's best batch
    compares batches from different moments.
    """
    return [(ours - maf) / (maf - bare) for bare, maf, ours in
            zip(samples["bare"], samples["maf-otel"], samples[variant], strict=True) if maf > bare]


def paired_ratio(samples: dict[str, list[float]], variant: str) -> float:
    """Median over rounds of :func:`round_ratios`."""
    ratios = round_ratios(samples, variant)
    return statistics.median(ratios) if ratios else float("inf")


def median_interval(values: Sequence[float], *, level: float = 0.9, resamples: int = 2000,
                    seed: int = 20261124) -> tuple[float, float]:
    """Percentile-bootstrap interval of the median of ``values`` (rounds resampled with replacement).

    How far the per-round median could move on another day of the same machine: a ratio whose
    interval straddles 1.0 is parity, not a win or a loss."""
    if len(values) < 2:
        return (float("nan"), float("nan"))
    rng = random.Random(seed)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(resamples))
    tail = (1.0 - level) / 2
    return medians[int(tail * (resamples - 1))], medians[int((1.0 - tail) * (resamples - 1))]


async def main(runs: int, rounds: int, clock_name: str = "wall", stat: str = "median", chunks: int = 2,
               exports: Sequence[str] = ("drop", "jsonl")) -> None:
    clock = time.perf_counter if clock_name == "wall" else time.process_time
    reduce = statistics.median if stat == "median" else min
    tmp = Path(tempfile.mkdtemp(prefix="bench-maf-"))
    span_exporter, log_exporter = SwitchableSpanExporter(tmp / "telemetry"), SwitchableLogExporter(tmp / "telemetry")
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter, max_queue_size=100_000))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(log_exporter, max_queue_size=100_000))
    trace.set_tracer_provider(tracer_provider)  # a benchmark is an application: it may install providers
    metrics.set_meter_provider(meter_provider)
    _logs.set_logger_provider(logger_provider)

    settings = Settings.load(env_file=None, data_dir=tmp)  # embedded defaults: sqlite budget, file audit
    providers = {"tracer_provider": tracer_provider, "meter_provider": meter_provider,
                 "logger_provider": logger_provider}
    runtime = build_runtime(settings, **providers)
    metered = build_runtime(Settings.load(env_file=None, data_dir=tmp / "metered", daily_token_budget=10**12),
                            **providers)

    def settle_with(audited: Any = None) -> Callable[[], Awaitable[None]]:
        async def settle() -> None:
            tracer_provider.force_flush()
            logger_provider.force_flush()
            if audited is not None:
                await audited.audit.flush()
        return settle

    agents = {
        "bare": (Agent(client=ScriptedChatClient(text_chunks=chunks), name="w", tools=[get_weather]), False,
                 settle_with()),
        "maf-otel": (Agent(client=ScriptedChatClient(text_chunks=chunks), name="w", tools=[get_weather]), True,
                     settle_with()),
        "no-op mw": (Agent(client=ScriptedChatClient(text_chunks=chunks), name="w", tools=[get_weather],
                           middleware=[PassThroughAgentMiddleware(), PassThroughChatMiddleware()]), True,
                     settle_with()),
        "llmops": (Agent(client=ScriptedChatClient(text_chunks=chunks), name="w", tools=[get_weather],
                         middleware=llmops_middleware(runtime)), True, settle_with(runtime)),
        "+budget": (Agent(client=ScriptedChatClient(text_chunks=chunks), name="w", tools=[get_weather],
                          middleware=llmops_middleware(metered)), True, settle_with(metered)),
    }
    console = Console(width=160)
    table = Table(title=f"MAF run overhead ({runs} runs x {rounds} rounds per cell, {stat} µs/run, "
                        f"{clock_name} clock, answers streamed in {chunks} chunks)")
    for column in ("mode", "telemetry", "bare", "maf-otel", "llmops", "+budget", "MAF otel adds", "llmops adds",
                   "of which MAF hosting 2 mw", "ratio llmops/MAF", "per-round ratio (median)",
                   "per-round 90% interval", "ratio +budget/MAF"):
        table.add_column(column, justify="right")
    try:
        for export in exports:
            span_exporter.write = log_exporter.write = export == "jsonl"
            for stream in (False, True):
                samples: dict[str, list[float]] = {name: [] for name in agents}
                for agent, instrumented, settle in agents.values():  # warm-up (imports, first-call caches)
                    await one_batch(agent, max(10, runs // 10), stream, instrumented, settle=settle)
                for _ in range(rounds):
                    for name, (agent, instrumented, settle) in agents.items():
                        samples[name].append(await one_batch(agent, runs, stream, instrumented, clock,
                                                             collect=True, settle=settle))
                med = {name: reduce(values) * 1e6 for name, values in samples.items()}
                maf_adds = med["maf-otel"] - med["bare"]
                ours_adds = med["llmops"] - med["maf-otel"]
                budget_adds = med["+budget"] - med["maf-otel"]
                ratio = ours_adds / maf_adds if maf_adds > 0 else float("inf")
                budget_ratio = budget_adds / maf_adds if maf_adds > 0 else float("inf")
                hosting = med["no-op mw"] - med["maf-otel"]
                table.add_row("stream" if stream else "sync", "dropped" if export == "drop" else "JSONL files",
                              f"{med['bare']:.0f}", f"{med['maf-otel']:.0f}", f"{med['llmops']:.0f}",
                              f"{med['+budget']:.0f}", f"{maf_adds:+.0f}", f"{ours_adds:+.0f}", f"{hosting:+.0f}",
                              f"{ratio:.2f}", f"{paired_ratio(samples, 'llmops'):.2f}",
                              "{:.2f}–{:.2f}".format(*median_interval(round_ratios(samples, "llmops"))),
                              f"{budget_ratio:.2f}")
    finally:
        OBSERVABILITY_SETTINGS.enable_instrumentation = True
        await runtime.aclose()
        await metered.aclose()
        tracer_provider.shutdown()
        logger_provider.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    console.print(table)
    console.print(f"spans produced: {span_exporter.count}; budget ledger: {runtime.backends.get('budget')}; "
                  f"audit: {runtime.backends.get('audit')}; safety: {runtime.backends.get('safety')}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall: perf_counter (default); cpu: process CPU time, steadier on a busy machine")
    parser.add_argument("--stat", choices=("median", "min"), default="median")
    parser.add_argument("--stream-chunks", type=int, default=2,
                        help="chunks the scripted model streams an answer in (a provider sends about one a token)")
    parser.add_argument("--export", choices=("drop", "jsonl", "both"), default="both",
                        help="spans and log records dropped, written as JSONL (the embedded default), or both passes")
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.rounds, args.clock, args.stat, args.stream_chunks,
                     ("drop", "jsonl") if args.export == "both" else (args.export,)))
