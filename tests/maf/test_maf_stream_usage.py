"""Streamed usage in the shapes providers really send, counted exactly once.

``snapshots``: cumulative ``merge_mode="replace"`` usage after every chunk plus a final one
(any sum of them is too high); ``null_chunks``: a ``usage_details=None`` usage content in every
chunk before the real figure. The run result, the per-call events and MAF's chat spans, and
the budget ledger must all show exactly what the model reported.
"""

from __future__ import annotations

from typing import Any

import pytest
from agent_framework import Agent
from tests.maf.conftest import audit_records
from tests.maf.test_maf_agent_runs import INSTRUCTIONS, reported

from llmops_kit.budget.policy import BudgetLimit
from llmops_kit.results import RunResult
from llmops_kit.telemetry import semconv as sc
from llmops_kit_agent_framework import llmops_middleware
from llmops_kit_agent_framework.testing import ScriptedChatClient, get_weather


async def stream_run(agent: Agent, query: str) -> tuple[Any, list[Any]]:
    """Consume a streamed run; return the final response and every usage content the caller saw."""
    stream = agent.run(query, stream=True)
    seen = [c async for update in stream for c in update.contents if c.type == "usage"]
    return await stream.get_final_response(), seen


def naive_sum(usage_contents: list[Any]) -> int:
    return sum((c.usage_details or {}).get("total_token_count", 0) for c in usage_contents)


@pytest.mark.parametrize("mode", ["snapshots", "null_chunks"])
async def test_streamed_usage_is_counted_once(make_runtime: Any, spans: Any, mode: str) -> None:
    runtime = make_runtime(limits=[BudgetLimit("global", "day", "total_tokens", 1_000_000)])
    results: list[RunResult] = []
    client = ScriptedChatClient(stream_usage=mode)
    agent = Agent(client=client, name="weather", instructions=INSTRUCTIONS, tools=[get_weather],
                  middleware=llmops_middleware(runtime, on_result=results.append))

    final, seen = await stream_run(agent, "What's the weather in Oslo?")

    truth = reported(client)
    assert len(client.calls) == 2 and truth.total_tokens > 0
    # the stream really carried the hazard this test is about: summing what it delivered is wrong
    # (MAF's tool loop also re-emits the model's chunks as cumulative ``replace`` snapshots)
    assert sum(1 for c in seen if c.merge_mode == "replace") >= 2
    assert naive_sum(seen) > truth.total_tokens
    if mode == "null_chunks":
        assert any(c.usage_details is None for c in seen)
    # run result and response
    result = results[0]
    assert result.status == "ok" and result.usage_missing is False
    assert (result.usage.input_tokens, result.usage.output_tokens, result.usage.total_tokens) == (
        truth.input_tokens, truth.output_tokens, truth.total_tokens)
    assert final.usage_details["total_token_count"] == truth.total_tokens
    # per model call: our audit record and MAF's chat spans
    finished = spans.get_finished_spans()
    per_call = [(c.usage["input_token_count"], c.usage["output_token_count"]) for c in client.calls]
    invoke = next(s for s in finished if s.name == "invoke_agent weather")
    (record,) = await audit_records(runtime)
    assert [(c["input_tokens"], c["output_tokens"]) for c in record["model_calls"]] == per_call
    chats = sorted((s for s in finished if s.name == "chat scripted-model-1"), key=lambda s: s.start_time)
    assert [(s.attributes["gen_ai.usage.input_tokens"], s.attributes["gen_ai.usage.output_tokens"])
            for s in chats] == per_call
    assert (invoke.attributes["gen_ai.usage.input_tokens"], invoke.attributes["gen_ai.usage.output_tokens"]) == (
        truth.input_tokens, truth.output_tokens)
    priced = sum(runtime.pricing.cost_micro_usd("scripted-model-1", c) for c in _call_usages(client))
    assert round(result.cost_usd * 1e6) == priced
    assert invoke.attributes[sc.LLMOPS_COST_USD] == round(priced / 1e6, 6)
    # budget: settled with exactly the reported tokens, nothing left reserved
    limit = next(lim for lim in result.budget.limits if lim.scope == "global")
    assert (limit.used, limit.reserved) == (truth.total_tokens, 0)


async def test_stream_without_any_usage_settles_at_the_reservation(make_runtime: Any) -> None:
    """Only ``usage_details=None`` chunks and no figure: unknown usage, never counted as zero."""
    runtime = make_runtime(limits=[BudgetLimit("global", "day", "total_tokens", 1_000_000)])
    results: list[RunResult] = []
    client = ScriptedChatClient(stream_usage="null_chunks", report_usage=False)
    agent = Agent(client=client, name="weather", instructions=INSTRUCTIONS, tools=[get_weather],
                  middleware=llmops_middleware(runtime, on_result=results.append))

    final, seen = await stream_run(agent, "What's the weather in Oslo?")

    assert seen and not any(c.usage_details for c in seen)  # None chunks (and MAF's empty re-emits)
    assert not final.usage_details  # MAF folds the None chunks into an empty figure: unknown, not zero
    result = results[0]
    assert result.usage_missing is True and result.usage.reported is False
    limit = next(lim for lim in result.budget.limits if lim.scope == "global")
    assert limit.used > 0 and limit.reserved == 0  # settled at the reservations, not at zero
    assert result.cost_usd > 0 and result.cost_source == "reservation"  # and reported as charged: never $0


def test_unknown_stream_usage_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="stream_usage"):
        ScriptedChatClient(stream_usage="sometimes")
    with pytest.raises(ValueError, match="text_chunks"):
        ScriptedChatClient(text_chunks=0)


@pytest.mark.parametrize("check_output", [None, False], ids=["buffered", "unbuffered"])
async def test_an_answer_streamed_in_many_chunks_is_governed_once(make_runtime: Any,
                                                                  check_output: bool | None) -> None:
    """A provider streams an answer token by token: every chunk reaches the caller in order
    (replayed after the output check when buffered), and the run is counted, timed and audited once."""
    runtime = make_runtime()
    results: list[RunResult] = []
    client = ScriptedChatClient(text_chunks=12)
    agent = Agent(client=client, name="weather", instructions=INSTRUCTIONS, tools=[get_weather],
                  middleware=llmops_middleware(runtime, check_output=check_output, on_result=results.append))

    stream = agent.run("What's the weather in Oslo?", stream=True)
    texts = [update.text async for update in stream if update.text]
    final = await stream.get_final_response()

    assert len(texts) == 12 and "".join(texts) == final.text
    [result] = results
    truth = reported(client)
    assert result.status == "ok" and result.response == final.text
    assert result.usage.total_tokens == truth.total_tokens
    assert result.ttft_ms is not None and 0 < result.ttft_ms <= result.latency_ms
    [record] = await audit_records(runtime)
    assert record["run_id"] == result.run_id and record["response"] == final.text


def _call_usages(client: ScriptedChatClient) -> list[Any]:
    from llmops_kit.usage import TokenUsage

    return [TokenUsage(input_tokens=c.usage["input_token_count"], output_tokens=c.usage["output_token_count"],
                       total_tokens=c.usage["total_token_count"]) for c in client.calls]
