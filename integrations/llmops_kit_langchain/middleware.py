"""``LLMOpsGuardMiddleware``: the same guardrails as the guard handler, as ``create_agent`` middleware.

Middleware is LangChain's supported place for control in ``create_agent``: ``wrap_model_call``
runs around every model call of the agent loop, so input safety and the per-call budget
reservation happen before the model is called, and settlement and output safety after.
Importing this module needs ``langchain`` (not only ``langchain-core``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from langchain.agents.middleware import AgentMiddleware, ModelRequest, ModelResponse

from llmops_kit.agent import RunContext
from llmops_kit_langchain.extract import usage_from_metadata
from llmops_kit_langchain.policy import GuardPolicy

if TYPE_CHECKING:
    from llmops_kit.runtime import Runtime


def _model_name(request: ModelRequest) -> str | None:
    model = request.model
    for attr in ("model_name", "model", "deployment_name"):
        value = getattr(model, attr, None)
        if isinstance(value, str):
            return value
    return None


def _reply(response: Any) -> Any:
    result = getattr(response, "result", None)
    if result:
        return result[0]
    return response


class LLMOpsGuardMiddleware(AgentMiddleware):
    """``create_agent(model, tools, middleware=[LLMOpsGuardMiddleware(runtime)])``."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        context: RunContext | None = None,
        agent_name: str = "agent",
        check_input: bool = True,
        check_output: bool = True,
        enforce_budget: bool = True,
    ) -> None:
        super().__init__()
        self.runtime = runtime
        self.policy = GuardPolicy(
            runtime, check_input=check_input, check_output=check_output, enforce_budget=enforce_budget
        )
        self._context = context
        self._agent_name = context.agent_name if context is not None else agent_name

    @property
    def name(self) -> str:
        return "LLMOpsGuard"

    def _ctx(self) -> RunContext:
        if self._context is not None:
            return self._context
        return RunContext(run_id=uuid.uuid4().hex, agent_name=self._agent_name, runtime=self.runtime)

    async def awrap_model_call(
        self, request: ModelRequest, handler: Callable[[ModelRequest], Awaitable[ModelResponse]]
    ) -> ModelResponse:
        ctx = self._ctx()
        model = _model_name(request) or self.runtime.settings.default_model
        messages = ([request.system_message] if request.system_message is not None else []) + list(
            request.messages
        )
        reservation = await self.policy.before_call(ctx, messages, model)
        try:
            response = await handler(request)
        except BaseException:
            await asyncio.shield(self.policy.settle(reservation, model, None))
            raise
        reply = _reply(response)
        usage = usage_from_metadata(getattr(reply, "usage_metadata", None))
        await self.policy.after_call(ctx, reservation, model, usage, getattr(reply, "text", None))
        return response

    def wrap_model_call(
        self, request: ModelRequest, handler: Callable[[ModelRequest], ModelResponse]
    ) -> ModelResponse:
        """Sync agents (``invoke``): the async policy runs on a private loop thread per call."""
        ctx = self._ctx()
        model = _model_name(request) or self.runtime.settings.default_model
        messages = ([request.system_message] if request.system_message is not None else []) + list(
            request.messages
        )
        reservation = asyncio.run(self.policy.before_call(ctx, messages, model))
        try:
            response = handler(request)
        except BaseException:
            asyncio.run(self.policy.settle(reservation, model, None))
            raise
        reply = _reply(response)
        usage = usage_from_metadata(getattr(reply, "usage_metadata", None))
        asyncio.run(self.policy.after_call(ctx, reservation, model, usage, getattr(reply, "text", None)))
        return response
