"""``LLMOpsGuardMiddleware``: the same guardrails as the guard handler, as ``create_agent`` middleware.

Middleware is LangChain's supported place for control in ``create_agent``: ``wrap_model_call``
runs around every model call of the agent loop, so input safety and the budget reservation
happen before the model is called, and settlement and output safety after.

One governed run per agent invocation: ``before_model`` stamps the invocation's run id into
a private, untracked state field (LangChain's ``ModelCallLimitMiddleware`` keeps its run
count the same way), so run-scoped budgets add up over every model call of one ``invoke``
and start again at the next; nothing is kept in the middleware, so nothing can leak. The id
is ``config["run_id"]`` when the caller set one, else a fresh uuid4.

Sync agents (``invoke``/``stream``) run the async policy on a private loop thread, so they
also work inside a running event loop (Jupyter, sync code called from an async app).
Importing this module needs ``langchain`` (not only ``langchain-core``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any

from langchain.agents.middleware import AgentMiddleware, AgentState, ModelRequest, ModelResponse
from langchain.agents.middleware.types import PrivateStateAttr
from langgraph.channels.untracked_value import UntrackedValue
from typing_extensions import NotRequired

from llmops_kit.agent import RunContext
from llmops_kit_langchain.extract import usage_from_metadata
from llmops_kit_langchain.identity import invocation_context
from llmops_kit_langchain.loop import LoopThread
from llmops_kit_langchain.policy import GuardPolicy

if TYPE_CHECKING:
    from langgraph.runtime import Runtime as GraphRuntime

    from llmops_kit.runtime import Runtime

RUN_ID_KEY = "llmops_run_id"


class GuardState(AgentState):
    """The agent state plus the governed run id of the current invocation (never checkpointed)."""

    llmops_run_id: NotRequired[Annotated[str, UntrackedValue, PrivateStateAttr]]


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


def _graph_metadata(runtime: Any) -> dict[str, Any]:
    """``config["metadata"]`` of the running node (tenant/user/session), plus LangGraph's thread id."""
    try:
        from langgraph.config import get_config

        meta: dict[str, Any] = dict(get_config().get("metadata") or {})
    except RuntimeError:  # called outside a graph (a unit test calling the hook directly)
        meta = {}
    info = getattr(runtime, "execution_info", None)
    thread = getattr(info, "thread_id", None)
    if thread and "thread_id" not in meta:
        meta["thread_id"] = thread
    return meta


def _new_run_id(runtime: Any) -> str:
    info = getattr(runtime, "execution_info", None)
    given = getattr(info, "run_id", None)
    return str(given) if given else uuid.uuid4().hex


class LLMOpsGuardMiddleware(AgentMiddleware):
    """``create_agent(model, tools, middleware=[LLMOpsGuardMiddleware(runtime)])``.

    ``context`` supplies identity (agent, user, tenant, session, ``max_output_tokens``); its
    ``run_id`` is NOT used, each invocation is its own run. Without it, tenant/user/session
    come from ``config["metadata"]`` (``tenant_id``, ``user_id``, ``session_id``/``thread_id``).
    """

    state_schema = GuardState

    def __init__(
        self,
        runtime: Runtime,
        *,
        context: RunContext | None = None,
        agent_name: str | None = None,
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
        self._agent_name = agent_name
        self._loop = LoopThread(name="llmops-guard-middleware-loop")

    @property
    def name(self) -> str:
        return "LLMOpsGuard"

    def close(self) -> None:
        """Stop the private loop thread the sync path started (if any)."""
        self._loop.close()

    # --- run identity -----------------------------------------------------------------------
    def before_model(self, state: GuardState, runtime: GraphRuntime) -> dict[str, Any] | None:
        if state.get(RUN_ID_KEY):
            return None
        return {RUN_ID_KEY: _new_run_id(runtime)}

    async def abefore_model(self, state: GuardState, runtime: GraphRuntime) -> dict[str, Any] | None:
        return self.before_model(state, runtime)

    def _ctx(self, request: ModelRequest) -> RunContext:
        state = request.state or {}
        run_id = state.get(RUN_ID_KEY) if isinstance(state, dict) else None
        if not run_id:  # state without our field (hook order changed): one run per call, never shared
            run_id = _new_run_id(request.runtime)
        return invocation_context(
            str(run_id), template=self._context, agent_name=self._agent_name,
            metadata=_graph_metadata(request.runtime), runtime=self.runtime,
        )

    @staticmethod
    def _messages(request: ModelRequest) -> list[Any]:
        head = [request.system_message] if request.system_message is not None else []
        return head + list(request.messages)

    # --- the guardrails -----------------------------------------------------------------------
    async def awrap_model_call(
        self, request: ModelRequest, handler: Callable[[ModelRequest], Awaitable[ModelResponse]]
    ) -> ModelResponse:
        ctx = self._ctx(request)
        model = _model_name(request) or self.runtime.settings.default_model
        reservation = await self.policy.before_call(ctx, self._messages(request), model)
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
        """Sync agents: the async policy runs on the private loop thread (works inside a running loop)."""
        ctx = self._ctx(request)
        model = _model_name(request) or self.runtime.settings.default_model
        run = self._loop.run
        reservation = run(self.policy.before_call(ctx, self._messages(request), model))
        try:
            response = handler(request)
        except BaseException:
            run(self.policy.settle(reservation, model, None))
            raise
        reply = _reply(response)
        usage = usage_from_metadata(getattr(reply, "usage_metadata", None))
        run(self.policy.after_call(ctx, reservation, model, usage, getattr(reply, "text", None)))
        return response
