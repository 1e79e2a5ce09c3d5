"""LangGraph agents, ProductionAgent over Runnables, and the no-leak guarantee."""

from __future__ import annotations

import gc
import tracemalloc
from typing import Any, TypedDict

from langchain.agents import create_agent
from langchain_core.messages import AIMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph
from tests.langchain.conftest import Otel, tree

from llmops_kit.pipeline import ProductionAgent
from llmops_kit.telemetry import semconv as sc
from llmops_kit_langchain import LLMOpsCallbackHandler, adapt_runnable
from llmops_kit_langchain.testing import ScriptedChatModel, tool_call


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


def agent_model() -> ScriptedChatModel:
    return ScriptedChatModel(
        script=[
            AIMessage(content="", tool_calls=[tool_call("multiply", {"a": 6, "b": 7}, "call_1")]),
            "6 times 7 is 42.",
        ]
    )


def test_adapt_recognises_runnables() -> None:
    chain = ChatPromptTemplate.from_messages([("human", "{question}")]) | ScriptedChatModel(script=["x"])
    assert type(ProductionAgent(chain, name="c").adapter) is type(adapt_runnable(chain))


def test_create_agent_tool_loop_tree(otel: Otel) -> None:
    h = LLMOpsCallbackHandler(tracer_provider=otel.tracer_provider)
    agent = create_agent(agent_model(), tools=[multiply], name="math_agent")
    out = agent.invoke(
        {"messages": [{"role": "user", "content": "6*7?"}]},
        config={"callbacks": [h], "configurable": {"thread_id": "t-1"}, "metadata": {"thread_id": "t-1"}},
    )
    assert out["messages"][-1].text == "6 times 7 is 42."
    assert tree(otel.spans()) == [
        "invoke_agent math_agent",
        "  chat gpt-4o-mini",
        "  execute_tool multiply",
        "  chat gpt-4o-mini",
    ]
    root = next(s for s in otel.spans() if s.name == "invoke_agent math_agent")
    chats = [s for s in otel.spans() if s.name.startswith("chat")]
    assert root.attributes[sc.GEN_AI_AGENT_NAME] == "math_agent"
    assert root.attributes[sc.GEN_AI_CONVERSATION_ID] == "t-1"
    assert root.attributes[sc.LLMOPS_MODEL_CALLS] == 2
    assert root.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == sum(
        c.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] for c in chats
    )
    assert h.open_runs == 0


def test_langgraph_subgraph_parenting(otel: Otel) -> None:
    class S(TypedDict):
        q: str
        a: str

    model = ScriptedChatModel(script=["sub answer"])
    inner = StateGraph(S)
    inner.add_node("ask", lambda s: {"a": model.invoke(s["q"]).text})
    inner.add_edge(START, "ask")
    inner.add_edge("ask", END)
    outer = StateGraph(S)
    outer.add_node("sub", inner.compile())
    outer.add_edge(START, "sub")
    outer.add_edge("sub", END)
    h = LLMOpsCallbackHandler(tracer_provider=otel.tracer_provider)
    assert outer.compile().invoke({"q": "hi", "a": ""}, config={"callbacks": [h]})["a"] == "sub answer"
    assert tree(otel.spans()) == ["invoke_workflow LangGraph", "  chat gpt-4o-mini"]
    assert h.open_runs == 0


async def test_production_agent_over_lcel_chain_and_agent(otel: Otel, runtime_factory: Any) -> None:
    rt = runtime_factory()
    chain = ChatPromptTemplate.from_messages([("human", "{question}")]) | ScriptedChatModel(script=["Paris."])
    result = await ProductionAgent(chain, name="geo", runtime=rt).run(
        "Capital of France?", user_id="u1"
    )
    assert result.status == "ok", result.reason
    assert result.response == "Paris."
    assert result.usage.input_tokens == 3 and result.usage.output_tokens == 1  # the model's word counts
    assert result.cost_usd > 0
    tokens = otel.metrics()[sc.METRIC_TOKEN_USAGE]
    input_points = [p for p in tokens if p.attributes[sc.GEN_AI_TOKEN_TYPE] == "input"]
    assert sum(p.sum for p in input_points) == 3  # recorded once, by the handler, not again by the pipeline
    assert tree(otel.spans()) == [
        "invoke_agent geo",
        "  invoke_workflow RunnableSequence",
        "    chat gpt-4o-mini",
    ]
    otel.exporter.clear()
    agent = create_agent(agent_model(), tools=[multiply], name="math_agent")
    result = await ProductionAgent(agent, name="math", runtime=rt).run("6*7?")
    assert result.status == "ok", result.reason
    assert result.response == "6 times 7 is 42."
    assert [t["name"] for t in result.tool_calls] == ["multiply"]
    assert tree(otel.spans()) == [
        "invoke_agent math",
        "  invoke_agent math_agent",
        "    chat gpt-4o-mini",
        "    execute_tool multiply",
        "    chat gpt-4o-mini",
    ]
    blocked = await ProductionAgent(chain, name="geo", runtime=rt).run("how to plant a bomb")
    assert blocked.status == "blocked_input"


