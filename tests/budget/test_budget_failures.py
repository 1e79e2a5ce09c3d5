"""Ledger outages: Redis killed mid-run, fail-closed vs fail-open, recovery without stuck holds."""

from __future__ import annotations

import asyncio
import sqlite3

from tests.fixtures.redis_server import RedisServer

from llmops_kit.budget.base import BudgetAmount, BudgetSubject
from llmops_kit.budget.ledger_redis import RedisLedger
from llmops_kit.budget.ledger_sqlite import SQLiteLedger
from llmops_kit.budget.manager import BudgetManager
from llmops_kit.budget.policy import BudgetLimit, BudgetPolicy


def cost(micro: int) -> BudgetAmount:
    return BudgetAmount(input_tokens=1, output_tokens=1, total_tokens=2, cost_micro_usd=micro)


POLICY = BudgetPolicy([BudgetLimit("tenant", "day", "cost_micro_usd", 1_000_000)])
S = BudgetSubject(tenant_id="t1")


async def _killed_mid_run(server: RedisServer, fail_mode: str) -> tuple[list, BudgetManager, RedisLedger]:
    ledger = RedisLedger(server.url, socket_timeout=0.5)
    mgr = BudgetManager(POLICY, ledger, fail_mode=fail_mode, policy_refresh_seconds=0)
    before = [await mgr.reserve(S, cost(10_000)) for _ in range(3)]
    assert all(r.granted for r in before)
    await mgr.settle(before[0], cost(5_000))
    server.stop()  # SIGKILL: no persistence, like a lost cache node
    during = await mgr.reserve(S, cost(10_000))
    # settles while down are deferred, not lost and not crashing
    await mgr.settle(before[1], cost(7_000))
    server.start()
    return [before, during], mgr, ledger


async def test_redis_killed_fail_closed_denies_then_recovers(private_redis) -> None:
    (before, during), mgr, _ledger = await _killed_mid_run(private_redis, "closed")
    assert not during.granted and "BUDGET_FAIL_MODE=closed" in during.reason
    assert mgr.stats.fail_closed_denials == 1 and mgr.stats.pending_settles == 1
    assert await mgr.flush() == 0  # the deferred settle is written once the ledger is back
    after = await mgr.reserve(S, cost(10_000))
    assert after.granted
    await mgr.settle(before[2], None)  # a hold made before the crash: its counter was lost with the server
    await mgr.settle(after, cost(1_000))
    lim = (await mgr.state(S)).limits[0]
    assert lim.reserved == 0 and lim.used >= 0
    assert lim.used == 7_000 + 10_000 + 1_000  # deferred + settled-at-reserved + after
    await mgr.aclose()


async def test_redis_killed_fail_open_admits_and_counts(private_redis) -> None:
    (_before, during), mgr, _ledger = await _killed_mid_run(private_redis, "open")
    assert during.granted and during.fail_open and mgr.stats.fail_open_admissions == 1
    assert await mgr.flush() == 0
    await mgr.settle(during, cost(4_000))  # counted once the ledger is back
    lim = (await mgr.state(S)).limits[0]
    assert lim.used == 7_000 + 4_000 and lim.reserved == 0
    await mgr.aclose()


async def test_sqlite_locked_past_busy_timeout_honours_fail_mode(tmp_path) -> None:
    path = tmp_path / "b.sqlite3"
    ledger = SQLiteLedger(path, busy_timeout_ms=100)
    closed = BudgetManager(POLICY, ledger, fail_mode="closed")
    assert (await closed.reserve(S, cost(1))).granted
    blocker = sqlite3.connect(str(path), isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        denied = await closed.reserve(S, cost(1))
        opened = await BudgetManager(POLICY, ledger, fail_mode="open").reserve(S, cost(1))
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert not denied.granted and "locked" in denied.reason
    assert opened.granted and opened.fail_open
    await ledger.aclose()


async def test_on_threshold_hook_error_does_not_break_settle() -> None:
    from llmops_kit.budget.ledger_memory import MemoryLedger

    def boom(_event) -> None:
        raise RuntimeError("exporter down")

    mgr = BudgetManager(
        BudgetPolicy([BudgetLimit("global", "day", "cost_micro_usd", 10)]), MemoryLedger(), on_threshold=boom
    )
    res = await mgr.reserve(S, cost(10))
    settled = await asyncio.wait_for(mgr.settle(res, cost(10)), 5)
    assert not settled.already_settled and (await mgr.state(S)).limits[0].used == 10
