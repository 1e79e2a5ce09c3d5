"""Budget benchmarks: reserve+settle round trips per second, and overspend under a race.

Run: ``.venv/bin/python tests/benchmarks/bench_budget.py [--pairs 3000]``. Starts its own
redis-server on a free loopback port. Not collected by pytest (timing lives here only).

1. Sequential reserve+settle pairs from one process through ``BudgetManager`` (two limits
   per admission: global day cost and tenant day cost), per ledger.
2. The race (research guard-budget-eval §1.5): cap $1.00, 200 requests, 50 in flight,
   estimate $0.10, actual U($0.02, $0.10), model latency 50–200 ms. Naive check-then-record
   (read committed, call, then add) against our reserve → call → settle.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from tests.fixtures.redis_server import start_redis  # noqa: E402

from llmops_kit.budget.base import BudgetAmount, BudgetSubject  # noqa: E402
from llmops_kit.budget.ledger_memory import MemoryLedger  # noqa: E402
from llmops_kit.budget.ledger_redis import RedisLedger  # noqa: E402
from llmops_kit.budget.ledger_sqlite import SQLiteLedger  # noqa: E402
from llmops_kit.budget.manager import BudgetManager  # noqa: E402
from llmops_kit.budget.policy import BudgetLimit, BudgetPolicy  # noqa: E402

TARGETS = {"memory": None, "sqlite": 1_000, "redis": 3_000}
CAP = 1_000_000


def _ledgers(tmp: Path, redis_url: str) -> dict:
    return {
        "memory": lambda: MemoryLedger(),
        "sqlite": lambda: SQLiteLedger(tmp / f"bench-{uuid.uuid4().hex[:6]}.sqlite3"),
        "redis": lambda: RedisLedger(redis_url, key_prefix=f"bench-{uuid.uuid4().hex[:6]}"),
    }


async def round_trips(make, pairs: int) -> float:
    policy = BudgetPolicy(
        [
            BudgetLimit("global", "day", "cost_micro_usd", 10**15),
            BudgetLimit("tenant", "day", "cost_micro_usd", 10**15),
        ]
    )
    mgr = BudgetManager(policy, make())
    subject = BudgetSubject(tenant_id="bench")
    est = BudgetAmount(100, 100, 200, 1_000)
    for _ in range(50):  # warm-up: connections, scripts loaded, SQLite schema
        await mgr.settle(await mgr.reserve(subject, est), est)
    start = time.perf_counter()
    for _ in range(pairs):
        res = await mgr.reserve(subject, est)
        await mgr.settle(res, est)
    elapsed = time.perf_counter() - start
    await mgr.aclose()
    return pairs / elapsed


async def race(make, naive: bool, seed: int = 1) -> tuple[int, int]:
    """Returns (admitted, spent micro-USD) for 200 requests, 50 in flight, cap $1."""
    rng = random.Random(seed)
    ledger = make()
    mgr = BudgetManager(BudgetPolicy([BudgetLimit("tenant", "day", "cost_micro_usd", CAP)]), ledger)
    subject = BudgetSubject(tenant_id="race")
    gate = asyncio.Semaphore(50)
    admitted = 0
    spent = 0
    est = BudgetAmount(cost_micro_usd=100_000)
    key = _key(mgr, subject)

    async def one() -> None:
        nonlocal admitted, spent
        async with gate:
            actual = BudgetAmount(cost_micro_usd=rng.randint(20_000, 100_000))
            latency = rng.uniform(0.05, 0.2)
            if naive:  # the common bug: check committed spend, call, record afterwards
                if (await ledger.counters([key]))[key].committed >= CAP:
                    return
                admitted += 1
                await asyncio.sleep(latency)
                await ledger.settle(uuid.uuid4().hex, {key: actual.cost_micro_usd})
                spent += actual.cost_micro_usd
                return
            res = await mgr.reserve(subject, est)
            if not res.granted:
                return
            admitted += 1
            await asyncio.sleep(latency)
            await mgr.settle(res, actual)
            spent += actual.cost_micro_usd

    await asyncio.gather(*(one() for _ in range(200)))
    await mgr.aclose()
    return admitted, spent


def _key(mgr: BudgetManager, subject: BudgetSubject) -> str:
    charges = mgr._charges(mgr.base_policy, subject, BudgetAmount(), mgr._clock())
    return charges[0][0].key


async def main(pairs: int) -> None:
    console = Console()
    server = start_redis()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            makers = _ledgers(Path(tmp), server.url)
            t1 = Table(
                title=f"reserve+settle round trips per second (one process, sequential, {pairs} pairs)"
            )
            for col in ("ledger", "pairs/s", "target", "ratio to target"):
                t1.add_column(col, justify="right")
            for name, make in makers.items():
                rate = await round_trips(make, pairs)
                target = TARGETS[name]
                t1.add_row(
                    name,
                    f"{rate:,.0f}",
                    f"{target:,}" if target else "-",
                    f"{rate / target:.2f}x" if target else "-",
                )
            console.print(t1)

            t2 = Table(
                title="overspend under a race: cap $1.00, 200 requests, 50 in flight, est $0.10, "
                "actual U($0.02, $0.10)"
            )
            for col in ("ledger", "method", "admitted", "spent", "spent / cap"):
                t2.add_column(col, justify="right")
            for name, make in makers.items():
                for naive in (True, False):
                    admitted, spent = await race(make, naive)
                    t2.add_row(
                        name,
                        "naive check-then-record" if naive else "reserve/settle",
                        str(admitted),
                        f"${spent / 1e6:.2f}",
                        f"{spent / CAP:.2f}x",
                    )
            console.print(t2)
    finally:
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=3_000)
    asyncio.run(main(parser.parse_args().pairs))
