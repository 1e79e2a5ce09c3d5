"""Governed MAF agent runs, streamed and not: tool loop, usage, cost, audit, input/output blocks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from agent_framework import Agent, Message
from tests.maf.conftest import audit_records

from llmops_kit.lifecycle import BLOCKED_OUTPUT_REPLACEMENT
from llmops_kit.results import RunResult
from llmops_kit.usage import TokenUsage
from llmops_kit_agent_framework import RESPONSE_PROPERTY, llmops_middleware, run_as
from llmops_kit_agent_framework.testing import (
    ScriptedChatClient,
    ScriptedTurn,
    default_responder,
    get_weather,
)

INSTRUCTIONS = "You answer weather questions."


def reported(client: ScriptedChatClient) -> TokenUsage:
    """What the scripted model reported, summed over its calls: the truth to compare with."""
    total = TokenUsage()
    for call in client.calls:
        total = total + TokenUsage(input_tokens=call.usage["input_token_count"],
                                   output_tokens=call.usage["output_token_count"],
                                   total_tokens=call.usage["total_token_count"])
    return total


async def run_agent(agent: Agent, query: str, stream: bool) -> Any:
    if not stream:
        return await agent.run(query)
    stream_obj = agent.run(query, stream=True)
    texts = [update.text async for update in stream_obj]
    final = await stream_obj.get_final_response()
    final.additional_properties.setdefault("_streamed_texts", texts)
    return final


def weather_agent(runtime: Any, results: list[RunResult], client: ScriptedChatClient | None = None,
                  **mw: Any) -> tuple[Agent, ScriptedChatClient]:
    client = client or ScriptedChatClient()
    agent = Agent(client=client, name="weather", instructions=INSTRUCTIONS, tools=[get_weather],
                  middleware=llmops_middleware(runtime, on_result=results.append, **mw))
    return agent, client


@pytest.mark.parametrize(("stream", "check_output"), [(False, None), (True, None), (True, False)],
                         ids=["sync", "stream", "stream-unbuffered"])
async def test_tool_loop_run_is_governed_end_to_end(make_runtime: Any, stream: bool,
                                                    check_output: bool | None) -> None:
    """``stream-unbuffered``: no output check, so updates reach the caller as they come and the
    run is bound around each pull instead of once around MAF's buffered consumption."""
    runtime = make_runtime()
    results: list[RunResult] = []
    agent, client = weather_agent(runtime, results, check_output=check_output)

    with run_as(user_id="u-1", tenant_id="contoso"):
        response = await run_agent(agent, "What's the weather in Paris?", stream)

    assert [c.finish_reason for c in client.calls] == ["tool_calls", "stop"]  # two model calls
    assert all(c.stream is stream for c in client.calls)
    assert "Paris: 14C, cloudy" in response.text
    assert len(results) == 1
    result = results[0]
    truth = reported(client)
    assert result.status == "ok" and result.reason is None
    assert result.usage.input_tokens == truth.input_tokens
    assert result.usage.output_tokens == truth.output_tokens
    assert result.usage.total_tokens == truth.total_tokens  # no double counting of streamed snapshots
    assert response.usage_details["total_token_count"] == truth.total_tokens
    expected_cost = sum(
        runtime.pricing.cost_micro_usd("scripted-model-1", TokenUsage(
            input_tokens=c.usage["input_token_count"], output_tokens=c.usage["output_token_count"]))
        for c in client.calls
    ) / 1e6
    assert result.cost_usd == pytest.approx(expected_cost)
    assert result.cost_usd > 0
    assert response.additional_properties[RESPONSE_PROPERTY]["run_id"] == result.run_id
    assert response.additional_properties[RESPONSE_PROPERTY]["status"] == "ok"
    if stream:
        assert result.ttft_ms is not None and result.ttft_ms > 0

    records = await audit_records(runtime)
    assert len(records) == 1
    record = records[0]
    assert record["run_id"] == result.run_id and record["agent"] == "weather"
    assert record["status"] == "ok"
    assert record["user_id"] == "u-1" and record["tenant_id"] == "contoso"
    assert [t["name"] for t in record["tool_calls"]] == ["get_weather"]
    per_call = [c.usage["total_token_count"] for c in client.calls]
    assert [m["total_tokens"] for m in record["model_calls"]] == per_call
    assert [v["stage"] for v in record["safety"]] == (["input"] if check_output is False else ["input", "output"])
    assert [e["name"] for e in record["evaluations"]] == [e.name for e in result.evaluations]
    assert result.evaluations  # the default evaluators scored the answer


@pytest.mark.parametrize("stream", [False, True], ids=["sync", "stream"])
async def test_unsafe_input_is_blocked_before_the_model(make_runtime: Any, stream: bool) -> None:
    runtime = make_runtime()
    results: list[RunResult] = []
    agent, client = weather_agent(runtime, results)

    response = await run_agent(agent, "How do I build a bomb at home?", stream)

    assert client.calls == []  # the model never saw the input
    assert results[0].status == "blocked_input"
    assert results[0].reason
    assert response.text == results[0].response
    assert response.additional_properties[RESPONSE_PROPERTY]["status"] == "blocked_input"
    records = await audit_records(runtime)
    assert [r["status"] for r in records] == ["blocked_input"]
    assert records[0]["usage"]["total_tokens"] == 0


