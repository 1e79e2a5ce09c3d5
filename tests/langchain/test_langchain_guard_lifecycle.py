"""Blocked and failing runs leave nothing behind: no warnings, no open spans, no per-run state."""

from __future__ import annotations

import asyncio
import gc
import warnings
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.callbacks import UsageMetadataCallbackHandler
from langchain_core.messages import AIMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.tools import tool
from tests.langchain.conftest import Otel

from llmops_kit_langchain import (
    BudgetExceededError,
    InputBlockedError,
    LLMOpsCallbackHandler,
    LLMOpsGuardHandler,
    OutputBlockedError,
)
from llmops_kit_langchain.testing import ScriptedChatModel, tool_call


class ProviderDown(RuntimeError):
    """What a failing provider call raises in these tests."""


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


def chain_with(model: ScriptedChatModel) -> Any:
    return ChatPromptTemplate.from_messages([("system", "Be helpful."), ("human", "{q}")]) | model


def assert_no_state(h: LLMOpsCallbackHandler, guard: LLMOpsGuardHandler) -> None:
    assert h.open_runs == 0 and not h._runs and not h._collect
    assert guard.open_runs == 0 and guard.open_calls == 0
    assert not guard._root_of and not guard._invocations and not guard._calls


async def test_blocked_ainvoke_leaves_no_unawaited_coroutines(otel: Otel, runtime_factory: Any) -> None:
    """The guard stops the start dispatch; the other handlers' start coroutines are closed, not
    dropped (Python warns "coroutine 'ahandle_event' was never awaited" for dropped ones)."""
    rt = runtime_factory()
    model = ScriptedChatModel()
    guard, h = LLMOpsGuardHandler(rt), LLMOpsCallbackHandler(telemetry=rt.telemetry)
    usage = UsageMetadataCallbackHandler()  # a real LangChain handler that is not run_inline
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(50):
            with pytest.raises(InputBlockedError):
                await chain_with(model).ainvoke({"q": "I will kill you"}, config={"callbacks": [guard, h, usage]})
        gc.collect()
    never_awaited = [w for w in caught if "was never awaited" in str(w.message)]
    assert never_awaited == []
    assert model.calls == 0
    assert not [s for s in otel.spans() if s.name.startswith("chat")]  # later handlers never saw it
    assert len(otel.spans()) == 50 and all(s.end_time is not None for s in otel.spans())
    assert_no_state(h, guard)
    out = await chain_with(model).ainvoke({"q": "hello"}, config={"callbacks": [guard, h, usage]})
    assert out.text and model.calls == 1
    assert usage.usage_metadata  # the non-inline handler still works for allowed runs
    assert_no_state(h, guard)


def erroring_model() -> ScriptedChatModel:
    def fail(messages: list[Any]) -> str:
        raise ProviderDown("provider unavailable")

    return ScriptedChatModel(script=[fail])


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_no_state_leak_over_many_erroring_and_blocked_runs(
    otel: Otel, runtime_factory: Any, mode: str
) -> None:
    rt = runtime_factory(max_tokens_per_request=400, max_output_tokens=200)
    guard, h = LLMOpsGuardHandler(rt), LLMOpsCallbackHandler(telemetry=rt.telemetry)
    cfg = {"callbacks": [guard, h]}
    looping = ScriptedChatModel(
        script=[AIMessage(content="", tool_calls=[tool_call("multiply", {"a": 6, "b": 7}, "c1")])],
        usage={"input_tokens": 40, "output_tokens": 190, "total_tokens": 230},
    )
    agent = create_agent(looping, tools=[multiply], name="math")
    cases: list[tuple[Any, Any, type[BaseException]]] = [
        (chain_with(erroring_model()), {"q": "hello"}, ProviderDown),
        (chain_with(ScriptedChatModel()), {"q": "I will kill you"}, InputBlockedError),
        (chain_with(ScriptedChatModel(script=["I will kill you"])), {"q": "hi"}, OutputBlockedError),
        (agent, {"messages": [{"role": "user", "content": "6*7"}]}, BudgetExceededError),
        (erroring_model(), "hello", ProviderDown),  # a bare model: the model run is the root
        (ScriptedChatModel(), "I will kill you", InputBlockedError),
    ]
    for _ in range(40):
        for runnable, value, expected in cases:
            with pytest.raises(expected):
                if mode == "async":
                    await runnable.ainvoke(value, config=cfg)
                else:
                    runnable.invoke(value, config=cfg)
    assert_no_state(h, guard)
    assert all(s.end_time is not None for s in otel.spans())
    guard.close()



async def test_cancelled_invocation_drops_its_state(otel: Otel, runtime_factory: Any) -> None:
    """A task cancelled mid-tool: LangChain reports the error up the chain, the root ends."""
    rt = runtime_factory()
    started = asyncio.Event()

    @tool
    async def wait_forever(x: int) -> int:
        """Wait until cancelled."""
        started.set()
        await asyncio.Event().wait()
        return x

    model = ScriptedChatModel(
        script=[AIMessage(content="", tool_calls=[tool_call("wait_forever", {"x": 1}, "c1")])]
    )
    agent = create_agent(model, tools=[wait_forever], name="w")
    guard, h = LLMOpsGuardHandler(rt), LLMOpsCallbackHandler(telemetry=rt.telemetry)
    task = asyncio.create_task(
        agent.ainvoke({"messages": [{"role": "user", "content": "go"}]}, config={"callbacks": [guard, h]})
    )
    await started.wait()
    assert guard.open_runs > 0  # in flight: the invocation is tracked
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert_no_state(h, guard)
    assert all(s.end_time is not None for s in otel.spans())
