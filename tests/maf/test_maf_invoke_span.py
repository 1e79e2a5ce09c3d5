"""The run's outcome sits on MAF's own ``invoke_agent`` span (what Azure's agent views key on).

Exact attribute values against the run's ``RunResult``, both modes; still no duplicate GenAI
span and one trace per run.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from agent_framework import Agent
from tests.maf.conftest import span_tree
from tests.maf.test_maf_agent_runs import INSTRUCTIONS, run_agent, violent_responder
from tests.maf.test_maf_guardrails import make_delete_tool
from tests.maf.test_maf_telemetry import EXPECTED_TREE

from llmops_kit.agent import RunContext
from llmops_kit.budget.policy import BudgetLimit
from llmops_kit.results import RunResult
from llmops_kit.telemetry import semconv as sc
from llmops_kit_agent_framework import ToolDeniedError, ToolPolicy, invoke_span, llmops_middleware, run_as
from llmops_kit_agent_framework.state import RunState
from llmops_kit_agent_framework.testing import ScriptedChatClient, get_weather

OUTCOME_KEYS = {sc.LLMOPS_RUN_STATUS, sc.LLMOPS_RUN_REASON, sc.LLMOPS_COST_USD, sc.LLMOPS_BUDGET_DECISION,
                sc.LLMOPS_SAFETY_INPUT_ACTION, sc.LLMOPS_SAFETY_OUTPUT_ACTION}


def invoke_span_of(finished: Any) -> Any:
    matches = [s for s in finished if s.name.startswith("invoke_agent ")]
    assert len(matches) == 1
    return matches[0]


def genai_operations(finished: Any) -> Counter[str]:
    return Counter(str(s.attributes.get("gen_ai.operation.name")) for s in finished
                   if "gen_ai.operation.name" in s.attributes)


def weather(runtime: Any, results: list[RunResult], client: ScriptedChatClient | None = None) -> Agent:
    return Agent(client=client or ScriptedChatClient(), name="weather", instructions=INSTRUCTIONS,
                 tools=[get_weather], middleware=llmops_middleware(runtime, on_result=results.append))


@pytest.mark.parametrize("stream", [False, True], ids=["sync", "stream"])
async def test_invoke_agent_carries_the_run_outcome(make_runtime: Any, spans: Any, stream: bool) -> None:
    runtime = make_runtime(limits=[BudgetLimit("tenant", "day", "total_tokens", 100_000)])
    results: list[RunResult] = []
    agent = weather(runtime, results)

    with run_as(user_id="u-7", tenant_id="contoso", session_id="s-1"):
        await run_agent(agent, "What's the weather in Oslo?", stream)

    finished = spans.get_finished_spans()
    assert span_tree(finished) == EXPECTED_TREE
    assert genai_operations(finished) == {"invoke_agent": 1, "chat": 2, "execute_tool": 1}  # MAF's only
    assert len({s.context.trace_id for s in finished}) == 1
    result = results[0]
    invoke = invoke_span_of(finished)
    expected = {
        sc.LLMOPS_RUN_ID: result.run_id,
        sc.LLMOPS_TENANT_ID: "contoso",
        sc.LLMOPS_USER_ID: "u-7",
        sc.LLMOPS_SESSION_ID: "s-1",
        sc.LLMOPS_RUN_STATUS: "ok",
        sc.LLMOPS_COST_USD: round(result.cost_usd, 6),
        sc.LLMOPS_SAFETY_INPUT_ACTION: "allow",
        sc.LLMOPS_SAFETY_OUTPUT_ACTION: "allow",
        sc.LLMOPS_BUDGET_DECISION: "granted",
    }
    assert {k: invoke.attributes.get(k) for k in expected} == expected
    assert sc.LLMOPS_RUN_REASON not in invoke.attributes
    assert result.cost_usd > 0
    if stream:  # completed while MAF's span was open: the closing budget state and audit are there too
        assert invoke.attributes[sc.LLMOPS_AUDIT_LOCATION] == result.audit.location
        assert invoke.attributes[sc.LLMOPS_BUDGET_REMAINING] == min(lim.remaining for lim in result.budget.limits)


@pytest.mark.parametrize("stream", [False, True], ids=["sync", "stream"])
async def test_blocked_output_is_on_invoke_agent(make_runtime: Any, spans: Any, telemetry: Any,
                                                 stream: bool) -> None:
    runtime = make_runtime()
    results: list[RunResult] = []
    agent = weather(runtime, results, ScriptedChatClient(responder=violent_responder))

    await run_agent(agent, "What's the weather in Oslo?", stream)

    result = results[0]
    assert result.status == "blocked_output"
    finished = spans.get_finished_spans()
    assert span_tree(finished) == EXPECTED_TREE
    assert genai_operations(finished) == {"invoke_agent": 1, "chat": 2, "execute_tool": 1}
    assert len({s.context.trace_id for s in finished}) == 1
    invoke = invoke_span_of(finished)
    assert {k: invoke.attributes.get(k) for k in OUTCOME_KEYS} == {
        sc.LLMOPS_RUN_STATUS: "blocked_output",
        sc.LLMOPS_RUN_REASON: result.reason,
        sc.LLMOPS_COST_USD: round(result.cost_usd, 6),
        sc.LLMOPS_BUDGET_DECISION: "granted",
        sc.LLMOPS_SAFETY_INPUT_ACTION: "allow",
        sc.LLMOPS_SAFETY_OUTPUT_ACTION: "block",
    }
    assert invoke.attributes[sc.LLMOPS_RUN_ID] == result.run_id
    output_verdict = next(v for v in result.safety if v.stage == "output")
    assert invoke.attributes[sc.LLMOPS_SAFETY_REASON] == output_verdict.reason
    blocked = [e.attributes for e in invoke.events if e.name == sc.EVENT_GUARDRAIL_DECISION]
    assert blocked == [{sc.LLMOPS_GUARDRAIL_STAGE: "output", sc.LLMOPS_GUARDRAIL_ACTION: "block",
                        sc.LLMOPS_RUN_REASON: result.reason}]
    # the answer was judged once, not once inside MAF's span and again after it
    output_checks = [p.value for p in telemetry.metric_points(sc.METRIC_GUARDRAIL_DECISIONS)
                     if p.attributes[sc.LLMOPS_GUARDRAIL_STAGE] == "output"]
    assert output_checks == [1]


@pytest.mark.parametrize("stream", [False, True], ids=["sync", "stream"])
async def test_budget_denial_is_on_invoke_agent(make_runtime: Any, spans: Any, stream: bool) -> None:
    runtime = make_runtime(limits=[BudgetLimit("run", "run", "total_tokens", 5)])
    results: list[RunResult] = []
    agent = weather(runtime, results)

    await run_agent(agent, "What's the weather in Oslo?", stream)

    result = results[0]
    assert result.status == "budget_denied"
    invoke = invoke_span_of(spans.get_finished_spans())
    assert invoke.attributes[sc.LLMOPS_RUN_STATUS] == "budget_denied"
    assert invoke.attributes[sc.LLMOPS_RUN_REASON] == result.reason
    assert invoke.attributes[sc.LLMOPS_BUDGET_DECISION] == "denied"
    assert invoke.attributes[sc.LLMOPS_COST_USD] == 0.0  # the only model call was refused
    assert result.cost_usd == 0.0


@pytest.mark.parametrize("stream", [False, True], ids=["sync", "stream"])
async def test_denied_tool_is_on_invoke_agent(make_runtime: Any, spans: Any, stream: bool) -> None:
    runtime = make_runtime()
    results: list[RunResult] = []
    agent = Agent(client=ScriptedChatClient(), name="ops", instructions="You run maintenance.",
                  tools=[make_delete_tool([])],
                  middleware=llmops_middleware(runtime, on_result=results.append,
                                               tool_policy=ToolPolicy.of(deny={"delete_records"})))

    with pytest.raises(ToolDeniedError):
        await run_agent(agent, "Wipe the Customers table", stream)

    result = results[0]
    invoke = invoke_span_of(spans.get_finished_spans())
    assert invoke.attributes[sc.LLMOPS_RUN_STATUS] == "error"
    assert invoke.attributes[sc.LLMOPS_RUN_REASON] == result.reason
    assert result.reason.startswith("tool_denied: delete_records")
    assert invoke.attributes[sc.LLMOPS_COST_USD] == round(result.cost_usd, 6)


def test_capture_takes_only_mafs_invoke_agent_span(make_runtime: Any, spans: Any) -> None:
    """A run whose current span is ours, or some other span (an agent without MAF's telemetry
    layer), gets nothing written: only a span named ``invoke_agent ...`` is taken."""
    tracer = make_runtime().telemetry.tracer
    with tracer.start_as_current_span("llmops.governed_run a") as ours:
        state = RunState(ctx=RunContext(run_id="r1", agent_name="a"), query="q", started_at=0.0, span=ours)
        invoke_span.capture(state, ours)
        with tracer.start_as_current_span("chat other-model") as foreign:
            invoke_span.capture(state, foreign)
        assert state.maf_span is None
        with tracer.start_as_current_span("invoke_agent a") as maf_like:
            invoke_span.capture(state, maf_like)
            assert state.maf_span is maf_like
    by_name = {s.name: s for s in spans.get_finished_spans()}
    assert sc.LLMOPS_RUN_ID not in by_name["chat other-model"].attributes
    assert sc.LLMOPS_RUN_ID not in by_name["llmops.governed_run a"].attributes
    assert by_name["invoke_agent a"].attributes[sc.LLMOPS_RUN_ID] == "r1"
