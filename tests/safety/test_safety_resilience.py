"""Breaker state machine, Retry-After parsing, retry decisions and text chunking."""

from __future__ import annotations

import asyncio
import email.utils

import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError

from llmops_kit.safety.chunking import batch_documents, split_text
from llmops_kit.safety.normalize import normalize
from llmops_kit.safety.resilience import (
    BreakerOpenError,
    CircuitBreaker,
    RetryPolicy,
    is_retryable,
    retry_after_seconds,
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_breaker_state_machine() -> None:
    clock = Clock()
    b = CircuitBreaker(3, 10.0, clock=clock)
    for _ in range(2):
        b.record_failure()
    assert b.state == "closed" and b.allow()
    b.record_success()
    assert b.consecutive_failures == 0
    for _ in range(3):
        b.record_failure()
    assert b.state == "open" and not b.allow()
    clock.now = 9.9
    assert not b.allow()
    clock.now = 10.0
    assert b.state == "half_open"
    assert b.allow() and not b.allow()  # exactly one probe in flight
    b.record_success()
    assert b.state == "closed" and b.allow() and b.times_opened == 1
    with pytest.raises(ValueError):
        CircuitBreaker(0, 1)
    with pytest.raises(ValueError):
        CircuitBreaker(1, 0)


def test_retry_after_forms() -> None:
    assert retry_after_seconds({"Retry-After": "3"}) == 3.0
    assert retry_after_seconds({"retry-after-ms": "250"}) == 0.25
    assert retry_after_seconds({"x-ms-retry-after-ms": "1500", "Retry-After": "9"}) == 1.5
    date = email.utils.formatdate(1_000_010.0, usegmt=True)
    assert retry_after_seconds({"Retry-After": date}, now=1_000_000.0) == pytest.approx(10.0)
    assert retry_after_seconds({"Retry-After": "soon"}) is None
    assert retry_after_seconds({}) is None and retry_after_seconds(None) is None


class _Resp:
    def __init__(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.status_code = status
        self.headers = headers or {}
        self.reason = "x"
        self.request = None

    def text(self) -> str:
        return ""


def _http(status: int, headers: dict[str, str] | None = None) -> HttpResponseError:
    err = HttpResponseError(message=f"status {status}", response=_Resp(status, headers))  # type: ignore[arg-type]
    return err


def test_retryable_classification() -> None:
    assert is_retryable(_http(429)) and is_retryable(_http(503)) and is_retryable(_http(500))
    assert not is_retryable(_http(400)) and not is_retryable(_http(404))
    assert not is_retryable(ClientAuthenticationError("nope"))
    assert is_retryable(ServiceRequestError("refused")) and is_retryable(asyncio.TimeoutError())
    assert not is_retryable(ValueError("bug"))


async def test_retry_policy_run_and_breaker_rejection() -> None:
    waits: list[float] = []

    async def sleep(s: float) -> None:
        waits.append(s)

    attempts = {"n": 0}

    async def flaky() -> str:
        attempts["n"] += 1
        if attempts["n"] < 3:
            raise _http(429, {"Retry-After": "1"})
        return "ok"

    policy = RetryPolicy(max_retries=3, sleep=sleep)
    assert await policy.run(flaky) == "ok" and waits == [1.0, 1.0]

    breaker = CircuitBreaker(1, 60)

    async def broken() -> str:
        raise _http(400)

    with pytest.raises(HttpResponseError):
        await policy.run(broken, breaker=breaker)
    with pytest.raises(BreakerOpenError):
        await policy.run(flaky, breaker=breaker)


def test_split_text_limits_overlap_and_coverage() -> None:
    text = " ".join(f"w{i}" for i in range(5000))
    pieces = split_text(text, 1000, overlap=50)
    assert all(len(p) <= 1000 for p in pieces)
    assert pieces[0].startswith("w0 ") and pieces[-1].endswith("w4999")
    # Every word appears whole in some piece (cuts are at spaces, pieces overlap).
    words = text.split()
    joined = set().union(*(p.split() for p in pieces))
    assert set(words) <= joined
    assert split_text("short", 10) == ["short"]
    assert all(len(p) <= 7 for p in split_text("x" * 50, 7))  # no whitespace: hard cuts
    with pytest.raises(ValueError):
        split_text("x", 0)


def test_batch_documents_respects_both_limits() -> None:
    docs = ["a" * 3000, "", "b" * 12000, "c" * 10, "d" * 10, "e" * 10, "f" * 10, "g" * 10]
    batches = batch_documents(docs, max_chars=10_000, max_docs=5)
    assert all(len(b) <= 5 and sum(len(p) for _, p in b) <= 10_000 for b in batches)
    indices = [i for b in batches for i, _ in b]
    assert 1 not in indices  # empty documents are skipped
    assert indices.count(2) == 2  # the 12k document was split in two
    assert sorted(set(indices)) == [0, 2, 3, 4, 5, 6, 7]


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("ＫＩＬＬ", "kill"),
        ("k\u200bi\u200dl\u2060l", "kill"),
        ("K1LL Y0U", "kill you"),
        ("kiiiiill", "kill"),
        ("I’m", "i'm"),
        ("version 1.2.3 costs $100", "version 1.2.3 costs $100"),
    ],
)
def test_normalize(raw: str, folded: str) -> None:
    assert normalize(raw).text == folded
