"""Multi-agent workflows: per-agent attribution, one budget for the workflow, audit per agent + workflow."""

from __future__ import annotations

from typing import Any

import pytest
from agent_framework import Agent
from agent_framework.orchestrations import ConcurrentBuilder, SequentialBuilder
from tests.maf.conftest import audit_records

from llmops_kit.budget.base import BudgetSubject
from llmops_kit.budget.policy import BudgetLimit
from llmops_kit.results import RunResult
from llmops_kit_agent_framework import llmops_middleware, workflow_run
from llmops_kit_agent_framework.testing import ScriptedChatClient, get_weather


def team(runtime: Any, results: list[RunResult], *,
         writer_max_tokens: int | None = None) -> tuple[list[Agent], dict[str, ScriptedChatClient]]:
    clients = {"researcher": ScriptedChatClient(), "writer": ScriptedChatClient(model="scripted-writer-1")}
    mw = llmops_middleware(runtime, on_result=results.append)
    researcher = Agent(client=clients["researcher"], name="researcher", instructions="Find the weather.",
                       tools=[get_weather], middleware=mw)
    writer = Agent(client=clients["writer"], name="writer", instructions="Write one friendly sentence.",
                   middleware=mw,
                   default_options={"max_tokens": writer_max_tokens} if writer_max_tokens else None)
    return [researcher, writer], clients


def client_total(client: ScriptedChatClient) -> int:
    return sum(c.usage["total_token_count"] for c in client.calls)


@pytest.mark.parametrize("stream", [False, True], ids=["sync", "stream"])
async def test_sequential_workflow_attributes_usage_per_agent_and_shares_one_budget(
    make_runtime: Any, stream: bool
) -> None:
    runtime = make_runtime(limits=[BudgetLimit("run", "run", "total_tokens", 100_000)])
    results: list[RunResult] = []
    agents, clients = team(runtime, results)

    async with workflow_run("weather-report", runtime=runtime, user_id="u-7", tenant_id="contoso") as wf:
        workflow = SequentialBuilder(participants=agents).build()
        if stream:
            events = [event async for event in workflow.run("What's the weather in Lisbon?", stream=True)]
            assert any(e.type == "output" for e in events)
        else:
            outputs = (await workflow.run("What's the weather in Lisbon?")).get_outputs()
            assert outputs

    assert len(clients["researcher"].calls) == 2 and len(clients["writer"].calls) == 1
    summary = wf.result
    assert summary is not None and summary.status == "ok"
    for name, client in clients.items():
        assert summary.per_agent[name].usage.total_tokens == client_total(client)
        assert summary.per_agent[name].model_calls == len(client.calls)
        assert summary.per_agent[name].cost_usd > 0
    assert summary.usage.total_tokens == sum(client_total(c) for c in clients.values())
    # every model call of both agents was charged to the workflow's run: one budget for the workflow
    state = await runtime.budget.state(BudgetSubject(run_id=wf.run_id))
    run_limit = next(lim for lim in state.limits if lim.scope == "run")
    assert run_limit.used == summary.usage.total_tokens
    assert [r.agent for r in results] == ["researcher", "writer"]
    assert all(r.status == "ok" for r in results)

    records = await audit_records(runtime)
    agent_records = [r for r in records if r.get("kind") != "workflow"]
    workflow_records = [r for r in records if r.get("kind") == "workflow"]
    assert sorted(r["agent"] for r in agent_records) == ["researcher", "writer"]
    assert all(r["metadata"]["workflow_run_id"] == wf.run_id for r in agent_records)
    assert len(workflow_records) == 1
    wrec = workflow_records[0]
    assert wrec["run_id"] == wf.run_id and wrec["user_id"] == "u-7"
    assert wrec["agents"]["writer"]["usage"]["total_tokens"] == client_total(clients["writer"])
    assert sorted(r["run_id"] for r in wrec["agent_runs"]) == sorted(r.run_id for r in results)


