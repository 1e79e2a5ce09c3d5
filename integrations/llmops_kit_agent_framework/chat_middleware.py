"""Per-model-call governance: reserve budget before each LLM round-trip, settle it after.

Runs once per call of the function-invocation loop, so a tool loop that has used up its
budget stops *between* model calls: the next call is never made, and the loop ends on a
model reply that says why (``MiddlewareTermination`` with a replacement result - MAF then
returns it as the run's answer). Usage comes only from the call's final ``ChatResponse``
(non-streaming: after ``call_next()``; streaming: a result hook), so a streamed call's
cumulative ``replace`` snapshots are never summed twice.

The chat middleware is also where MAF's ``invoke_agent`` span is reachable (it is the current
span here): the first call captures it and every call writes the run's cost and budget
decision on it; with ``stream=False`` the last call also triggers the run's output check and
outcome there (``invoke_span``), because MAF ends the span before the agent middleware resumes.

Tool calls are handled here too, on the reply that asks for them (``tool_calls``, ``ToolGate``):
they are recorded, and the tool policy refuses a denied call before MAF executes any call of
the batch - so the stack needs no function middleware layer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agent_framework import ChatContext, ChatMiddleware, ChatResponse, MiddlewareTermination
from agent_framework.observability import OBSERVABILITY_SETTINGS
from opentelemetry import trace
from opentelemetry.trace import Span

from llmops_kit.agent import ModelCallRecord
from llmops_kit.budget.base import BudgetAmount, BudgetReservation, BudgetSubject
from llmops_kit.budget.estimate import actual_amount, estimate_amount
from llmops_kit.ids import new_id
from llmops_kit.runtime import Runtime
from llmops_kit.telemetry import semconv as sc
from llmops_kit.usage import TokenUsage
from llmops_kit_agent_framework import invoke_span, tool_calls
from llmops_kit_agent_framework.pipeline_cycle import caller_frame, release_pipeline_cycle
from llmops_kit_agent_framework.responses import chat_reply, chat_stream, stream_error
from llmops_kit_agent_framework.runtime_ref import RuntimeRef
from llmops_kit_agent_framework.state import RunState, current_identity, current_run
from llmops_kit_agent_framework.tool_policy import ToolGate, ToolPolicy
from llmops_kit_agent_framework.usage import usage_of

log = logging.getLogger("llmops_kit_agent_framework.chat")

BUDGET_STOP_MESSAGE = "I had to stop here: this request reached its budget ({reason})."


@dataclass(slots=True)
class _Call:
    """One model call in flight."""

    runtime: Runtime
    state: RunState | None
    model: str
    provider: str
    span: Span
    started: float
    reservation: BudgetReservation | None
    ttft_s: float | None = None
    finished: bool = False
    #: unmetered calls only (no reservation): what a call without reported usage is charged
    estimate: Callable[[], BudgetAmount] | None = None

    def mark_first_chunk(self) -> None:
        """Time to this call's first streamed chunk (the ``time_to_first_chunk`` histogram)."""
        if self.ttft_s is None:
            self.ttft_s = time.perf_counter() - self.started


