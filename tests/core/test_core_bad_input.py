"""Bad input never crashes bookkeeping: every case gives a defined RunResult and an audit record."""

from __future__ import annotations

import asyncio
import json

import pytest

from llmops_kit.agent import AgentReply
from llmops_kit.pipeline import ProductionAgent
from llmops_kit.usage import TokenUsage


async def echo(query: str) -> AgentReply:
    return AgentReply(text=f"echo: {query[:50]}", usage=TokenUsage(10, 5), model="gpt-4o-mini")


def audit_lines(rt) -> list[dict]:
    files = sorted(rt.settings.resolved_audit_dir.glob("*.jsonl"))
    return [json.loads(line)["record"] for f in files for line in f.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("query,status", [
    ("", "blocked_input"),
    ("   \n\t ", "blocked_input"),
    ("x" * (5 * 1024 * 1024), "blocked_input"),
    ("hello \ud800 world", "ok"),
])
async def test_odd_queries_give_defined_results(make_runtime, query, status):
    rt = make_runtime()
    agent = ProductionAgent(echo, name="echo", runtime=rt)
    result = await agent.run(query, tenant_id="t1")
    await rt.aclose()
    assert result.status == status
    assert result.audit is not None
    records = audit_lines(rt)
    assert [r["run_id"] for r in records] == [result.run_id]
    if status == "ok":
        assert "\ud800" not in result.response
        json.dumps(records[0], ensure_ascii=False).encode("utf-8")  # storable as UTF-8


async def test_non_string_reply_is_an_error(make_runtime):
    async def bad(query: str):
        return {"text": "not a reply"}

    rt = make_runtime()
    result = await ProductionAgent(bad, name="bad", runtime=rt).run("hi")
    await rt.aclose()
    assert result.status == "error" and result.error_type == "AgentReturnTypeError"
    assert "dict" in (result.reason or "")
    assert audit_lines(rt)[0]["status"] == "error"


@pytest.mark.parametrize(("usage", "call_usage"), [
    (TokenUsage(-100, -5), TokenUsage(3, 2)),
    (TokenUsage(10, 5.5), TokenUsage(3, 2)),  # type: ignore[arg-type]
    ("12 tokens", TokenUsage(3, 2)),
    (TokenUsage(10, 5), TokenUsage(-7, 2)),  # the run's figure fine, one call's not
], ids=["negative", "fractional", "not-a-usage", "bad-call"])
async def test_reply_usage_that_is_not_counts_is_charged_its_reservation(make_runtime, usage, call_usage):
    """An application agent's own ``AgentReply.usage``: garbage there must not refund the budget
    or price the run at $0 - it counts as unreported, like a provider that reported nothing."""
    async def odd(query: str) -> AgentReply:
        from llmops_kit.agent import ModelCallRecord

        return AgentReply(text="hi", usage=usage, model="gpt-4o-mini",
                          model_calls=[ModelCallRecord(model="gpt-4o-mini", usage=call_usage)])

    rt = make_runtime(daily_token_budget=100_000)
    result = await ProductionAgent(odd, name="odd", runtime=rt).run("hello there", tenant_id="t1")
    await rt.aclose()
    assert result.status == "ok"
    assert result.usage_missing is True
    assert result.cost_usd > 0 and result.cost_source == "reservation"
    assert all(lim.used > 0 and lim.reserved == 0 for lim in result.budget.limits)
    assert audit_lines(rt)[0]["usage_missing"] is True


async def test_hanging_agent_times_out_and_releases_budget(make_runtime):
    async def hang(query: str) -> str:
        await asyncio.sleep(3600)
        return "never"

    rt = make_runtime(daily_token_budget=100_000)
    agent = ProductionAgent(hang, name="hang", runtime=rt, timeout_s=0.2)
    result = await agent.run("hi", tenant_id="t1")
    assert result.status == "error" and result.error_type == "TimeoutError"
    assert "timeout" in (result.reason or "")
    assert all(lim.reserved == 0 for lim in result.budget.limits)
    await rt.aclose()


async def test_raising_agent_is_audited_and_reraised_only_on_request(make_runtime):
    async def boom(query: str) -> str:
        raise ValueError("kaput")

    rt = make_runtime()
    quiet = await ProductionAgent(boom, name="boom", runtime=rt).run("hi")
    assert quiet.status == "error" and quiet.error_type == "ValueError"
    with pytest.raises(ValueError, match="kaput"):
        await ProductionAgent(boom, name="boom", runtime=rt, raise_on_error=True).run("hi")
    await rt.aclose()
    assert [r["status"] for r in audit_lines(rt)] == ["error", "error"]


async def test_cancelled_run_is_settled_audited_and_cancelled(make_runtime):
    started = asyncio.Event()

    async def slow(query: str) -> str:
        started.set()
        await asyncio.sleep(3600)
        return "never"

    rt = make_runtime(daily_token_budget=100_000)
    task = asyncio.create_task(ProductionAgent(slow, name="slow", runtime=rt).run("hi", tenant_id="t1"))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    state = await rt.budget.state(rt_subject("t1"))
    assert all(lim.reserved == 0 for lim in state.limits)
    await rt.aclose()
    assert audit_lines(rt)[0]["reason"] == "cancelled"


def rt_subject(tenant: str):
    from llmops_kit.budget.base import BudgetSubject

    return BudgetSubject(tenant_id=tenant, agent="slow")


async def test_non_string_query_is_an_error_result(make_runtime):
    rt = make_runtime()
    result = await ProductionAgent(echo, name="echo", runtime=rt).run(12345)  # type: ignore[arg-type]
    await rt.aclose()
    assert result.status == "error" and result.error_type == "TypeError"
    assert result.audit is not None


async def test_concurrent_runs_on_one_agent(make_runtime, captured):
    rt = make_runtime()
    agent = ProductionAgent(echo, name="echo", runtime=rt)
    results = await asyncio.gather(*(agent.run(f"q{i}", tenant_id="t1") for i in range(50)))
    await rt.aclose()
    assert all(r.status == "ok" for r in results)
    assert len({r.trace_id for r in results}) == 50
    assert len({r["run_id"] for r in audit_lines(rt)}) == 50
