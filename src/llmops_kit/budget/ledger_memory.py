"""In-process ledger: the reference semantics, for tests and single-process use.

Every operation runs to completion under one lock without awaiting, so it is atomic for
coroutines and threads alike. Nothing survives the process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from llmops_kit.budget.base import CounterCharge, CounterState, ReserveOutcome, SettleOutcome

#: settled markers are kept this long so a very late duplicate settle is still ignored
SETTLED_TTL_SECONDS = 7 * 86_400
#: expiry for counters created by a settle whose reservation is unknown (expired or fail-open)
ORPHAN_COUNTER_TTL_SECONDS = 40 * 86_400


@dataclass(slots=True)
class _Counter:
    committed: int = 0
    reserved: int = 0
    expires_at: float = 0.0


@dataclass(slots=True)
class _Reservation:
    lease_until: float
    holds: list[tuple[str, int, float]] = field(default_factory=list)


class MemoryLedger:
    name = "memory"

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._counters: dict[str, _Counter] = {}
        self._reservations: dict[str, _Reservation] = {}
        self._settled: dict[str, float] = {}
        self._marks: dict[str, float] = {}
        self._docs: dict[str, dict[str, Any]] = {}

    # --- internals (lock held) -----------------------------------------------------------
    def _sweep(self, now: float) -> None:
        for rid in [r for r, res in self._reservations.items() if res.lease_until <= now]:
            self._release(self._reservations.pop(rid))

    def _release(self, res: _Reservation) -> None:
        for key, amount, _exp in res.holds:
            self._counters[key].reserved -= amount

    def _gc(self, now: float) -> None:
        for store in (self._settled, self._marks):
            for key in [k for k, exp in store.items() if exp <= now]:
                del store[key]
        for key in [k for k, c in self._counters.items() if c.expires_at <= now and c.reserved == 0]:
            del self._counters[key]

    # --- BudgetLedger ---------------------------------------------------------------------
    async def reserve(
        self, reservation_id: str, charges: Sequence[CounterCharge], lease_seconds: float
    ) -> ReserveOutcome:
        with self._lock:
            now = self._clock()
            self._sweep(now)
            if reservation_id in self._settled:
                return ReserveOutcome(False, reservation_id, denied_key="<already settled>")
            if reservation_id in self._reservations:
                return ReserveOutcome(True, reservation_id)
            for ch in charges:
                if ch.limit is None:
                    continue
                c = self._counters.get(ch.key) or _Counter()
                if c.committed + c.reserved + ch.amount > ch.limit:
                    return ReserveOutcome(False, reservation_id, ch.key, c.committed, c.reserved, ch.limit)
            res = _Reservation(lease_until=now + lease_seconds)
            for ch in charges:
                c = self._counters.setdefault(ch.key, _Counter(expires_at=ch.expires_at))
                c.expires_at = max(c.expires_at, ch.expires_at)
                c.reserved += ch.amount
                res.holds.append((ch.key, ch.amount, ch.expires_at))
            self._reservations[reservation_id] = res
            if len(self._counters) % 1024 == 0:
                self._gc(now)
            return ReserveOutcome(True, reservation_id)

    async def settle(self, reservation_id: str, actual: Mapping[str, int]) -> SettleOutcome:
        with self._lock:
            now = self._clock()
            if reservation_id in self._settled:
                return SettleOutcome(reservation_id, settled=False, already_settled=True)
            self._settled[reservation_id] = now + SETTLED_TTL_SECONDS
            res = self._reservations.pop(reservation_id, None)
            expiry: dict[str, float] = {}
            if res is not None:
                self._release(res)
                expiry = {key: exp for key, _a, exp in res.holds}
            lease_expired = res is None or res.lease_until <= now
            touched: dict[str, CounterState] = {}
            for key, amount in actual.items():
                c = self._counters.get(key)
                if c is None:
                    c = self._counters[key] = _Counter(
                        expires_at=expiry.get(key, now + ORPHAN_COUNTER_TTL_SECONDS)
                    )
                c.committed += max(0, int(amount))
                touched[key] = CounterState(c.committed, c.reserved)
            return SettleOutcome(reservation_id, True, lease_expired=lease_expired, counters=touched)

    async def counters(self, keys: Sequence[str]) -> dict[str, CounterState]:
        with self._lock:
            self._sweep(self._clock())
            out = {}
            for key in keys:
                c = self._counters.get(key)
                out[key] = CounterState(c.committed, c.reserved) if c else CounterState()
            return out

    async def aclose(self) -> None:
        return None

    # --- LedgerExtras ---------------------------------------------------------------------
    async def mark_once(self, key: str, expires_at: float) -> bool:
        with self._lock:
            now = self._clock()
            if self._marks.get(key, 0.0) > now:
                return False
            self._marks[key] = expires_at
            return True

    async def get_document(self, name: str) -> dict[str, Any] | None:
        with self._lock:
            doc = self._docs.get(name)
            return None if doc is None else dict(doc)

    async def put_document(self, name: str, doc: dict[str, Any]) -> None:
        with self._lock:
            self._docs[name] = dict(doc)