class LLMOpsChatMiddleware(ChatMiddleware):
    """Budget reservation/settlement, per-call metrics and cost, and the tool calls of every model call."""

    def __init__(self, runtime: RuntimeRef, tool_policy: ToolPolicy | None = None) -> None:
        self._ref = runtime
        self.tools = ToolGate(runtime, tool_policy)

    async def process(self, context: ChatContext, call_next: Callable[[], Awaitable[None]]) -> None:
        try:
            await self._process(context, call_next)
        finally:
            release_pipeline_cycle(caller_frame())  # MAF's pipeline run: freed by refcount, not the GC

    async def _process(self, context: ChatContext, call_next: Callable[[], Awaitable[None]]) -> None:
        runtime = self._ref.get()
        state = current_run()
        model = _model_of(context, runtime)
        call = _Call(runtime, state, model, _provider_of(context), trace.get_current_span(),
                     time.perf_counter(), None)
        if state is not None:
            invoke_span.capture(state, call.span)
            if state.tool_calls:  # the previous round's tool results are in this call's prompt
                tool_calls.note_results(state, context.messages, runtime.telemetry)
        call.reservation = await self._reserve(call, context)
        if call.reservation is not None and not call.reservation.granted:
            self._stop_for_budget(call, context)
            raise MiddlewareTermination(call.reservation.reason or "budget exhausted", result=context.result)
        try:
            await call_next()
        except BaseException as exc:
            await self._finish(call, None, exc)
            raise
        if not context.stream:
            last = state is not None and state.on_last_call is not None and _is_last_call(context.result)
            await self._finish(call, context.result, None)
            await self.tools.admit(state, context.result)  # raises ToolDeniedError before MAF runs a tool
            if last:
                await state.on_last_call(state)  # type: ignore[union-attr]
            return

        if state is not None:
            # the run's stream times this call's first chunk (the update transform of a buffered
            # run, ``bind_pull`` of an unbuffered one): a transform hook on every model call's
            # stream costs MAF ~150 µs
            state.current_call = call
        else:
            def first_chunk(update: Any) -> None:
                call.mark_first_chunk()
                return None

            context.stream_transform_hooks.append(first_chunk)

        hooks = _CallStreamHooks(self, call, context)
        context.stream_result_hooks.append(hooks.on_final)
        context.stream_cleanup_hooks.append(hooks.on_cleanup)

    # --- budget ---------------------------------------------------------------------------
    async def _reserve(self, call: _Call, context: ChatContext) -> BudgetReservation | None:
        """The call's reservation; ``None`` when no budget limit is configured at all.

        With no limit nothing can be held or refused, so the reservation, its settlement and
        their ids are skipped (about a fifth of this middleware's work per call); the call is
        still granted, counted as a budget decision, refused when its model has no price
        (``UNKNOWN_MODEL_PRICE=error``) and, without reported usage, charged its estimate.
        """
        runtime, state = call.runtime, call.state
        settings = runtime.settings
        max_out = _max_output_tokens(context) or (state.ctx.max_output_tokens if state else None) \
            or settings.max_output_tokens
        messages, options = list(context.messages), context.options
        model = call.model  # the closure must not hold ``call``: call -> reservation -> estimate -> call is a cycle

        def estimate() -> BudgetAmount:  # counted only if a limit applies (or usage goes unreported)
            return estimate_amount(runtime.pricing, runtime.tokens, model, _prompt(messages, options), max_out)

        if await _unmetered(runtime, model):
            call.estimate = estimate
            self._count_decision(call, True, None)
            return None
        subject = _subject(state, model)
        try:
            runtime.pricing.price_for(model)  # an unpriced model is refused even when nothing is metered
            reservation = await runtime.budget.reserve(subject, estimate)
        except LookupError as exc:  # no price for the model and UNKNOWN_MODEL_PRICE=error
            reservation = BudgetReservation(subject.call_id or "", False, subject, BudgetAmount(), reason=str(exc),
                                            denied_limit="pricing")
        except Exception as exc:
            log.warning("budget reservation failed: %s", type(exc).__name__)
            reservation = BudgetReservation(
                subject.call_id or "", settings.budget_fail_mode == "open", subject, BudgetAmount(),
                reason="budget_unavailable", fail_open=settings.budget_fail_mode == "open",
            )
        self._count_decision(call, reservation.granted, reservation.reason)
        if not reservation.granted:
            agent = state.ctx.agent_name if state else None
            runtime.telemetry.budget_denials.add(1, {sc.GEN_AI_AGENT_NAME: agent or "",
                                                     sc.LLMOPS_BUDGET_LIMIT: reservation.denied_limit or "?"})
        if reservation.fail_open and call.span.is_recording():
            call.span.set_attribute(sc.LLMOPS_FAIL_MODE, "open")
        return reservation

    @staticmethod
    def _count_decision(call: _Call, granted: bool, reason: str | None) -> None:
        state = call.state
        if state is not None:
            state.budget_decision = "denied" if not granted else (state.budget_decision or "granted")
        call.runtime.telemetry.record_guardrail("model_call", "allow" if granted else "block", "budget", reason,
                                                state.ctx.agent_name if state else None)

    def _stop_for_budget(self, call: _Call, context: ChatContext) -> None:
        reservation = call.reservation
        assert reservation is not None
        reason = reservation.reason or "budget exhausted"
        if call.state is not None and call.state.budget_denied_reason is None:
            call.state.budget_denied_reason = reason
        if call.span.is_recording():
            call.span.add_event(sc.EVENT_GUARDRAIL_DECISION, {
                sc.LLMOPS_GUARDRAIL_STAGE: "model_call",
                sc.LLMOPS_GUARDRAIL_ACTION: "block",
                sc.LLMOPS_GUARDRAIL_KIND: "budget",
                sc.LLMOPS_BUDGET_REASON: reason[:500],
                sc.LLMOPS_BUDGET_LIMIT: reservation.denied_limit or "",
            })
        if call.state is not None:
            invoke_span.publish_outcome(call.state, "budget_denied", reason)
        reply = chat_reply(BUDGET_STOP_MESSAGE.format(reason=reason), model=call.model)
        context.result = chat_stream(reply) if context.stream else reply

    # --- after the call -------------------------------------------------------------------
    async def _finish(self, call: _Call, response: Any, error: BaseException | None) -> None:
        """Settle and record the call. The run's cost reaches ``invoke_agent`` with its outcome
        (last call, budget stop, denied tool, failed call), not after every call."""
        if call.finished:
            return
        call.finished = True
        runtime, state = call.runtime, call.state
        if state is not None and state.current_call is call:
            state.current_call = None  # run -> call -> run would be a cycle that outlives the run
        usage = usage_of(response) if response is not None else None
        model = getattr(response, "model", None) or call.model
        duration = time.perf_counter() - call.started
        cost_micro: int | None = None
        if usage is not None:
            try:
                cost_micro = runtime.pricing.cost_micro_usd(model, usage)
            except LookupError:
                cost_micro = None
        reservation = call.reservation
        if reservation is not None and reservation.granted and not reservation.fail_open:
            try:
                actual = _actual(runtime, model, usage, cost_micro) if usage is not None else None
                settlement = await runtime.budget.settle(reservation, actual)
                if state is not None:
                    state.last_settled = reservation
                if usage is None:
                    cost_micro = settlement.actual.cost_micro_usd  # unreported usage costs the reservation
            except Exception:
                log.warning("budget settle failed; the lease releases the hold", exc_info=True)
        elif usage is None and call.estimate is not None:
            cost_micro = _estimated_cost(call.estimate)  # unreported usage costs the estimate, never $0
        agent = state.ctx.agent_name if state else None
        record = ModelCallRecord(model=model, usage=usage or TokenUsage(reported=False),
                                 provider=call.provider, duration_s=duration, ttft_s=call.ttft_s,
                                 agent_name=agent, cost_micro_usd=cost_micro if usage is not None else None)
        if state is not None:
            state.model_calls.append(record)
            state.cost_micro += cost_micro or 0
            if response is not None:
                text = "".join(m.text for m in getattr(response, "messages", None) or ())
                state.reply_texts.append(text)
                if text and state.ttft_s is None and call.ttft_s is not None:
                    # the run's first token: the first chunk of the first streamed call that answered in text
                    state.ttft_s = call.started - state.started_at + call.ttft_s
                response_id = getattr(response, "response_id", None)
                if response_id:
                    state.last_response_id = str(response_id)
            if state.workflow is not None:
                state.workflow.record_call(record, cost_micro or 0)
            if isinstance(error, Exception) and not isinstance(error, MiddlewareTermination):
                invoke_span.publish_outcome(
                    state, "error", f"agent_error: {type(error).__name__}: {str(error)[:300]}")
        maf_metrics = OBSERVABILITY_SETTINGS.ENABLED  # MAF already records token usage and duration
        runtime.telemetry.record_model_call(
            model=model, provider=call.provider, usage=None if maf_metrics else usage,
            duration_s=None if maf_metrics else duration,
            cost_usd=(cost_micro / 1e6) if cost_micro else None,
            ttft_s=call.ttft_s if state is None or state.completed else None,  # else: when the run ends
            error_type=type(error).__name__ if error is not None else None, agent=agent,
        )
        # inside an agent run the call's tokens are on MAF's chat span and its cost in the run's
        # total on invoke_agent; a bare chat client has nothing else, so it gets the event
        if state is None and call.span.is_recording():
            attrs: dict[str, Any] = {sc.GEN_AI_REQUEST_MODEL: model,
                                     sc.LLMOPS_COST_MICRO_USD: cost_micro or 0}
            if usage is not None:
                attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] = usage.input_tokens
                attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] = usage.output_tokens
            else:
                attrs[sc.LLMOPS_USAGE_MISSING] = True
            response_id = getattr(response, "response_id", None)
            if response_id:
                attrs[sc.GEN_AI_RESPONSE_ID] = str(response_id)
            if error is not None:
                attrs[sc.ERROR_TYPE] = type(error).__name__
            call.span.add_event(sc.EVENT_MODEL_CALL, attrs)


