"""What tail sampling costs: time per trace and memory per buffered span, and that the bound holds.

Each trace is a governed-run shape (root + 5 children: guardrail, 2 chats, tool, eval).
Compared: the downstream processor alone (BatchSpanProcessor to a discarding exporter), and
the tail sampler in front of it at ratio 0.1 and 1.0. Then several governed runs (local roots)
per trace under one remote parent, as an incoming request carries: each run is decided on its
own, and the table checks that every erroring run was exported whole. Memory: tracemalloc while
N traces are in flight (children ended, roots open), with and without the max_traces bound biting.

    python tests/benchmarks/bench_sampling.py
"""

from __future__ import annotations

import statistics
import sys
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult  # noqa: E402
from opentelemetry.trace import (  # noqa: E402
    NonRecordingSpan,
    SpanContext,
    TraceFlags,
    set_span_in_context,
)
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from llmops_kit.telemetry import semconv as sc  # noqa: E402
from llmops_kit.telemetry.sampling import TailSamplingProcessor, wrap_with_tail_sampling  # noqa: E402

TRACES = 3000
REPEATS = 5
CHILDREN = ("run_guardrail input", "chat gpt-4o-mini", "execute_tool lookup", "chat gpt-4o-mini", "evaluate")


class Discard(SpanExporter):
    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans += len(spans)
        return SpanExportResult.SUCCESS


def _make(processor_factory) -> tuple[TracerProvider, Discard]:
    exporter = Discard()
    tp = TracerProvider()
    tp.add_span_processor(processor_factory(BatchSpanProcessor(exporter, max_queue_size=100_000)))
    return tp, exporter


def _run_traces(tp: TracerProvider, n: int, error_every: int = 20) -> float:
    tracer = tp.get_tracer("bench")
    t0 = time.perf_counter()
    for i in range(n):
        root = tracer.start_span("invoke_agent support", attributes={sc.LLMOPS_RUN_ID: str(i)})
        ctx = set_span_in_context(root)
        for name in CHILDREN:
            tracer.start_span(name, context=ctx).end()
        root.set_attribute(sc.LLMOPS_RUN_STATUS, "error" if i % error_every == 0 else "ok")
        root.set_attribute(sc.LLMOPS_COST_USD, 0.0004)
        root.end()
    return time.perf_counter() - t0


def throughput(console: Console) -> None:
    mp = MeterProvider()
    setups = {
        "downstream only": lambda p: p,
        "tail sampling, ratio 0.1": lambda p: wrap_with_tail_sampling(p, ratio=0.1, meter_provider=mp),
        "tail sampling, ratio 1.0": lambda p: wrap_with_tail_sampling(p, ratio=1.0, meter_provider=mp),
    }
    results: dict[str, tuple[float, int]] = {}
    for name, factory in setups.items():
        times, exported = [], 0
        for _ in range(REPEATS):
            tp, exporter = _make(factory)
            times.append(_run_traces(tp, TRACES))
            tp.shutdown()
            exported = exporter.spans
        results[name] = (statistics.median(times), exported)
    base = results["downstream only"][0]
    table = Table(title=f"time per trace ({TRACES} traces x 6 spans, median of {REPEATS}, 1 in 20 errors)")
    for col in ("setup", "µs / trace", "µs / span", "ratio vs downstream only", "spans exported"):
        table.add_column(col, justify="right" if col != "setup" else "left")
    for name, (t, exported) in results.items():
        table.add_row(name, f"{t / TRACES * 1e6:.1f}", f"{t / TRACES / 6 * 1e6:.2f}", f"{t / base:.2f}x",
                      f"{exported:,}")
    console.print(table)


class Count(SpanExporter):
    """Counts exported run roots by status, to check no erroring run was lost."""

    def __init__(self) -> None:
        self.spans = 0
        self.error_runs = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans += len(spans)
        self.error_runs += sum(1 for s in spans if (s.attributes or {}).get(sc.LLMOPS_RUN_STATUS) == "error")
        return SpanExportResult.SUCCESS


