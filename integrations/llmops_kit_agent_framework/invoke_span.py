"""The run's decisions on MAF's own ``invoke_agent`` span - the one span of a governed MAF run.

App Insights' agent pages key on MAF's ``invoke_agent`` span (dependency type ``GenAI | ...``)
and so do our dashboards, report and tail sampler (the span carrying ``llmops.run.status``),
so the decisions are written there, not on a span of ours. MAF creates that span *inside*
agent middleware and hands middleware no reference to it; chat middleware runs while it is
the current span, so the first model call captures it into the run state.

When the attributes can be written differs by mode (measured on agent-framework-core 1.23):

* ``stream=True``: MAF ends ``invoke_agent`` in its stream cleanup hook *after* the stream's
  result hooks ran, so the agent middleware's completion (output check, evaluators, audit)
  happens while it is open and :func:`publish_result` writes the final outcome.
* ``stream=False``: MAF ends it before ``call_next()`` returns to the agent middleware, so
  everything is written from inside the run: identity and admission on capture, and the
  outcome with the run's cost and budget decision at the last model call, a budget stop, a
  denied tool or a failed call (:func:`publish_outcome`) - the agent middleware runs the output
  check and the evaluators at the last model call for this reason.

Only attributes and guardrail events, never a new span: no GenAI span is duplicated. Writes
to an ended span are skipped (the SDK would drop them with a warning).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opentelemetry.trace import Span

from llmops_kit.telemetry import semconv as sc
from llmops_kit.telemetry.instruments import identity_attributes, input_verdict_attributes

if TYPE_CHECKING:
    from llmops_kit.results import RunResult
    from llmops_kit.safety.base import SafetyVerdict
    from llmops_kit_agent_framework.state import RunState

_INVOKE_PREFIX = f"{sc.OP_INVOKE_AGENT} "


def capture(state: RunState, current: Span) -> None:
    """Remember MAF's ``invoke_agent`` span (``current`` in chat middleware) and label it with the run.

    A span that is ours, not recording, or not named ``invoke_agent ...`` (an agent without
    MAF's telemetry layer) is not taken: nothing is written to a span we cannot identify.
    """
    if state.maf_span is not None or current is state.span or not current.is_recording():
        return
    name = getattr(current, "name", None)
    if not isinstance(name, str) or not name.startswith(_INVOKE_PREFIX):
        return
    state.maf_span = current
    current.set_attributes(_identity(state))


def publish_outcome(state: RunState, status: str, reason: str | None, *,
                    output: SafetyVerdict | None = None) -> None:
    """The outcome as known inside the run (last model call, budget stop, tool denial, error)."""
    attrs: dict[str, Any] = {sc.LLMOPS_RUN_STATUS: status, sc.LLMOPS_COST_USD: round(state.cost_micro / 1e6, 6)}
    if status != "ok" and reason:
        attrs[sc.LLMOPS_RUN_REASON] = reason[:500]
    if state.budget_decision is not None:
        attrs[sc.LLMOPS_BUDGET_DECISION] = state.budget_decision
    if output is not None:
        attrs[sc.LLMOPS_SAFETY_OUTPUT_ACTION] = output.action
        if not output.allowed and output.reason:
            attrs[sc.LLMOPS_SAFETY_REASON] = output.reason
    span = state.maf_span
    if span is not None and span.is_recording():
        span.set_attributes(attrs)
        if status == "blocked_output":
            _output_blocked(span, reason)


def publish_result(state: RunState, result: RunResult) -> None:
    """The completed run's outcome - written only while MAF's span is still open (streamed runs)."""
    span = state.maf_span
    if span is None or not span.is_recording():
        return
    attrs: dict[str, Any] = {sc.LLMOPS_RUN_STATUS: result.status, sc.LLMOPS_COST_USD: round(result.cost_usd, 6)}
    if result.status != "ok" and result.reason:
        attrs[sc.LLMOPS_RUN_REASON] = result.reason[:500]
    if result.cost_source != "reported":
        attrs[sc.LLMOPS_COST_SOURCE] = result.cost_source
    if state.budget_decision is not None:
        attrs[sc.LLMOPS_BUDGET_DECISION] = state.budget_decision
    for verdict in result.safety:
        if verdict.stage == "output":
            attrs[sc.LLMOPS_SAFETY_OUTPUT_ACTION] = verdict.action
            if not verdict.allowed and verdict.reason:
                attrs[sc.LLMOPS_SAFETY_REASON] = verdict.reason
    if result.usage_missing:
        attrs[sc.LLMOPS_USAGE_MISSING] = True
    if result.over_reservation:
        attrs[sc.LLMOPS_BUDGET_OVER_RESERVATION] = True
    if result.ttft_ms is not None:
        attrs[sc.GEN_AI_RESPONSE_TTFC] = result.ttft_ms / 1000
    remaining = [limit.remaining for limit in result.budget.limits]
    if remaining:
        attrs[sc.LLMOPS_BUDGET_REMAINING] = min(remaining)
    if result.audit is not None:
        attrs[sc.LLMOPS_AUDIT_LOCATION] = result.audit.location
    span.set_attributes(attrs)
    if result.status == "blocked_output":
        _output_blocked(span, result.reason)


def _output_blocked(span: Span, reason: str | None) -> None:
    """The guardrail event a blocked answer leaves, as ``RunGovernor`` writes it on its run span."""
    span.add_event(sc.EVENT_GUARDRAIL_DECISION, {
        sc.LLMOPS_GUARDRAIL_STAGE: "output",
        sc.LLMOPS_GUARDRAIL_ACTION: "block",
        sc.LLMOPS_RUN_REASON: reason or "",
    })


def _identity(state: RunState) -> dict[str, Any]:
    attrs = identity_attributes(state.ctx, state.workflow)
    verdict = state.admission.input_verdict if state.admission is not None else None
    if verdict is not None:
        attrs.update(input_verdict_attributes(verdict))
    return attrs
