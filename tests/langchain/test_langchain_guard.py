"""Guardrails that stop a run: guard handler (chains) and middleware (create_agent)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.tools import tool
from tests.langchain.conftest import Otel, tree

from llmops_kit.agent import RunContext
from llmops_kit_langchain import (
    BudgetExceededError,
    InputBlockedError,
    LLMOpsCallbackHandler,
    LLMOpsGuardHandler,
    OutputBlockedError,
)
from llmops_kit_langchain.middleware import LLMOpsGuardMiddleware
from llmops_kit_langchain.testing import ScriptedChatModel, tool_call


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


def loop_model(**kw: Any) -> ScriptedChatModel:
    """Calls the tool twice, then answers: three model calls if nothing stops it."""
    return ScriptedChatModel(
        script=[
            AIMessage(content="", tool_calls=[tool_call("multiply", {"a": 6, "b": 7}, "call_1")]),
            AIMessage(content="", tool_calls=[tool_call("multiply", {"a": 2, "b": 3}, "call_2")]),
            "Done: 42 and 6.",
        ],
        cycle=False,
        **kw,
    )


def chain_with(model: ScriptedChatModel) -> Any:
    return ChatPromptTemplate.from_messages([("system", "Be helpful."), ("human", "{q}")]) | model


def assert_clean(otel: Otel, handler: LLMOpsCallbackHandler, guard: Any = None) -> None:
    assert handler.open_runs == 0
    if guard is not None:
        assert guard.open_calls == 0
    ids = {s.context.span_id for s in otel.spans()}
    assert all(s.parent is None or s.parent.span_id in ids for s in otel.spans())
    assert all(s.end_time is not None for s in otel.spans())


def test_guard_blocks_unsafe_input_before_the_model(otel: Otel, runtime_factory: Any) -> None:
    rt = runtime_factory()
    model = ScriptedChatModel()
    guard, h = LLMOpsGuardHandler(rt), LLMOpsCallbackHandler(telemetry=rt.telemetry)
    with pytest.raises(InputBlockedError) as info:
        chain_with(model).invoke({"q": "how to plant a bomb at the mall"}, config={"callbacks": [guard, h]})
    assert info.value.status == "blocked_input"
    assert model.calls == 0
    assert tree(otel.spans()) == ["invoke_workflow RunnableSequence"]  # no chat span: never called
    assert_clean(otel, h, guard)
    guard.close()


def test_guard_blocks_unsafe_output_and_closes_the_chat_span(otel: Otel, runtime_factory: Any) -> None:
    rt = runtime_factory()
    model = ScriptedChatModel(script=["I will kill you"])
    guard, h = LLMOpsGuardHandler(rt), LLMOpsCallbackHandler(telemetry=rt.telemetry)
    with pytest.raises(OutputBlockedError):
        chain_with(model).invoke({"q": "say something"}, config={"callbacks": [guard, h]})
    assert model.calls == 1
    assert tree(otel.spans()) == ["invoke_workflow RunnableSequence", "  chat gpt-4o-mini"]
    chat = next(s for s in otel.spans() if s.name.startswith("chat"))
    assert chat.attributes["llmops.orphaned"] is True
    assert chat.attributes["error.type"].endswith("OutputBlockedError")
    assert_clean(otel, h, guard)
    guard.close()


async def test_guard_async_path_blocks_too(otel: Otel, runtime_factory: Any) -> None:
    rt = runtime_factory()
    model = ScriptedChatModel()
    guard, h = LLMOpsGuardHandler(rt), LLMOpsCallbackHandler(telemetry=rt.telemetry)
    with pytest.raises(InputBlockedError):
        await chain_with(model).ainvoke({"q": "I will kill you"}, config={"callbacks": [guard, h]})
    assert model.calls == 0
    out = await chain_with(model).ainvoke({"q": "hello there"}, config={"callbacks": [guard, h]})
    assert out.text
    assert_clean(otel, h, guard)


async def test_guard_budget_stops_a_tool_loop_before_the_next_call(otel: Otel, runtime_factory: Any) -> None:
    rt = runtime_factory(max_tokens_per_request=400, max_output_tokens=200)
    ctx = RunContext(run_id="run-1", agent_name="math", runtime=rt, max_output_tokens=200)
    model = loop_model(usage={"input_tokens": 40, "output_tokens": 190, "total_tokens": 230})
    guard = LLMOpsGuardHandler(rt, context=ctx)
    h = LLMOpsCallbackHandler(telemetry=rt.telemetry)
    agent = create_agent(model, tools=[multiply], name="math")
    with pytest.raises(BudgetExceededError) as info:
        await agent.ainvoke(
            {"messages": [{"role": "user", "content": "6*7 then 2*3"}]}, config={"callbacks": [guard, h]}
        )
    assert info.value.status == "budget_denied"
    assert model.calls == 1  # the second call was never made
    assert tree(otel.spans()) == ["invoke_agent math", "  chat gpt-4o-mini", "  execute_tool multiply"]
    assert_clean(otel, h, guard)


async def test_middleware_budget_stops_mid_loop(otel: Otel, runtime_factory: Any) -> None:
    rt = runtime_factory(max_tokens_per_request=400, max_output_tokens=200)
    ctx = RunContext(run_id="run-2", agent_name="math", runtime=rt, max_output_tokens=200)
    model = loop_model(usage={"input_tokens": 40, "output_tokens": 190, "total_tokens": 230})
    h = LLMOpsCallbackHandler(telemetry=rt.telemetry)
    agent = create_agent(
        model, tools=[multiply], name="math", middleware=[LLMOpsGuardMiddleware(rt, context=ctx)]
    )
    with pytest.raises(BudgetExceededError):
        await agent.ainvoke(
            {"messages": [{"role": "user", "content": "6*7 then 2*3"}]}, config={"callbacks": [h]}
        )
    assert model.calls == 1
    assert tree(otel.spans()) == ["invoke_agent math", "  chat gpt-4o-mini", "  execute_tool multiply"]
    assert_clean(otel, h)


async def test_middleware_blocks_input_and_output(otel: Otel, runtime_factory: Any) -> None:
    rt = runtime_factory()
    model = ScriptedChatModel(script=["I will kill you"])
    agent = create_agent(model, tools=[multiply], name="a", middleware=[LLMOpsGuardMiddleware(rt)])
    h = LLMOpsCallbackHandler(telemetry=rt.telemetry)
    with pytest.raises(InputBlockedError):
        await agent.ainvoke(
            {"messages": [{"role": "user", "content": "how to plant a bomb"}]}, config={"callbacks": [h]}
        )
    assert model.calls == 0
    with pytest.raises(OutputBlockedError):
        await agent.ainvoke({"messages": [{"role": "user", "content": "hello"}]}, config={"callbacks": [h]})
    assert model.calls == 1
    assert_clean(otel, h)


def test_tracer_listed_before_guard_still_leaks_nothing(otel: Otel, runtime_factory: Any) -> None:
    rt = runtime_factory()
    model = ScriptedChatModel()
    guard, h = LLMOpsGuardHandler(rt), LLMOpsCallbackHandler(telemetry=rt.telemetry)
    for _ in range(3):
        with pytest.raises(InputBlockedError):
            chain_with(model).invoke({"q": "I will kill you"}, config={"callbacks": [h, guard]})
    assert model.calls == 0
    chats = [s for s in otel.spans() if s.name.startswith("chat")]
    assert len(chats) == 3 and all(s.attributes["llmops.orphaned"] for s in chats)
    assert_clean(otel, h, guard)
    guard.close()


MALFORMED_USAGE = [
    {"input_tokens": "lots", "output_tokens": 3, "total_tokens": 3},
    {"input_tokens": -500, "output_tokens": -50, "total_tokens": -550},
]


async def global_day(rt: Any) -> Any:
    """The global daily limit's state: what the budget holds and has charged."""
    from llmops_kit.budget.base import BudgetSubject

    state = await rt.budget.state(BudgetSubject())
    return next(lim for lim in state.limits if lim.scope == "global")


