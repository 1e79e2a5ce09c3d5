"""Reserve/settle semantics on every ledger: the race, tenants, leases, idempotency, windows."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime
from zoneinfo import ZoneInfo

from tests.budget.conftest import FakeClock

from llmops_kit.budget.base import BudgetAmount, BudgetSubject, CounterCharge
from llmops_kit.budget.ledger_memory import MemoryLedger
from llmops_kit.budget.manager import BudgetManager
from llmops_kit.budget.policy import BudgetLimit, BudgetPolicy

CAP = 200_000  # $0.20 in micro-USD


def cost(micro: int) -> BudgetAmount:
    return BudgetAmount(input_tokens=10, output_tokens=10, total_tokens=20, cost_micro_usd=micro)


async def test_500_concurrent_runs_never_overspend(ledger) -> None:
    policy = BudgetPolicy([BudgetLimit("tenant", "day", "cost_micro_usd", CAP)])
    mgr = BudgetManager(policy, ledger)
    rng = random.Random(7)
    granted = 0

    async def run(i: int) -> None:
        nonlocal granted
        await asyncio.sleep(rng.random() * 0.2)  # staggered arrivals so freed holds are reused
        est = rng.randint(2_000, 6_000)
        res = await mgr.reserve(BudgetSubject(tenant_id="t1", run_id=f"r{i}"), cost(est))
        if not res.granted:
            assert "tenant t1 daily cost_micro_usd limit $0.2 would be exceeded" in res.reason
            return
        granted += 1
        await asyncio.sleep(rng.random() * 0.01)
        await mgr.settle(res, cost(int(est * rng.uniform(0.7, 1.0))))

    await asyncio.gather(*(run(i) for i in range(500)))
    state = (await mgr.state(BudgetSubject(tenant_id="t1"))).limits[0]
    assert state.reserved == 0
    assert state.used <= CAP
    assert state.used > CAP // 2, f"only {state.used} of {CAP} used"
    assert 0 < granted < 500


async def test_tenants_are_isolated(ledger) -> None:
    mgr = BudgetManager(BudgetPolicy([BudgetLimit("tenant", "day", "cost_micro_usd", 10_000)]), ledger)
    a = await mgr.reserve(BudgetSubject(tenant_id="a"), cost(10_000))
    assert a.granted
    assert not (await mgr.reserve(BudgetSubject(tenant_id="a"), cost(1))).granted
    b = await mgr.reserve(BudgetSubject(tenant_id="b"), cost(10_000))
    assert b.granted
    assert (await mgr.state(BudgetSubject(tenant_id="b"))).limits[0].reserved == 10_000


async def test_tenant_override_replaces_generic_limit(ledger) -> None:
    policy = BudgetPolicy.from_settings_values(
        tenant_daily_cost_budget_usd=0.01, tenant_overrides={"big": {"daily_cost_budget_usd": 1.0}}
    )
    mgr = BudgetManager(policy, ledger)
    assert not (await mgr.reserve(BudgetSubject(tenant_id="small"), cost(20_000))).granted
    assert (await mgr.reserve(BudgetSubject(tenant_id="big"), cost(20_000))).granted
    limits = (await mgr.state(BudgetSubject(tenant_id="big"))).limits
    assert [lim.limit for lim in limits] == [1_000_000]


async def test_settle_twice_counts_once(ledger) -> None:
    mgr = BudgetManager(BudgetPolicy([BudgetLimit("global", "day", "cost_micro_usd", 100_000)]), ledger)
    res = await mgr.reserve(BudgetSubject(), cost(5_000))
    first = await mgr.settle(res, cost(3_000))
    second = await mgr.settle(res, cost(3_000))
    assert not first.already_settled and second.already_settled
    lim = (await mgr.state(BudgetSubject())).limits[0]
    assert (lim.used, lim.reserved) == (3_000, 0)


async def test_missing_usage_settles_at_reserved_never_zero(ledger) -> None:
    mgr = BudgetManager(BudgetPolicy([BudgetLimit("global", "day", "cost_micro_usd", 100_000)]), ledger)
    res = await mgr.reserve(BudgetSubject(), cost(5_000))
    settlement = await mgr.settle(res, None)
    assert settlement.settled_at_reserved and settlement.actual.cost_micro_usd == 5_000
    assert (await mgr.state(BudgetSubject())).limits[0].used == 5_000


async def test_over_reservation_is_recorded_and_flagged(ledger) -> None:
    mgr = BudgetManager(BudgetPolicy([BudgetLimit("global", "day", "cost_micro_usd", 10_000)]), ledger)
    res = await mgr.reserve(BudgetSubject(), cost(5_000))
    settlement = await mgr.settle(res, cost(12_000))
    assert settlement.over_reservation and mgr.stats.over_reservations == 1
    lim = (await mgr.state(BudgetSubject())).limits[0]
    assert (lim.used, lim.remaining) == (12_000, 0)
    assert not (await mgr.reserve(BudgetSubject(), cost(1))).granted


async def test_cancelled_call_settles_in_hold(ledger) -> None:
    mgr = BudgetManager(BudgetPolicy([BudgetLimit("global", "day", "cost_micro_usd", 100_000)]), ledger)

    inside = asyncio.Event()

    async def call() -> None:
        async with mgr.hold(BudgetSubject(), cost(4_000)):
            inside.set()
            await asyncio.sleep(10)

    task = asyncio.create_task(call())
    await asyncio.wait_for(inside.wait(), 10)  # cancel only once the hold is really taken
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    lim = (await mgr.state(BudgetSubject())).limits[0]
    assert (lim.used, lim.reserved) == (4_000, 0)


async def test_all_limits_checked_atomically(ledger) -> None:
    """A denial on one limit leaves no hold on the others."""
    policy = BudgetPolicy(
        [
            BudgetLimit("global", "day", "cost_micro_usd", 1_000_000),
            BudgetLimit("user", "day", "total_tokens", 30),
        ]
    )
    mgr = BudgetManager(policy, ledger)
    assert (await mgr.reserve(BudgetSubject(user_id="u"), cost(1_000))).granted
    denied = await mgr.reserve(BudgetSubject(user_id="u"), cost(1_000))
    assert not denied.granted and denied.denied_limit == "user u daily total_tokens"
    glob = next(lim for lim in (await mgr.state(BudgetSubject(user_id="u"))).limits if lim.scope == "global")
    assert glob.reserved == 1_000


async def test_per_request_limit_denies_before_the_call(ledger) -> None:
    mgr = BudgetManager(BudgetPolicy.from_settings_values(max_tokens_per_request=500), ledger)
    big = BudgetAmount(input_tokens=310, output_tokens=1000, total_tokens=1310, cost_micro_usd=1)
    res = await mgr.reserve(BudgetSubject(run_id="r1"), big)
    assert not res.granted
    assert res.reason == (
        "run total_tokens limit 500 would be exceeded (estimate 1,310); "
        "per-request limit, resets with the next request"
    )
    assert (await mgr.reserve(BudgetSubject(), big)).granted  # no run/call id: those scopes are skipped


async def test_soft_thresholds_fire_once_per_window(ledger) -> None:
    events = []
    mgr = BudgetManager(
        BudgetPolicy([BudgetLimit("global", "day", "cost_micro_usd", 10_000)]),
        ledger,
        on_threshold=events.append,
    )
    for _ in range(2):
        await mgr.settle(await mgr.reserve(BudgetSubject(), cost(2_500)), None)
    # a second manager (another replica) must not re-emit the 50 % crossing already marked in the ledger
    other = BudgetManager(mgr.base_policy, ledger, on_threshold=events.append)
    for _ in range(2):
        await other.settle(await other.reserve(BudgetSubject(), cost(2_500)), None)
    assert [(e.percent, e.used) for e in events] == [(50, 5_000), (80, 10_000), (100, 10_000)]
    assert {e.window_id for e in events} == {events[0].window_id}
    assert events[0].window_id.startswith("day=")


async def test_per_request_limits_emit_no_soft_threshold_events(ledger) -> None:
    """A run using 60 % of MAX_TOKENS_PER_REQUEST is normal, not a budget alert; daily limits still alert."""
    events = []
    policy = BudgetPolicy([BudgetLimit("run", "run", "cost_micro_usd", 10_000),
                           BudgetLimit("global", "day", "cost_micro_usd", 10_000)])
    mgr = BudgetManager(policy, ledger, on_threshold=events.append)
    for i in range(3):
        await mgr.settle(await mgr.reserve(BudgetSubject(run_id=f"r{i}"), cost(2_000)), None)
    assert [(e.percent, e.label) for e in events] == [(50, "global daily cost_micro_usd")]


async def test_lease_expiry_after_crash(clocked_ledger_factory) -> None:
    clock = FakeClock(1_800_000_000.0)
    ledger = clocked_ledger_factory(clock)
    mgr = BudgetManager(
        BudgetPolicy([BudgetLimit("global", "day", "cost_micro_usd", 10_000)]),
        ledger,
        lease_seconds=30,
        clock=clock,
    )
    crashed = await mgr.reserve(BudgetSubject(), cost(10_000))  # caller dies and never settles
    assert crashed.granted
    assert not (await mgr.reserve(BudgetSubject(), cost(1))).granted
    clock.advance(31)
    assert (await mgr.reserve(BudgetSubject(), cost(6_000))).granted
    late = await mgr.settle(crashed, cost(2_000))  # a zombie settling late is still recorded once
    assert not late.already_settled
    lim = (await mgr.state(BudgetSubject())).limits[0]
    assert (lim.used, lim.reserved) == (2_000, 6_000)
    await ledger.aclose()


async def test_redis_lease_expiry_after_crash(redis_server) -> None:
    from llmops_kit.budget.ledger_redis import RedisLedger

    ledger = RedisLedger(redis_server.url, key_prefix="lease-test")
    mgr = BudgetManager(
        BudgetPolicy([BudgetLimit("global", "day", "cost_micro_usd", 10_000)]), ledger, lease_seconds=0.3
    )
    assert (await mgr.reserve(BudgetSubject(), cost(10_000))).granted
    assert not (await mgr.reserve(BudgetSubject(), cost(1))).granted
    await asyncio.sleep(0.4)
    assert (await mgr.reserve(BudgetSubject(), cost(10_000))).granted
    await ledger.aclose()


async def test_window_rolls_over_at_local_midnight_and_month_end(clocked_ledger_factory) -> None:
    tz = ZoneInfo("Europe/Berlin")
    clock = FakeClock(datetime(2026, 1, 31, 23, 59, 0, tzinfo=tz).timestamp())
    ledger = clocked_ledger_factory(clock)
    policy = BudgetPolicy(
        [
            BudgetLimit("tenant", "day", "cost_micro_usd", 5_000),
            BudgetLimit("tenant", "month", "cost_micro_usd", 8_000),
        ]
    )
    mgr = BudgetManager(policy, ledger, timezone="Europe/Berlin", clock=clock)
    s = BudgetSubject(tenant_id="t")
    await mgr.settle(await mgr.reserve(s, cost(5_000)), None)
    denied = await mgr.reserve(s, cost(1))
    assert not denied.granted and denied.resets_at == datetime(2026, 2, 1, 0, 0, tzinfo=tz)
    assert "resets at 2026-02-01T00:00+01:00" in denied.reason
    clock.advance(120)  # 00:01 Berlin on Feb 1 (still Jan 31 in UTC): new day and new month
    assert (await mgr.reserve(s, cost(5_000))).granted
    states = {lim.window: lim for lim in (await mgr.state(s)).limits}
    assert states["month"].reserved == 5_000 and states["month"].used == 0
    assert states["day"].resets_at == datetime(2026, 2, 2, tzinfo=tz)
    await ledger.aclose()


async def test_ledger_reserve_is_all_or_nothing_across_keys() -> None:
    led = MemoryLedger()
    ok = await led.reserve("r1", [CounterCharge("a", "total_tokens", 5, 10, 9e9)], 60)
    assert ok.granted
    out = await led.reserve(
        "r2",
        [CounterCharge("b", "total_tokens", 5, None, 9e9), CounterCharge("a", "total_tokens", 6, 10, 9e9)],
        60,
    )
    assert (
        not out.granted and out.denied_key == "a" and (out.committed, out.reserved, out.limit) == (0, 5, 10)
    )
    assert (await led.counters(["b"]))["b"].reserved == 0


async def test_a_callable_estimate_is_computed_only_when_a_limit_applies(ledger) -> None:
    calls: list[int] = []

    def estimate() -> BudgetAmount:
        calls.append(1)
        return cost(5_000)

    unmetered = BudgetManager(BudgetPolicy([BudgetLimit("tenant", "day", "cost_micro_usd", CAP)]), ledger)
    res = await unmetered.reserve(BudgetSubject(), estimate)  # no tenant: the tenant limit does not apply
    assert res.granted and res.deferred is not None and calls == []
    settled = await unmetered.settle(res, cost(9_000))  # reported usage: still no estimate needed
    assert calls == [] and not settled.over_reservation and settled.actual.cost_micro_usd == 9_000

    res = await unmetered.reserve(BudgetSubject(), estimate)
    settled = await unmetered.settle(res, None)  # unreported usage is charged the estimate, never $0
    assert calls == [1] and settled.settled_at_reserved and settled.actual.cost_micro_usd == 5_000

    metered = BudgetManager(BudgetPolicy([BudgetLimit("global", "day", "cost_micro_usd", CAP)]), ledger)
    res = await metered.reserve(BudgetSubject(), estimate)
    assert res.granted and res.deferred is None and res.charges and calls == [1, 1]
    assert res.estimate.cost_micro_usd == 5_000
