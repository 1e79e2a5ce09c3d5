"""One governed run per top-level invocation: run budgets add up inside it and restart after it.

The reviewer's reproduction: ``MAX_TOKENS_PER_REQUEST=400`` and model calls of 230 tokens
(the estimate of the next call is prompt + ``MAX_OUTPUT_TOKENS=200``), so the second model
call of one invocation must be refused, and the first call of the next invocation allowed.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage
from langchain_core.tools import tool
from tests.langchain.conftest import Otel, tree

from llmops_kit.agent import RunContext
from llmops_kit.budget.base import BudgetState, BudgetSubject
from llmops_kit_langchain import BudgetExceededError, LLMOpsCallbackHandler, LLMOpsGuardHandler
from llmops_kit_langchain.middleware import LLMOpsGuardMiddleware
from llmops_kit_langchain.testing import ScriptedChatModel, tool_call

USAGE = {"input_tokens": 40, "output_tokens": 190, "total_tokens": 230}
LIMITS = {"max_tokens_per_request": 400, "max_output_tokens": 200}
ASK = {"messages": [{"role": "user", "content": "6*7 then 2*3"}]}


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


def looping_model() -> ScriptedChatModel:
    """Asks for a tool on every call: only a budget stops this agent."""
    return ScriptedChatModel(
        script=[AIMessage(content="", tool_calls=[tool_call("multiply", {"a": 6, "b": 7}, "c1")])],
        usage=USAGE,
    )


def answering_model() -> ScriptedChatModel:
    """One model call per invocation."""
    return ScriptedChatModel(script=["42."], usage=USAGE)


async def call(agent: Any, mode: str, config: dict[str, Any]) -> Any:
    """``async``: ainvoke; ``sync``: plain sync code on a worker thread (no loop in that thread)."""
    if mode == "async":
        return await agent.ainvoke(ASK, config=config)
    return await asyncio.get_running_loop().run_in_executor(None, lambda: agent.invoke(ASK, config=config))


def used(state: BudgetState, scope: str) -> int:
    return next(lim.used for lim in state.limits if lim.scope == scope)


def guarded(mode: str, kind: str, rt: Any, model: ScriptedChatModel, **kw: Any) -> tuple[Any, list[Any], Any]:
    """The agent and the callbacks for ``kind``: the guard handler or the middleware."""
    h = LLMOpsCallbackHandler(telemetry=rt.telemetry)
    if kind == "handler":
        guard = LLMOpsGuardHandler(rt, **kw)
        return create_agent(model, tools=[multiply], name="math"), [guard, h], guard
    mw = LLMOpsGuardMiddleware(rt, **kw)
    return create_agent(model, tools=[multiply], name="math", middleware=[mw]), [h], mw


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("kind", ["handler", "middleware"])
async def test_run_budget_adds_up_over_one_invocation_without_context(
    otel: Otel, runtime_factory: Any, kind: str, mode: str
) -> None:
    rt = runtime_factory(**LIMITS)
    model = looping_model()
    agent, callbacks, guard = guarded(mode, kind, rt, model)
    run_ids = []
    for n in (1, 2):
        with pytest.raises(BudgetExceededError) as info:
            await call(agent, mode, {"callbacks": callbacks})
        assert model.calls == n  # each invocation: the first call runs, the second is refused
        run_ids.append(info.value.detail.subject.run_id)
        del info
    assert run_ids[0] != run_ids[1]  # a new invocation is a new run, with its own budget
    for rid in run_ids:
        assert used(await rt.budget.state(BudgetSubject(run_id=rid)), "run") == 230
    assert tree(otel.spans())[:3] == ["invoke_agent math", "  chat gpt-4o-mini", "  execute_tool multiply"]
    assert callbacks[-1].open_runs == 0
    if kind == "handler":
        assert guard.open_runs == 0 and guard.open_calls == 0
    guard.close()


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("kind", ["handler", "middleware"])
async def test_reused_context_gives_identity_not_a_shared_run(
    runtime_factory: Any, kind: str, mode: str
) -> None:
    rt = runtime_factory(**LIMITS, user_daily_token_budget=100_000)
    ctx = RunContext(run_id="fixed", agent_name="math", user_id="u1", tenant_id="acme", runtime=rt,
                     max_output_tokens=200)
    model = answering_model()
    agent, callbacks, guard = guarded(mode, kind, rt, model, context=ctx)
    roots = [uuid.uuid4() for _ in range(3)]
    for root in roots:  # before the fix: the second request was refused (one shared "run")
        out = await call(agent, mode, {"callbacks": callbacks, "run_id": root})
        assert out["messages"][-1].text == "42."
    assert model.calls == 3
    for root in roots:  # each invocation is charged to its own run, keyed by its root run id
        assert used(await rt.budget.state(BudgetSubject(run_id=str(root))), "run") == 230
    assert used(await rt.budget.state(BudgetSubject(run_id="fixed")), "run") == 0
    assert used(await rt.budget.state(BudgetSubject(user_id="u1")), "user") == 690  # identity kept
    if kind == "handler":
        assert guard.open_runs == 0 and guard.open_calls == 0
    guard.close()


@pytest.mark.parametrize("kind", ["handler", "middleware"])
async def test_identity_from_config_metadata(runtime_factory: Any, kind: str) -> None:
    rt = runtime_factory(user_daily_token_budget=100_000)
    model = answering_model()
    agent, callbacks, guard = guarded("async", kind, rt, model)
    config = {"callbacks": callbacks, "metadata": {"tenant_id": "acme", "user_id": "u7"}}
    for _ in range(2):
        await agent.ainvoke(ASK, config=config)
    await asyncio.get_running_loop().run_in_executor(None, lambda: agent.invoke(ASK, config=config))
    assert used(await rt.budget.state(BudgetSubject(user_id="u7", tenant_id="acme")), "user") == 690
    assert used(await rt.budget.state(BudgetSubject(user_id="someone-else")), "user") == 0
    guard.close()


def test_guard_on_a_plain_chain_and_a_bare_model(runtime_factory: Any) -> None:
    """The documented no-context form on a chain; a model invoked directly is its own root."""
    from langchain_core.prompts import ChatPromptTemplate

    rt = runtime_factory(**LIMITS)
    guard = LLMOpsGuardHandler(rt)
    model = answering_model()
    chain = ChatPromptTemplate.from_messages([("human", "{q}")]) | model
    for _ in range(3):  # each invoke is a fresh run: never refused by the previous one's usage
        assert chain.invoke({"q": "hi"}, config={"callbacks": [guard]}).text == "42."
        assert model.invoke("hi", config={"callbacks": [guard]}).text == "42."
    assert model.calls == 6
    assert guard.open_runs == 0 and guard.open_calls == 0
    guard.close()


async def test_middleware_sync_invoke_inside_a_running_loop(otel: Otel, runtime_factory: Any) -> None:
    """Jupyter / sync code called from an async app: ``invoke`` on the loop's own thread."""
    rt = runtime_factory(**LIMITS)
    model = looping_model()
    mw = LLMOpsGuardMiddleware(rt)
    agent = create_agent(model, tools=[multiply], name="math", middleware=[mw])
    asyncio.get_running_loop()  # we are inside a running loop
    with pytest.raises(BudgetExceededError):  # before: RuntimeError from asyncio.run()
        agent.invoke(ASK)
    assert model.calls == 1
    ok = create_agent(answering_model(), tools=[multiply], name="math", middleware=[mw])
    assert ok.invoke(ASK)["messages"][-1].text == "42."
    mw.close()


