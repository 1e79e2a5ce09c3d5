"""``LLMOpsGuardHandler``: guardrails that really stop a LangChain run. List it FIRST.

``chain.invoke(x, config={"callbacks": [LLMOpsGuardHandler(runtime), LLMOpsCallbackHandler()]})``

Why a sync ``raise_error=True`` handler: LangChain swallows exceptions of async handlers on
the sync path, so only a sync handler can abort ``invoke``. Raised from
``on_chat_model_start`` the model is never called; raised from ``on_llm_end`` the run stops
with the model's answer withheld. Handlers after the guard never see a blocked start, and
the tracing handler ends the spans a blocked run left open.

One governed run per top-level invocation: the guard follows ``run_id``/``parent_run_id`` of
every callback to the invocation's ROOT run, so run-scoped budgets add up over all model
calls of one ``invoke`` (a tool loop is stopped before the call that would exceed them) and
start again at the next ``invoke``. Per-root state is dropped when the root ends.

The safety and budget backends are async. Under ``ainvoke``/``astream`` the hooks are
served as coroutine functions (LangChain awaits them on the caller's loop and re-raises);
under ``invoke``/``stream`` they run on the guard's own event-loop thread. A backend bound
to one loop (Redis, aiohttp) should therefore be used from one mode per process.
"""

from __future__ import annotations

import inspect
import sys
from typing import TYPE_CHECKING, Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from llmops_kit.agent import RunContext
from llmops_kit_langchain.extract import first_message, usage_from_result
from llmops_kit_langchain.identity import invocation_context
from llmops_kit_langchain.loop import LoopThread
from llmops_kit_langchain.policy import GuardPolicy

if TYPE_CHECKING:
    from llmops_kit.runtime import Runtime

_ASYNC_DISPATCH = "_ahandle_event_for_handler"
_START_DISPATCH = ("on_chat_model_start", "on_llm_start")
_PENDING_LISTS = ("inline_tasks", "non_inline_tasks")

#: kept for code that imported the old private name
_LoopThread = LoopThread


def _from_async_manager() -> bool:
    """True when LangChain's async callback manager is asking for the hook (two frames up)."""
    return sys._getframe(2).f_code.co_name == _ASYNC_DISPATCH


def _discard_pending_siblings() -> None:
    """Close the other handlers' start coroutines that a blocked start leaves unawaited.

    ``AsyncCallbackManager.on_chat_model_start`` creates one ``ahandle_event`` coroutine per
    handler and awaits them in order; when the guard raises, the rest are never awaited and
    Python logs "coroutine 'ahandle_event' was never awaited" for each. Closing them first
    gives exactly the sync behaviour (handlers after the guard never see the blocked start),
    without the warning. If LangChain's internals change, this finds nothing and does nothing.
    """
    frame = sys._getframe(1)
    for _ in range(10):
        if frame is None:
            return
        if frame.f_code.co_name in _START_DISPATCH and "inline_tasks" in frame.f_code.co_varnames:
            f_locals = frame.f_locals
            for name in _PENDING_LISTS:
                for coro in f_locals.get(name) or ():
                    if inspect.iscoroutine(coro) and inspect.getcoroutinestate(coro) == inspect.CORO_CREATED:
                        coro.close()
            return
        frame = frame.f_back


class _Invocation:
    """One top-level invocation: its governed context and the runs and calls under it."""

    __slots__ = ("calls", "ctx", "members")

    def __init__(self) -> None:
        self.ctx: RunContext | None = None
        self.members: set[UUID] = set()
        self.calls: dict[UUID, _Call] = {}


class _Call:
    __slots__ = ("ctx", "model", "parent", "reservation", "root")

    def __init__(self, ctx: RunContext, model: str, parent: UUID | None, root: UUID) -> None:
        self.ctx = ctx
        self.model = model
        self.parent = parent
        self.root = root
        self.reservation: Any = None


