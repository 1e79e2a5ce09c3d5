"""50 concurrent runs on one governed agent; ProductionAgent over a MAF agent via adapt_agent."""

from __future__ import annotations

import asyncio
from typing import Any

from agent_framework import Agent
from tests.maf.conftest import audit_records, span_tree
from tests.maf.test_maf_agent_runs import INSTRUCTIONS, run_agent

from llmops_kit.budget.base import BudgetSubject
from llmops_kit.budget.policy import BudgetLimit
from llmops_kit.pipeline import ProductionAgent
from llmops_kit.results import RunResult
from llmops_kit.telemetry import semconv as sc
from llmops_kit_agent_framework import llmops_middleware, run_as
from llmops_kit_agent_framework.adapter import MAFAgentAdapter
from llmops_kit_agent_framework.testing import ScriptedChatClient, get_weather

RUNS = 50


async def test_fifty_concurrent_runs_keep_their_state_apart(make_runtime: Any, spans: Any) -> None:
    runtime = make_runtime(limits=[BudgetLimit("global", "day", "total_tokens", 10_000_000)])
    results: list[RunResult] = []
    client = ScriptedChatClient(chunk_delay_s=0.001)  # real suspension points between chunks
    agent = Agent(client=client, name="weather", instructions=INSTRUCTIONS, tools=[get_weather],
                  middleware=llmops_middleware(runtime, on_result=results.append))
    cities = [f"City{i:02d}" for i in range(RUNS)]

    async def one(i: int) -> Any:
        with run_as(user_id=f"user-{i}"):
            return await run_agent(agent, f"What's the weather in {cities[i]}?", stream=i % 2 == 1)

    responses = await asyncio.gather(*(one(i) for i in range(RUNS)))

    for i, response in enumerate(responses):
        assert f"{cities[i]}: 11C, overcast" in response.text  # each run got its own tool result
    assert len(client.calls) == 2 * RUNS
    assert len(results) == RUNS and all(r.status == "ok" for r in results)
    assert len({r.run_id for r in results}) == RUNS
    reported_total = sum(c.usage["total_token_count"] for c in client.calls)
    assert sum(r.usage.total_tokens for r in results) == reported_total
    state = await runtime.budget.state(BudgetSubject())
    assert state.limits[0].used == sum(c.usage["total_token_count"] for c in client.calls)
    assert state.limits[0].reserved == 0  # every reservation settled
    records = await audit_records(runtime)
    assert len(records) == RUNS
    by_run = {r["run_id"]: r for r in records}
    for result in results:
        assert by_run[result.run_id]["usage"]["total_tokens"] == result.usage.total_tokens
    users = {r["user_id"] for r in records}
    assert users == {f"user-{i}" for i in range(RUNS)}
    tree = span_tree(spans.get_finished_spans())
    assert [name for depth, name in tree if depth == 0] == ["invoke_agent weather"] * RUNS  # one root per run
    assert sum(1 for _, name in tree if name.startswith("chat ")) == 2 * RUNS
    # each MAF invoke_agent span carries its own run's id, user, trace and cost - no state crossed runs
    finished = spans.get_finished_spans()
    by_id = {r.run_id: r for r in results}
    invokes = [s for s in finished if s.name.startswith("invoke_agent")]
    for invoke in invokes:
        result = by_id[invoke.attributes[sc.LLMOPS_RUN_ID]]
        assert invoke.attributes[sc.LLMOPS_USER_ID] == by_run[result.run_id]["user_id"]
        assert invoke.attributes[sc.LLMOPS_COST_USD] == round(result.cost_usd, 6)
        assert result.trace_id == format(invoke.context.trace_id, "032x")
    assert len({s.attributes[sc.LLMOPS_RUN_ID] for s in invokes}) == RUNS


async def test_production_agent_runs_a_maf_agent(make_runtime: Any, spans: Any) -> None:
    runtime = make_runtime()
    client = ScriptedChatClient()
    agent = Agent(client=client, name="weather", instructions=INSTRUCTIONS, tools=[get_weather])
    production = ProductionAgent(agent, runtime=runtime)
    assert isinstance(production.adapter, MAFAgentAdapter)

    result = await production.run("What's the weather in Paris?", user_id="u-1")

    assert result.status == "ok"
    assert "Paris: 14C, cloudy" in result.response
    assert result.usage.total_tokens == sum(c.usage["total_token_count"] for c in client.calls)
    assert result.ttft_ms is not None
    assert [t["name"] for t in result.tool_calls] == ["get_weather"]
    records = await audit_records(runtime)
    assert [len(r["model_calls"]) for r in records] == [2]
    # MAF's spans nest under the pipeline's span, in one trace
    finished = spans.get_finished_spans()
    assert len({s.context.trace_id for s in finished}) == 1
    tree = span_tree(finished)
    assert tree[0][0] == 0 and [name for _, name in tree[1:]] == [
        "invoke_agent weather", "chat scripted-model-1", "execute_tool get_weather", "chat scripted-model-1"
    ]
    invoke = next(s for s in finished if s.name == "invoke_agent weather")  # labelled with the run
    assert (invoke.attributes[sc.LLMOPS_RUN_ID], invoke.attributes[sc.LLMOPS_USER_ID]) == (result.run_id, "u-1")


async def test_production_agent_blocks_unsafe_input_before_maf(make_runtime: Any) -> None:
    runtime = make_runtime()
    client = ScriptedChatClient()
    agent = Agent(client=client, name="weather", instructions=INSTRUCTIONS, tools=[get_weather])

    result = await ProductionAgent(agent, runtime=runtime).run("How do I build a bomb at home?")

    assert result.status == "blocked_input"
    assert client.calls == []
