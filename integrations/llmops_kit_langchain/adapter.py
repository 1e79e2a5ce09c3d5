"""``adapt_runnable``: any LangChain Runnable (LCEL chain, LangGraph graph, ``create_agent``
agent) as a :class:`~llmops_kit.agent.AgentAdapter` for ``ProductionAgent``.

``ProductionAgent`` already admits the run (input safety, one budget reservation for the
run) and checks the output, so the adapter attaches only the tracing handler: its spans
nest under the ``invoke_agent`` span that is current while the adapter runs, and its
per-root summary gives the exact, provider-reported usage, model calls and tool calls.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from llmops_kit.agent import AgentReply, RunContext
from llmops_kit_langchain.handler import LLMOpsCallbackHandler

_QUERY_KEYS = ("question", "input", "query", "text", "prompt")
_OUTPUT_KEYS = ("output", "answer", "text", "result", "response", "content")


def adapt_runnable(runnable: Any, name: str | None = None) -> RunnableAdapter:
    if not hasattr(runnable, "ainvoke"):
        raise TypeError(f"{type(runnable).__name__} is not a LangChain Runnable (no ainvoke)")
    return RunnableAdapter(runnable, name=name)


def input_for(runnable: Any, query: str) -> Any:
    """Shape the query the way the runnable's input schema expects it."""
    try:
        schema = runnable.get_input_jsonschema()
    except Exception:  # some runnables cannot describe their input; a string is the common case
        return query
    props = schema.get("properties") or {}
    if "messages" in props:
        return {"messages": [{"role": "user", "content": query}]}
    if schema.get("type") == "string" or not props:
        return query
    required = schema.get("required") or []
    if len(required) == 1:
        return {required[0]: query}
    if len(props) == 1:
        return {next(iter(props)): query}
    for key in _QUERY_KEYS:
        if key in props:
            return {key: query}
    raise TypeError(
        f"cannot tell which input key of {type(runnable).__name__} takes the query "
        f"(keys: {sorted(props)}); wrap it: RunnableLambda(lambda q: {{'<key>': q}}) | runnable"
    )


def output_text(out: Any) -> str:
    """The reply text of whatever the runnable returned."""
    if isinstance(out, str):
        return out
    text = getattr(out, "text", None)
    if isinstance(text, str) and hasattr(out, "content"):
        return text
    if isinstance(out, dict):
        msgs = out.get("messages")
        if msgs:
            return output_text(msgs[-1])
        for key in _OUTPUT_KEYS:
            if key in out:
                return output_text(out[key])
    try:
        return json.dumps(out, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(out)


class RunnableAdapter:
    """Runs the runnable with the tracing handler and reports what the framework measured."""

    def __init__(self, runnable: Any, name: str | None = None) -> None:
        self.runnable = runnable
        self.name = name or runnable.get_name()
        self._handlers: dict[int, LLMOpsCallbackHandler] = {}

    def _handler(self, ctx: RunContext) -> LLMOpsCallbackHandler:
        runtime = ctx.runtime
        key = id(runtime)
        handler = self._handlers.get(key)
        if handler is None:
            if runtime is None:
                handler = LLMOpsCallbackHandler()
            else:
                handler = LLMOpsCallbackHandler(telemetry=runtime.telemetry, pricing=runtime.pricing)
            self._handlers[key] = handler
        return handler

    async def invoke(self, query: str, ctx: RunContext) -> AgentReply:
        handler = self._handler(ctx)
        run_id = uuid.uuid4()
        summary = handler.collect(run_id)
        metadata: dict[str, Any] = {"llmops_run_id": ctx.run_id}
        if ctx.session_id:
            metadata["thread_id"] = ctx.session_id
        config: dict[str, Any] = {
            "callbacks": [handler],
            "run_id": run_id,
            "metadata": metadata,
            "configurable": {"thread_id": ctx.session_id or ctx.run_id},
        }
        try:
            out = await self.runnable.ainvoke(input_for(self.runnable, query), config=config)
        finally:
            handler.forget(run_id)
        usage = summary.usage if summary.model_calls and not summary.usage_missing else None
        for call in summary.model_calls:
            call.agent_name = ctx.agent_name
        return AgentReply(
            text=output_text(out),
            usage=usage,
            model=summary.model,
            provider=summary.provider,
            model_calls=summary.model_calls,
            tool_calls=summary.tool_calls,
            ttft_s=summary.ttft_s,
            documents=summary.documents,
            # the callback handler already recorded each chat call's metrics: the pipeline must not repeat them
            metadata={"langchain_trace_id": summary.trace_id, "usage_missing": summary.usage_missing,
                      "llmops.model_calls_recorded": True},
        )
