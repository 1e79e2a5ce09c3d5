"""BudgetManager: turns a subject and an estimate into atomic ledger charges.

Admission is reserve → call → settle. All limits that apply to a subject are charged in one
ledger operation, so either every counter takes the hold or none does. Settlement is
idempotent by reservation id, shielded from cancellation, and when usage is missing it
commits the reserved amount (never $0). When the ledger is unreachable the fail mode
decides: ``closed`` denies, ``open`` allows, counts the admission and logs a warning;
settlements that could not be written are kept and retried, so spend is not lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import quote

from llmops_kit.budget.base import (
    BUDGET_UNITS,
    BudgetAmount,
    BudgetFailMode,
    BudgetLedger,
    BudgetLedgerUnavailable,
    BudgetReservation,
    BudgetSettlement,
    BudgetState,
    BudgetSubject,
    BudgetThresholdEvent,
    CounterCharge,
    CounterState,
    LedgerExtras,
    LimitState,
)
from llmops_kit.budget.policy import BudgetLimit, BudgetPolicy, limit_label
from llmops_kit.budget.windows import WindowSpan, window_span, zone
from llmops_kit.ids import new_id

_log = logging.getLogger(__name__)

#: name of the stored ``budget set`` document in the ledger
OVERRIDES_DOCUMENT = "policy_overrides"
_MAX_PENDING = 10_000
_MAX_SETTLED_SNAPSHOTS = 256


def counter_key(lim: BudgetLimit, scope_id: str | None, span: WindowSpan) -> str:
    """``tenant=acme/day=2026-11-23/cost_micro_usd``; ids are %-quoted so '/' cannot collide."""
    head = lim.scope if scope_id is None else f"{lim.scope}={quote(scope_id, safe='')}"
    return f"{head}/{span.window_id}/{lim.unit}"


def _fmt(unit: str, value: int) -> str:
    return f"${value / 1_000_000:,.6f}".rstrip("0").rstrip(".") if unit == "cost_micro_usd" else f"{value:,}"


@dataclass(slots=True)
class BudgetHold:
    """What :meth:`BudgetManager.hold` yields: set ``actual`` once usage is known."""

    reservation: BudgetReservation
    actual: BudgetAmount | None = None
    settlement: BudgetSettlement | None = None


@dataclass(slots=True)
class _Stats:
    fail_open_admissions: int = 0
    fail_closed_denials: int = 0
    over_reservations: int = 0
    pending_settles: int = 0
    threshold_events: int = 0
    extra: dict[str, int] = field(default_factory=dict)


class BudgetManager:
    """Implements :class:`~llmops_kit.budget.base.BudgetGate`."""

    def __init__(
        self,
        policy: BudgetPolicy,
        ledger: BudgetLedger,
        *,
        fail_mode: BudgetFailMode = "closed",
        timezone: str = "UTC",
        lease_seconds: float = 120.0,
        clock: Callable[[], float] = time.time,
        on_threshold: Callable[[BudgetThresholdEvent], None] | None = None,
        policy_refresh_seconds: float = 5.0,
    ) -> None:
        if fail_mode not in ("closed", "open"):
            raise ValueError(f"BUDGET_FAIL_MODE must be 'closed' or 'open', got {fail_mode!r}")
        if lease_seconds <= 0:
            raise ValueError("BUDGET_LEASE_SECONDS must be > 0")
        self.base_policy = policy
        self.ledger = ledger
        self.fail_mode = fail_mode
        self.tz = zone(timezone)
        self.lease_seconds = float(lease_seconds)
        self._clock = clock
        self._on_threshold = on_threshold
        self._refresh = policy_refresh_seconds
        self._policy = policy
        self._policy_read_at = float("-inf")
        self._marked: dict[str, float] = {}  # marker -> window expiry (pruned as windows close)
        self._pending: dict[str, dict[str, int]] = {}
        self._pending_failed_at = float("-inf")
        self.stats = _Stats()
        # counters each recent settle returned, by reservation id, so the run's closing
        # ``state_after_settle`` needs no second ledger round trip (bounded; oldest dropped)
        self._settled_counters: dict[str, dict[str, CounterState]] = {}

    # --- policy ---------------------------------------------------------------------------
    async def policy(self) -> BudgetPolicy:
        """Base policy plus ``budget set`` overrides stored in the ledger, re-read every few seconds.

        Reading the overrides on every admission would add a round trip per call; a short
        cache bounds how stale an edit can be. A failed read keeps the last known policy.
        """
        now = time.monotonic()
        if now - self._policy_read_at < self._refresh or not isinstance(self.ledger, LedgerExtras):
            return self._policy
        self._policy_read_at = now
        try:
            doc = await self.ledger.get_document(OVERRIDES_DOCUMENT)
            self._policy = self.base_policy.apply_overrides_doc(doc)
        except BudgetLedgerUnavailable as exc:
            _log.warning("budget overrides unreadable, keeping the last policy: %s", exc)
        except ValueError as exc:
            _log.error("stored budget overrides are invalid and were ignored: %s", exc)
            self._policy = self.base_policy
        return self._policy

    async def has_limits(self) -> bool:
        """Whether any limit is configured (base policy or stored overrides).

        Without one, no reservation can be refused or held, so a caller may skip the
        reserve/settle pair altogether (the MAF chat middleware does, per model call).
        """
        return bool((await self.policy()).limits)

    def invalidate_policy(self) -> None:
        self._policy_read_at = float("-inf")

    def _charges(
        self, policy: BudgetPolicy, subject: BudgetSubject, estimate: BudgetAmount, now: float
    ) -> list[tuple[CounterCharge, BudgetLimit]]:
        out: list[tuple[CounterCharge, BudgetLimit]] = []
        for lim, scope_id in policy.applicable(subject):
            span = window_span(lim.window, subject, now, self.tz, self.lease_seconds)
            if span is None:
                continue
            out.append(
                (
                    CounterCharge(
                        key=counter_key(lim, scope_id, span),
                        unit=lim.unit,
                        amount=max(0, estimate.get(lim.unit)),
                        limit=lim.limit,
                        expires_at=span.expires_at,
                        label=limit_label(lim.scope, scope_id, lim.window, lim.unit),
                        resets_at=span.resets_at,
                    ),
                    lim,
                )
            )
        return out

    @staticmethod
    def _reason(ch: CounterCharge, committed: int, reserved: int) -> str:
        used = ""
        if committed or reserved:
            used = f"used {_fmt(ch.unit, committed)} + reserved {_fmt(ch.unit, reserved)} + "
        if ch.resets_at is None:
            when = "per-request limit, resets with the next request"
        else:
            when = f"resets at {ch.resets_at.isoformat(timespec='minutes')} ({ch.resets_at.tzname()})"
        limit = _fmt(ch.unit, ch.limit or 0)
        return (
            f"{ch.label} limit {limit} would be exceeded ({used}estimate {_fmt(ch.unit, ch.amount)}); {when}"
        )

    # --- BudgetGate -----------------------------------------------------------------------
    async def reserve(
        self, subject: BudgetSubject, estimate: BudgetAmount | Callable[[], BudgetAmount]
    ) -> BudgetReservation:
        rid = new_id()
        policy = await self.policy()
        if callable(estimate):
            if not policy.applicable(subject):  # nothing meters this subject: skip the estimate
                return BudgetReservation(rid, True, subject, BudgetAmount(), deferred=estimate)
            estimate = estimate()
        pairs = self._charges(policy, subject, estimate, self._clock())
        charges = tuple(ch for ch, _ in pairs)
        if not charges:
            return BudgetReservation(rid, True, subject, estimate)
        for ch in charges:  # an estimate alone above a limit is denied without a round trip
            if ch.limit is not None and ch.amount > ch.limit:
                return self._denied(rid, subject, estimate, charges, ch, 0, 0)
        await self._flush_pending()
        try:
            outcome = await self.ledger.reserve(rid, charges, self.lease_seconds)
        except BudgetLedgerUnavailable as exc:
            return self._unavailable(rid, subject, estimate, charges, exc)
        if outcome.granted:
            return BudgetReservation(rid, True, subject, estimate, charges)
        hit = next((ch for ch in charges if ch.key == outcome.denied_key), None)
        if hit is None:
            return BudgetReservation(
                rid,
                False,
                subject,
                estimate,
                charges,
                reason=f"reservation {rid} refused by the ledger ({outcome.denied_key})",
            )
        return self._denied(rid, subject, estimate, charges, hit, outcome.committed, outcome.reserved)

    def _denied(
        self,
        rid: str,
        subject: BudgetSubject,
        estimate: BudgetAmount,
        charges: tuple[CounterCharge, ...],
        ch: CounterCharge,
        committed: int,
        reserved: int,
    ) -> BudgetReservation:
        return BudgetReservation(
            rid,
            False,
            subject,
            estimate,
            charges,
            reason=self._reason(ch, committed, reserved),
            denied_limit=ch.label,
            resets_at=ch.resets_at,
        )

    def _unavailable(
        self,
        rid: str,
        subject: BudgetSubject,
        estimate: BudgetAmount,
        charges: tuple[CounterCharge, ...],
        exc: Exception,
    ) -> BudgetReservation:
        if self.fail_mode == "open":
            self.stats.fail_open_admissions += 1
            _log.warning("budget ledger unavailable, admitting (BUDGET_FAIL_MODE=open): %s", exc)
            return BudgetReservation(
                rid,
                True,
                subject,
                estimate,
                charges,
                fail_open=True,
                reason=f"budget ledger unavailable, admitted fail-open: {exc}",
            )
        self.stats.fail_closed_denials += 1
        return BudgetReservation(
            rid,
            False,
            subject,
            estimate,
            charges,
            denied_limit="ledger",
            reason=f"budget ledger unavailable, denied (BUDGET_FAIL_MODE=closed): {exc}",
        )

    async def settle(self, reservation: BudgetReservation, actual: BudgetAmount | None) -> BudgetSettlement:
        """Commit actual usage; ``None`` commits the reserved amount. Shielded from cancellation."""
        amount, over = self._settle_amount(reservation, actual)
        if not reservation.granted or not reservation.charges:
            # nothing to write (no limit applied): no await, so no shield task is needed
            return BudgetSettlement(reservation.reservation_id, amount, settled_at_reserved=actual is None,
                                    over_reservation=over)
        return await asyncio.shield(self._settle(reservation, actual, amount, over))

    def _settle_amount(
        self, reservation: BudgetReservation, actual: BudgetAmount | None
    ) -> tuple[BudgetAmount, bool]:
        deferred = reservation.deferred is not None  # no limit applied: nothing was held to exceed
        amount = reservation.reserved() if actual is None else _non_negative(actual)
        over = not deferred and any(amount.get(u) > reservation.estimate.get(u) for u in BUDGET_UNITS)
        if over:
            self.stats.over_reservations += 1
            _log.info(
                "budget reservation %s: actual usage %s exceeds the reservation %s",
                reservation.reservation_id,
                amount,
                reservation.estimate,
            )
        return amount, over

    async def _settle(
        self, reservation: BudgetReservation, actual: BudgetAmount | None, amount: BudgetAmount, over: bool
    ) -> BudgetSettlement:
        rid = reservation.reservation_id
        at_reserved = actual is None
        committed = {
            ch.key: (ch.amount if at_reserved else amount.get(ch.unit)) for ch in reservation.charges
        }
        await self._flush_pending()
        try:
            outcome = await self.ledger.settle(rid, committed)
        except BudgetLedgerUnavailable as exc:
            if len(self._pending) < _MAX_PENDING:
                self._pending[rid] = committed
            self.stats.pending_settles = len(self._pending)
            _log.warning("budget settle of %s deferred, ledger unavailable: %s", rid, exc)
            return BudgetSettlement(rid, amount, settled_at_reserved=at_reserved, over_reservation=over)
        if outcome.lease_expired and not outcome.already_settled and not reservation.fail_open:
            _log.warning("budget reservation %s settled after its lease expired; usage recorded", rid)
        if outcome.counters and not outcome.already_settled:
            if len(self._settled_counters) >= _MAX_SETTLED_SNAPSHOTS:
                self._settled_counters.pop(next(iter(self._settled_counters)))
            self._settled_counters[rid] = outcome.counters
        await self._thresholds(reservation, outcome.counters)
        return BudgetSettlement(
            rid,
            amount,
            settled_at_reserved=at_reserved,
            over_reservation=over,
            already_settled=outcome.already_settled,
        )

    async def _flush_pending(self) -> None:
        """Retry settlements that failed while the ledger was down (idempotent by id)."""
        if not self._pending or time.monotonic() - self._pending_failed_at < 1.0:
            return
        for rid, committed in list(self._pending.items()):
            try:
                await self.ledger.settle(rid, committed)
            except BudgetLedgerUnavailable:
                self._pending_failed_at = time.monotonic()
                return
            self._pending.pop(rid, None)
        self.stats.pending_settles = len(self._pending)

    async def flush(self) -> int:
        """Retry deferred settlements now; returns how many are still pending."""
        self._pending_failed_at = float("-inf")
        await self._flush_pending()
        return len(self._pending)

    async def _thresholds(self, reservation: BudgetReservation, counters: dict) -> None:
        if self._on_threshold is None or not counters:
            return
        policy = self._policy
        by_key = {
            counter_key(lim, sid, span): lim
            for lim, sid in policy.applicable(reservation.subject)
            if (
                span := window_span(
                    lim.window, reservation.subject, self._clock(), self.tz, self.lease_seconds
                )
            )
            is not None
        }
        now = self._clock()
        if len(self._marked) > 1024:  # markers of closed windows are dead weight: drop them
            self._marked = {m: exp for m, exp in self._marked.items() if exp > now}
        for ch in reservation.charges:
            state = counters.get(ch.key)
            lim = by_key.get(ch.key)
            if state is None or not ch.limit or lim is None:
                continue
            if lim.window in ("run", "call"):
                continue  # a per-request cap is a hard limit; "50 % of one request" is not a budget alert
            percent = state.committed * 100 / ch.limit
            window_id = ch.key.split("/")[-2]
            for threshold in policy.thresholds_for(lim):
                marker = f"soft/{threshold}/{ch.key}"
                if percent < threshold or marker in self._marked:
                    continue
                first = True
                if isinstance(self.ledger, LedgerExtras):
                    try:
                        first = await self.ledger.mark_once(marker, ch.expires_at)
                    except BudgetLedgerUnavailable:
                        continue  # try again on a later settle
                self._marked[marker] = ch.expires_at
                if not first:
                    continue
                self.stats.threshold_events += 1
                event = BudgetThresholdEvent(
                    label=ch.label,
                    percent=threshold,
                    window_id=window_id,
                    key=ch.key,
                    unit=ch.unit,
                    limit=ch.limit,
                    used=state.committed,
                    subject=reservation.subject,
                    resets_at=ch.resets_at,
                )
                try:
                    self._on_threshold(event)
                except Exception:  # a telemetry hook must never break bookkeeping
                    _log.exception("budget on_threshold hook failed")

    async def state(self, subject: BudgetSubject) -> BudgetState:
        policy = await self.policy()
        if not policy.limits:  # nothing is metered (the embedded default): no clock, no windows
            return BudgetState()
        pairs = self._charges(policy, subject, BudgetAmount(), self._clock())
        if not pairs:
            return BudgetState()
        await self._flush_pending()
        counters = await self.ledger.counters([ch.key for ch, _ in pairs])
        return _state_of(pairs, counters)

    async def state_after_settle(self, subject: BudgetSubject, reservation_id: str) -> BudgetState:
        """:meth:`state` for a run whose reservation was just settled.

        The settle already returned every counter it touched, read in its own transaction;
        when those cover every limit that applies to ``subject`` now, they are the state and
        the ledger is not read again. Otherwise (another window, other scopes, a deferred
        settle) this is exactly :meth:`state`.
        """
        counters = self._settled_counters.pop(reservation_id, None)
        if counters is None:
            return await self.state(subject)
        policy = await self.policy()
        if not policy.limits:
            return BudgetState()
        pairs = self._charges(policy, subject, BudgetAmount(), self._clock())
        if not pairs:
            return BudgetState()
        if self._pending or any(ch.key not in counters for ch, _ in pairs):
            await self._flush_pending()
            counters = await self.ledger.counters([ch.key for ch, _ in pairs])
        return _state_of(pairs, counters)

    async def aclose(self) -> None:
        try:
            await self._flush_pending()
        finally:
            await self.ledger.aclose()

    # --- convenience ----------------------------------------------------------------------
    @asynccontextmanager
    async def hold(self, subject: BudgetSubject, estimate: BudgetAmount) -> AsyncIterator[BudgetHold]:
        """``async with manager.hold(s, est) as h:`` settles in ``finally``, also on cancel/error.

        A denied reservation is yielded too (check ``h.reservation.granted``); leaving the
        block without setting ``h.actual`` settles at the reserved amount.
        """
        holder = BudgetHold(await self.reserve(subject, estimate))
        try:
            yield holder
        finally:
            if holder.reservation.granted:
                holder.settlement = await self.settle(holder.reservation, holder.actual)


def _state_of(
    pairs: list[tuple[CounterCharge, BudgetLimit]], counters: dict[str, CounterState]
) -> BudgetState:
    limits = []
    for ch, lim in pairs:
        c = counters.get(ch.key)
        used, held = (c.committed, c.reserved) if c else (0, 0)
        limits.append(
            LimitState(
                label=ch.label,
                scope=lim.scope,
                window=lim.window,
                unit=lim.unit,
                limit=lim.limit,
                used=used,
                reserved=held,
                remaining=max(0, lim.limit - used - held),
                resets_at=ch.resets_at,
            )
        )
    return BudgetState(limits)


def _non_negative(amount: BudgetAmount) -> BudgetAmount:
    if min(amount.input_tokens, amount.output_tokens, amount.total_tokens, amount.cost_micro_usd) >= 0:
        return amount  # the usual case, checked without a generator (twice per model call)
    _log.warning("negative usage %s clamped to zero", amount)
    return BudgetAmount(*(max(0, amount.get(u)) for u in BUDGET_UNITS))
