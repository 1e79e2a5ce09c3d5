"""Model calls when no budget limit is configured (the embedded default).

Nothing can be held or refused then, so the chat middleware skips the reserve/settle pair -
but every figure must come out as if it had made one: calls granted and counted as budget
decisions, unreported usage charged its estimate (never $0), unpriced models still refused.
"""

from __future__ import annotations

from typing import Any

import pytest
from agent_framework import Agent
from tests.maf.test_maf_agent_runs import INSTRUCTIONS, run_agent

from llmops_kit.budget.ledger_memory import MemoryLedger
from llmops_kit.budget.manager import BudgetManager
from llmops_kit.budget.policy import BudgetLimit, BudgetPolicy
from llmops_kit.results import RunResult
from llmops_kit_agent_framework import llmops_middleware
from llmops_kit_agent_framework.testing import ScriptedChatClient, get_weather


class CountingManager(BudgetManager):
    """The real manager, counting the reservations it is asked for."""

    def __init__(self, limits: list[BudgetLimit]) -> None:
        super().__init__(BudgetPolicy(limits), MemoryLedger())
        self.reserves = 0

    async def reserve(self, subject: Any, estimate: Any) -> Any:
        self.reserves += 1
        return await super().reserve(subject, estimate)


class WithoutLimitQuery(CountingManager):
    """A gate that cannot say whether it has limits: it always gets the full reserve/settle pair."""

    has_limits = None  # type: ignore[assignment]


async def _run(make_runtime: Any, budget: Any, stream: bool, **client: Any) -> RunResult:
    runtime = make_runtime()
    runtime.budget = budget
    results: list[RunResult] = []
    agent = Agent(client=ScriptedChatClient(**client), name="weather", instructions=INSTRUCTIONS,
                  tools=[get_weather], middleware=llmops_middleware(runtime, on_result=results.append))
    await run_agent(agent, "What's the weather in Oslo?", stream)
    return results[0]


@pytest.mark.parametrize("stream", [False, True], ids=["sync", "stream"])
async def test_no_limit_means_no_reservation_and_the_same_result(make_runtime: Any, stream: bool) -> None:
    unmetered, metered = CountingManager([]), CountingManager([BudgetLimit("global", "day", "total_tokens", 10**9)])
    fast = await _run(make_runtime, unmetered, stream)
    full = await _run(make_runtime, metered, stream)
    assert unmetered.reserves == 0 and metered.reserves == 2  # one per model call of the tool loop
    assert (fast.status, fast.cost_usd, fast.cost_source, fast.usage) == (
        full.status, full.cost_usd, full.cost_source, full.usage)


@pytest.mark.parametrize("stream", [False, True], ids=["sync", "stream"])
async def test_unreported_usage_without_a_limit_is_charged_its_estimate(make_runtime: Any, stream: bool) -> None:
    fast = await _run(make_runtime, CountingManager([]), stream, report_usage=False)
    full = await _run(make_runtime, WithoutLimitQuery([]), stream, report_usage=False)
    assert fast.usage_missing is True and fast.cost_source == "reservation"
    assert fast.cost_usd > 0  # never $0
    assert fast.cost_usd == full.cost_usd  # exactly what settling at the deferred estimate charges


async def test_an_unpriced_model_is_refused_without_a_limit(make_runtime: Any) -> None:
    runtime = make_runtime(unknown_model_price="error")
    results: list[RunResult] = []
    agent = Agent(client=ScriptedChatClient(), name="weather", instructions=INSTRUCTIONS, tools=[get_weather],
                  middleware=llmops_middleware(runtime, on_result=results.append))
    await agent.run("What's the weather in Oslo?")
    assert results[0].status == "budget_denied"
    assert "price" in (results[0].reason or "").lower()
