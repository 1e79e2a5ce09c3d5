"""``adapt_agent``: a MAF agent as an :class:`~llmops_kit.agent.AgentAdapter` for ``ProductionAgent``.

``ProductionAgent`` owns the lifecycle (safety, a run-level budget reservation, evaluation,
audit); the adapter only runs the agent and reports what MAF measured: the run's
``usage_details``, every model call (per-call usage, model, duration) and every tool call,
plus time to first token from a streamed run. It adds collector middleware for this run only;
it does not reserve budget per call (the pipeline already reserved for the run).

MAF opens its own ``invoke_agent`` span inside the run; that span nests under whatever span
is current (the pipeline's). ``emits_agent_span`` tells the pipeline MAF already emits one; the
collector labels it with the run id and tenant/user/session (the outcome is on the pipeline's span).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from agent_framework import ChatContext, ChatMiddleware
from opentelemetry import trace

from llmops_kit.agent import AgentReply, ModelCallRecord, RunContext
from llmops_kit.usage import TokenUsage
from llmops_kit_agent_framework import invoke_span, tool_calls
from llmops_kit_agent_framework.state import RunState, bind_run, current_run
from llmops_kit_agent_framework.usage import usage_of


class _CallCollector(ChatMiddleware):
    """Records each model call of the run it is bound to (usage from the call's final response)
    and the tool calls it asks for (see ``tool_calls``: no function middleware is needed)."""

    async def process(self, context: ChatContext, call_next: Callable[[], Awaitable[None]]) -> None:
        state = current_run()
        started = time.perf_counter()
        telemetry = _telemetry(state)
        if state is not None:  # MAF's invoke_agent is current here: label it with the run's ids
            invoke_span.capture(state, trace.get_current_span())
            if state.tool_calls:
                tool_calls.note_results(state, context.messages, telemetry)
        await call_next()
        if state is None:
            return
        provider = str(getattr(context.client, "otel_provider_name", None) or "unknown")
        options = context.options or {}
        fallback = str(options.get("model") or getattr(context.client, "model", None) or "unknown")

        def record(response: Any) -> None:
            state.model_calls.append(ModelCallRecord(
                model=str(getattr(response, "model", None) or fallback),
                usage=usage_of(response) or TokenUsage(reported=False), provider=provider,
                duration_s=time.perf_counter() - started, agent_name=state.ctx.agent_name,
            ))
            tool_calls.note_requests(state, response, telemetry)

        if context.stream:
            context.stream_result_hooks.append(lambda response: record(response))
        else:
            record(context.result)


def _telemetry(state: RunState | None) -> Any:
    runtime = state.ctx.runtime if state is not None else None
    return runtime.telemetry if runtime is not None else None


class MAFAgentAdapter:
    """Runs a MAF agent (streamed, for TTFT) and returns an :class:`AgentReply` with MAF's usage."""

    emits_agent_span = True

    def __init__(self, agent: Any, name: str | None = None) -> None:
        if not callable(getattr(agent, "run", None)):
            raise TypeError(f"adapt_agent: {type(agent).__name__} has no run(); pass a MAF Agent")
        self.agent = agent
        self.name = name or getattr(agent, "name", None) or getattr(agent, "id", None) or "agent"
        self._middleware = [_CallCollector()]

    async def invoke(self, query: str, ctx: RunContext) -> AgentReply:
        from opentelemetry.trace import INVALID_SPAN

        state = RunState(ctx=ctx, query=query, started_at=time.perf_counter(), span=INVALID_SPAN)
        with bind_run(state):
            stream = self.agent.run(query, stream=True, middleware=self._middleware)
            async for update in stream:
                if state.ttft_s is None and getattr(update, "text", None):
                    state.mark_first_token()
            response = await stream.get_final_response()
        telemetry = _telemetry(state)
        if state.tool_calls:  # results of a loop that ended on tools
            tool_calls.note_results(state, response.messages, telemetry)
        calls = state.model_calls
        return AgentReply(
            text=response.text or "",
            usage=usage_of(response),
            model=calls[-1].model if calls else None,
            provider=calls[-1].provider if calls else None,
            model_calls=list(calls),
            tool_calls=list(state.tool_calls),
            ttft_s=state.ttft_s,
            response_id=str(response.response_id) if response.response_id else None,
            # MAF's own instrumentation records tokens and duration per call; the pipeline adds cost only
            metadata={"llmops.framework_records_usage": _maf_records_usage()},
        )


def _maf_records_usage() -> bool:
    from agent_framework.observability import OBSERVABILITY_SETTINGS

    return bool(OBSERVABILITY_SETTINGS.ENABLED)


def adapt_agent(agent: Any, name: str | None = None) -> MAFAgentAdapter:
    """Entry point used by ``llmops_kit.agent.adapt`` for objects from ``agent_framework``."""
    return MAFAgentAdapter(agent, name=name)
