"""The governed run lifecycle — one implementation for ProductionAgent and framework middleware.

``admit`` (input safety ∥ budget reservation) → the caller invokes the agent →
``check_output`` → ``complete`` (evaluate, settle, audit, metrics, span attributes).
Every path through ``complete`` settles what ``admit`` reserved and writes one audit record,
so a blocked, failed, timed-out or cancelled run never leaves a reservation or a gap behind.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

from llmops_kit.agent import AgentReply, RunContext
from llmops_kit.audit.chain import utc_now_isoformat
from llmops_kit.budget.base import BudgetAmount, BudgetReservation, BudgetState, BudgetSubject
from llmops_kit.evaluation.base import EvalContext, EvalResult
from llmops_kit.results import RunResult
from llmops_kit.safety.base import SafetyVerdict
from llmops_kit.telemetry import semconv as sc
from llmops_kit.telemetry.instruments import input_verdict_attributes
from llmops_kit.usage import TokenUsage

if TYPE_CHECKING:
    from llmops_kit.runtime import Runtime

log = logging.getLogger("llmops_kit.lifecycle")

BLOCKED_OUTPUT_REPLACEMENT = "I'm sorry, but I can't share that response."

#: A reply's evaluation results and the failed gates that block it (``None``: no gate failed).
Evaluated = tuple[list[EvalResult], "str | None"]


@dataclass(slots=True)
class Admission:
    """The decision taken before the model is called."""

    allowed: bool
    status: str | None = None
    reason: str | None = None
    input_verdict: SafetyVerdict | None = None
    reservation: BudgetReservation | None = None
    model: str | None = None


def sanitize_text(value: object) -> tuple[str, bool]:
    """Make any input safe for JSON, OTel and hashing; report whether it had to change."""
    if not isinstance(value, str):
        return ("" if value is None else str(value)), True
    if value.isascii():  # O(1) in CPython: ASCII always encodes, skip the UTF-8 round trip
        return value, False
    try:
        value.encode("utf-8")
        return value, False
    except UnicodeEncodeError:
        return value.encode("utf-8", "replace").decode("utf-8"), True


class RunGovernor:
    """Applies safety, budgets, evaluation, audit and telemetry around one agent invocation."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.telemetry = runtime.telemetry

    # --- before ---------------------------------------------------------------------------
    def subject(self, ctx: RunContext, model: str | None) -> BudgetSubject:
        return BudgetSubject(
            tenant_id=ctx.tenant_id, user_id=ctx.user_id, agent=ctx.agent_name,
            session_id=ctx.session_id, run_id=ctx.run_id, model=model,
        )

    async def admit(
        self, ctx: RunContext, query: str, *, model: str | None = None,
        documents: Sequence[str] = (), reserve_budget: bool = True, span: Span | None = None,
    ) -> Admission:
        """``span``: where the decision is written (default: the current span)."""
        span = span or trace.get_current_span()
        model = model or self.settings.default_model
        if not query.strip():
            return self._deny_input(ctx, span, "empty_input", model)
        if len(query) > self.settings.max_query_chars:
            return self._deny_input(
                ctx, span, f"input_too_large: {len(query):,} characters > MAX_QUERY_CHARS "
                f"{self.settings.max_query_chars:,}", model,
            )
        verdict, reservation = await self._admit_checks(ctx, query, model, documents, reserve_budget)
        admission = Admission(True, input_verdict=verdict, reservation=reservation, model=model)
        if not verdict.allowed:
            admission.allowed, admission.status = False, "blocked_input"
            admission.reason = verdict.reason or "unsafe_input"
        elif reservation is not None and not reservation.granted:
            admission.allowed, admission.status = False, "budget_denied"
            admission.reason = reservation.reason or "budget exhausted"
        self.annotate_admission(ctx, span, admission)
        return admission

    async def _admit_checks(
        self, ctx: RunContext, query: str, model: str, documents: Sequence[str], reserve_budget: bool
    ) -> tuple[SafetyVerdict, BudgetReservation | None]:
        """Input safety and budget reservation, concurrently - but without a task for a side
        that cannot wait: no reservation (MAF reserves per model call) or a guard that never
        does I/O (the offline analyzer) is simply awaited, saving two tasks and a gather per run."""
        if not reserve_budget:
            return await self._check_input(ctx, query, documents), None
        if getattr(self.runtime.safety, "runs_inline", False) is True:
            verdict = await self._check_input(ctx, query, documents)
            if not verdict.allowed:  # blocked: nothing will be spent, so hold nothing
                return verdict, None
            return verdict, await self._reserve(ctx, query, model)
        budget = asyncio.ensure_future(self._reserve(ctx, query, model))
        try:
            verdict = await self._check_input(ctx, query, documents)
        except BaseException:
            budget.cancel()
            raise
        return verdict, await budget

    def _deny_input(self, ctx: RunContext, span: Span, reason: str, model: str | None) -> Admission:
        verdict = SafetyVerdict(stage="input", allowed=False, action="block", reason=reason.split(":")[0],
                                analyzer="llmops-kit", findings=[reason.split(":")[0]])
        admission = Admission(False, "blocked_input", reason, verdict, None, model)
        self.annotate_admission(ctx, span, admission)
        return admission

    async def _check_input(self, ctx: RunContext, query: str, documents: Sequence[str]) -> SafetyVerdict:
        try:
            verdict = await self.runtime.safety.check_input(query, documents=documents)
        except Exception as exc:  # a broken guard must not break the run; the fail mode decides
            verdict = self._unavailable("input", exc)
        self._count_verdict(ctx, verdict)
        return verdict

    async def check_output(self, ctx: RunContext, text: str, *, span: Span | None = None) -> SafetyVerdict:
        """``span``: where the decision is written (default: the current span)."""
        try:
            verdict = await self.runtime.safety.check_output(text)
        except Exception as exc:
            verdict = self._unavailable("output", exc)
        self._count_verdict(ctx, verdict)
        span = span or trace.get_current_span()
        if span.is_recording():
            span.set_attribute(sc.LLMOPS_SAFETY_OUTPUT_ACTION, verdict.action)
            if not verdict.allowed and verdict.reason:
                span.set_attribute(sc.LLMOPS_SAFETY_REASON, verdict.reason)
        return verdict

    def _unavailable(self, stage: str, exc: BaseException) -> SafetyVerdict:
        log.warning("safety check (%s) failed: %s", stage, type(exc).__name__)
        self.telemetry.safety_unavailable.add(1, {sc.LLMOPS_GUARDRAIL_STAGE: stage})
        if self.settings.content_safety_fail_mode == "open":
            return SafetyVerdict(stage=stage, allowed=True, action="flag", reason="safety_unavailable",
                                 findings=["fail_open"], analyzer=getattr(self.runtime.safety, "name", "?"),
                                 status="unavailable")
        return SafetyVerdict(stage=stage, allowed=False, action="block", reason="safety_unavailable",
                             analyzer=getattr(self.runtime.safety, "name", "?"), status="unavailable")

    def _count_verdict(self, ctx: RunContext, verdict: SafetyVerdict) -> None:
        self.telemetry.record_guardrail(verdict.stage, verdict.action, "safety", verdict.reason, ctx.agent_name)

    async def reserve_budget(self, ctx: RunContext, query: Any, model: str) -> BudgetReservation | None:
        """Budget-only admission (per model call in the framework guards): estimate, reserve, count."""
        return await self._reserve(ctx, query, model)

    async def _reserve(self, ctx: RunContext, query: Any, model: str) -> BudgetReservation | None:
        from llmops_kit.budget.estimate import estimate_amount

        subject = self.subject(ctx, model)
        max_out = ctx.max_output_tokens or self.settings.max_output_tokens
        pricing, tokens = self.runtime.pricing, self.runtime.tokens

        def estimate() -> BudgetAmount:  # counted only when a limit applies (or usage goes unreported)
            return estimate_amount(pricing, tokens, model, query, max_out)

        try:
            pricing.price_for(model)  # unknown model price with unknown_model_price=error: refused
        except LookupError as exc:
            return BudgetReservation(ctx.run_id, False, subject, BudgetAmount(), reason=str(exc),
                                     denied_limit="pricing")
        try:
            reservation = await self.runtime.budget.reserve(subject, estimate)
        except Exception as exc:
            log.warning("budget reservation failed: %s", type(exc).__name__)
            if self.settings.budget_fail_mode == "open":
                return BudgetReservation(ctx.run_id, True, subject, estimate(), fail_open=True,
                                         reason="budget_unavailable")
            return BudgetReservation(ctx.run_id, False, subject, estimate(), reason="budget_unavailable")
        action = "allow" if reservation.granted else "block"
        # a low-cardinality code on the metric; the full reason (limit, estimate, reset) is on the span
        code = None if reservation.granted else ("budget_unavailable" if reservation.reason == "budget_unavailable"
                                                 else "budget_exceeded")
        self.telemetry.record_guardrail("input", action, "budget", code, ctx.agent_name)
        if not reservation.granted:
            self.telemetry.budget_denials.add(1, {sc.GEN_AI_AGENT_NAME: ctx.agent_name,
                                                  sc.LLMOPS_BUDGET_LIMIT: reservation.denied_limit or "?"})
        return reservation

    def annotate_admission(self, ctx: RunContext, span: Span, admission: Admission) -> None:
        """The admission's decisions on ``span`` (``admit`` does this; a caller that opens its span
        only once a run is refused writes them itself)."""
        if not span.is_recording():
            return
        v = admission.input_verdict
        attrs = input_verdict_attributes(v) if v is not None else {}
        r = admission.reservation
        if r is not None:
            attrs[sc.LLMOPS_BUDGET_DECISION] = "granted" if r.granted else "denied"
            if r.deferred is None:  # something was held (a deferred estimate means no limit applied)
                attrs[sc.LLMOPS_BUDGET_RESERVED_TOKENS] = r.estimate.total_tokens
                attrs[sc.LLMOPS_BUDGET_RESERVED_MICRO_USD] = r.estimate.cost_micro_usd
            if r.reason:
                attrs[sc.LLMOPS_BUDGET_REASON] = r.reason
        span.set_attributes(attrs)
        if not admission.allowed:
            span.add_event(sc.EVENT_GUARDRAIL_DECISION, {
                sc.LLMOPS_GUARDRAIL_STAGE: "input",
                sc.LLMOPS_GUARDRAIL_ACTION: "block",
                sc.LLMOPS_GUARDRAIL_KIND: "budget" if admission.status == "budget_denied" else "safety",
                sc.LLMOPS_RUN_REASON: admission.reason or "",
            })

    # --- after ----------------------------------------------------------------------------
    async def complete(
        self, ctx: RunContext, query: str, admission: Admission, *, reply: AgentReply | None,
        status: str, reason: str | None = None, error: BaseException | None = None,
        output_verdict: SafetyVerdict | None = None, started_at: float,
        settle_budget: bool = True, span: Span | None = None,
        eval_context: EvalContext | None = None,
        last_settled: BudgetReservation | None = None,
        charged_micro_usd: int | None = None,
        evaluated: Evaluated | None = None,
    ) -> RunResult:
        """``last_settled``: a reservation the caller settled itself (the MAF chat middleware
        settles per model call); the closing budget state may then reuse that settle's counters.
        ``charged_micro_usd``: what such a caller's own settles charged in total (reservations
        included for calls without usage), so a run is never reported at $0 when it was charged.
        ``evaluated``: what :meth:`evaluate_reply` already returned for this reply (the MAF
        middleware scores a ``stream=False`` answer inside MAF's span); emitted here, not re-run."""
        span = span or trace.get_current_span()
        model = (reply.model if reply and reply.model else None) or admission.model or self.settings.default_model
        invoked = reply is not None or error is not None
        usage = reply.usage if reply is not None else None
        usage_missing = invoked and (usage is None or not usage.reported)
        cost_micro = self._cost(model, reply)
        response_text = reply.text if reply is not None else ""
        if status == "blocked_output":
            response_text = BLOCKED_OUTPUT_REPLACEMENT
        elif status == "blocked_input":
            response_text = "I'm sorry, but I can't help with that request."
        elif status == "budget_denied":
            response_text = "This request exceeds the available budget."
        elif status == "error":
            response_text = ""

        evaluations: list[EvalResult] = []
        if status == "ok" and reply is not None and self.runtime.evaluation is not None:
            if evaluated is None:
                evaluated = await self.evaluate_reply(ctx, query, reply, admission, span, eval_context)
            evaluations, gated = evaluated
            self.telemetry.emit_evaluations(evaluations, span, reply.response_id, ctx.agent_name)
            if gated:
                status, reason = "blocked_output", f"evaluation_gate: {gated}"
                response_text = BLOCKED_OUTPUT_REPLACEMENT

        settled, settle_cost, over_reservation = await self._settle(admission, model, usage, invoked, settle_budget)
        cost_source = "reported"
        if (usage_missing or cost_micro is None) and settle_cost is not None:
            cost_micro, cost_source = settle_cost, "reservation"  # priced at the reservation, never $0
        if charged_micro_usd is not None and (cost_micro is None or usage_missing or charged_micro_usd > cost_micro):
            cost_micro, cost_source = charged_micro_usd, "reservation"
        cost_micro = cost_micro or 0
        budget_state = await self._budget_state(ctx, model, admission.reservation if settled else last_settled)

        latency_ms = (time.perf_counter() - started_at) * 1000
        verdicts = [v for v in (admission.input_verdict, output_verdict) if v is not None]
        result = RunResult(
            run_id=ctx.run_id,
            trace_id=_trace_id(span),
            agent=ctx.agent_name,
            status=status,  # type: ignore[arg-type]
            response=response_text,
            reason=reason,
            usage=usage if usage is not None else TokenUsage(reported=False),
            usage_missing=usage_missing,
            cost_usd=cost_micro / 1_000_000,
            latency_ms=latency_ms,
            ttft_ms=(reply.ttft_s * 1000) if reply is not None and reply.ttft_s is not None else None,
            model=model,
            safety=verdicts,
            evaluations=evaluations,
            budget=budget_state,
            error_type=type(error).__name__ if error is not None else None,
            tool_calls=[
                {"name": t.name, "call_id": t.call_id, "error": t.error} for t in (reply.tool_calls if reply else [])
            ],
            cost_source=cost_source,
            over_reservation=over_reservation,
        )
        result.audit = await self._audit(ctx, query, reply, result)
        self._finish_telemetry(ctx, span, reply, result, error, cost_micro)
        return result

    def _cost(self, model: str, reply: AgentReply | None) -> int | None:
        """Priced cost of the reported usage; ``None`` when a model in the reply has no price
        (the settle then charges the reservation: never $0)."""
        if reply is None:
            return 0
        try:
            if reply.model_calls:
                total = 0
                for c in reply.model_calls:
                    if c.usage.reported:  # priced when recorded, or now (raises when the model has no price)
                        priced = c.cost_micro_usd
                        total += priced if priced is not None else \
                            self.runtime.pricing.cost_micro_usd(c.model or model, c.usage)
                return total
            if reply.usage is not None and reply.usage.reported:
                return self.runtime.pricing.cost_micro_usd(model, reply.usage)
        except LookupError:
            log.warning("no price for model %r: the run is charged at its reservation", model)
            return None
        return 0

    async def evaluate_reply(
        self, ctx: RunContext, query: str, reply: AgentReply, admission: Admission, span: Span,
        eval_context: EvalContext | None = None,
    ) -> Evaluated:
        """Score ``reply``; returns the results and the names of the gates they failed (``None``:
        passed). Emits nothing: :meth:`complete` emits what it is given, once per run."""
        runner = self.runtime.evaluation
        assert runner is not None
        ectx = eval_context or EvalContext()
        ectx.run_id, ectx.agent_name = ctx.run_id, ctx.agent_name
        ectx.tool_calls = list(reply.tool_calls)
        if reply.documents and not ectx.documents:
            ectx.documents = list(reply.documents)
        ectx.metadata.setdefault("_span", span)
        ectx.metadata.setdefault("response_id", reply.response_id)
        ectx.metadata.setdefault("_tenant_id", ctx.tenant_id)  # background scores are audited per tenant
        flagged = bool(admission.input_verdict and admission.input_verdict.findings)
        try:
            results = await runner.evaluate(query, reply.text, ectx, flagged=flagged)
        except Exception:  # evaluation must never fail a run unless it gates
            log.warning("evaluation failed", exc_info=True)
            return [], None
        gated = None
        if self.settings.evaluation_gate:  # every evaluator gates
            failed = [r.name for r in results if r.passed is False and r.status == "completed"]
        else:  # only evaluators wrapped with Scored(gate=True)
            gated_names = getattr(runner, "gated_names", frozenset())
            failed = [r.name for r in results if r.name in gated_names and r.passed is False]
        if failed:
            gated = ", ".join(failed)
        return results, gated

    async def _settle(
        self, admission: Admission, model: str, usage: TokenUsage | None, invoked: bool, settle_budget: bool
    ) -> tuple[bool, int | None, bool]:
        """Settle the reservation. Returns (settled, the cost charged when it had to use the
        reservation, whether actual usage exceeded the reservation)."""
        reservation = admission.reservation
        if not settle_budget or reservation is None or not reservation.granted:
            return False, None, False
        if reservation.fail_open and not reservation.charges:
            return False, None, False  # admitted without any ledger hold: nothing to settle
        from llmops_kit.budget.estimate import actual_amount

        try:
            if not invoked:
                actual: BudgetAmount | None = BudgetAmount()  # the model was never called
            elif usage is None or not usage.reported:
                actual = None  # settle at the reserved amount
            else:
                try:
                    actual = actual_amount(self.runtime.pricing, model, usage)
                except LookupError:
                    actual = None  # unpriced model: charge the reservation, never $0
            settlement = await self.runtime.budget.settle(reservation, actual)
        except Exception as exc:
            log.warning("budget settle failed (%s); the lease will release the hold", type(exc).__name__)
            return False, None, False
        over = bool(getattr(settlement, "over_reservation", False))
        if actual is None:
            return True, settlement.actual.cost_micro_usd, over
        return True, None, over

    async def _budget_state(
        self, ctx: RunContext, model: str, settled: BudgetReservation | None = None
    ) -> BudgetState:
        budget = self.runtime.budget
        subject = self.subject(ctx, model)
        try:
            after = getattr(budget, "state_after_settle", None) if settled is not None else None
            if after is not None:  # the settle's own counters: one ledger round trip less per run
                return await after(subject, settled.reservation_id)  # type: ignore[union-attr]
            return await budget.state(subject)
        except Exception as exc:  # one line per run, no traceback: an outage must not flood the logs
            log.warning("budget state unavailable: %s", type(exc).__name__)
            return BudgetState()

    async def _audit(self, ctx: RunContext, query: str, reply: AgentReply | None, result: RunResult) -> Any:
        record = build_audit_record(ctx, query, reply, result)
        try:
            return await self.runtime.audit.append(record)
        except Exception:
            log.error("audit append failed for run %s", ctx.run_id, exc_info=True)
            return None

    def _finish_telemetry(
        self, ctx: RunContext, span: Span, reply: AgentReply | None, result: RunResult,
        error: BaseException | None, cost_micro: int,
    ) -> None:
        tel = self.telemetry
        tel.record_run(agent=ctx.agent_name, status=result.status, tenant=ctx.tenant_id,
                       duration_s=result.latency_ms / 1000)
        if reply is not None and not reply.metadata.get("llmops.model_calls_recorded"):
            # a framework whose own instrumentation already records tokens and duration (MAF)
            # leaves only the cost to us: never count a token twice
            framework_usage = bool(reply.metadata.get("llmops.framework_records_usage"))
            calls = reply.model_calls or [None]
            for call in calls:
                model = (call.model if call else None) or result.model
                usage = call.usage if call else reply.usage
                try:
                    cost = self.runtime.pricing.cost_micro_usd(model, usage) / 1e6 if usage and usage.reported else None
                except LookupError:
                    cost = None
                duration = (call.duration_s if call else None) or result.latency_ms / 1000
                tel.record_model_call(
                    model=model, provider=(call.provider if call else reply.provider) or "openai",
                    usage=None if framework_usage else usage, duration_s=None if framework_usage else duration,
                    cost_usd=cost, ttft_s=(call.ttft_s if call else reply.ttft_s),
                    agent=(call.agent_name if call and call.agent_name else ctx.agent_name),
                )
        if not span.is_recording():
            return
        u = result.usage
        # one set_attributes call: one lock and one pass instead of ~15 set_attribute calls
        attrs: dict[str, Any] = {}
        attrs[sc.LLMOPS_RUN_STATUS] = result.status
        if result.reason:
            attrs[sc.LLMOPS_RUN_REASON] = result.reason[:500]
        if result.model:
            attrs[sc.GEN_AI_REQUEST_MODEL] = result.model
        if u.reported:
            # roll-up for reports and dashboards; gen_ai.usage.* only when our span is the GenAI
            # agent span (under MAF, its own invoke_agent span carries them: never count twice)
            attrs[sc.LLMOPS_USAGE_INPUT_TOKENS] = u.input_tokens
            attrs[sc.LLMOPS_USAGE_OUTPUT_TOKENS] = u.output_tokens
            attrs[sc.LLMOPS_USAGE_TOTAL_TOKENS] = u.total_tokens
            if str(getattr(span, "name", "")).startswith(sc.OP_INVOKE_AGENT):
                attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] = u.input_tokens
                attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] = u.output_tokens
                if u.cache_read_input_tokens:
                    attrs[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = u.cache_read_input_tokens
                if u.reasoning_tokens:
                    attrs[sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = u.reasoning_tokens
        if result.usage_missing:
            attrs[sc.LLMOPS_USAGE_MISSING] = True
        attrs[sc.LLMOPS_COST_USD] = round(cost_micro / 1e6, 6)
        if result.cost_source != "reported":
            attrs[sc.LLMOPS_COST_SOURCE] = result.cost_source
        if result.over_reservation:
            attrs[sc.LLMOPS_BUDGET_OVER_RESERVATION] = True
        if result.ttft_ms is not None:
            attrs[sc.GEN_AI_RESPONSE_TTFC] = result.ttft_ms / 1000
        if result.audit is not None:
            attrs[sc.LLMOPS_AUDIT_LOCATION] = result.audit.location
        if reply is not None and reply.response_id:
            attrs[sc.GEN_AI_RESPONSE_ID] = reply.response_id
        if reply is not None:
            out = tel.messages_json("assistant", reply.text)
            if out is not None:
                attrs[sc.GEN_AI_OUTPUT_MESSAGES] = out
        remaining = [lim.remaining for lim in result.budget.limits]
        if remaining:
            attrs[sc.LLMOPS_BUDGET_REMAINING] = min(remaining)
        span.set_attributes(attrs)
        if result.status == "error":
            span.set_status(Status(StatusCode.ERROR, (result.reason or "")[:200]))
            span.set_attribute(sc.ERROR_TYPE, result.error_type or "error")
            if error is not None:
                span.record_exception(error)
        elif result.status == "blocked_output":
            span.add_event(sc.EVENT_GUARDRAIL_DECISION, {
                sc.LLMOPS_GUARDRAIL_STAGE: "output",
                sc.LLMOPS_GUARDRAIL_ACTION: "block",
                sc.LLMOPS_RUN_REASON: result.reason or "",
            })


def _trace_id(span: Span) -> str:
    ctx = span.get_span_context()
    return trace.format_trace_id(ctx.trace_id) if ctx.is_valid else ""


def build_audit_record(ctx: RunContext, query: str, reply: AgentReply | None, result: RunResult) -> dict[str, Any]:
    """The audit record: who, what, which decisions, what it cost. Content is redacted by the sink."""
    metadata = ctx.metadata  # most runs carry none: an empty plain dict needs no copy-and-filter pass
    return {
        "schema": "llmops.audit/1",
        "timestamp": utc_now_isoformat(),  # datetime.now(timezone.utc).isoformat(), a third of the cost
        "run_id": ctx.run_id,
        "trace_id": result.trace_id,
        "agent": ctx.agent_name,
        "tenant_id": ctx.tenant_id,
        "user_id": ctx.user_id,
        "session_id": ctx.session_id,
        "status": result.status,
        "reason": result.reason,
        "error_type": result.error_type,
        "model": result.model,
        "query": query,
        "response": result.response,
        "usage": result.usage.to_dict(),
        "usage_missing": result.usage_missing,
        "cost_usd": result.cost_usd,
        "cost_source": result.cost_source,
        "over_reservation": result.over_reservation,
        "latency_ms": round(result.latency_ms, 3),
        "safety": [v.to_dict() for v in result.safety],
        "evaluations": [e.to_dict() for e in result.evaluations],
        "budget": result.budget.to_dict(),
        "tool_calls": result.tool_calls,
        "model_calls": [
            {"model": c.model, "agent": c.agent_name, **c.usage.to_dict()} for c in (reply.model_calls if reply else [])
        ],
        "metadata": {} if type(metadata) is dict and not metadata else
        {k: v for k, v in dict(metadata).items() if isinstance(v, (str, int, float, bool))},
    }