async def test_workflow_budget_is_shared_so_the_second_agent_is_stopped(make_runtime: Any) -> None:
    # 300 tokens for the whole workflow: the researcher's two calls fit (each reserves its prompt
    # plus 16 output tokens); the writer asks for up to 400 output tokens, which the budget the
    # researcher left cannot cover - so the writer's model call is never made.
    runtime = make_runtime(max_output_tokens=16, limits=[BudgetLimit("run", "run", "total_tokens", 300)])
    results: list[RunResult] = []
    agents, clients = team(runtime, results, writer_max_tokens=400)

    async with workflow_run("weather-report", runtime=runtime) as wf:
        await SequentialBuilder(participants=agents).build().run("What's the weather in Lisbon?")

    assert len(clients["researcher"].calls) == 2
    assert clients["writer"].calls == []  # stopped by the budget the researcher shared
    assert [r.status for r in results] == ["ok", "budget_denied"]
    assert wf.result is not None and wf.result.status == "budget_denied"
    assert (wf.result.reason or "").startswith("writer:")
    state = await runtime.budget.state(BudgetSubject(run_id=wf.run_id))
    assert next(lim for lim in state.limits if lim.scope == "run").used == client_total(clients["researcher"])


async def test_concurrent_workflow_attributes_each_agent(make_runtime: Any) -> None:
    runtime = make_runtime()
    results: list[RunResult] = []
    clients = {n: ScriptedChatClient(model=f"model-{n}") for n in ("oslo", "paris", "lisbon")}
    mw = llmops_middleware(runtime, on_result=results.append)
    agents = [Agent(client=c, name=n, instructions="Report the weather.", tools=[get_weather], middleware=mw)
              for n, c in clients.items()]

    async with workflow_run("fan-out", runtime=runtime) as wf:
        await ConcurrentBuilder(participants=agents).build().run("What's the weather in Paris?")

    assert wf.result is not None and wf.result.status == "ok"
    assert sorted(r.agent for r in results) == sorted(clients)
    for name, client in clients.items():
        assert wf.result.per_agent[name].usage.total_tokens == client_total(client)
    records = await audit_records(runtime)
    assert len(records) == len(clients) + 1


async def test_handoff_workflow_governs_every_participant(make_runtime: Any) -> None:
    from collections.abc import Mapping, Sequence

    from agent_framework import Message
    from agent_framework.orchestrations import HandoffBuilder

    from llmops_kit_agent_framework.testing import ScriptedTurn

    def triage_responder(messages: Sequence[Message], options: Mapping[str, Any]) -> ScriptedTurn:
        handoff = next(t.name for t in options.get("tools") or [] if t.name.startswith("handoff_to_"))
        return ScriptedTurn(tool_name=handoff)

    runtime = make_runtime()
    results: list[RunResult] = []
    mw = llmops_middleware(runtime, on_result=results.append)
    clients = {"triage": ScriptedChatClient(responder=triage_responder), "weather": ScriptedChatClient()}
    triage = Agent(client=clients["triage"], name="triage", instructions="Route the user.", middleware=mw,
                   require_per_service_call_history_persistence=True)
    weather = Agent(client=clients["weather"], name="weather", instructions="Answer weather questions.",
                    tools=[get_weather], middleware=mw, require_per_service_call_history_persistence=True)
    workflow = (HandoffBuilder(participants=[triage, weather],
                               termination_condition=lambda msgs: any(m.role == "assistant" and "tool said" in
                                                                      (m.text or "") for m in msgs))
                .with_start_agent(triage).with_autonomous_mode().build())

    async with workflow_run("support", runtime=runtime) as wf:
        await workflow.run("What's the weather in Paris?")

    assert wf.result is not None and wf.result.status == "ok"
    assert [r.agent for r in results][:2] == ["triage", "weather"]
    assert [t["name"] for t in results[0].tool_calls] == ["handoff_to_weather"]  # function middleware kept
    for name, client in clients.items():
        assert wf.result.per_agent[name].usage.total_tokens == client_total(client)