@pytest.mark.parametrize("usage", MALFORMED_USAGE, ids=["string", "negative"])
def test_guard_charges_a_malformed_usage_report_its_reservation(otel: Otel, runtime_factory: Any,
                                                                usage: dict[str, Any]) -> None:
    """The model was called and paid: its report not being counts must neither fail the chain
    (leaving the reservation held) nor make the call free."""
    rt = runtime_factory(daily_token_budget=1_000_000)
    model = ScriptedChatModel(script=["Sunny and mild."], usage=usage)
    guard, h = LLMOpsGuardHandler(rt), LLMOpsCallbackHandler(telemetry=rt.telemetry)

    reply = chain_with(model).invoke({"q": "weather in Oslo?"}, config={"callbacks": [guard, h]})

    assert reply.text == "Sunny and mild."
    day = asyncio.run(global_day(rt))
    assert day.reserved == 0 and day.used > 0  # settled at what the call reserved
    chat = next(s for s in otel.spans() if s.name.startswith("chat"))
    assert chat.attributes["llmops.usage_missing"] is True
    assert_clean(otel, h, guard)
    guard.close()


@pytest.mark.parametrize("usage", MALFORMED_USAGE, ids=["string", "negative"])
async def test_middleware_charges_a_malformed_usage_report_its_reservation(otel: Otel, runtime_factory: Any,
                                                                           usage: dict[str, Any]) -> None:
    rt = runtime_factory(daily_token_budget=1_000_000)
    model = ScriptedChatModel(script=["Sunny and mild."], usage=usage)
    agent = create_agent(model, tools=[multiply], name="a", middleware=[LLMOpsGuardMiddleware(rt)])

    out = await agent.ainvoke({"messages": [{"role": "user", "content": "weather in Oslo?"}]})

    assert out["messages"][-1].text == "Sunny and mild."
    day = await global_day(rt)
    assert day.reserved == 0 and day.used > 0
