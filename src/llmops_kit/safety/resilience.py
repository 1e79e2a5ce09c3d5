"""Retry with backoff and a circuit breaker for calls to a remote safety service.

Why not the SDK's own retry policy: a guard sits on the user's request path, so it needs a
hard per-attempt timeout, a cap on how long a ``Retry-After`` may make the user wait, and a
breaker that sees every failure. The Azure client is therefore built with ``retry_total=0``
and this module does the retrying.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Literal, TypeVar

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)

__all__ = ["BreakerOpenError", "CircuitBreaker", "RetryPolicy", "is_retryable", "retry_after_seconds"]

T = TypeVar("T")
BreakerState = Literal["closed", "open", "half_open"]

#: HTTP statuses worth another attempt (throttling and transient server faults).
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class BreakerOpenError(RuntimeError):
    """The breaker is open: the endpoint failed repeatedly and is resting for its cool-down."""


class CircuitBreaker:
    """Consecutive-failure breaker. Closed: calls pass. After ``failure_threshold`` failures
    in a row it opens and rejects calls for ``cooldown_seconds``; then it lets one probe
    through (half-open): success closes it, failure opens it for another cool-down.

    ``clock`` is injectable so the state machine can be tested without sleeping."""

    def __init__(
        self,
        failure_threshold: int = 5,
        cooldown_seconds: float = 30.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be >= 1")
        if cooldown_seconds <= 0:
            raise ValueError("cooldown_seconds must be > 0")
        self.failure_threshold = failure_threshold
        self.cooldown_seconds = cooldown_seconds
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probe_in_flight = False
        self.times_opened = 0

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.cooldown_seconds:
            return "half_open"
        return "open"

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def allow(self) -> bool:
        """Whether a call may go out now; in half-open only one probe at a time."""
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and not self._probe_in_flight:
            self._probe_in_flight = True
            return True
        return False

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._probe_in_flight = False

    def record_failure(self) -> None:
        self._failures += 1
        if self._opened_at is not None:
            # A failed half-open probe (or a straggler while open): rest again from now.
            self._opened_at = self._clock()
            self._probe_in_flight = False
            return
        if self._failures >= self.failure_threshold:
            self._opened_at = self._clock()
            self.times_opened += 1


def _status(exc: BaseException) -> int | None:
    return getattr(exc, "status_code", None) if isinstance(exc, HttpResponseError) else None


def is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, ClientAuthenticationError):
        return False
    if isinstance(exc, asyncio.TimeoutError | ServiceRequestError | ServiceResponseError):
        return True
    if isinstance(exc, HttpResponseError):
        return _status(exc) in RETRYABLE_STATUS
    return False


def retry_after_seconds(headers: Mapping[str, str] | None, *, now: float | None = None) -> float | None:
    """Seconds the server asked us to wait: ``retry-after-ms``, ``x-ms-retry-after-ms``, or
    ``Retry-After`` as seconds or an HTTP date. ``None`` when absent or unparsable."""
    if not headers:
        return None
    lower = {k.lower(): v for k, v in headers.items()}
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        if name in lower:
            try:
                return max(0.0, float(lower[name]) / 1000.0)
            except ValueError:
                pass
    value = lower.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclass(slots=True)
class RetryPolicy:
    """``max_retries`` extra attempts after the first, each bounded by ``attempt_timeout``.

    Backoff is exponential with full jitter. A 429 (or 503) with ``Retry-After`` waits exactly
    what the server asked, unless that exceeds ``max_retry_after`` — then waiting would hurt the
    user more than failing, so the error is raised and the fail mode decides."""

    max_retries: int = 2
    attempt_timeout: float = 5.0
    backoff_base: float = 0.25
    backoff_max: float = 4.0
    max_retry_after: float = 5.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rng: Callable[[], float] = random.random

    def delay_for(self, attempt: int, exc: BaseException) -> float | None:
        """Delay before retry number ``attempt`` (1-based), or ``None`` to stop retrying."""
        if attempt > self.max_retries or not is_retryable(exc):
            return None
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None) if response is not None else None
        asked = retry_after_seconds(headers) if _status(exc) in (429, 503) else None
        if asked is not None:
            return asked if asked <= self.max_retry_after else None
        return min(self.backoff_max, self.backoff_base * (2 ** (attempt - 1))) * self.rng()

    async def run(
        self,
        attempt_fn: Callable[[], Awaitable[T]],
        *,
        breaker: CircuitBreaker | None = None,
        on_retry: Callable[[int, BaseException, float], None] | None = None,
    ) -> T:
        attempt = 0
        while True:
            if breaker is not None and not breaker.allow():
                raise BreakerOpenError("circuit breaker open")
            try:
                result = await asyncio.wait_for(attempt_fn(), timeout=self.attempt_timeout)
            except Exception as exc:
                if breaker is not None:
                    breaker.record_failure()
                attempt += 1
                delay = self.delay_for(attempt, exc)
                if delay is None:
                    raise
                if on_retry is not None:
                    on_retry(attempt, exc, delay)
                await self.sleep(delay)
                continue
            if breaker is not None:
                breaker.record_success()
            return result