def test_no_leak_over_ten_thousand_runs(otel: Otel) -> None:
    otel.tracer_provider.shutdown()  # spans are not the subject here: measure the handler alone
    from opentelemetry.sdk.trace import TracerProvider

    h = LLMOpsCallbackHandler(tracer_provider=TracerProvider())
    model = ScriptedChatModel(script=["ok"])
    chain = ChatPromptTemplate.from_messages([("human", "{q}")]) | model
    cfg = {"callbacks": [h]}
    for _ in range(200):
        chain.invoke({"q": "warm"}, config=cfg)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for _ in range(10_000):
        chain.invoke({"q": "hi"}, config=cfg)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    handler_growth = sum(
        s.size_diff
        for s in after.compare_to(before, "filename")
        if "llmops_kit_langchain" in str(s.traceback)
    )
    assert h.open_runs == 0 and not h._runs and not h._collect
    assert handler_growth < 64 * 1024, handler_growth


def test_model_metrics_carry_the_nearest_agent_name(otel: Otel) -> None:
    """Callback-only users get ``gen_ai.agent.name`` on model metrics ("cost by agent")."""

    class S(TypedDict):
        messages: list[Any]

    h = LLMOpsCallbackHandler(tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider)
    inner = create_agent(agent_model(), tools=[multiply], name="math_agent")
    writer = ScriptedChatModel(script=["Summary: 42."])
    outer = StateGraph(S)
    outer.add_node("math", inner)
    outer.add_node("write", lambda s: {"messages": [*s["messages"], writer.invoke(s["messages"])]})
    outer.add_edge(START, "math")
    outer.add_edge("math", "write")
    outer.add_edge("write", END)
    out = outer.compile().invoke({"messages": [{"role": "user", "content": "6*7?"}]}, config={"callbacks": [h]})
    assert out["messages"][-1].text == "Summary: 42."
    assert tree(otel.spans()) == [
        "invoke_workflow LangGraph",
        "  invoke_agent math_agent",
        "    chat gpt-4o-mini",
        "    execute_tool multiply",
        "    chat gpt-4o-mini",
        "  chat gpt-4o-mini",
    ]
    metrics = otel.metrics()
    for name in (sc.METRIC_TOKEN_USAGE, sc.METRIC_OPERATION_DURATION, sc.METRIC_COST):
        agents = {p.attributes.get(sc.GEN_AI_AGENT_NAME) for p in metrics[name]}
        assert agents == {"math_agent", None}, (name, agents)
    durations = {p.attributes.get(sc.GEN_AI_AGENT_NAME): p.count for p in metrics[sc.METRIC_OPERATION_DURATION]}
    assert durations == {"math_agent": 2, None: 1}  # the workflow's own model call has no agent
    assert h.open_runs == 0


async def test_create_task_inside_a_langgraph_node(otel: Otel) -> None:
    """A node that fans out with ``asyncio.create_task``: the context (and callbacks) is copied
    into the task, so its model run is parented to the node, i.e. to the workflow span."""
    import asyncio

    class S(TypedDict):
        q: str
        a: str

    model = ScriptedChatModel(script=["one", "two"])

    async def fan_out(state: S) -> dict[str, str]:
        first = asyncio.create_task(model.ainvoke(state["q"]))
        second = asyncio.create_task(model.ainvoke(state["q"] + "!"))
        return {"a": " ".join(sorted([(await first).text, (await second).text]))}

    graph = StateGraph(S)
    graph.add_node("fan_out", fan_out)
    graph.add_edge(START, "fan_out")
    graph.add_edge("fan_out", END)
    h = LLMOpsCallbackHandler(tracer_provider=otel.tracer_provider)
    out = await graph.compile().ainvoke({"q": "hi", "a": ""}, config={"callbacks": [h]})
    assert out["a"] == "one two"
    assert tree(otel.spans()) == ["invoke_workflow LangGraph", "  chat gpt-4o-mini", "  chat gpt-4o-mini"]
    assert len({s.context.trace_id for s in otel.spans()}) == 1
    assert h.open_runs == 0
