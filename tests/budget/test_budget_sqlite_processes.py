"""Several processes share one SQLite budget file: BEGIN IMMEDIATE keeps the cap."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import random
from pathlib import Path

from llmops_kit.budget.base import BudgetAmount, BudgetSubject
from llmops_kit.budget.ledger_sqlite import SQLiteLedger
from llmops_kit.budget.manager import BudgetManager
from llmops_kit.budget.policy import BudgetLimit, BudgetPolicy

CAP = 50_000
POLICY = BudgetPolicy([BudgetLimit("global", "day", "cost_micro_usd", CAP)])


def _worker(path: str, seed: int, out: mp.Queue) -> None:
    async def main() -> int:
        mgr = BudgetManager(POLICY, SQLiteLedger(Path(path)))
        rng = random.Random(seed)
        spent = 0

        async def one() -> None:
            nonlocal spent
            est = rng.randint(500, 1_500)
            res = await mgr.reserve(BudgetSubject(), BudgetAmount(cost_micro_usd=est))
            if res.granted:
                await asyncio.sleep(rng.random() * 0.005)
                actual = int(est * rng.uniform(0.8, 1.0))
                await mgr.settle(res, BudgetAmount(cost_micro_usd=actual))
                spent += actual

        await asyncio.gather(*(one() for _ in range(60)))
        await mgr.aclose()
        return spent

    out.put(asyncio.run(main()))


def test_three_processes_never_overspend(tmp_path) -> None:
    path = str(tmp_path / "shared.sqlite3")
    ctx = mp.get_context("fork")
    out: mp.Queue = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(path, seed, out)) for seed in range(3)]
    for p in procs:
        p.start()
    spent = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0

    async def read() -> tuple[int, int]:
        mgr = BudgetManager(POLICY, SQLiteLedger(Path(path)))
        lim = (await mgr.state(BudgetSubject())).limits[0]
        await mgr.aclose()
        return lim.used, lim.reserved

    used, reserved = asyncio.run(read())
    assert reserved == 0
    assert used == sum(spent) <= CAP
    assert used > CAP // 2