@pytest.mark.parametrize("kind", ["handler", "middleware"])
async def test_concurrent_invocations_are_separate_runs(runtime_factory: Any, kind: str) -> None:
    """One guard shared by concurrent invocations: each is stopped after its own first call."""
    rt = runtime_factory(**LIMITS)
    model = looping_model()
    agent, callbacks, guard = guarded("async", kind, rt, model)
    outcomes = await asyncio.gather(
        *(agent.ainvoke(ASK, config={"callbacks": callbacks}) for _ in range(6)), return_exceptions=True
    )
    assert all(isinstance(o, BudgetExceededError) for o in outcomes), outcomes
    assert model.calls == 6
    assert len({o.detail.subject.run_id for o in outcomes}) == 6
    if kind == "handler":
        assert guard.open_runs == 0 and guard.open_calls == 0
    guard.close()


@pytest.mark.parametrize("kind", ["handler", "middleware"])
async def test_checkpointed_thread_gets_a_new_run_per_invocation(runtime_factory: Any, kind: str) -> None:
    """With a checkpointer the conversation state persists; the governed run must not."""
    from langgraph.checkpoint.memory import InMemorySaver

    rt = runtime_factory(**LIMITS)
    model = looping_model()
    h = LLMOpsCallbackHandler(telemetry=rt.telemetry)
    if kind == "handler":
        guard: Any = LLMOpsGuardHandler(rt)
        agent = create_agent(model, tools=[multiply], name="math", checkpointer=InMemorySaver())
        callbacks = [guard, h]
    else:
        guard = LLMOpsGuardMiddleware(rt)
        agent = create_agent(model, tools=[multiply], name="math", middleware=[guard], checkpointer=InMemorySaver())
        callbacks = [h]
    config = {"callbacks": callbacks, "configurable": {"thread_id": "t-1"}}
    run_ids = set()
    for n in (1, 2, 3):
        with pytest.raises(BudgetExceededError) as info:
            await agent.ainvoke({"messages": [{"role": "user", "content": f"again {n}"}]}, config=config)
        assert model.calls == n
        run_ids.add(info.value.detail.subject.run_id)
        assert info.value.detail.subject.session_id == "t-1"
        del info
    assert len(run_ids) == 3
    guard.close()
