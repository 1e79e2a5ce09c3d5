"""Our telemetry joins MAF's spans: exact tree, one trace, no duplicate GenAI spans, decisions on them."""

from __future__ import annotations

from typing import Any

import pytest
from agent_framework import Agent
from agent_framework.observability import OBSERVABILITY_SETTINGS
from tests.maf.conftest import span_tree
from tests.maf.test_maf_agent_runs import INSTRUCTIONS, run_agent, weather_agent

from llmops_kit.results import RunResult
from llmops_kit.telemetry import semconv as sc
from llmops_kit_agent_framework import llmops_middleware
from llmops_kit_agent_framework.testing import ScriptedChatClient, get_weather

EXPECTED_TREE = [
    (0, "llmops.governed_run weather"),
    (1, "invoke_agent weather"),
    (2, "chat scripted-model-1"),
    (2, "execute_tool get_weather"),
    (2, "chat scripted-model-1"),
]


@pytest.mark.parametrize("stream", [False, True], ids=["sync", "stream"])
async def test_span_tree_is_mafs_plus_one_run_span(make_runtime: Any, spans: Any, telemetry: Any,
                                                   stream: bool) -> None:
    runtime = make_runtime()
    results: list[RunResult] = []
    client = ScriptedChatClient()
    agent = Agent(client=client, name="weather", instructions=INSTRUCTIONS, tools=[get_weather],
                  middleware=llmops_middleware(runtime, on_result=results.append))

    await run_agent(agent, "What's the weather in Oslo?", stream)

    finished = spans.get_finished_spans()
    assert span_tree(finished) == EXPECTED_TREE
    assert len({s.context.trace_id for s in finished}) == 1  # one trace per run
    by_name = {s.name: s for s in finished}
    run_span = by_name["llmops.governed_run weather"]
    invoke = by_name["invoke_agent weather"]
    assert run_span.instrumentation_scope.name == sc.INSTRUMENTATION_SCOPE
    assert {s.instrumentation_scope.name for s in finished if s is not run_span} == {"agent_framework"}
    result = results[0]
    assert run_span.attributes[sc.LLMOPS_RUN_ID] == result.run_id
    assert run_span.attributes[sc.LLMOPS_RUN_STATUS] == "ok"
    assert run_span.attributes[sc.LLMOPS_SAFETY_INPUT_ACTION] == "allow"
    assert run_span.attributes[sc.LLMOPS_SAFETY_OUTPUT_ACTION] == "allow"
    assert run_span.attributes[sc.LLMOPS_COST_USD] == pytest.approx(result.cost_usd)
    assert result.trace_id == format(run_span.context.trace_id, "032x")
    # MAF's invoke_agent carries the run total; our per-call events sit on it
    assert invoke.attributes["gen_ai.usage.input_tokens"] == result.usage.input_tokens
    calls = [e for e in invoke.events if e.name == sc.EVENT_MODEL_CALL]
    assert [e.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] for e in calls] == [
        c.usage["input_token_count"] for c in client.calls
    ]
    assert sum(e.attributes[sc.LLMOPS_COST_MICRO_USD] for e in calls) == round(result.cost_usd * 1e6)
    # the run span lasts the whole run, also when streamed (ended from the stream's result hook)
    assert run_span.end_time >= invoke.end_time
    # evaluator scores: span events on our run span + gen_ai.evaluation.result log events parented to it
    assert result.evaluations and all(e.score is not None for e in result.evaluations)
    # one event per evaluator; a composite's parts ride on its event as llmops.evaluation.part.*
    evaluators = [e for e in result.evaluations if e.part_of is None]
    parts = [e for e in result.evaluations if e.part_of is not None]
    assert parts and all(p.part_of == "heuristic_quality" for p in parts)
    span_events = [e for e in run_span.events if e.name == sc.EVENT_EVALUATION_RESULT]
    assert sorted(e.attributes[sc.GEN_AI_EVALUATION_NAME] for e in span_events) == sorted(
        e.name for e in evaluators)
    quality = next(e for e in span_events if e.attributes[sc.GEN_AI_EVALUATION_NAME] == "heuristic_quality")
    assert {p.name: p.score for p in parts} == {
        k.removeprefix(sc.LLMOPS_EVAL_PART_PREFIX): v for k, v in quality.attributes.items()
        if k.startswith(sc.LLMOPS_EVAL_PART_PREFIX)}
    logs = [r.log_record for r in telemetry.log_exporter.get_finished_logs()
            if r.log_record.event_name == sc.EVENT_EVALUATION_RESULT]
    assert len(logs) == len(evaluators)
    assert {log.span_id for log in logs} == {run_span.context.span_id}


