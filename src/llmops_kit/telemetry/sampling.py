"""In-process tail sampling: keep every interesting trace, a fixed fraction of the rest.

Head sampling decides before anything interesting has happened, so it drops the one run in
a thousand that was blocked, errored or cost a fortune. This processor buffers spans per
*local root* until that root ends, then decides on the group and forwards the kept ones to a
downstream processor (normally the ``BatchSpanProcessor`` of an exporter).

A local root is a span whose parent is absent, remote (an incoming request's context) or a
span this processor never saw start (a parent from another tracer provider, or one that is not
exported). One trace can hold several local roots, e.g. two governed runs under one incoming
request; each is decided on its own, so an ok run that ends first cannot decide the fate of
a later run that errors. Only the ratio part of the decision is by trace id, so a trace kept
for the ratio reason is kept whole.

Only spans are sampled. llmops-kit records its metrics through the meter independently of
any span, so run counts, token sums, costs and block rates stay exact at any ratio; the
processor's own decisions are counted too (``llmops.sampling.traces``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import metrics
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import SpanContext, StatusCode

from llmops_kit.telemetry import semconv as sc

#: Reasons a trace is kept, in the order they are checked (the first match is reported).
REASON_ERROR = "error"
REASON_BLOCKED = "blocked"
REASON_LATENCY = "latency"
REASON_COST = "cost"
REASON_RATIO = "ratio"
REASON_DROPPED = "dropped"

_BLOCK_STATUSES = frozenset({"blocked_input", "blocked_output", "budget_denied"})
_MAX_DECISIONS = 4096  # remembered decisions for spans that end after their root (background work)
_LOW_64 = (1 << 64) - 1
_LATE_UPGRADE = frozenset({REASON_ERROR, REASON_BLOCKED})

#: (trace id, span id of the local root): the unit a decision is made for.
GroupKey = tuple[int, int]


@dataclass(frozen=True, slots=True)
class TailSamplingConfig:
    """Thresholds and bounds; ``None`` disables a threshold."""

    ratio: float = 0.1
    latency_ms: float | None = 10_000.0
    cost_usd: float | None = 0.05
    max_traces: int = 2048
    max_spans: int = 50_000

    def __post_init__(self) -> None:
        if not 0.0 <= self.ratio <= 1.0:
            raise ValueError(f"tail sampling ratio must be within [0, 1], got {self.ratio!r}")
        if self.max_traces < 1 or self.max_spans < 1:
            raise ValueError("tail sampling max_traces and max_spans must be >= 1")
        for name in ("latency_ms", "cost_usd"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"tail sampling {name} must be >= 0 or None, got {value!r}")


@dataclass(slots=True)
class _Pending:
    spans: list[ReadableSpan] = field(default_factory=list)


def ratio_keeps(trace_id: int, ratio: float) -> bool:
    """Deterministic by trace id (its low 64 bits, as ``TraceIdRatioBased`` does), so every
    replica sampling the same trace agrees."""
    return (trace_id & _LOW_64) < int(ratio * (1 << 64))


def _span_reason(span: ReadableSpan, cfg: TailSamplingConfig) -> str | None:
    attrs = span.attributes or {}
    if span.status.status_code is StatusCode.ERROR:
        return REASON_ERROR
    status = attrs.get(sc.LLMOPS_RUN_STATUS)
    if status is not None and status != "ok":
        return REASON_BLOCKED if status in _BLOCK_STATUSES else REASON_ERROR
    if attrs.get(sc.LLMOPS_BUDGET_DECISION) == "denied":
        return REASON_BLOCKED
    for key in (sc.LLMOPS_SAFETY_INPUT_ACTION, sc.LLMOPS_SAFETY_OUTPUT_ACTION):
        if attrs.get(key) == "block":
            return REASON_BLOCKED
    for event in span.events:
        if event.name == sc.EVENT_GUARDRAIL_DECISION and (event.attributes or {}).get(
                sc.LLMOPS_GUARDRAIL_ACTION) == "block":
            return REASON_BLOCKED
    if cfg.cost_usd is not None:
        cost = attrs.get(sc.LLMOPS_COST_USD)
        if isinstance(cost, (int, float)) and cost >= cfg.cost_usd:
            return REASON_COST
    return None


def decide(spans: list[ReadableSpan], root: ReadableSpan | None, cfg: TailSamplingConfig) -> str:
    """The reason to keep the trace, or ``REASON_DROPPED``."""
    reasons = [r for r in (_span_reason(s, cfg) for s in spans) if r is not None]
    for wanted in (REASON_ERROR, REASON_BLOCKED):
        if wanted in reasons:
            return wanted
    if (cfg.latency_ms is not None and root is not None and root.start_time and root.end_time
            and (root.end_time - root.start_time) / 1e6 >= cfg.latency_ms):
        return REASON_LATENCY
    if REASON_COST in reasons:
        return REASON_COST
    trace_id = (root or spans[0]).context.trace_id if spans else 0
    return REASON_RATIO if ratio_keeps(trace_id, cfg.ratio) else REASON_DROPPED


class TailSamplingProcessor(SpanProcessor):
    """Buffers spans per local root until that root ends, then forwards or drops the group."""

    def __init__(self, downstream: SpanProcessor, config: TailSamplingConfig | None = None, *,
                 meter_provider: metrics.MeterProvider | None = None) -> None:
        self.downstream = downstream
        self.config = config or TailSamplingConfig()
        self._lock = threading.Lock()
        self._pending: OrderedDict[GroupKey, _Pending] = OrderedDict()
        self._span_count = 0
        self._decisions: OrderedDict[GroupKey, bool] = OrderedDict()
        # span id -> its group, for spans still open and for ended spans of undecided groups:
        # a child joins its parent's group even when it starts after the parent ended. Capped so
        # spans an app never ends cannot grow it without bound (a forgotten open span that ends
        # later is placed by its parent instead).
        self._group_of: OrderedDict[int, GroupKey] = OrderedDict()
        self._max_tracked = 2 * self.config.max_spans
        meter = (meter_provider or metrics.get_meter_provider()).get_meter(sc.INSTRUMENTATION_SCOPE)
        self._traces = meter.create_counter(
            sc.METRIC_SAMPLING_TRACES, unit="{trace}", description="Tail-sampling decisions by reason")
        self._evictions = meter.create_counter(
            sc.METRIC_SAMPLING_EVICTIONS, unit="{trace}",
            description="Traces decided early because the in-flight buffer was full")

    # --- SpanProcessor ---------------------------------------------------------------------
    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        ctx = span.context
        if ctx is not None and ctx.trace_flags.sampled:
            with self._lock:
                group_of = self._group_of
                group_of[ctx.span_id] = self._group_for(ctx.trace_id, ctx.span_id, span.parent)
                if len(group_of) > self._max_tracked:
                    group_of.popitem(last=False)
        self.downstream.on_start(span, parent_context=parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        ctx = span.context
        if not ctx.trace_flags.sampled:
            return
        span_id = ctx.span_id
        forward: list[ReadableSpan] = []
        with self._lock:
            group = self._group_of.get(span_id)
            if group is None or group[0] != ctx.trace_id:  # started before we were added, or forgotten
                group = self._group_for(ctx.trace_id, span_id, span.parent)
            known = self._decisions.get(group)
            if known is not None:  # a late span of an already decided group
                self._group_of.pop(span_id, None)
                if known:
                    forward.append(span)
                elif _span_reason(span, self.config) in _LATE_UPGRADE:
                    # its siblings are gone, but the error itself is kept, and so is the rest of
                    # the late work of this group (e.g. the background evaluation it belongs to)
                    self._decisions[group] = True
                    forward.append(span)
            else:
                pending = self._pending.get(group)
                if pending is None:
                    pending = self._pending[group] = _Pending()
                pending.spans.append(span)
                self._span_count += 1
                if span_id == group[1]:
                    forward.extend(self._settle(group, span, evicted=False))
                else:
                    self._group_of[span_id] = group
                forward.extend(self._evict_over_limits())
        for s in forward:
            self.downstream.on_end(s)

    def shutdown(self) -> None:
        """Decide every group still in flight on what it has, then shut the downstream down."""
        with self._lock:
            forward = [s for g in list(self._pending) for s in self._settle(g, None, evicted=False)]
        for s in forward:
            self.downstream.on_end(s)
        self.downstream.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.downstream.force_flush(timeout_millis)

    @property
    def in_flight(self) -> tuple[int, int]:
        """(local-root groups, spans) currently buffered — what the memory bound applies to."""
        with self._lock:
            return len(self._pending), self._span_count

    @property
    def tracked_spans(self) -> int:
        """Span ids remembered to place children (open spans + buffered ones), capped at
        ``2 * max_spans``: the sampler's other memory cost besides the buffer."""
        with self._lock:
            return len(self._group_of)

    # --- internals (called with the lock held) -----------------------------------------
    def _group_for(self, trace_id: int, span_id: int, parent: SpanContext | None) -> GroupKey:
        """The group of a span with this parent: its parent's when the parent is a local span
        we know (open, buffered, or a decided local root), else its own (it is a local root)."""
        if parent is not None and not parent.is_remote:
            group = self._group_of.get(parent.span_id)
            if group is not None and group[0] == trace_id:
                return group
            if (trace_id, parent.span_id) in self._decisions:  # started after its root was decided
                return trace_id, parent.span_id
        return trace_id, span_id

    def _settle(self, group: GroupKey, root: ReadableSpan | None, *, evicted: bool) -> list[ReadableSpan]:
        pending = self._pending.pop(group)
        self._span_count -= len(pending.spans)
        group_of = self._group_of
        for s in pending.spans:  # ended spans need no lookup any more; open ones keep theirs
            group_of.pop(s.context.span_id, None)
        reason = decide(pending.spans, root, self.config)
        keep = reason != REASON_DROPPED
        self._decisions[group] = keep
        if len(self._decisions) > _MAX_DECISIONS:
            self._decisions.popitem(last=False)
        attrs: dict[str, Any] = {sc.LLMOPS_SAMPLING_DECISION: "keep" if keep else "drop",
                                 sc.LLMOPS_SAMPLING_REASON: reason}
        self._traces.add(1, attrs)
        if evicted:
            self._evictions.add(1, attrs)
        return pending.spans if keep else []

    def _evict_over_limits(self) -> list[ReadableSpan]:
        out: list[ReadableSpan] = []
        cfg = self.config
        while self._pending and (len(self._pending) > cfg.max_traces or self._span_count > cfg.max_spans):
            oldest = next(iter(self._pending))
            out.extend(self._settle(oldest, None, evicted=True))
        return out


def wrap_with_tail_sampling(
    processor: SpanProcessor,
    *,
    enabled: bool = True,
    ratio: float = 0.1,
    latency_ms: float | None = 10_000.0,
    cost_usd: float | None = 0.05,
    max_traces: int = 2048,
    max_spans: int = 50_000,
    meter_provider: metrics.MeterProvider | None = None,
) -> SpanProcessor:
    """``processor`` itself when disabled, else a tail sampler in front of it.

    Call it where the exporter's processor is added, e.g.
    ``tp.add_span_processor(wrap_with_tail_sampling(BatchSpanProcessor(exporter), ratio=0.1))``.
    """
    if not enabled:
        return processor
    cfg = TailSamplingConfig(ratio=ratio, latency_ms=latency_ms, cost_usd=cost_usd,
                             max_traces=max_traces, max_spans=max_spans)
    return TailSamplingProcessor(processor, cfg, meter_provider=meter_provider)
