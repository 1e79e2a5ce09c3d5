"""``LLMOpsGuardHandler``: guardrails that really stop a LangChain run. List it FIRST.

``chain.invoke(x, config={"callbacks": [LLMOpsGuardHandler(runtime), LLMOpsCallbackHandler()]})``

Why a sync ``raise_error=True`` handler: LangChain swallows exceptions of async handlers on
the sync path, so only a sync handler can abort ``invoke``. Raised from
``on_chat_model_start`` the model is never called; raised from ``on_llm_end`` the run stops
with the model's answer withheld. Handlers after the guard never see a blocked start, and
the tracing handler ends the spans a blocked run left open.

The safety and budget backends are async. Under ``ainvoke``/``astream`` the hooks are
served as coroutine functions (LangChain awaits them on the caller's loop and re-raises);
under ``invoke``/``stream`` they run on the guard's own event-loop thread. A backend bound
to one loop (Redis, aiohttp) should therefore be used from one mode per process.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from llmops_kit.agent import RunContext
from llmops_kit_langchain.extract import first_message, usage_from_result
from llmops_kit_langchain.policy import GuardPolicy

if TYPE_CHECKING:
    from llmops_kit.runtime import Runtime

_ASYNC_DISPATCH = "_ahandle_event_for_handler"


def _from_async_manager() -> bool:
    """True when LangChain's async callback manager is asking for the hook (two frames up)."""
    return sys._getframe(2).f_code.co_name == _ASYNC_DISPATCH


class _LoopThread:
    """A private event loop on a daemon thread for the sync path."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="llmops-guard-loop", daemon=True).start()
                self._loop = loop
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def close(self) -> None:
        with self._lock:
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._loop = None


class _Call:
    __slots__ = ("ctx", "model", "parent", "reservation")

    def __init__(self, ctx: RunContext, model: str, parent: UUID | None) -> None:
        self.ctx = ctx
        self.model = model
        self.parent = parent
        self.reservation: Any = None


class LLMOpsGuardHandler(BaseCallbackHandler):
    """Input safety + per-call budget before each model call, settlement + output safety after."""

    raise_error = True
    run_inline = True

    def __init__(
        self,
        runtime: Runtime,
        *,
        context: RunContext | None = None,
        agent_name: str = "langchain",
        check_input: bool = True,
        check_output: bool = True,
        enforce_budget: bool = True,
    ) -> None:
        self.runtime = runtime
        self.policy = GuardPolicy(
            runtime, check_input=check_input, check_output=check_output, enforce_budget=enforce_budget
        )
        self._context = context
        self._agent_name = context.agent_name if context is not None else agent_name
        self._calls: dict[UUID, _Call] = {}
        self._loop = _LoopThread()

    @property
    def open_calls(self) -> int:
        """Model calls with a reservation not yet settled; 0 when nothing is in flight."""
        return len(self._calls)

    def close(self) -> None:
        self._loop.close()

    def _ctx(self, run_id: UUID, parent_run_id: UUID | None) -> RunContext:
        if self._context is not None:
            return self._context
        return RunContext(
            run_id=str(parent_run_id or run_id), agent_name=self._agent_name, runtime=self.runtime
        )

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
        model = (metadata or {}).get("ls_model_name") or self.runtime.settings.default_model
        call = _Call(self._ctx(run_id, parent_run_id), model, parent_run_id)
        call.reservation = await self.policy.before_call(call.ctx, messages[0] if messages else [], model)
        self._calls[run_id] = call

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

    async def _a_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        call = self._calls.pop(run_id, None)
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
        call = self._calls.pop(run_id, None)
        if call is not None:
            response = kwargs.get("response")
            usage = usage_from_result(response) if response is not None else None
            await self.policy.settle(call.reservation, call.model, usage)

    async def _a_chain_done(self, *args: Any, run_id: UUID, **kwargs: Any) -> None:
        """A chain ended: settle calls under it that never ended (another handler aborted them)."""
        if not self._calls:
            return
        stale = [k for k, c in list(self._calls.items()) if c.parent == run_id]
        for key in stale:
            call = self._calls.pop(key, None)
            if call is not None:
                await self.policy.settle(call.reservation, call.model, None)

    # --- dispatch: coroutine functions for the async manager, blocking calls otherwise ------
    def _sync(self, impl: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> None:
            self._loop.run(impl(*args, **kwargs))

        return call

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
        if not self._calls:
            return _noop
        return self._a_chain_done if _from_async_manager() else self._sync(self._a_chain_done)

    @property
    def on_chain_error(self) -> Any:  # type: ignore[override]
        if not self._calls:
            return _noop
        return self._a_chain_done if _from_async_manager() else self._sync(self._a_chain_done)


def _noop(*args: Any, **kwargs: Any) -> None:
    return None
