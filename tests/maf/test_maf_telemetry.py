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

EXPECTED_TREE = [  # MAF's spans only: a run that reaches MAF gets no span of ours
    (0, "invoke_agent weather"),
    (1, "chat scripted-model-1"),
    (1, "execute_tool get_weather"),
    (1, "chat scripted-model-1"),
]


@pytest.mark.parametrize("stream", [False, True], ids=["sync", "stream"])
async def test_span_tree_is_mafs_with_the_decisions_on_invoke_agent(make_runtime: Any, spans: Any, telemetry: Any,
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
    assert {s.instrumentation_scope.name for s in finished} == {"agent_framework"}
    invoke = next(s for s in finished if s.name == "invoke_agent weather")
    # exactly one span per run carries the outcome: dashboards, report and tail sampler count runs by it
    assert [s.name for s in finished if sc.LLMOPS_RUN_STATUS in s.attributes] == ["invoke_agent weather"]
    result = results[0]
    assert invoke.attributes[sc.LLMOPS_RUN_ID] == result.run_id
    assert invoke.attributes[sc.LLMOPS_RUN_STATUS] == "ok"
    assert invoke.attributes[sc.LLMOPS_SAFETY_INPUT_ACTION] == "allow"
    assert invoke.attributes[sc.LLMOPS_SAFETY_ANALYZER] == result.safety[0].analyzer
    assert invoke.attributes[sc.LLMOPS_SAFETY_OUTPUT_ACTION] == "allow"
    assert invoke.attributes[sc.LLMOPS_COST_USD] == pytest.approx(result.cost_usd)
    assert result.trace_id == format(invoke.context.trace_id, "032x")
    # MAF's spans carry the tokens (run total on invoke_agent, per call on chat): no events repeat them
    assert invoke.attributes["gen_ai.usage.input_tokens"] == result.usage.input_tokens
    chats = [s for s in finished if s.name.startswith("chat ")]
    assert [c.attributes["gen_ai.usage.input_tokens"] for c in chats] == [
        c.usage["input_token_count"] for c in client.calls]
    assert not [e for s in finished for e in s.events if e.name == sc.EVENT_MODEL_CALL]
    if stream:  # completed while MAF's span was open: time to first chunk and the audit location too
        assert invoke.attributes[sc.GEN_AI_RESPONSE_TTFC] == pytest.approx(result.ttft_ms / 1000)
        assert invoke.attributes[sc.LLMOPS_AUDIT_LOCATION] == result.audit.location
    # evaluator scores: gen_ai.evaluation.result log events parented to invoke_agent, one per evaluator;
    # a composite's parts ride on its event as llmops.evaluation.part.*
    assert result.evaluations and all(e.score is not None for e in result.evaluations)
    evaluators = [e for e in result.evaluations if e.part_of is None]
    parts = [e for e in result.evaluations if e.part_of is not None]
    assert parts and all(p.part_of == "heuristic_quality" for p in parts)
    logs = [r.log_record for r in telemetry.log_exporter.get_finished_logs()
            if r.log_record.event_name == sc.EVENT_EVALUATION_RESULT]
    assert sorted(log.attributes[sc.GEN_AI_EVALUATION_NAME] for log in logs) == sorted(e.name for e in evaluators)
    assert {log.span_id for log in logs} == {invoke.context.span_id}
    assert {log.trace_id for log in logs} == {invoke.context.trace_id}
    quality = next(log for log in logs if log.attributes[sc.GEN_AI_EVALUATION_NAME] == "heuristic_quality")
    assert {p.name: p.score for p in parts} == {
        k.removeprefix(sc.LLMOPS_EVAL_PART_PREFIX): v for k, v in quality.attributes.items()
        if k.startswith(sc.LLMOPS_EVAL_PART_PREFIX)}


@pytest.mark.parametrize("stream", [False, True], ids=["sync", "stream"])
async def test_the_run_stays_under_the_callers_span(make_runtime: Any, spans: Any, stream: bool) -> None:
    runtime = make_runtime()
    agent = Agent(client=ScriptedChatClient(), name="weather", instructions=INSTRUCTIONS, tools=[get_weather],
                  middleware=llmops_middleware(runtime))

    with runtime.telemetry.tracer.start_as_current_span("handle_request") as request:
        await run_agent(agent, "What's the weather in Oslo?", stream)

    finished = spans.get_finished_spans()
    assert span_tree(finished) == [(0, "handle_request"), *((d + 1, n) for d, n in EXPECTED_TREE)]
    invoke = next(s for s in finished if s.name == "invoke_agent weather")
    assert invoke.parent.span_id == request.get_span_context().span_id


@pytest.mark.parametrize("stream", [False, True], ids=["sync", "stream"])
async def test_an_evaluation_gate_is_decided_inside_invoke_agent(make_runtime: Any, spans: Any, telemetry: Any,
                                                                 stream: bool) -> None:
    """With ``stream=False`` MAF ends its span before the agent middleware resumes, so the answer
    is scored at the last model call: the gate's verdict is on ``invoke_agent`` in both modes, and
    the answer is scored once."""
    from llmops_kit.evaluation.base import EvalResult

    class AlwaysFails:
        name = "always_fails"

        async def evaluate(self, query: str, response: str, context: Any = None) -> EvalResult:
            return EvalResult(self.name, 0.0, passed=False)

    runtime = make_runtime(evaluators=[AlwaysFails()], evaluation_gate=True)
    results: list[RunResult] = []
    agent = Agent(client=ScriptedChatClient(), name="weather", instructions=INSTRUCTIONS, tools=[get_weather],
                  middleware=llmops_middleware(runtime, on_result=results.append))

    response = await run_agent(agent, "What's the weather in Oslo?", stream)

    assert results[0].status == "blocked_output"
    assert "Oslo" not in response.text
    invoke = next(s for s in spans.get_finished_spans() if s.name == "invoke_agent weather")
    assert invoke.attributes[sc.LLMOPS_RUN_STATUS] == "blocked_output"
    assert invoke.attributes[sc.LLMOPS_RUN_REASON] == "evaluation_gate: always_fails"
    blocked = [e for e in invoke.events if e.name == sc.EVENT_GUARDRAIL_DECISION]
    assert [(e.attributes[sc.LLMOPS_GUARDRAIL_STAGE], e.attributes[sc.LLMOPS_GUARDRAIL_ACTION])
            for e in blocked] == [("output", "block")]
    logs = [r.log_record for r in telemetry.log_exporter.get_finished_logs()
            if r.log_record.event_name == sc.EVENT_EVALUATION_RESULT]
    assert [(log.attributes[sc.GEN_AI_EVALUATION_NAME], log.span_id) for log in logs] == [
        ("always_fails", invoke.context.span_id)]


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
    assert span_tree(finished) == [(0, "invoke_agent weather")]
    invoke = finished[0]
    assert invoke.attributes[sc.LLMOPS_RUN_STATUS] == "budget_denied"
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


@pytest.mark.parametrize(("stream", "check_output"), [(False, None), (True, None), (True, False)],
                         ids=["sync", "stream", "stream-unbuffered"])
async def test_time_to_first_chunk_is_recorded_per_streamed_model_call(
    make_runtime: Any, telemetry: Any, stream: bool, check_output: bool | None
) -> None:
    """Timed once per run's stream, never per model call's stream: by an update transform when the
    stream is buffered for the output check, by the pull context manager otherwise. One point per
    streamed call, each no longer than the run's own time to first token; none when not streamed."""
    results: list[RunResult] = []
    agent, client = weather_agent(make_runtime(), results, check_output=check_output)

    await run_agent(agent, "What's the weather in Oslo?", stream)

    points = telemetry.metric_points(sc.METRIC_TTFC)
    if not stream:
        assert points == []
        return
    [point] = points  # one series: same model, provider and agent
    assert point.count == len(client.calls) == 2
    assert point.sum > 0 and point.max * 1000 <= results[0].latency_ms


@pytest.mark.parametrize("stream", [False, True], ids=["sync", "stream"])
async def test_a_run_without_a_maf_span_to_write_on_gets_our_span(make_runtime: Any, spans: Any,
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  stream: bool) -> None:
    """When MAF's ``invoke_agent`` cannot be taken (its tracer is not recording, or the agent has
    no MAF telemetry layer), the run still gets exactly one span with its outcome: ours, opened at
    completion with the run's start time."""
    from llmops_kit_agent_framework import invoke_span

    monkeypatch.setattr(invoke_span, "capture", lambda state, current: None)
    runtime = make_runtime()
    results: list[RunResult] = []
    agent = Agent(client=ScriptedChatClient(), name="weather", instructions=INSTRUCTIONS, tools=[get_weather],
                  middleware=llmops_middleware(runtime, on_result=results.append))

    await run_agent(agent, "What's the weather in Oslo?", stream)

    finished = spans.get_finished_spans()
    carriers = [s for s in finished if sc.LLMOPS_RUN_STATUS in s.attributes]
    assert [s.name for s in carriers] == ["llmops.governed_run weather"]
    ours, result = carriers[0], results[0]
    invoke = next(s for s in finished if s.name == "invoke_agent weather")
    assert ours.attributes[sc.LLMOPS_RUN_STATUS] == "ok"
    assert ours.attributes[sc.LLMOPS_RUN_ID] == result.run_id
    assert ours.attributes[sc.LLMOPS_SAFETY_INPUT_ACTION] == "allow"
    assert ours.attributes[sc.LLMOPS_COST_USD] == pytest.approx(result.cost_usd)
    assert ours.start_time <= invoke.start_time  # it starts when the run started
    assert result.trace_id == format(ours.context.trace_id, "032x")
    assert sc.LLMOPS_RUN_ID not in invoke.attributes  # nothing was written on the span not taken
