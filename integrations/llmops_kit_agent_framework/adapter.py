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

from agent_framework import ChatContext, ChatMiddleware, FunctionInvocationContext, FunctionMiddleware
from opentelemetry import trace

from llmops_kit.agent import AgentReply, ModelCallRecord, RunContext, ToolCallRecord
from llmops_kit.usage import TokenUsage
from llmops_kit_agent_framework import invoke_span
from llmops_kit_agent_framework.state import RunState, bind_run, current_run
from llmops_kit_agent_framework.usage import usage_of


class _CallCollector(ChatMiddleware):
    """Records each model call of the run it is bound to (usage from the call's final response)."""

    async def process(self, context: ChatContext, call_next: Callable[[], Awaitable[None]]) -> None:
        state = current_run()
        started = time.perf_counter()
        if state is not None:  # MAF's invoke_agent is current here: label it with the run's ids
            invoke_span.capture(state, trace.get_current_span())
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

        if context.stream:
            context.stream_result_hooks.append(lambda response: record(response))
        else:
            record(context.result)


class _ToolCollector(FunctionMiddleware):
    async def process(
        self, context: FunctionInvocationContext, call_next: Callable[[], Awaitable[None]]
    ) -> None:
        state = current_run()
        entry = ToolCallRecord(name=getattr(context.function, "name", None) or "unknown")
        if state is not None:
            state.tool_calls.append(entry)
        try:
            await call_next()
        except Exception as exc:
            entry.error = f"{type(exc).__name__}: {str(exc)[:200]}"
            raise


class MAFAgentAdapter:
    """Runs a MAF agent (streamed, for TTFT) and returns an :class:`AgentReply` with MAF's usage."""

    emits_agent_span = True

    def __init__(self, agent: Any, name: str | None = None) -> None:
        if not callable(getattr(agent, "run", None)):
            raise TypeError(f"adapt_agent: {type(agent).__name__} has no run(); pass a MAF Agent")
        self.agent = agent
        self.name = name or getattr(agent, "name", None) or getattr(agent, "id", None) or "agent"
        self._middleware = [_CallCollector(), _ToolCollector()]

    async def invoke(self, query: str, ctx: RunContext) -> AgentReply:
        from opentelemetry.trace import INVALID_SPAN

        state = RunState(ctx=ctx, query=query, started_at=time.perf_counter(), span=INVALID_SPAN)
        with bind_run(state):
            stream = self.agent.run(query, stream=True, middleware=self._middleware)
            async for update in stream:
                if state.ttft_s is None and getattr(update, "text", None):
                    state.mark_first_token()
            response = await stream.get_final_response()
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
