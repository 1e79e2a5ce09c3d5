"""Reported token counts are read without trusting them: malformed ones count as unreported.

The integrations build every ``TokenUsage`` from a provider report through
``usage_from_counts``, so this is where a string, a negative or a NaN stops: never an
exception in bookkeeping after the model was paid, never a call priced at $0.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import pytest

from llmops_kit.usage import TokenUsage, token_count, usage_from_counts


@pytest.mark.parametrize(("value", "count"), [
    (0, 0), (7, 7), (10**12, 10**12), (3.0, 3), ("12", 12), (" 7 ", 7), (Decimal(5), 5),
    (None, None), (-1, None), (-0.5, None), (2.5, None), (float("nan"), None), (float("inf"), None),
    (True, None), (False, None), ("lots", None), ("1e3", None), ("-4", None), ([1], None), ({}, None),
    (Decimal("NaN"), None), (Decimal("Infinity"), None),
])
def test_token_count_accepts_counts_only(value: Any, count: int | None) -> None:
    assert token_count(value) == count


def test_a_well_formed_report_is_kept_whole() -> None:
    usage = usage_from_counts(120, 30, total_tokens=150, cache_read_input_tokens=100,
                              cache_creation_input_tokens=8, reasoning_tokens=12)
    assert usage == TokenUsage(120, 30, 150, 100, 8, 12)
    assert usage_from_counts(0, 0) == TokenUsage()  # a reported zero is a report, not a missing one
    assert usage_from_counts(None, 9) == TokenUsage(output_tokens=9, total_tokens=9)  # output-only reports exist


@pytest.mark.parametrize(("inp", "out"), [
    ("lots", 3), (-500, -50), (10, -5), (float("nan"), 4), (None, None), (12.5, 3), (True, 2),
])
def test_malformed_or_absent_priced_counts_make_the_report_missing(inp: Any, out: Any,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="llmops_kit.usage"):
        assert usage_from_counts(inp, out, total_tokens=99) is None
    if (inp, out) != (None, None):
        assert "malformed token usage" in caplog.text


def test_a_malformed_optional_count_is_dropped_alone() -> None:
    usage = usage_from_counts(40, 10, total_tokens=-1, cache_read_input_tokens="n/a",
                              cache_creation_input_tokens=float("inf"), reasoning_tokens=[3])
    assert usage == TokenUsage(input_tokens=40, output_tokens=10, total_tokens=50)