class LLMOpsGuardHandler(BaseCallbackHandler):
    """Input safety + budget reservation before each model call, settlement + output safety after.

    ``context`` supplies identity (agent, user, tenant, session, ``max_output_tokens``); its
    ``run_id`` is NOT used: each invocation is its own run, identified by its root run id.
    Without ``context``, identity comes from ``config["metadata"]`` (``tenant_id``,
    ``user_id``, ``session_id``/``thread_id``) and the agent name from ``agent_name`` or the
    ``create_agent`` name.
    """

    raise_error = True
    run_inline = True

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
        self.runtime = runtime
        self.policy = GuardPolicy(
            runtime, check_input=check_input, check_output=check_output, enforce_budget=enforce_budget
        )
        self._context = context
        self._agent_name = agent_name
        self._calls: dict[UUID, _Call] = {}
        self._root_of: dict[UUID, UUID] = {}
        self._invocations: dict[UUID, _Invocation] = {}
        self._loop = LoopThread()

    @property
    def open_calls(self) -> int:
        """Model calls with a reservation not yet settled; 0 when nothing is in flight."""
        return len(self._calls)

    @property
    def open_runs(self) -> int:
        """Runs and invocations tracked; 0 whenever no invocation is in flight."""
        return len(self._root_of) + len(self._invocations)

    def close(self) -> None:
        self._loop.close()

    # --- invocation tracking (pure bookkeeping: never blocks, never raises) ----------------
    def _track(self, run_id: UUID, parent_run_id: UUID | None) -> tuple[UUID, _Invocation]:
        """Register a started run under its invocation; a run whose parent we never saw is a root."""
        root = self._root_of.get(parent_run_id) if parent_run_id is not None else None
        inv = self._invocations.get(root) if root is not None else None
        if inv is None or root is None:
            root = run_id
            inv = self._invocations[run_id] = _Invocation()
        else:
            inv.members.add(run_id)
        self._root_of[run_id] = root
        return root, inv

    def _untrack(self, run_id: UUID) -> list[_Call]:
        """A run ended: forget it; return calls it leaves unsettled (a later handler aborted them)."""
        root = self._root_of.pop(run_id, None)
        if root is None:
            return []
        if root != run_id:
            inv = self._invocations.get(root)
            if inv is None:
                return []
            inv.members.discard(run_id)
            if not inv.calls:
                return []
            keys = [k for k, c in list(inv.calls.items()) if c.parent == run_id]
        else:  # the root ended: the invocation is over, drop everything it left behind
            inv = self._invocations.pop(root, None)
            if inv is None:
                return []
            for member in inv.members:
                self._root_of.pop(member, None)
            inv.members.clear()
            keys = list(inv.calls)
        out = []
        for key in keys:
            inv.calls.pop(key, None)
            call = self._calls.pop(key, None)
            if call is not None:
                out.append(call)
        return out

    def _context_for(self, root: UUID, inv: _Invocation, metadata: dict[str, Any] | None) -> RunContext:
        ctx = inv.ctx
        if ctx is None:
            ctx = inv.ctx = invocation_context(
                str(root), template=self._context, agent_name=self._agent_name,
                metadata=metadata, runtime=self.runtime,
            )
        return ctx

    def on_chain_start(
        self, serialized: Any, inputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self._track(run_id, parent_run_id)

    def on_tool_start(
        self, serialized: Any, input_str: str, *, run_id: UUID, parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self._track(run_id, parent_run_id)

    def on_retriever_start(
        self, serialized: Any, query: str, *, run_id: UUID, parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self._track(run_id, parent_run_id)

    # --- async implementations -------------------------------------------------------------
    async def _a_chat_start(
        self,
        serialized: Any,
        messages: list[list[Any]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        root, inv = self._track(run_id, parent_run_id)
        try:
            model = (metadata or {}).get("ls_model_name") or self.runtime.settings.default_model
            call = _Call(self._context_for(root, inv, metadata), model, parent_run_id, root)
            call.reservation = await self.policy.before_call(call.ctx, messages[0] if messages else [], model)
        except BaseException:
            self._untrack(run_id)  # a blocked start gets no end event: forget it now
            _discard_pending_siblings()  # async path only; finds nothing on the loop thread
            raise
        self._calls[run_id] = call
        inv.calls[run_id] = call

    async def _a_llm_start(
        self,
        serialized: Any,
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        from langchain_core.messages import HumanMessage

        await self._a_chat_start(
            serialized,
            [[HumanMessage(p) for p in prompts]],
            run_id=run_id,
            parent_run_id=parent_run_id,
            metadata=metadata,
        )

    def _end_call(self, run_id: UUID) -> tuple[_Call | None, list[_Call]]:
        call = self._calls.pop(run_id, None)
        if call is not None:
            inv = self._invocations.get(call.root)
            if inv is not None:
                inv.calls.pop(run_id, None)
        return call, self._untrack(run_id)

    async def _a_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        call, stale = self._end_call(run_id)
        await self._settle_stale(stale)
        if call is None:
            return
        message = first_message(response)
        text = getattr(message, "text", None) if message is not None else None
        if text is None:
            try:
                text = response.generations[0][0].text
            except (IndexError, AttributeError):
                text = None
        await self.policy.after_call(
            call.ctx, call.reservation, call.model, usage_from_result(response), text
        )

    async def _a_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        call, stale = self._end_call(run_id)
        if call is not None:
            response = kwargs.get("response")
            usage = usage_from_result(response) if response is not None else None
            await self.policy.settle(call.reservation, call.model, usage)
        await self._settle_stale(stale)

    async def _a_run_done(self, *args: Any, run_id: UUID, **kwargs: Any) -> None:
        """A chain/tool/retriever ended: settle calls under it that never ended (another handler
        aborted them) and, for a root, drop the invocation."""
        await self._settle_stale(self._untrack(run_id))

    async def _settle_stale(self, stale: list[_Call]) -> None:
        for call in stale:
            await self.policy.settle(call.reservation, call.model, None)

    # --- dispatch: coroutine functions for the async manager, blocking calls otherwise ------
    def _sync(self, impl: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> None:
            self._loop.run(impl(*args, **kwargs))

        return call

    def _run_done_sync(self, *args: Any, run_id: UUID, **kwargs: Any) -> None:
        stale = self._untrack(run_id)
        if stale:
            self._loop.run(self._settle_stale(stale))

    @property
    def on_chat_model_start(self) -> Any:  # type: ignore[override]
        return self._a_chat_start if _from_async_manager() else self._sync(self._a_chat_start)

    @property
    def on_llm_start(self) -> Any:  # type: ignore[override]
        return self._a_llm_start if _from_async_manager() else self._sync(self._a_llm_start)

    @property
    def on_llm_end(self) -> Any:  # type: ignore[override]
        return self._a_llm_end if _from_async_manager() else self._sync(self._a_llm_end)

    @property
    def on_llm_error(self) -> Any:  # type: ignore[override]
        return self._a_llm_error if _from_async_manager() else self._sync(self._a_llm_error)

    @property
    def on_chain_end(self) -> Any:  # type: ignore[override]
        return self._a_run_done if _from_async_manager() else self._run_done_sync

    @property
    def on_chain_error(self) -> Any:  # type: ignore[override]
        return self._a_run_done if _from_async_manager() else self._run_done_sync

    @property
    def on_tool_end(self) -> Any:  # type: ignore[override]
        return self._a_run_done if _from_async_manager() else self._run_done_sync

    @property
    def on_tool_error(self) -> Any:  # type: ignore[override]
        return self._a_run_done if _from_async_manager() else self._run_done_sync

    @property
    def on_retriever_end(self) -> Any:  # type: ignore[override]
        return self._a_run_done if _from_async_manager() else self._run_done_sync

    @property
    def on_retriever_error(self) -> Any:  # type: ignore[override]
        return self._a_run_done if _from_async_manager() else self._run_done_sync