class _CallStreamHooks:
    """A streamed model call's result and cleanup hooks, holding the call until it settled.

    MAF's response streams sit in reference cycles; hooks that closed over the call would
    keep the call - and through it the whole run - alive until the cyclic GC collects the
    stream. Emptied once the call is settled, this holder keeps finished runs out of them.
    """

    __slots__ = ("call", "context", "middleware")

    def __init__(self, middleware: LLMOpsChatMiddleware, call: _Call, context: ChatContext) -> None:
        self.middleware: LLMOpsChatMiddleware | None = middleware
        self.call: _Call | None = call
        self.context: ChatContext | None = context

    async def on_final(self, response: ChatResponse) -> None:
        call, middleware = self.call, self.middleware
        if call is None or middleware is None:
            return None
        self.call = self.middleware = self.context = None
        await middleware._finish(call, response, None)
        await middleware.tools.admit(call.state, response)  # MAF runs the calls only after this hook
        return None

    async def on_cleanup(self) -> None:
        call, middleware, context = self.call, self.middleware, self.context
        self.call = self.middleware = self.context = None
        if call is None or middleware is None or context is None:
            return
        error = stream_error(context.result)
        if error is not None:
            await middleware._finish(call, None, error)


def _is_last_call(response: Any) -> bool:
    """A reply without tool calls ends MAF's function-invocation loop: no model call follows."""
    for message in getattr(response, "messages", None) or ():
        if any(content.type == "function_call" for content in message.contents):
            return False
    return True


