"""Property: random interleavings of reserve/settle/expire keep the ledger invariants.

- reserve grants only if committed + reserved + amount <= limit for every limited counter;
- no counter is ever negative;
- once everything is settled or its lease expired, reserved is 0 everywhere;
- committed equals the sum of first settlements (settle twice = once).
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.budget.conftest import FakeClock

from llmops_kit.budget.base import CounterCharge
from llmops_kit.budget.ledger_memory import MemoryLedger
from llmops_kit.budget.ledger_sqlite import SQLiteLedger

KEYS = ["global/day=x/cost", "tenant=a/day=x/cost", "tenant=b/day=x/cost"]
LIMITS = {KEYS[0]: 100, KEYS[1]: 60, KEYS[2]: None}
LEASE = 10.0

reserve_op = st.tuples(st.just("reserve"), st.sets(st.sampled_from(KEYS), min_size=1), st.integers(0, 70))
settle_op = st.tuples(st.just("settle"), st.integers(0, 40), st.one_of(st.none(), st.integers(0, 90)))
advance_op = st.tuples(st.just("advance"), st.floats(0.5, 12.0), st.none())
ops_strategy = st.lists(st.one_of(reserve_op, settle_op, advance_op), min_size=1, max_size=40)


async def _check(ledger, clock: FakeClock, ops) -> None:
    rids: list[tuple[str, dict[str, int]]] = []
    expected_committed = dict.fromkeys(KEYS, 0)
    settled: set[str] = set()
    for n, (kind, a, b) in enumerate(ops):
        if kind == "reserve":
            before = await ledger.counters(KEYS)
            rid = f"r{n}"
            charges = [
                CounterCharge(k, "cost_micro_usd", b, LIMITS[k], clock.now + 86_400) for k in sorted(a)
            ]
            out = await ledger.reserve(rid, charges, LEASE)
            fits = all(
                LIMITS[k] is None or before[k].committed + before[k].reserved + b <= LIMITS[k] for k in a
            )
            assert out.granted == fits
            if out.granted:
                rids.append((rid, {k: b for k in a}))
        elif kind == "settle" and rids:
            rid, held = rids[a % len(rids)]
            actual = dict(held) if b is None else dict.fromkeys(held, b)
            out = await ledger.settle(rid, actual)
            assert out.already_settled == (rid in settled)
            if rid not in settled:
                settled.add(rid)
                for k, v in actual.items():
                    expected_committed[k] += v
        elif kind == "advance":
            clock.advance(a)
        state = await ledger.counters(KEYS)
        for k in KEYS:
            assert state[k].committed >= 0 and state[k].reserved >= 0, (k, state[k])
            assert state[k].committed == expected_committed[k]
    clock.advance(LEASE + 1)  # every unsettled hold's lease runs out
    final = await ledger.counters(KEYS)
    assert all(final[k].reserved == 0 for k in KEYS), final


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=ops_strategy)
def test_memory_ledger_invariants(ops) -> None:
    clock = FakeClock(1_000.0)
    asyncio.run(_check(MemoryLedger(clock=clock), clock, ops))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=ops_strategy)
def test_sqlite_ledger_invariants(ops) -> None:
    clock = FakeClock(1_000.0)

    async def run() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            ledger = SQLiteLedger(Path(tmp) / "p.sqlite3", clock=clock)
            try:
                await _check(ledger, clock, ops)
            finally:
                await ledger.aclose()

    asyncio.run(run())


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(ops=st.lists(st.one_of(reserve_op, settle_op), min_size=1, max_size=30))
def test_redis_ledger_invariants_without_expiry(redis_server, ops) -> None:
    """Same script on the real server (leases long enough not to expire; Redis keeps its own time)."""
    import uuid

    from llmops_kit.budget.ledger_redis import RedisLedger

    async def run() -> None:
        ledger = RedisLedger(redis_server.url, key_prefix=f"prop-{uuid.uuid4().hex[:8]}")
        try:
            await _check_no_expiry(ledger, ops)
        finally:
            await ledger.aclose()

    asyncio.run(run())


async def _check_no_expiry(ledger, ops) -> None:
    import time

    expires = time.time() + 86_400
    rids: list[tuple[str, dict[str, int]]] = []
    settled: set[str] = set()
    for n, (kind, a, b) in enumerate(ops):
        if kind == "reserve":
            before = await ledger.counters(KEYS)
            charges = [CounterCharge(k, "cost_micro_usd", b, LIMITS[k], expires) for k in sorted(a)]
            out = await ledger.reserve(f"r{n}", charges, 600)
            fits = all(
                LIMITS[k] is None or before[k].committed + before[k].reserved + b <= LIMITS[k] for k in a
            )
            assert out.granted == fits
            if out.granted:
                rids.append((f"r{n}", {k: b for k in a}))
        elif rids:
            rid, held = rids[a % len(rids)]
            out = await ledger.settle(rid, dict(held) if b is None else dict.fromkeys(held, b))
            assert out.already_settled == (rid in settled)
            settled.add(rid)
        state = await ledger.counters(KEYS)
        assert all(s.committed >= 0 and s.reserved >= 0 for s in state.values())
    for rid, held in rids:
        await ledger.settle(rid, held)
    final = await ledger.counters(KEYS)
    assert all(s.reserved == 0 for s in final.values()), final
