"""What tail sampling costs: time per trace and memory per buffered span, and that the bound holds.

Each trace is a governed-run shape (root + 5 children: guardrail, 2 chats, tool, eval).
Compared: the downstream processor alone (BatchSpanProcessor to a discarding exporter), and
the tail sampler in front of it at ratio 0.1 and 1.0. Memory: tracemalloc while N traces are
in flight (children ended, roots open), with and without the max_traces bound biting.

    python tests/benchmarks/bench_sampling.py
"""

from __future__ import annotations

import statistics
import sys
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult  # noqa: E402
from opentelemetry.trace import set_span_in_context  # noqa: E402
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


def memory(console: Console) -> None:
    table = Table(title="memory while traces are in flight (5 ended children each, roots still open)")
    for col in ("traces opened", "max_traces", "buffered traces", "buffered spans", "KiB held",
                "bytes / buffered span", "evicted"):
        table.add_column(col, justify="right")
    for opened, bound in ((500, 10_000), (2000, 10_000), (2000, 500), (8000, 500)):
        tp = TracerProvider()
        sampler = wrap_with_tail_sampling(BatchSpanProcessor(Discard()), ratio=0.1, max_traces=bound,
                                          max_spans=1_000_000, meter_provider=MeterProvider())
        assert isinstance(sampler, TailSamplingProcessor)
        tp.add_span_processor(sampler)
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
        held = sum(s.size_diff for s in after.compare_to(before, "filename"))
        traces, spans = sampler.in_flight
        # what the roots themselves hold (open spans the app owns) is not the sampler's: subtract it
        per_root = _root_bytes(opened)
        sampler_bytes = max(0, held - per_root)
        table.add_row(f"{opened:,}", f"{bound:,}", f"{traces:,}", f"{spans:,}",
                      f"{sampler_bytes / 1024:,.0f}",
                      f"{sampler_bytes / max(1, spans):,.0f}", f"{opened - traces:,}")
        for r in roots:
            r.end()
        tp.shutdown()
    console.print(table)


def _root_bytes(opened: int) -> int:
    """Memory of the same workload without the sampler: the spans themselves, kept by the app."""
    tp = TracerProvider()
    processor: SpanProcessor = SpanProcessor()
    tp.add_span_processor(processor)
    tracer = tp.get_tracer("bench")
    keep = []
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for _ in range(opened):
        root = tracer.start_span("invoke_agent support")
        ctx = set_span_in_context(root)
        for name in CHILDREN:
            tracer.start_span(name, context=ctx).end()
        keep.append(root)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    for r in keep:
        r.end()
    return sum(s.size_diff for s in after.compare_to(before, "filename"))


def main() -> None:
    console = Console(width=140)
    throughput(console)
    memory(console)
    console.print("Ended child spans are referenced by the buffer until their root ends: that is the memory "
                  "tail sampling costs, and max_traces / max_spans cap it (oldest trace decided early).")


if __name__ == "__main__":
    main()