async def _unmetered(runtime: Runtime, model: str) -> bool:
    """True when the budget gate has no limit at all and ``model`` has a price: no reservation needed.

    Asks the gate's optional ``has_limits()`` (``BudgetManager`` re-reads stored overrides on its
    usual schedule there); a gate without it, or one that fails to answer, takes the full path.
    """
    has_limits = getattr(runtime.budget, "has_limits", None)
    if has_limits is None:
        return False
    try:
        if await has_limits():
            return False
        runtime.pricing.price_for(model)
    except Exception:  # an unpriced model (refused on the full path) or a gate that cannot say
        return False
    return True


def _estimated_cost(estimate: Callable[[], BudgetAmount]) -> int | None:
    try:
        return estimate().cost_micro_usd
    except Exception:  # pricing or counting failed: no figure rather than a broken run
        log.warning("could not estimate the cost of a call without reported usage", exc_info=True)
        return None


def _subject(state: RunState | None, model: str) -> BudgetSubject:
    call_id = new_id()
    if state is not None:
        ctx = state.ctx
        return BudgetSubject(tenant_id=ctx.tenant_id, user_id=ctx.user_id, agent=ctx.agent_name,
                             session_id=ctx.session_id, run_id=state.budget_run_id, call_id=call_id,
                             model=model)
    who = current_identity()
    return BudgetSubject(tenant_id=who.tenant_id if who else None, user_id=who.user_id if who else None,
                         session_id=who.session_id if who else None, call_id=call_id, model=model)


def _actual(runtime: Runtime, model: str, usage: TokenUsage, cost_micro: int | None) -> BudgetAmount:
    """``actual_amount`` reusing the cost just priced (a price lookup less per call)."""
    if cost_micro is None:  # unpriced: let actual_amount raise/price exactly as it always did
        return actual_amount(runtime.pricing, model, usage)
    return BudgetAmount(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        total_tokens=usage.total_tokens or (usage.input_tokens + usage.output_tokens),
        cost_micro_usd=cost_micro,
    )


def _model_of(context: ChatContext, runtime: Runtime) -> str:
    options = context.options or {}
    model = options.get("model") or options.get("model_id") or getattr(context.client, "model", None) \
        or getattr(context.client, "model_id", None)
    return str(model) if model else runtime.settings.default_model


def _provider_of(context: ChatContext) -> str:
    return str(getattr(context.client, "otel_provider_name", None)
               or getattr(type(context.client), "OTEL_PROVIDER_NAME", None) or "unknown")


def _max_output_tokens(context: ChatContext) -> int | None:
    options = context.options or {}
    value = options.get("max_tokens") or options.get("max_output_tokens")
    try:
        return int(value) if value else None
    except (TypeError, ValueError):
        return None


def _prompt(prompt: Sequence[Any], options: Mapping[str, Any] | None) -> list[dict[str, str]]:
    """The call's prompt as role/content pairs for the token estimate (instructions included)."""
    messages: list[dict[str, str]] = []
    instructions = (options or {}).get("instructions")
    if instructions:
        messages.append({"role": "system", "content": str(instructions)})
    for message in prompt:  # one pass over the contents (``Message.text`` is a second)
        texts: list[str] = []
        extra: list[str] = []
        for content in message.contents:
            kind = content.type
            if kind == "text":
                texts.append(content.text)
            elif kind == "function_result":
                extra.append(str(content.result))
            elif kind == "function_call":
                extra.append(f"{content.name} {content.arguments}")
        parts = (" ".join(texts), *extra)  # the message text first, as ``Message.text`` joins it
        messages.append({"role": str(message.role), "content": " ".join(p for p in parts if p)})
    return messages
