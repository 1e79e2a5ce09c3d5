"""Run-level governance for MAF agents through the shared :class:`~llmops_kit.lifecycle.RunGovernor`.

Input safety before the run (a block means the model is never called), output safety on
the final answer, evaluators, the audit record and run metrics after it - all delegated to
the governor, so MAF runs and ``ProductionAgent`` runs are governed by one implementation.
Budgets are reserved per model call by the chat middleware, hence ``reserve_budget=False``
and ``settle_budget=False`` here.

Telemetry: MAF's own ``invoke_agent`` span is the run's span; the decisions are written on
it (``invoke_span``) and evaluation results are log events parented to it. No span of ours
is added to a run that reaches MAF - only a run refused before MAF ran (input blocked) gets
an ``llmops.governed_run {agent}`` span, because no ``invoke_agent`` exists for it. With
``stream=False`` MAF ends its span before ``call_next()`` returns, so the output check and the
evaluators run at the run's last model call, inside it. With ``stream=True`` ``call_next()``
returns before any token exists, so everything after the run happens in stream hooks: a
result transform (with buffering, so an unsafe answer never reaches the consumer) and a
cleanup hook for the error path.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from agent_framework import (
    AgentContext,
    AgentMiddleware,
    AgentResponse,
    MiddlewareTermination,
    ResponseStream,
)
from agent_framework.observability import OBSERVABILITY_SETTINGS
from opentelemetry.trace import INVALID_SPAN, NonRecordingSpan, Span, SpanKind

from llmops_kit.agent import AgentReply, RunContext
from llmops_kit.ids import new_id
from llmops_kit.lifecycle import Evaluated, sanitize_text
from llmops_kit.results import RunResult
from llmops_kit.safety.base import SafetyVerdict
from llmops_kit.telemetry import semconv as sc
from llmops_kit.telemetry.instruments import identity_attributes
from llmops_kit_agent_framework import invoke_span, tool_calls
from llmops_kit_agent_framework.pipeline_cycle import caller_frame, release_pipeline_cycle
from llmops_kit_agent_framework.responses import agent_reply, agent_stream, messages_text, stream_error
from llmops_kit_agent_framework.runtime_ref import RuntimeRef
from llmops_kit_agent_framework.state import RunState, bind_pull, bind_run, current_identity
from llmops_kit_agent_framework.usage import usage_of
from llmops_kit_agent_framework.workflow import current_workflow

log = logging.getLogger("llmops_kit_agent_framework.agent")

ResultCallback = Callable[[RunResult], "Awaitable[None] | None"]

#: Key under ``AgentResponse.additional_properties`` where the run's governance summary goes.
RESPONSE_PROPERTY = "llmops"


class LLMOpsAgentMiddleware(AgentMiddleware):
    """Input/output safety, evaluation, audit, run metrics and the run span for every agent run."""

    def __init__(self, runtime: RuntimeRef, *, check_output: bool | None = None,
                 on_result: ResultCallback | None = None) -> None:
        self._ref = runtime
        self._check_output = check_output
        self._on_result = on_result

    async def process(self, context: AgentContext, call_next: Callable[[], Awaitable[None]]) -> None:
        try:
            await self._process(context, call_next)
        finally:
            release_pipeline_cycle(caller_frame())  # MAF's pipeline run: freed by refcount, not the GC

    async def _process(self, context: AgentContext, call_next: Callable[[], Awaitable[None]]) -> None:
        runtime = self._ref.get()
        governor = self._ref.governor()
        state = self._open_run(context, runtime)
        admission = await governor.admit(state.ctx, state.query, model=_agent_model(context),
                                         reserve_budget=False, span=state.span)
        state.admission = admission
        if not admission.allowed:
            result = await self._complete(state, None, admission.status or "blocked_input", admission.reason)
            blocked = agent_reply(result.response, finish_reason="content_filter")
            _annotate_response(blocked, result)
            context.result = agent_stream(blocked) if context.stream else blocked
            return  # call_next() is never called: the model never sees the input

        if not context.stream:
            state.on_last_call = self._judge_last_call
        error: BaseException | None = None
        try:
            with bind_run(state):  # no OTel context of ours: invoke_agent stays the caller's child
                await call_next()
        except MiddlewareTermination:
            pass  # an inner middleware ended the run with its own result; govern that result
        except BaseException as exc:
            error = exc
        if error is not None:
            await self._complete_error(state, error)
            raise error

        if not context.stream:
            if isinstance(context.result, AgentResponse):
                replacement = await self._finish(state, context.result)
                if replacement is not None:
                    context.result = replacement
            else:
                await self._complete(state, None, "error", "agent returned no response")
            return
        self._govern_stream(context, state)

    # --- streaming ------------------------------------------------------------------------
    def _govern_stream(self, context: AgentContext, state: RunState) -> None:
        stream = context.result
        if not isinstance(stream, ResponseStream):
            return
        hooks = _StreamHooks(self, state, stream)
        # Chat/tool middleware run while the caller pulls, so the run must be bound then.
        if self._output_checked(state):
            context.stream_buffer_updates = True  # hold updates until the output check passed
            context.stream_result_to_updates = AgentResponse.to_updates
            # A buffered stream is pulled to its end, finalized and released inside one
            # consumption scope: bind the run once for it, and time each model call's first
            # chunk with a plain update transform. A per-pull context manager would cost
            # ~4 µs per streamed chunk (MAF then enters its own through an ExitStack).
            context.stream_consumption_context_manager_factories.append(hooks.bind_consumption)
            context.stream_transform_hooks.append(hooks.on_update)
        else:  # updates flow to the caller as they come: re-bind the run around each pull
            hooks.pull = bind_pull(state)
            stream.with_pull_context_manager(hooks.bind)
        context.stream_result_hooks.append(hooks.on_final)
        context.stream_cleanup_hooks.append(hooks.on_cleanup)

    # --- inside invoke_agent (stream=False) ------------------------------------------------
    async def _judge_last_call(self, state: RunState) -> None:
        """Output check, evaluators and outcome at the last model call, while MAF's
        ``invoke_agent`` is open.

        The same check and scores as :meth:`_finish` (which reuses both when the run's answer is
        the text judged here), only earlier, so the decisions - an evaluation gate's too - land
        on MAF's span and the evaluation events are parented to it.
        """
        if state.budget_denied_reason is not None or state.completed:
            return
        governor = self._ref.governor()
        text = "".join(state.reply_texts)
        verdict: SafetyVerdict | None = None
        if text and self._output_checked(state):  # the verdict reaches invoke_agent with the outcome below
            verdict = await governor.check_output(state.ctx, text, span=INVALID_SPAN)
            state.early_output = (text, verdict)
        if verdict is not None and not verdict.allowed:
            invoke_span.publish_outcome(state, "blocked_output", verdict.reason or "unsafe_output", output=verdict)
            return
        status, reason = "ok", None
        if self._ref.get().evaluation is not None and state.admission is not None:
            evaluated = await governor.evaluate_reply(state.ctx, state.query, _reply(state, None, text=text),
                                                      state.admission, _run_span(state))
            state.early_evaluation = (text, evaluated)
            if evaluated[1]:
                status, reason = "blocked_output", f"evaluation_gate: {evaluated[1]}"
        invoke_span.publish_outcome(state, status, reason, output=verdict)

    # --- completion -----------------------------------------------------------------------
    async def _finish(self, state: RunState, response: AgentResponse) -> AgentResponse | None:
        """Output check + lifecycle completion; returns a replacement when the answer is blocked."""
        if state.completed:
            return None
        if state.tool_calls:  # a loop that ended on tools: their results are only in the final response
            tool_calls.note_results(state, response.messages, self._ref.get().telemetry)
        reply = _reply(state, response)
        status, reason = "ok", None
        if state.budget_denied_reason is not None:
            status, reason = "budget_denied", state.budget_denied_reason
        verdict: SafetyVerdict | None = None
        if status == "ok" and reply.text and self._output_checked(state):
            early = state.early_output
            if early is not None and early[0] == reply.text:
                verdict = early[1]  # judged at the last model call; label our span as check_output does
                _label_output(state.span, verdict)
            else:
                verdict = await self._ref.governor().check_output(state.ctx, reply.text, span=state.span)
            if not verdict.allowed:
                status, reason = "blocked_output", verdict.reason or "unsafe_output"
        evaluated = None
        early_scores = state.early_evaluation
        if early_scores is not None and early_scores[0] == reply.text:
            evaluated = early_scores[1]  # scored at the last model call: emit those, do not score twice
        result = await self._complete(state, reply, status, reason, output_verdict=verdict,
                                      evaluated=evaluated)
        if result.status == "blocked_output":
            replacement = agent_reply(result.response, like=response, finish_reason="content_filter")
            _annotate_response(replacement, result)
            return replacement
        _annotate_response(response, result)
        return None

    async def _complete_error(self, state: RunState, error: BaseException) -> None:
        reason = state.tool_denied_reason or f"agent_error: {type(error).__name__}: {str(error)[:300]}"
        reply = _reply(state, None) if state.model_calls or state.tool_calls else None
        await self._complete(state, reply, "error", reason, error=error)

    async def _complete(self, state: RunState, reply: AgentReply | None, status: str, reason: str | None,
                        *, error: BaseException | None = None,
                        output_verdict: SafetyVerdict | None = None,
                        evaluated: Evaluated | None = None) -> RunResult:
        if state.completed and state.result is not None:
            return state.result
        state.completed = True
        admission = state.admission
        assert admission is not None
        if state.maf_span is None:  # refused before MAF ran, or MAF's span is not recording
            self._open_own_span(state)
        if state.budget_decision is not None and state.span.is_recording():
            state.span.set_attribute(sc.LLMOPS_BUDGET_DECISION, state.budget_decision)
        try:
            result = await self._ref.governor().complete(
                state.ctx, state.query, admission, reply=reply, status=status, reason=reason, error=error,
                output_verdict=output_verdict, started_at=state.started_at, settle_budget=False,
                span=_run_span(state), last_settled=state.last_settled, charged_micro_usd=state.cost_micro,
                evaluated=evaluated,
            )
        finally:
            _end_span_once(state)  # our own span (a refused run); MAF ends invoke_agent itself
        state.result = result
        self._ref.get().telemetry.record_first_chunks(state.model_calls)  # streamed calls only
        invoke_span.publish_result(state, result)
        if state.workflow is not None:
            state.workflow.record_run(result)
        if self._on_result is not None:
            try:
                outcome = self._on_result(result)
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception:
                log.warning("on_result callback failed for run %s", result.run_id, exc_info=True)
        return result

    # --- helpers --------------------------------------------------------------------------
    def _open_own_span(self, state: RunState) -> None:
        """Our ``llmops.governed_run`` span, for a run with no MAF span to write on: refused
        before MAF ran (no ``invoke_agent`` exists), or MAF's tracer is not recording (MAF uses
        the global provider, the runtime may have its own). Opened at completion with the run's
        start time; only when MAF instrumentation is on (``ENABLE_INSTRUMENTATION``)."""
        if not OBSERVABILITY_SETTINGS.ENABLED or state.span is not INVALID_SPAN:
            return
        runtime, ctx = self._ref.get(), state.ctx
        attrs = {sc.GEN_AI_AGENT_NAME: ctx.agent_name, **identity_attributes(ctx, state.workflow)}
        span = runtime.telemetry.tracer.start_span(
            sc.span_name(sc.OP_GOVERNED_RUN, ctx.agent_name), kind=SpanKind.INTERNAL, attributes=attrs,
            start_time=state.started_ns, record_exception=False, set_status_on_exception=False,
        )
        if span.is_recording():
            content = runtime.telemetry.messages_json("user", state.query)
            if content is not None:
                span.set_attribute(sc.GEN_AI_INPUT_MESSAGES, content)
            if state.admission is not None:
                self._ref.governor().annotate_admission(ctx, span, state.admission)
        state.span = span

    def _output_checked(self, state: RunState) -> bool:
        if self._check_output is not None:
            return self._check_output
        return bool(self._ref.get().settings.safety_check_output)

    def _open_run(self, context: AgentContext, runtime: Any) -> RunState:
        started = time.perf_counter()
        query, sanitized = sanitize_text(messages_text(context.messages))
        who = current_identity()
        workflow = current_workflow()
        if who is None and workflow is not None:
            who = workflow.identity
        session = context.session
        session_id = (who.session_id if who else None) or getattr(session, "session_id", None)
        agent = context.agent
        agent_name = str(getattr(agent, "name", None) or getattr(agent, "id", None) or "agent")
        metadata: dict[str, Any] = dict(who.metadata) if who else {}
        if sanitized:
            metadata["input_sanitized"] = True
        if workflow is not None:
            metadata["workflow_run_id"] = workflow.run_id
            metadata["workflow"] = workflow.name
        ctx = RunContext(
            run_id=new_id(), agent_name=agent_name, user_id=who.user_id if who else None,
            tenant_id=who.tenant_id if who else None, session_id=str(session_id) if session_id else None,
            max_output_tokens=runtime.settings.max_output_tokens, metadata=metadata, runtime=runtime,
        )
        return RunState(ctx=ctx, query=query, started_at=started, span=INVALID_SPAN, started_ns=time.time_ns(),
                        workflow=workflow)


class _StreamHooks:
    """The stream hooks of one ``stream=True`` run, holding its state until the run is over.

    MAF's ``ResponseStream`` sits in reference cycles, so it - and whatever its hooks
    reference - lives until the cyclic GC finds it. Holding the run through this object,
    emptied by the cleanup hook, keeps a finished run's records, verdicts and spans out of
    those cycles: they are freed at once instead of being promoted through the GC
    generations (where each full collection of a large heap costs tens of milliseconds).
    """

    __slots__ = ("cleaned", "middleware", "pull", "state", "stream")

    def __init__(self, middleware: LLMOpsAgentMiddleware, state: RunState, stream: ResponseStream) -> None:
        self.middleware: LLMOpsAgentMiddleware | None = middleware
        self.state: RunState | None = state
        self.stream: ResponseStream | None = stream
        self.cleaned = False
        #: unbuffered streams only: one context manager for every pull, binding the run and timing
        #: each model call's first chunk (a buffered stream binds once, see ``bind_consumption``)
        self.pull: bind_pull | None = None

    def bind(self) -> Any:
        """Pull context manager (unbuffered streams): binds the run, times first chunks."""
        pull = self.pull
        return pull if pull is not None else contextlib.nullcontext()

    def bind_consumption(self) -> Any:
        """Consumption context manager (buffered streams): binds the run for the whole pull."""
        state = self.state
        return bind_run(state) if state is not None else contextlib.nullcontext()

    def on_update(self, update: Any) -> None:
        """Update transform (buffered streams): the first chunk of the model call in flight."""
        state = self.state
        if state is not None:
            call = state.current_call
            if call is not None and call.ttft_s is None:
                call.mark_first_chunk()

    # MAF's own cleanup hook (registered first) finalizes the stream - running our result
    # hook - and then ends invoke_agent, so the run completes while MAF's span is open. Without
    # MAF telemetry the cleanup hook may run first: the result hook then releases the run.
    async def on_final(self, response: AgentResponse) -> AgentResponse | None:
        state, middleware = self.state, self.middleware
        if state is None or middleware is None:
            return None
        replacement = await middleware._finish(state, response)
        if self.cleaned:  # cleanup ran first: the run is over now
            self._release()
        return replacement

    async def on_cleanup(self) -> None:
        self.cleaned = True
        state, middleware = self.state, self.middleware
        if state is None or middleware is None:
            return
        error = stream_error(self.stream)
        if error is not None:
            await middleware._complete_error(state, error)
        elif not state.completed:
            return  # the result hook has not run yet: it releases the run
        self._release()

    def _release(self) -> None:
        self.state = self.middleware = self.stream = self.pull = None


def _run_span(state: RunState) -> Span:
    """The span a run's completion is written against: our own when the run has one (refused
    before MAF ran); otherwise a non-recording stand-in with MAF's ``invoke_agent`` context, so
    the ``RunResult``'s trace id and the evaluation events point at MAF's span while nothing is
    written on it twice (``invoke_span`` writes the outcome there)."""
    maf_span = state.maf_span
    if state.span is not INVALID_SPAN or maf_span is None:
        return state.span
    return NonRecordingSpan(maf_span.get_span_context())


def _label_output(span: Span, verdict: SafetyVerdict) -> None:
    if span.is_recording():
        span.set_attribute(sc.LLMOPS_SAFETY_OUTPUT_ACTION, verdict.action)
        if not verdict.allowed and verdict.reason:
            span.set_attribute(sc.LLMOPS_SAFETY_REASON, verdict.reason)


def _end_span_once(state: RunState) -> None:
    if state.span_ended or state.span is INVALID_SPAN:
        return
    state.span_ended = True
    state.span.end()


def _reply(state: RunState, response: AgentResponse | None, *, text: str | None = None) -> AgentReply:
    """The run's reply; without a response (the last model call, an error) ``text`` is what the
    model calls answered and the ids come from the last call."""
    calls = list(state.model_calls)
    model = calls[-1].model if calls else None
    if response is None:
        return AgentReply(text=text or "", model=model, provider=calls[-1].provider if calls else None,
                          model_calls=calls, tool_calls=list(state.tool_calls), ttft_s=state.ttft_s,
                          response_id=state.last_response_id,
                          metadata={"llmops.model_calls_recorded": True} if calls else {})
    return AgentReply(
        text=response.text,
        usage=usage_of(response),
        model=model,
        provider=calls[-1].provider if calls else None,
        model_calls=calls,
        tool_calls=list(state.tool_calls),
        ttft_s=state.ttft_s,
        response_id=str(response.response_id) if response.response_id else None,
        metadata={"llmops.model_calls_recorded": True} if calls else {},
    )


def _annotate_response(response: AgentResponse, result: RunResult) -> None:
    """Let callers of ``agent.run()`` see the governance outcome without a callback."""
    props = response.additional_properties
    if props is None:
        return
    props[RESPONSE_PROPERTY] = {
        "run_id": result.run_id, "status": result.status, "reason": result.reason,
        "cost_usd": result.cost_usd, "trace_id": result.trace_id,
        "audit": result.audit.location if result.audit is not None else None,
    }


def _agent_model(context: AgentContext) -> str | None:
    options = context.options or {}
    defaults = getattr(context.agent, "default_options", None) or {}
    client = getattr(context.agent, "client", None)
    model = options.get("model") or defaults.get("model") or getattr(client, "model", None)
    return str(model) if model else None