def _run_remote(tp: TracerProvider, requests: int, runs: int, error_every: int) -> tuple[float, int]:
    """``requests`` incoming requests (remote parents), ``runs`` governed runs in each."""
    tracer = tp.get_tracer("bench")
    errors = 0
    t0 = time.perf_counter()
    for r in range(requests):
        remote = SpanContext(trace_id=(r + 1) * 0x9E3779B97F4A7C15_9E3779B97F4A7C15 & ((1 << 128) - 1),
                             span_id=r + 1, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
        request = set_span_in_context(NonRecordingSpan(remote))
        for k in range(runs):
            root = tracer.start_span("invoke_agent support", context=request)
            ctx = set_span_in_context(root)
            for name in CHILDREN:
                tracer.start_span(name, context=ctx).end()
            failed = (r * runs + k) % error_every == error_every - 1  # the last run of a request
            errors += failed
            root.set_attribute(sc.LLMOPS_RUN_STATUS, "error" if failed else "ok")
            root.end()
    return time.perf_counter() - t0, errors


def remote_parent(console: Console) -> None:
    requests, runs = TRACES // 2, 2
    mp = MeterProvider()
    setups = {
        "downstream only": lambda p: p,
        "tail sampling, ratio 0.1": lambda p: wrap_with_tail_sampling(p, ratio=0.1, meter_provider=mp),
    }
    table = Table(title=f"{requests} requests (remote parents) x {runs} runs x 6 spans, median of {REPEATS}; "
                        "every 10th run errors, always the second of its request")
    for col in ("setup", "µs / run", "ratio vs downstream only", "spans exported", "error runs exported"):
        table.add_column(col, justify="right" if col != "setup" else "left")
    base = 0.0
    for name, factory in setups.items():
        times, exported, kept_errors, errors = [], 0, 0, 0
        for _ in range(REPEATS):
            exporter = Count()
            tp = TracerProvider()
            tp.add_span_processor(factory(BatchSpanProcessor(exporter, max_queue_size=100_000)))
            t, errors = _run_remote(tp, requests, runs, error_every=10)
            times.append(t)
            tp.shutdown()
            exported, kept_errors = exporter.spans, exporter.error_runs
        median = statistics.median(times)
        base = base or median
        table.add_row(name, f"{median / (requests * runs) * 1e6:.1f}", f"{median / base:.2f}x", f"{exported:,}",
                      f"{kept_errors:,} of {errors:,}")
        if kept_errors != errors:
            raise SystemExit(f"{name}: {errors - kept_errors} erroring runs were not exported")
    console.print(table)


def memory(console: Console) -> None:
    table = Table(title="memory while traces are in flight (5 ended children each, roots still open)")
    for col in ("traces opened", "max_traces", "buffered traces", "buffered spans", "KiB held",
                "bytes / buffered span", "evicted", "tracked span ids"):
        table.add_column(col, justify="right")
    for opened, bound in ((500, 10_000), (2000, 10_000), (2000, 500), (8000, 500)):
        tp = TracerProvider()
        sampler = wrap_with_tail_sampling(BatchSpanProcessor(Discard()), ratio=0.1, max_traces=bound,
                                          max_spans=1_000_000, meter_provider=MeterProvider())
        assert isinstance(sampler, TailSamplingProcessor)
        tp.add_span_processor(sampler)
        roots, held = _open_traces(tp, opened)
        traces, spans = sampler.in_flight
        # what the roots themselves hold (open spans the app owns) is not the sampler's: subtract it
        per_root = _root_bytes(opened)
        sampler_bytes = max(0, held - per_root)
        table.add_row(f"{opened:,}", f"{bound:,}", f"{traces:,}", f"{spans:,}",
                      f"{sampler_bytes / 1024:,.0f}",
                      f"{sampler_bytes / max(1, spans):,.0f}", f"{opened - traces:,}",
                      f"{sampler.tracked_spans:,}")
        for r in roots:
            r.end()
        tp.shutdown()
    console.print(table)


def _root_bytes(opened: int) -> int:
    """Memory of the same workload without the sampler: the spans themselves, kept by the app."""
    tp = TracerProvider()
    processor: SpanProcessor = SpanProcessor()
    tp.add_span_processor(processor)
    roots, held = _open_traces(tp, opened)
    for r in roots:
        r.end()
    return held


def _open_traces(tp: TracerProvider, opened: int) -> tuple[list[Any], int]:
    """``opened`` traces whose children ended and whose roots stay open, and the bytes allocated."""
    tracer = tp.get_tracer("bench")
    roots = []
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for _ in range(opened):
        root = tracer.start_span("invoke_agent support")
        ctx = set_span_in_context(root)
        for name in CHILDREN:
            tracer.start_span(name, context=ctx).end()
        roots.append(root)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    return roots, sum(s.size_diff for s in after.compare_to(before, "filename"))


def main() -> None:
    console = Console(width=140)
    throughput(console)
    remote_parent(console)
    memory(console)
    console.print("Ended child spans are referenced by the buffer until their root ends: that is the memory "
                  "tail sampling costs, and max_traces / max_spans cap it (oldest trace decided early). "
                  "Open spans also keep a span-id entry (to place their children), capped at 2 x max_spans.")


if __name__ == "__main__":
    main()