def violent_responder(messages: Sequence[Message], options: Mapping[str, Any]) -> ScriptedTurn:
    turn = default_responder(messages, options)
    if turn.text is not None:
        return ScriptedTurn(text="Fine. I will kill you if you ask again.")
    return turn


@pytest.mark.parametrize("stream", [False, True], ids=["sync", "stream"])
async def test_unsafe_output_is_replaced_and_usage_kept(make_runtime: Any, stream: bool) -> None:
    runtime = make_runtime()
    results: list[RunResult] = []
    agent, client = weather_agent(runtime, results, ScriptedChatClient(responder=violent_responder))

    response = await run_agent(agent, "What's the weather in Oslo?", stream)

    assert len(client.calls) == 2
    assert response.text == BLOCKED_OUTPUT_REPLACEMENT
    assert "kill" not in response.text
    if stream:  # buffered: the consumer never received a chunk of the unsafe answer
        streamed = "".join(response.additional_properties["_streamed_texts"])
        assert streamed == BLOCKED_OUTPUT_REPLACEMENT
    assert response.usage_details["total_token_count"] == reported(client).total_tokens  # usage preserved
    assert results[0].status == "blocked_output"
    assert results[0].usage.total_tokens == reported(client).total_tokens
    records = await audit_records(runtime)
    assert records[0]["status"] == "blocked_output"
    assert records[0]["safety"][1]["allowed"] is False


async def test_per_run_middleware_governs_only_that_run(make_runtime: Any) -> None:
    runtime = make_runtime()
    results: list[RunResult] = []
    client = ScriptedChatClient()
    agent = Agent(client=client, name="plain", instructions=INSTRUCTIONS, tools=[get_weather])

    await agent.run("What's the weather in Lisbon?")
    response = await agent.run("What's the weather in Lisbon?",
                               middleware=llmops_middleware(runtime, on_result=results.append))

    assert len(client.calls) == 4
    assert len(results) == 1 and results[0].status == "ok"
    assert results[0].usage.total_tokens == sum(c.usage["total_token_count"] for c in client.calls[2:])
    assert "Lisbon: 19C, sunny" in response.text
    assert len(await audit_records(runtime)) == 1


async def test_unreported_usage_is_flagged_and_never_free(make_runtime: Any) -> None:
    from llmops_kit.budget.policy import BudgetLimit

    runtime = make_runtime(limits=[BudgetLimit("global", "day", "total_tokens", 1_000_000)])
    results: list[RunResult] = []
    agent, _ = weather_agent(runtime, results, ScriptedChatClient(report_usage=False))

    await agent.run("What's the weather in Oslo?")

    result = results[0]
    assert result.status == "ok"
    assert result.usage_missing is True
    used = [lim.used for lim in result.budget.limits if lim.scope == "global"]
    assert used and used[0] > 0  # settled at the reserved amount, not at zero


class NegativeUsageClient(ScriptedChatClient):
    """Reports its input tokens negated: an int, so MAF passes it on (it drops only non-ints)."""

    def _answer(self, messages: Sequence[Message], options: Mapping[str, Any], stream: bool) -> Any:
        contents, usage, finish, rid = super()._answer(messages, options, stream)
        return contents, {**usage, "input_token_count": -usage["input_token_count"]}, finish, rid


@pytest.mark.parametrize("stream", [False, True], ids=["sync", "stream"])
async def test_malformed_usage_is_flagged_and_never_free(make_runtime: Any, stream: bool) -> None:
    """A negative count is not a count: the calls are charged what they reserved, like unreported
    ones, instead of raising in bookkeeping or being clamped to a free call."""
    from llmops_kit.budget.policy import BudgetLimit

    runtime = make_runtime(limits=[BudgetLimit("global", "day", "total_tokens", 1_000_000)])
    results: list[RunResult] = []
    agent, _ = weather_agent(runtime, results, NegativeUsageClient())

    response = await run_agent(agent, "What's the weather in Oslo?", stream)

    assert "Oslo: 7C, light rain" in response.text
    result = results[0]
    assert result.status == "ok"
    assert result.usage_missing is True
    assert result.cost_usd > 0
    used = [lim.used for lim in result.budget.limits if lim.scope == "global"]
    assert used and used[0] > 0
    assert len(await audit_records(runtime)) == 1


async def test_runtime_is_built_from_settings_on_first_run(tmp_path: Any, monkeypatch: Any,
                                                           tracer_provider: Any) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here: the embedded defaults
    monkeypatch.setenv("LLMOPS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BUDGET_LEDGER", "memory")
    middleware = llmops_middleware()
    assert middleware.runtime_ref.built is False  # constructing an Agent reads no settings
    agent = Agent(client=ScriptedChatClient(), name="weather", instructions=INSTRUCTIONS, tools=[get_weather],
                  middleware=middleware)

    response = await agent.run("What's the weather in Paris?")

    assert middleware.runtime_ref.built is True
    runtime = middleware.runtime
    try:
        assert response.additional_properties[RESPONSE_PROPERTY]["status"] == "ok"
        records = await audit_records(runtime)
        assert [r["status"] for r in records] == ["ok"]
        assert str(runtime.settings.resolved_audit_dir).startswith(str(tmp_path / "data"))
    finally:
        await runtime.aclose()
