"""Ledger fixtures: each test gets a fresh ledger of each kind (Redis: a real server, own namespace)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from tests.fixtures.redis_server import private_redis, redis_server  # noqa: F401  (fixtures)

from llmops_kit.budget.ledger_memory import MemoryLedger
from llmops_kit.budget.ledger_redis import RedisLedger
from llmops_kit.budget.ledger_sqlite import SQLiteLedger


class FakeClock:
    """A settable clock for windows and leases (memory and SQLite ledgers take it)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def ledger(request, tmp_path) -> AsyncIterator:
    kind = request.param
    if kind == "memory":
        led = MemoryLedger()
    elif kind == "sqlite":
        led = SQLiteLedger(tmp_path / "budget.sqlite3")
    else:
        server = request.getfixturevalue("redis_server")
        led = RedisLedger(server.url, key_prefix=f"t-{uuid.uuid4().hex[:8]}")
    yield led
    await led.aclose()


@pytest.fixture(params=["memory", "sqlite"])
def clocked_ledger_factory(request, tmp_path) -> Callable:
    """Ledgers whose lease clock the test controls."""

    def make(clock: FakeClock):
        if request.param == "memory":
            return MemoryLedger(clock=clock)
        return SQLiteLedger(tmp_path / f"clocked-{uuid.uuid4().hex[:6]}.sqlite3", clock=clock)

    return make
