"""Evaluation results as OpenTelemetry: the ``gen_ai.evaluation.result`` event and a score histogram.

Use an instance as the runner's ``on_result``. Providers are passed in (never set
globally); without them the OTel API's current global providers are used, which are
no-ops unless the application configured some.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import metrics, trace
from opentelemetry._logs import LogRecord, get_logger

from llmops_kit.evaluation.base import EvalContext, EvalResult
from llmops_kit.telemetry import semconv as sc


def event_attributes(result: EvalResult, response_id: str | None = None) -> dict[str, Any]:
    """Attributes of one ``gen_ai.evaluation.result`` event (GenAI semantic conventions)."""
    attrs: dict[str, Any] = {sc.GEN_AI_EVALUATION_NAME: result.name}
    if result.score is not None:
        attrs[sc.GEN_AI_EVALUATION_SCORE_VALUE] = float(result.score)
    if result.label:
        attrs[sc.GEN_AI_EVALUATION_SCORE_LABEL] = result.label
    if result.explanation:
        attrs[sc.GEN_AI_EVALUATION_EXPLANATION] = result.explanation[:1000]
    if result.passed is not None:
        attrs[sc.LLMOPS_EVAL_PASSED] = result.passed
    if result.error_type:
        attrs[sc.ERROR_TYPE] = result.error_type
    if response_id:
        attrs[sc.GEN_AI_RESPONSE_ID] = response_id
    return attrs


class EvaluationTelemetry:
    """Emits each result as a log event, mirrors it on the current span, records the score."""

    def __init__(
        self, *, logger_provider: Any = None, meter_provider: Any = None, span_events: bool = True
    ) -> None:
        self._logger = get_logger(sc.INSTRUMENTATION_SCOPE, logger_provider=logger_provider)
        meter = (meter_provider or metrics.get_meter_provider()).get_meter(sc.INSTRUMENTATION_SCOPE)
        self._hist = meter.create_histogram(
            sc.METRIC_EVALUATION_SCORE,
            unit="1",
            description="Evaluator scores (each evaluator on its own scale)",
        )
        self._span_events = span_events

    def __call__(self, result: EvalResult, context: EvalContext) -> None:
        response_id = (context.metadata or {}).get("response_id") if context else None
        attrs = event_attributes(result, response_id)
        if context is not None and context.run_id:
            attrs[sc.LLMOPS_RUN_ID] = context.run_id
        self._logger.emit(LogRecord(event_name=sc.EVENT_EVALUATION_RESULT, body=None, attributes=attrs))
        if self._span_events:
            span = trace.get_current_span()
            if span.is_recording():
                span.add_event(sc.EVENT_EVALUATION_RESULT, attributes=attrs)
        if result.score is not None:
            metric_attrs: dict[str, Any] = {sc.GEN_AI_EVALUATION_NAME: result.name}
            if context is not None and context.agent_name:
                metric_attrs[sc.GEN_AI_AGENT_NAME] = context.agent_name
            self._hist.record(float(result.score), attributes=metric_attrs)
