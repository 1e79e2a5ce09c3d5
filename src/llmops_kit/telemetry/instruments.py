"""The tracer, meters and event logger llmops-kit writes through, bound to explicit providers.

Providers are passed in (or taken from the OTel globals the application configured); this
module never installs a provider. One ``Telemetry`` is shared by the pipeline, the
LangChain handler and the MAF middleware so every metric has exactly one definition.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry import _logs, metrics, trace
from opentelemetry.trace import Span

from llmops_kit.evaluation.base import EvalResult
from llmops_kit.telemetry import semconv as sc
from llmops_kit.telemetry.summed import AttributeKey, summed_counter
from llmops_kit.usage import TokenUsage

if TYPE_CHECKING:
    from llmops_kit.agent import ModelCallRecord, RunContext
    from llmops_kit.safety.base import SafetyVerdict

Redactor = Callable[[str], str]

#: a metric series: its attributes (shared, never mutated) and its summed-counter key
_Series = tuple[dict[str, Any], AttributeKey]

#: per cache; past it a cache starts over (reasons and agent names are meant to be few)
_SERIES_CACHE_SIZE = 1024


def _remember(cache: dict[tuple[Any, ...], _Series], key: tuple[Any, ...], series: _Series) -> _Series:
    if len(cache) >= _SERIES_CACHE_SIZE:
        cache.clear()
    cache[key] = series
    return series


class Telemetry:
    """Instruments created once per provider set; cheap to call on the hot path."""

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        logger_provider: _logs.LoggerProvider | None = None,
        *,
        capture_content: bool = False,
        redact: Redactor | None = None,
        version: str | None = None,
    ) -> None:
        from llmops_kit import __version__

        self.tracer_provider = tracer_provider or trace.get_tracer_provider()
        self.meter_provider = meter_provider or metrics.get_meter_provider()
        self.logger_provider = logger_provider or _logs.get_logger_provider()
        self.capture_content = capture_content
        self.redact = redact
        ver = version or __version__
        self.tracer = self.tracer_provider.get_tracer(sc.INSTRUMENTATION_SCOPE, ver)
        self.meter = self.meter_provider.get_meter(sc.INSTRUMENTATION_SCOPE, ver)
        self.event_logger = self.logger_provider.get_logger(sc.INSTRUMENTATION_SCOPE, ver)

        m = self.meter
        self.token_usage = m.create_histogram(
            sc.METRIC_TOKEN_USAGE, unit="{token}", description="Tokens used per model call",
            explicit_bucket_boundaries_advisory=list(sc.TOKEN_USAGE_BUCKETS),
        )
        self.operation_duration = m.create_histogram(
            sc.METRIC_OPERATION_DURATION, unit="s", description="GenAI operation duration",
            explicit_bucket_boundaries_advisory=list(sc.DURATION_BUCKETS),
        )
        self.ttfc = m.create_histogram(
            sc.METRIC_TTFC, unit="s", description="Time to first streamed chunk",
            explicit_bucket_boundaries_advisory=list(sc.DURATION_BUCKETS),
        )
        # counters that every run adds to are summed in process (see telemetry.summed)
        mp = self.meter_provider
        self.cost = summed_counter(mp, m, sc.METRIC_COST, unit="{USD}", description="Priced cost of model calls")
        self.guardrail_decisions = summed_counter(
            mp, m, sc.METRIC_GUARDRAIL_DECISIONS, unit="{decision}", description="Safety and budget decisions"
        )
        self.run_duration = m.create_histogram(
            sc.METRIC_RUN_DURATION, unit="s", description="Governed run duration, end to end",
            explicit_bucket_boundaries_advisory=list(sc.DURATION_BUCKETS),
        )
        self.runs = summed_counter(mp, m, sc.METRIC_RUNS, unit="{run}", description="Governed agent runs by status")
        self.evaluation_score = m.create_histogram(
            sc.METRIC_EVALUATION_SCORE, unit="1", description="Evaluator scores"
        )
        self.budget_denials = m.create_counter(
            sc.METRIC_BUDGET_DENIALS, unit="{run}", description="Runs or calls denied by a budget limit"
        )
        self.budget_thresholds = m.create_counter(
            sc.METRIC_BUDGET_THRESHOLD, unit="{crossing}", description="Soft budget threshold crossings"
        )
        self.safety_unavailable = m.create_counter(
            sc.METRIC_SAFETY_UNAVAILABLE, unit="{check}", description="Safety checks that could not run"
        )
        # attribute sets (and their summed-counter keys) by the values they are built from:
        # a run records the same few series over and over, so each is built once
        self._guardrail_series: dict[tuple[Any, ...], _Series] = {}
        self._run_series: dict[tuple[Any, ...], _Series] = {}
        self._call_series: dict[tuple[Any, ...], _Series] = {}
        self._score_series: dict[tuple[str, str | None], dict[str, Any]] = {}

    # --- content ------------------------------------------------------------------------
    def content(self, text: str) -> str | None:
        """Message content to record, or ``None`` when capture is off."""
        if not self.capture_content:
            return None
        return self.redact(text) if self.redact else text

    def messages_json(self, role: str, text: str) -> str | None:
        """One message in the semconv ``gen_ai.*.messages`` JSON shape (parts list)."""
        body = self.content(text)
        if body is None:
            return None
        return json.dumps([{"role": role, "parts": [{"type": "text", "content": body}]}], ensure_ascii=False)

    # --- metrics ------------------------------------------------------------------------
    def record_model_call(
        self,
        *,
        model: str | None,
        provider: str | None,
        operation: str = sc.OP_CHAT,
        usage: TokenUsage | None,
        duration_s: float | None,
        cost_usd: float | None,
        ttft_s: float | None = None,
        error_type: str | None = None,
        agent: str | None = None,
    ) -> None:
        series = self._call_series_of(operation, provider, model, agent)
        attrs = series[0]
        if usage is not None and usage.reported:
            self.token_usage.record(usage.input_tokens, {**attrs, sc.GEN_AI_TOKEN_TYPE: "input"})
            self.token_usage.record(usage.output_tokens, {**attrs, sc.GEN_AI_TOKEN_TYPE: "output"})
        if duration_s is not None:
            d_attrs = {**attrs, sc.ERROR_TYPE: error_type} if error_type else attrs
            self.operation_duration.record(duration_s, d_attrs)
        if ttft_s is not None:
            self.ttfc.record(ttft_s, attrs)
        if cost_usd:
            self.cost.add_key(cost_usd, series[1])

    def record_first_chunks(self, calls: Iterable[ModelCallRecord], operation: str = sc.OP_CHAT) -> None:
        """``time_to_first_chunk`` of a run's streamed model calls, recorded when the run ends rather
        than in each call's stream hook, inside MAF's stream finalization, where a point measured
        ~16 µs against ~9 µs here (no exemplar taken from the call's span, warmer caches)."""
        for call in calls:
            if call.ttft_s is not None:
                attrs = self._call_series_of(operation, call.provider, call.model, call.agent_name)[0]
                self.ttfc.record(call.ttft_s, attrs)

    def _call_series_of(self, operation: str, provider: str | None, model: str | None,
                        agent: str | None) -> _Series:
        """A model call's attribute set and cost-counter key, built once per distinct call shape."""
        series = self._call_series.get((operation, provider, model, agent))
        if series is None:
            base: dict[str, Any] = {sc.GEN_AI_OPERATION_NAME: operation}
            if provider:
                base[sc.GEN_AI_PROVIDER_NAME] = provider
                base[sc.GEN_AI_SYSTEM] = provider
            if model:
                base[sc.GEN_AI_REQUEST_MODEL] = model
            if agent:
                base[sc.GEN_AI_AGENT_NAME] = agent
            series = _remember(self._call_series, (operation, provider, model, agent), (base, self.cost.key_of(base)))
        return series

    def record_guardrail(
        self, stage: str, action: str, kind: str, reason: str | None = None, agent: str | None = None
    ) -> None:
        series = self._guardrail_series.get((stage, action, kind, reason, agent))
        if series is None:
            attrs: dict[str, Any] = {
                sc.LLMOPS_GUARDRAIL_STAGE: stage,
                sc.LLMOPS_GUARDRAIL_ACTION: action,
                sc.LLMOPS_GUARDRAIL_KIND: kind,
            }
            if reason:
                attrs[sc.LLMOPS_RUN_REASON] = _low_cardinality(reason)
            if agent:
                attrs[sc.GEN_AI_AGENT_NAME] = agent
            series = _remember(self._guardrail_series, (stage, action, kind, reason, agent),
                               (attrs, self.guardrail_decisions.key_of(attrs)))
        self.guardrail_decisions.add_key(1, series[1])

    def record_run(self, *, agent: str, status: str, tenant: str | None = None,
                   duration_s: float | None = None) -> None:
        series = self._run_series.get((agent, status, tenant))
        if series is None:
            attrs: dict[str, Any] = {sc.GEN_AI_AGENT_NAME: agent, sc.LLMOPS_RUN_STATUS: status}
            if tenant:
                attrs[sc.LLMOPS_TENANT_ID] = tenant
            series = _remember(self._run_series, (agent, status, tenant), (attrs, self.runs.key_of(attrs)))
        self.runs.add_key(1, series[1])
        if duration_s is not None:  # whole runs (a tool loop of many model calls), not single model calls
            self.run_duration.record(duration_s, series[0])

    # --- evaluation events ------------------------------------------------------------
    def emit_evaluation(
        self, result: EvalResult, span: Span | None = None, response_id: str | None = None,
        agent: str | None = None,
    ) -> None:
        """``gen_ai.evaluation.result`` as a log event parented to ``span``, mirrored as a span event."""
        self.emit_evaluations((result,), span, response_id, agent)

    def emit_evaluations(
        self, results: Sequence[EvalResult], span: Span | None = None, response_id: str | None = None,
        agent: str | None = None,
    ) -> None:
        """:meth:`emit_evaluation` for a run's results, one event and one score point per evaluator.

        Sub-scores of a composite evaluator (``part_of`` set, e.g. ``HeuristicQuality``'s five
        parts) ride on their evaluator's event as ``llmops.evaluation.part.<name>`` attributes
        rather than as events of their own: one run sends one event per evaluator instead of six,
        which is what App Insights bills per row and what a dashboard groups by. A part whose
        evaluator is not among ``results`` is sent on its own, so nothing is dropped. The parent
        context and the span's recording flag are looked up once per run.
        """
        if not results:
            return
        parts: dict[str, dict[str, float]] = {}
        names: set[str] = set()
        prefix = sc.LLMOPS_EVAL_PART_PREFIX
        for result in results:
            of = result.part_of
            if of is None:
                names.add(result.name)
            elif result.score is not None:
                sub = parts.get(of)
                if sub is None:
                    sub = parts[of] = {}
                sub[f"{prefix}{result.name}"] = float(result.score)
        ctx = trace.set_span_in_context(span) if span is not None else None
        on_span = span is not None and span.is_recording()
        emit, record = self.event_logger.emit, self.evaluation_score.record
        for result in results:
            of = result.part_of
            if of is not None and of in names:
                continue  # carried by its evaluator's event
            name, score = result.name, result.score
            attrs: dict[str, Any] = {sc.GEN_AI_EVALUATION_NAME: name}
            if score is not None:
                attrs[sc.GEN_AI_EVALUATION_SCORE_VALUE] = float(score)
            if result.label:
                attrs[sc.GEN_AI_EVALUATION_SCORE_LABEL] = result.label
            if result.explanation:
                attrs[sc.GEN_AI_EVALUATION_EXPLANATION] = result.explanation[:1000]
            if response_id:
                attrs[sc.GEN_AI_RESPONSE_ID] = response_id
            if result.passed is not None:
                attrs[sc.LLMOPS_EVAL_PASSED] = result.passed
            if result.error_type:
                attrs[sc.ERROR_TYPE] = result.error_type
            if parts:
                sub_scores = parts.get(name)
                if sub_scores:
                    attrs.update(sub_scores)
            emit(event_name=sc.EVENT_EVALUATION_RESULT, attributes=attrs, context=ctx)
            if on_span:
                span.add_event(sc.EVENT_EVALUATION_RESULT, attributes=attrs)  # type: ignore[union-attr]
            if score is not None:
                record(float(score), self._score_attributes(name, agent))

    def _score_attributes(self, name: str, agent: str | None) -> dict[str, Any]:
        """The score histogram's attribute set per (evaluator, agent): the same few on every run,
        so each is built once and shared (never mutated), like the other metric series here."""
        attrs = self._score_series.get((name, agent))
        if attrs is None:
            attrs = {sc.GEN_AI_EVALUATION_NAME: name}
            if agent:
                attrs[sc.GEN_AI_AGENT_NAME] = agent
            if len(self._score_series) >= _SERIES_CACHE_SIZE:
                self._score_series.clear()
            self._score_series[(name, agent)] = attrs
        return attrs


def identity_attributes(ctx: RunContext, workflow: Any = None) -> dict[str, Any]:
    """Who a run is for, as span attributes: run id, tenant, user, session and, inside a MAF
    workflow, the workflow run. One definition for every span that carries a run's identity."""
    attrs: dict[str, Any] = {sc.LLMOPS_RUN_ID: ctx.run_id}
    if ctx.tenant_id:
        attrs[sc.LLMOPS_TENANT_ID] = ctx.tenant_id
    if ctx.user_id:
        attrs[sc.LLMOPS_USER_ID] = ctx.user_id
    if ctx.session_id:
        attrs[sc.LLMOPS_SESSION_ID] = ctx.session_id
    if workflow is not None:
        attrs[sc.LLMOPS_WORKFLOW_RUN_ID] = workflow.run_id
        attrs[sc.LLMOPS_WORKFLOW_NAME] = workflow.name
    return attrs


def input_verdict_attributes(verdict: SafetyVerdict) -> dict[str, Any]:
    """A run's input safety verdict as span attributes: action, analyzer, status and findings. One
    definition for the run span ``RunGovernor`` annotates and MAF's ``invoke_agent``."""
    attrs: dict[str, Any] = {
        sc.LLMOPS_SAFETY_INPUT_ACTION: verdict.action,
        sc.LLMOPS_SAFETY_ANALYZER: verdict.analyzer,
        sc.LLMOPS_SAFETY_STATUS: verdict.status,
    }
    if verdict.findings:  # e.g. PII flagged in an input that was let through
        attrs[sc.LLMOPS_SAFETY_FINDINGS] = list(verdict.findings)[:20]
        if "fail_open" in verdict.findings:
            attrs[sc.LLMOPS_SAFETY_FAIL_OPEN] = True
    return attrs


def _low_cardinality(reason: str) -> str:
    """Metric attributes must not explode: keep the reason's leading token only."""
    return reason.split(":", 1)[0].split(" ", 1)[0][:64]
