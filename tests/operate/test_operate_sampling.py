"""Tail sampling: every interesting trace kept, a deterministic fraction of the rest, bounded memory."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest
from opentelemetry import context as otel_context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    Status,
    StatusCode,
    TraceFlags,
    set_span_in_context,
)
from tests.operate.governed import SHIPPING, _overflowing_prompt, run_workload, settings_for

from llmops_kit.demo.agent import ScriptedSupportAgent
from llmops_kit.pipeline import ProductionAgent
from llmops_kit.runtime import build_runtime
from llmops_kit.telemetry import semconv as sc
from llmops_kit.telemetry.sampling import (
    TailSamplingConfig,
    TailSamplingProcessor,
    ratio_keeps,
    wrap_with_tail_sampling,
)
from llmops_kit_langchain.testing import ScriptedChatModel


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

    def run(self, ctx: object, *, status: str = "ok", children: int = 1) -> int:
        """One local root (a run) under ``ctx`` with ended children; returns its span id."""
        root = self.tracer.start_span("invoke_agent a", context=ctx, attributes={sc.LLMOPS_RUN_STATUS: status})
        inner = set_span_in_context(root)
        for i in range(children):
            self.tracer.start_span(f"chat m{i}", context=inner).end()
        root.end()
        return root.get_span_context().span_id

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


def _remote_parent(trace_id: int) -> object:
    """The context an incoming request carries: a remote, sampled parent this process never exports."""
    remote = SpanContext(trace_id=trace_id, span_id=0xABCDEF, is_remote=True,
                         trace_flags=TraceFlags(TraceFlags.SAMPLED))
    return set_span_in_context(NonRecordingSpan(remote))


def _roots(h: Harness) -> list[int]:
    return [s.context.span_id for s in h.exporter.get_finished_spans() if s.name == "invoke_agent a"]


def test_each_local_root_under_a_remote_parent_is_decided_on_its_own() -> None:
    h = Harness(ratio=0.5, latency_ms=None, cost_usd=None)
    dropped_tid = (1 << 64) - 1  # low 64 bits over any ratio < 1: the ratio drops this trace
    ctx = _remote_parent(dropped_tid)
    first_ok = h.run(ctx)
    second_error = h.run(ctx, status="error")
    third_ok = h.run(ctx)
    assert _roots(h) == [second_error]
    assert first_ok not in _roots(h) and third_ok not in _roots(h)
    assert len(h.exporter.get_finished_spans()) == 2  # the erroring run whole: root + its child
    assert h.sampler.in_flight == (0, 0)
    reasons = {dict(k)[sc.LLMOPS_SAMPLING_REASON]: v for k, v in h.counts(sc.METRIC_SAMPLING_TRACES).items()}
    assert reasons == {"dropped": 2, "error": 1}


def test_a_trace_kept_by_ratio_keeps_every_local_root() -> None:
    h = Harness(ratio=0.5, latency_ms=None, cost_usd=None)
    ctx = _remote_parent(0x77 << 64)  # low 64 bits zero: the ratio keeps it
    runs = [h.run(ctx, children=2) for _ in range(3)]
    assert _roots(h) == runs
    assert len(h.exporter.get_finished_spans()) == 3 * 3


def test_run_under_a_local_parent_that_is_not_exported_is_decided_when_it_ends() -> None:
    """A request span from another tracer provider (not this sampler's) is a local, non-remote
    parent the sampler never sees: the runs under it are local roots, not orphans left in flight."""
    h = Harness(ratio=0.0, latency_ms=None, cost_usd=None)
    request = TracerProvider().get_tracer("web").start_span("GET /chat")
    ctx = set_span_in_context(request)
    assert not request.get_span_context().is_remote
    ok = h.run(ctx)
    assert h.sampler.in_flight == (0, 0)  # decided at the run's end, not waiting for eviction
    blocked = h.run(ctx, status="blocked_input")
    request.end()
    assert _roots(h) == [blocked]
    assert ok not in _roots(h)
    assert h.sampler.in_flight == (0, 0)


def test_late_interesting_span_after_a_drop_is_kept_alone_and_later_roots_stay_independent() -> None:
    h = Harness(ratio=0.0, latency_ms=None, cost_usd=None)
    ctx = _remote_parent(0x1234 << 70 | ((1 << 64) - 1))
    root = h.tracer.start_span("invoke_agent a", context=ctx, attributes={sc.LLMOPS_RUN_STATUS: "ok"})
    inner = set_span_in_context(root)
    evaluation = h.tracer.start_span("evaluate", context=inner)
    failing = h.tracer.start_span("chat judge", context=set_span_in_context(evaluation))
    h.tracer.start_span("chat m0", context=inner).end()
    root.end()  # decided: dropped, with its chat child
    assert h.exporter.get_finished_spans() == ()
    failing.set_status(Status(StatusCode.ERROR, "judge timed out"))
    failing.end()  # the siblings are gone, but the error itself is kept ...
    evaluation.end()  # ... and the rest of the late work of that run follows it
    assert [s.name for s in h.exporter.get_finished_spans()] == ["chat judge", "evaluate"]
    h.exporter.clear()
    later = h.run(ctx)  # a separate run in the same trace: its own decision, not the upgrade
    assert h.exporter.get_finished_spans() == ()
    late_child = h.tracer.start_span("evaluate", context=set_span_in_context(root))
    late_child.end()  # started after its root was decided: joins that (upgraded) group
    assert [s.name for s in h.exporter.get_finished_spans()] == ["evaluate"]
    assert later not in _roots(h)
    assert h.sampler.in_flight == (0, 0)


def test_child_started_after_its_dropped_root_follows_the_root() -> None:
    h = Harness(ratio=0.0, latency_ms=None, cost_usd=None)
    root = h.tracer.start_span("invoke_agent a", attributes={sc.LLMOPS_RUN_STATUS: "ok"})
    root.end()
    h.tracer.start_span("evaluate", context=set_span_in_context(root)).end()
    assert h.exporter.get_finished_spans() == ()
    assert h.sampler.in_flight == (0, 0)  # not left waiting for a root that already ended


def test_two_governed_runs_under_one_remote_parent(tmp_path: Path) -> None:
    """Real ProductionAgent runs inside an incoming request's (remote) context: the ok run ends
    first and is dropped by the ratio; the erroring run after it is still kept, whole."""
    h = Harness(ratio=0.0, latency_ms=None, cost_usd=None)
    trace_id = 0x5EED << 64 | ((1 << 64) - 1)

    async def go() -> list[str]:
        runtime = build_runtime(settings_for(tmp_path), tracer_provider=h.tp, meter_provider=h.mp)
        try:
            support = ProductionAgent(ScriptedSupportAgent(), name="support", runtime=runtime, model="gpt-4o-mini")
            summarizer = ProductionAgent(ScriptedChatModel(script=[_overflowing_prompt]), name="summarizer",
                                         runtime=runtime, model="gpt-4o-mini")
            token = otel_context.attach(_remote_parent(trace_id))
            try:
                first = await support.run(SHIPPING.query, tenant_id="contoso", session_id="s-remote")
                second = await summarizer.run("Summarise the attached contract.", tenant_id="contoso",
                                              session_id="s-remote")
            finally:
                otel_context.detach(token)
            return [first.status, second.status]
        finally:
            await runtime.aclose()

    statuses = asyncio.run(go())
    h.tp.shutdown()
    assert statuses[0] == "ok" and statuses[1] != "ok"
    spans = h.exporter.get_finished_spans()
    assert spans, "the erroring run must be exported"
    assert {s.context.trace_id for s in spans} == {trace_id}
    run_spans = [s for s in spans if sc.LLMOPS_RUN_STATUS in (s.attributes or {})]
    assert [s.attributes[sc.LLMOPS_RUN_STATUS] for s in run_spans] == [statuses[1]]
    run_root = run_spans[0]
    assert run_root.parent is not None and run_root.parent.is_remote
    # whole: every exported span descends from the erroring run (none from the ok run)
    ids = {s.context.span_id for s in spans}
    assert all(s is run_root or (s.parent is not None and s.parent.span_id in ids) for s in spans)
    assert len(spans) > 1
    decisions = {dict(k)[sc.LLMOPS_SAMPLING_DECISION]: v for k, v in h.counts(sc.METRIC_SAMPLING_TRACES).items()}
    assert decisions == {"drop": 1, "keep": 1}


def test_span_id_map_is_capped_and_roots_past_the_cap_are_still_decided_on_their_own() -> None:
    h = Harness(ratio=0.0, latency_ms=None, cost_usd=None, max_traces=100, max_spans=4)
    roots = [h.tracer.start_span("invoke_agent a", attributes={sc.LLMOPS_RUN_STATUS: s})
             for s in ("error", "ok") * 10]  # an app with 20 runs open at once
    assert h.sampler.tracked_spans <= 8
    for root in roots:
        root.end()  # most of them were forgotten by the map: each is still its own group
    assert _roots(h) == [r.get_span_context().span_id for r in roots[::2]]
    assert h.sampler.in_flight == (0, 0)
    assert h.sampler.tracked_spans == 0
