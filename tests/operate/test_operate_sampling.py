"""Tail sampling: every interesting trace kept, a deterministic fraction of the rest, bounded memory."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode, set_span_in_context
from tests.operate.governed import run_workload

from llmops_kit.telemetry import semconv as sc
from llmops_kit.telemetry.sampling import (
    TailSamplingConfig,
    TailSamplingProcessor,
    ratio_keeps,
    wrap_with_tail_sampling,
)


class Harness:
    def __init__(self, **cfg: object) -> None:
        self.exporter = InMemorySpanExporter()
        self.reader = InMemoryMetricReader()
        self.mp = MeterProvider(metric_readers=[self.reader])
        self.sampler = TailSamplingProcessor(SimpleSpanProcessor(self.exporter), TailSamplingConfig(**cfg),
                                             meter_provider=self.mp)
        self.tp = TracerProvider()
        self.tp.add_span_processor(self.sampler)
        self.tracer = self.tp.get_tracer("test")

    def trace(self, *, root_attrs: dict | None = None, child_error: bool = False, duration_ms: float = 1.0,
              children: int = 2) -> int:
        start = 1_000_000_000
        root = self.tracer.start_span("invoke_agent a", attributes=root_attrs or {}, start_time=start)
        ctx = set_span_in_context(root)
        for i in range(children):
            child = self.tracer.start_span(f"chat m{i}", context=ctx, start_time=start + 10)
            if child_error and i == 0:
                child.set_status(Status(StatusCode.ERROR, "boom"))
            child.end(end_time=start + 20)
        root.end(end_time=start + int(duration_ms * 1e6))
        return root.get_span_context().trace_id

    def kept(self) -> set[int]:
        return {s.context.trace_id for s in self.exporter.get_finished_spans()}

    def counts(self, metric: str) -> dict[tuple, float]:
        out: dict[tuple, float] = {}
        data = self.reader.get_metrics_data()
        for rm in data.resource_metrics if data else []:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    if m.name == metric:
                        for p in m.data.data_points:
                            out[tuple(sorted(p.attributes.items()))] = p.value
        return out


def test_interesting_traces_are_always_kept_and_whole() -> None:
    h = Harness(ratio=0.0, latency_ms=500, cost_usd=0.10)
    boring = h.trace(root_attrs={sc.LLMOPS_RUN_STATUS: "ok", sc.LLMOPS_COST_USD: 0.01})
    error = h.trace(child_error=True)
    blocked = h.trace(root_attrs={sc.LLMOPS_RUN_STATUS: "blocked_input"})
    denied = h.trace(root_attrs={sc.LLMOPS_BUDGET_DECISION: "denied"})
    slow = h.trace(duration_ms=800)
    costly = h.trace(root_attrs={sc.LLMOPS_RUN_STATUS: "ok", sc.LLMOPS_COST_USD: 0.25})
    assert h.kept() == {error, blocked, denied, slow, costly}
    assert boring not in h.kept()
    spans = h.exporter.get_finished_spans()
    assert len(spans) == 5 * 3  # root + both children of every kept trace
    reasons = {dict(k)[sc.LLMOPS_SAMPLING_REASON]: v for k, v in h.counts(sc.METRIC_SAMPLING_TRACES).items()}
    assert reasons == {"dropped": 1, "error": 1, "blocked": 2, "latency": 1, "cost": 1}


def test_children_wait_for_their_root() -> None:
    h = Harness(ratio=1.0)
    root = h.tracer.start_span("invoke_agent a")
    child = h.tracer.start_span("chat m", context=set_span_in_context(root))
    child.end()
    assert h.exporter.get_finished_spans() == ()
    assert h.sampler.in_flight == (1, 1)
    root.end()
    assert [s.name for s in h.exporter.get_finished_spans()] == ["chat m", "invoke_agent a"]
    assert h.sampler.in_flight == (0, 0)


def test_late_span_follows_its_trace_decision() -> None:
    h = Harness(ratio=0.0)
    for status in ("error", "ok"):
        root = h.tracer.start_span("invoke_agent a", attributes={sc.LLMOPS_RUN_STATUS: status})
        late = h.tracer.start_span("evaluate", context=set_span_in_context(root))
        root.end()
        late.end()  # background work ending after the root
    names = [s.name for s in h.exporter.get_finished_spans()]
    assert names == ["invoke_agent a", "evaluate"]
    assert h.sampler.in_flight == (0, 0)


def test_ratio_is_deterministic_by_trace_id() -> None:
    assert ratio_keeps(0x1234_0000000000000000, 0.01)  # low 64 bits zero: always under the bound
    assert not ratio_keeps((1 << 64) - 1, 0.99)
    rng = random.Random(7)
    ids = [rng.getrandbits(128) for _ in range(4000)]
    kept = [i for i in ids if ratio_keeps(i, 0.25)]
    assert 800 < len(kept) < 1200
    assert kept == [i for i in ids if ratio_keeps(i, 0.25)]
    assert all(ratio_keeps(i, 0.5) for i in kept)  # a higher ratio keeps a superset
    h = Harness(ratio=0.25)
    tids = [h.trace(root_attrs={sc.LLMOPS_RUN_STATUS: "ok"}) for _ in range(200)]
    assert h.kept() == {t for t in tids if ratio_keeps(t, 0.25)}


def test_memory_is_bounded_and_evictions_counted() -> None:
    h = Harness(ratio=0.0, max_traces=3, max_spans=1000)
    roots = []
    for i in range(5):
        root = h.tracer.start_span("invoke_agent a")
        child = h.tracer.start_span("chat", context=set_span_in_context(root))
        if i == 0:
            child.set_status(Status(StatusCode.ERROR, "boom"))
        child.end()
        roots.append(root)
        assert h.sampler.in_flight[0] <= 3
    evicted = sum(h.counts(sc.METRIC_SAMPLING_EVICTIONS).values())
    assert evicted == 2
    # the evicted error trace was still kept (decided on what it had), and its root follows
    assert h.kept() == {roots[0].get_span_context().trace_id}
    roots[0].end()
    assert sum(1 for s in h.exporter.get_finished_spans() if s.name == "invoke_agent a") == 1
    h2 = Harness(ratio=1.0, max_traces=100, max_spans=4)
    root = h2.tracer.start_span("invoke_agent a")
    for _ in range(6):
        h2.tracer.start_span("chat", context=set_span_in_context(root)).end()
        assert h2.sampler.in_flight[1] <= 4


def test_shutdown_decides_traces_in_flight() -> None:
    h = Harness(ratio=0.0)
    root = h.tracer.start_span("invoke_agent a")
    child = h.tracer.start_span("chat", context=set_span_in_context(root))
    child.set_status(Status(StatusCode.ERROR, "boom"))
    child.end()
    h.tp.shutdown()
    assert [s.name for s in h.exporter.get_finished_spans()] == ["chat"]


def test_bad_settings_are_rejected_and_disabled_returns_the_processor() -> None:
    inner = SimpleSpanProcessor(InMemorySpanExporter())
    assert wrap_with_tail_sampling(inner, enabled=False) is inner
    assert isinstance(wrap_with_tail_sampling(inner, ratio=0.5), TailSamplingProcessor)
    with pytest.raises(ValueError, match="ratio"):
        wrap_with_tail_sampling(inner, ratio=1.5)
    with pytest.raises(ValueError, match="max_traces"):
        wrap_with_tail_sampling(inner, max_traces=0)
    with pytest.raises(ValueError, match="latency_ms"):
        wrap_with_tail_sampling(inner, latency_ms=-1)


def test_metrics_stay_exact_when_spans_are_sampled(tmp_path: Path) -> None:
    """Governed runs at ratio 0: only non-ok traces are exported, yet every run is counted."""
    rec = run_workload(tmp_path, wrap=lambda p, mp: wrap_with_tail_sampling(
        p, ratio=0.0, latency_ms=None, cost_usd=None, meter_provider=mp))
    statuses = [r.status for r in rec.results]
    assert "ok" in statuses and any(s != "ok" for s in statuses)
    runs = sum(p.value for name, _, p in rec.metric_points() if name == sc.METRIC_RUNS)
    assert runs == len(rec.results)
    exported = [s for s in rec.spans.get_finished_spans() if sc.LLMOPS_RUN_STATUS in (s.attributes or {})]
    exported_statuses = sorted(s.attributes[sc.LLMOPS_RUN_STATUS] for s in exported)
    assert exported_statuses == sorted(x for x in statuses if x != "ok")
    kept_traces = {s.context.trace_id for s in exported}
    assert {s.context.trace_id for s in rec.spans.get_finished_spans()} == kept_traces
    decisions = {tuple(sorted(a.items())): p.value for name, a, p in rec.metric_points()
                 if name == sc.METRIC_SAMPLING_TRACES}
    assert sum(decisions.values()) == len(rec.results)
