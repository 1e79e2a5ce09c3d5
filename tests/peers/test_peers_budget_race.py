"""500 concurrent governed runs against a small daily cap, on the SQLite and the Redis ledger:
spend never goes above the cap, most of it is used, nothing stays reserved."""

from __future__ import annotations

import asyncio

import pytest

from llmops_kit.agent import AgentReply
from llmops_kit.budget.base import BudgetSubject
from llmops_kit.config import Settings
from llmops_kit.pipeline import ProductionAgent
from llmops_kit.runtime import build_runtime
from llmops_kit.usage import TokenUsage

CAP_USD = 0.005  # 5,000 micro-USD: room for ~125 runs of ~40 micro-USD each


async def small_answer(question: str) -> AgentReply:
    await asyncio.sleep(0.001)  # every run is in flight at once
    return AgentReply(text="ok", usage=TokenUsage(input_tokens=3, output_tokens=60), model="gpt-4o-mini")


@pytest.mark.parametrize("ledger", ["sqlite", "redis"])
async def test_500_concurrent_runs_never_overspend(tmp_path, redis_server, ledger):
    overrides = {"redis_url": redis_server.url, "budget_redis_prefix": f"race-{tmp_path.name}"} \
        if ledger == "redis" else {}
    settings = Settings.load(
        None, data_dir=tmp_path / ".llmops", telemetry="off", evaluation_mode="off", budget_ledger=ledger,
        daily_cost_budget_usd=CAP_USD, max_output_tokens=64, **overrides,
    )
    runtime = build_runtime(settings)
    agent = ProductionAgent(small_answer, name="racer", runtime=runtime, model="gpt-4o-mini")
    results = await asyncio.gather(*(agent.run("q", tenant_id="t1") for _ in range(500)))
    state = await runtime.budget.state(BudgetSubject(tenant_id="t1", agent="racer"))
    await runtime.aclose()

    statuses = {r.status for r in results}
    assert statuses == {"ok", "budget_denied"}
    daily = next(lim for lim in state.limits if lim.window == "day")
    spent = sum(round(r.cost_usd * 1_000_000) for r in results if r.status == "ok")
    assert daily.used <= daily.limit == 5_000, "spend above the cap"
    assert daily.used == spent  # the ledger holds exactly what the runs report
    assert daily.used >= 0.9 * daily.limit, "most of the cap is used"
    assert daily.reserved == 0
