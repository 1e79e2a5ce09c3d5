"""Budget contracts: counters with limits, reserved before a model call and settled after.

Money is integer micro-USD everywhere (a $/1M-token price is numerically the micro-USD
price of one token), so ledgers never compare floats. A ledger knows nothing about
tenants or days: the policy turns a run into *charges* against counter keys that already
carry the window id (``tenant=t1/day=2026-11-23/cost_micro_usd``), which makes resets
implicit and a reset job unnecessary.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

BudgetUnit = Literal["input_tokens", "output_tokens", "total_tokens", "cost_micro_usd"]
BudgetScopeKind = Literal["global", "tenant", "user", "agent", "session", "run", "call"]
BudgetWindow = Literal["call", "run", "day", "month"]
BudgetFailMode = Literal["closed", "open"]

BUDGET_UNITS: tuple[BudgetUnit, ...] = ("input_tokens", "output_tokens", "total_tokens", "cost_micro_usd")


@dataclass(frozen=True, slots=True)
class BudgetAmount:
    """An amount in every unit at once; a charge picks the unit its limit is in."""

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cost_micro_usd: int = 0

    def get(self, unit: BudgetUnit) -> int:
        return int(getattr(self, unit))

    @property
    def cost_usd(self) -> float:
        return self.cost_micro_usd / 1_000_000


@dataclass(frozen=True, slots=True)
class BudgetSubject:
    """Who a reservation is for. Any field left ``None`` simply matches no scoped limit."""

    tenant_id: str | None = None
    user_id: str | None = None
    agent: str | None = None
    session_id: str | None = None
    run_id: str | None = None
    call_id: str | None = None
    model: str | None = None


@dataclass(frozen=True, slots=True)
class CounterCharge:
    """One counter one reservation touches. ``limit=None`` counts without limiting."""

    key: str
    unit: BudgetUnit
    amount: int
    limit: int | None
    expires_at: float
    label: str = ""
    resets_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CounterState:
    committed: int = 0
    reserved: int = 0


@dataclass(slots=True)
class ReserveOutcome:
    granted: bool
    reservation_id: str
    denied_key: str | None = None
    committed: int = 0
    reserved: int = 0
    limit: int | None = None


@dataclass(slots=True)
class SettleOutcome:
    reservation_id: str
    settled: bool
    already_settled: bool = False
    lease_expired: bool = False
    #: committed/reserved of every touched counter after the settle (drives soft thresholds)
    counters: dict[str, CounterState] = field(default_factory=dict)


@runtime_checkable
class BudgetLedger(Protocol):
    """Atomic all-or-nothing counters. Implementations: memory, SQLite, Redis."""

    name: str

    async def reserve(
        self, reservation_id: str, charges: Sequence[CounterCharge], lease_seconds: float
    ) -> ReserveOutcome: ...

    async def settle(self, reservation_id: str, actual: Mapping[str, int]) -> SettleOutcome:
        """Release the hold and commit ``actual`` per counter key. Idempotent by reservation id."""
        ...

    async def counters(self, keys: Sequence[str]) -> dict[str, CounterState]: ...

    async def aclose(self) -> None: ...


@dataclass(slots=True)
class LimitState:
    """One limit as a user sees it: ``llmops-kit budget show`` and ``RunResult.budget``."""

    label: str
    scope: str
    window: str
    unit: BudgetUnit
    limit: int
    used: int
    reserved: int
    remaining: int
    resets_at: datetime | None = None


@dataclass(slots=True)
class BudgetState:
    limits: list[LimitState] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"limits": [
            {"label": x.label, "scope": x.scope, "window": x.window, "unit": x.unit, "limit": x.limit,
             "used": x.used, "reserved": x.reserved, "remaining": x.remaining,
             "resets_at": x.resets_at.isoformat() if x.resets_at else None}
            for x in self.limits
        ]}


@dataclass(slots=True)
class BudgetReservation:
    """The result of an admission. ``granted=False`` carries a reason naming the limit and reset."""

    reservation_id: str
    granted: bool
    subject: BudgetSubject
    estimate: BudgetAmount
    charges: tuple[CounterCharge, ...] = ()
    reason: str | None = None
    denied_limit: str | None = None
    resets_at: datetime | None = None
    fail_open: bool = False
    #: the estimate, not yet computed: no limit applied at admission (see ``BudgetGate.reserve``)
    deferred: Callable[[], BudgetAmount] | None = None

    def reserved(self) -> BudgetAmount:
        """The estimate, computed now if it was deferred (a call settled without reported usage
        is charged this, never $0, whether or not a limit applied)."""
        if self.deferred is not None:
            self.estimate, self.deferred = self.deferred(), None
        return self.estimate


@dataclass(slots=True)
class BudgetSettlement:
    reservation_id: str
    actual: BudgetAmount
    settled_at_reserved: bool = False
    over_reservation: bool = False
    already_settled: bool = False


@runtime_checkable
class BudgetGate(Protocol):
    """What the pipeline and the framework integrations call around each model call or run."""

    async def reserve(
        self, subject: BudgetSubject, estimate: BudgetAmount | Callable[[], BudgetAmount]
    ) -> BudgetReservation:
        """Hold ``estimate`` against every limit that applies to ``subject``.

        A callable estimate is computed only when a limit applies (counting a prompt's tokens
        is most of a reservation's cost, and wasted when nothing is metered); otherwise the
        grant carries it as ``deferred``, resolved by :meth:`BudgetReservation.reserved`.
        """
        ...

    async def settle(
        self, reservation: BudgetReservation, actual: BudgetAmount | None
    ) -> BudgetSettlement:
        """``actual=None`` (usage not reported) settles at the reserved amount, never at zero."""
        ...

    async def state(self, subject: BudgetSubject) -> BudgetState: ...

    async def aclose(self) -> None: ...


# --- additions (budget helper) --------------------------------------------------------------


class BudgetLedgerUnavailable(RuntimeError):
    """The ledger cannot be reached or is locked; the manager applies the fail mode."""


@dataclass(frozen=True, slots=True)
class BudgetThresholdEvent:
    """One soft-threshold crossing, reported once per limit, percent and window."""

    label: str
    percent: int
    window_id: str
    key: str
    unit: BudgetUnit
    limit: int
    used: int
    subject: BudgetSubject | None = None
    resets_at: datetime | None = None


@runtime_checkable
class LedgerExtras(Protocol):
    """What every packaged ledger offers besides counters: once-markers and stored policy."""

    async def mark_once(self, key: str, expires_at: float) -> bool:
        """True only for the first caller per key (until ``expires_at``, epoch seconds)."""
        ...

    async def get_document(self, name: str) -> dict[str, Any] | None: ...

    async def put_document(self, name: str, doc: dict[str, Any]) -> None: ...