async def test_blocked_input_has_only_our_span_with_the_decision(make_runtime: Any, spans: Any) -> None:
    runtime = make_runtime()
    agent = Agent(client=ScriptedChatClient(), name="weather", instructions=INSTRUCTIONS, tools=[get_weather],
                  middleware=llmops_middleware(runtime))

    await agent.run("How do I build a bomb at home?")

    finished = spans.get_finished_spans()
    assert span_tree(finished) == [(0, "llmops.governed_run weather")]
    events = [e for e in finished[0].events if e.name == sc.EVENT_GUARDRAIL_DECISION]
    assert events and events[0].attributes[sc.LLMOPS_GUARDRAIL_ACTION] == "block"
    assert finished[0].attributes[sc.LLMOPS_RUN_STATUS] == "blocked_input"


async def test_budget_denial_is_an_event_on_invoke_agent(make_runtime: Any, spans: Any) -> None:
    from llmops_kit.budget.policy import BudgetLimit

    runtime = make_runtime(limits=[BudgetLimit("run", "run", "total_tokens", 5)])
    agent = Agent(client=ScriptedChatClient(), name="weather", instructions=INSTRUCTIONS, tools=[get_weather],
                  middleware=llmops_middleware(runtime))

    await agent.run("What's the weather in Oslo?")

    finished = spans.get_finished_spans()
    assert span_tree(finished) == [(0, "llmops.governed_run weather"), (1, "invoke_agent weather")]
    invoke = next(s for s in finished if s.name == "invoke_agent weather")
    decision = next(e for e in invoke.events if e.name == sc.EVENT_GUARDRAIL_DECISION)
    assert decision.attributes[sc.LLMOPS_GUARDRAIL_KIND] == "budget"
    assert decision.attributes[sc.LLMOPS_GUARDRAIL_STAGE] == "model_call"


async def test_instrumentation_switched_off_means_no_spans_but_full_governance(
    make_runtime: Any, spans: Any
) -> None:
    runtime = make_runtime()
    results: list[RunResult] = []
    agent = Agent(client=ScriptedChatClient(), name="weather", instructions=INSTRUCTIONS, tools=[get_weather],
                  middleware=llmops_middleware(runtime, on_result=results.append))
    previous = OBSERVABILITY_SETTINGS.enable_instrumentation
    OBSERVABILITY_SETTINGS.enable_instrumentation = False  # what ENABLE_INSTRUMENTATION=false sets
    try:
        await agent.run("What's the weather in Oslo?")
    finally:
        OBSERVABILITY_SETTINGS.enable_instrumentation = previous

    assert spans.get_finished_spans() == ()
    assert results[0].status == "ok" and results[0].audit is not None
    assert results[0].usage.total_tokens > 0


async def test_cost_and_guardrail_metrics_are_recorded(make_runtime: Any, telemetry: Any) -> None:
    runtime = make_runtime()
    results: list[RunResult] = []
    agent = Agent(client=ScriptedChatClient(), name="weather", instructions=INSTRUCTIONS, tools=[get_weather],
                  middleware=llmops_middleware(runtime, on_result=results.append))

    await agent.run("What's the weather in Oslo?")

    cost = sum(p.value for p in telemetry.metric_points(sc.METRIC_COST))
    assert cost == pytest.approx(results[0].cost_usd)
    decisions = {(p.attributes[sc.LLMOPS_GUARDRAIL_STAGE], p.attributes[sc.LLMOPS_GUARDRAIL_KIND]): p.value
                 for p in telemetry.metric_points(sc.METRIC_GUARDRAIL_DECISIONS)}
    assert decisions[("input", "safety")] == 1
    assert decisions[("output", "safety")] == 1
    assert decisions[("model_call", "budget")] == 2
    runs = telemetry.metric_points(sc.METRIC_RUNS)
    assert [(p.attributes[sc.LLMOPS_RUN_STATUS], p.value) for p in runs] == [("ok", 1)]


@pytest.mark.parametrize("stream", [False, True], ids=["sync", "stream"])
async def test_time_to_first_chunk_is_recorded_per_streamed_model_call(
    make_runtime: Any, telemetry: Any, stream: bool
) -> None:
    """Timed by the agent's update hook (no transform hook per model call): one point per
    streamed call, each no longer than the run's own time to first token; none when not streamed."""
    results: list[RunResult] = []
    agent, client = weather_agent(make_runtime(), results)

    await run_agent(agent, "What's the weather in Oslo?", stream)

    points = telemetry.metric_points(sc.METRIC_TTFC)
    if not stream:
        assert points == []
        return
    [point] = points  # one series: same model, provider and agent
    assert point.count == len(client.calls) == 2
    assert point.sum > 0 and point.max * 1000 <= results[0].latency_ms
