"""Window ids and reset times in the configured time zone.

The window id goes into the counter key (``day=2026-11-23``), so a new day simply uses a
new counter: resets are exact and implicit, and no reset job can skip or fire early.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from urllib.parse import quote
from zoneinfo import ZoneInfo

from llmops_kit.budget.base import BudgetSubject, BudgetWindow

#: how long a finished window's counters are kept (``budget show`` of yesterday, late settles)
GRACE_SECONDS = 2 * 86_400
#: run/call counters live for the run; a run longer than a day is not a budgeted request
RUN_TTL_SECONDS = 86_400


@dataclass(frozen=True, slots=True)
class WindowSpan:
    window_id: str
    resets_at: datetime | None
    expires_at: float


def zone(name: str | tzinfo) -> tzinfo:
    return ZoneInfo(name) if isinstance(name, str) else name


def _midnight(d: date, tz: tzinfo) -> datetime:
    # combine() with a zone-aware time handles DST days (23 or 25 hours) correctly
    return datetime.combine(d, time(0), tzinfo=tz)


def window_span(
    window: BudgetWindow, subject: BudgetSubject, now: float, tz: tzinfo, lease_seconds: float
) -> WindowSpan | None:
    """The current window of ``window`` for ``subject``; ``None`` if the subject lacks the id."""
    if window == "call":
        if subject.call_id is None:
            return None
        return WindowSpan(
            f"call={quote(subject.call_id, safe='')}", None, now + lease_seconds + RUN_TTL_SECONDS
        )
    if window == "run":
        if subject.run_id is None:
            return None
        return WindowSpan(
            f"run={quote(subject.run_id, safe='')}", None, now + lease_seconds + RUN_TTL_SECONDS
        )
    local = datetime.fromtimestamp(now, tz)
    if window == "day":
        start = local.date()
        resets = _midnight(start + timedelta(days=1), tz)
        return WindowSpan(f"day={start.isoformat()}", resets, resets.timestamp() + GRACE_SECONDS)
    if window == "month":
        first_next = (local.date().replace(day=1) + timedelta(days=32)).replace(day=1)
        resets = _midnight(first_next, tz)
        return WindowSpan(f"month={local.strftime('%Y-%m')}", resets, resets.timestamp() + GRACE_SECONDS)
    raise ValueError(f"unknown budget window {window!r}; expected call, run, day or month")
