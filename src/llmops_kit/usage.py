"""Token usage as reported by a provider, in one shape for every framework.

Usage is only ever *read* from what the framework reports (LangChain ``usage_metadata``,
MAF ``usage_details``); ``reported=False`` marks a figure that was not reported by the
provider (for example a stream without a usage chunk), so nobody mistakes a reservation
for a measurement.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("llmops_kit.usage")


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Tokens of one model call or of a whole run (sums of calls)."""

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    reasoning_tokens: int = 0
    reported: bool = True

    def __post_init__(self) -> None:
        if self.total_tokens == 0 and (self.input_tokens or self.output_tokens):
            object.__setattr__(self, "total_tokens", self.input_tokens + self.output_tokens)

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
            cache_read_input_tokens=self.cache_read_input_tokens + other.cache_read_input_tokens,
            cache_creation_input_tokens=self.cache_creation_input_tokens + other.cache_creation_input_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
            reported=self.reported and other.reported,
        )

    @property
    def is_empty(self) -> bool:
        return self.total_tokens == 0

    def to_dict(self) -> dict[str, int | bool]:
        # by hand: dataclasses.asdict deep-copies and costs more than the whole record build
        return {
            "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
            "total_tokens": self.total_tokens, "cache_read_input_tokens": self.cache_read_input_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "reasoning_tokens": self.reasoning_tokens, "reported": self.reported,
        }


EMPTY_USAGE = TokenUsage()


def token_count(value: Any) -> int | None:
    """A reported token count as a non-negative ``int``; ``None`` when missing or malformed.

    Custom models and provider proxies do send strings, fractional or non-finite floats,
    booleans and negative numbers. None of those is a count: reading one must neither raise
    (after the model was called and paid, which would leave the call unsettled) nor price the
    call at $0, so it is reported as absent and the caller decides what that costs.
    """
    if type(value) is int:  # what providers send: the one check on the hot path
        return value if value >= 0 else None
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        return int(value) if value.is_integer() and value >= 0 else None  # NaN and inf are not integers
    try:
        count = int(value)  # an int subclass, a numeric string, a Decimal
    except (TypeError, ValueError, ArithmeticError):
        return None
    return count if count >= 0 else None


def usage_from_counts(
    input_tokens: Any,
    output_tokens: Any,
    *,
    total_tokens: Any = None,
    cache_read_input_tokens: Any = None,
    cache_creation_input_tokens: Any = None,
    reasoning_tokens: Any = None,
) -> TokenUsage | None:
    """A provider's usage report as ``TokenUsage``, or ``None`` when it cannot be trusted.

    Input and output tokens are what a call is priced on: when either is present but not a
    count (see :func:`token_count`), or both are absent, the report is treated as missing, so
    the call is flagged ``usage_missing`` and charged its reservation or estimate rather than
    a wrong figure. A malformed total, cache or reasoning count is dropped alone (the total
    is then input + output).
    """
    inp, out = token_count(input_tokens), token_count(output_tokens)
    if (inp is None and input_tokens is not None) or (out is None and output_tokens is not None):
        log.warning(  # the values are provider numbers, never content; cut short all the same
            "malformed token usage (input_tokens=%.20r, output_tokens=%.20r): the call counts as unreported",
            input_tokens, output_tokens,
        )
        return None
    if inp is None and out is None:
        return None
    return TokenUsage(  # the optional counts are mostly absent: no call for those
        input_tokens=inp or 0,
        output_tokens=out or 0,
        total_tokens=0 if total_tokens is None else token_count(total_tokens) or 0,
        cache_read_input_tokens=0 if cache_read_input_tokens is None else token_count(cache_read_input_tokens) or 0,
        cache_creation_input_tokens=(0 if cache_creation_input_tokens is None
                                     else token_count(cache_creation_input_tokens) or 0),
        reasoning_tokens=0 if reasoning_tokens is None else token_count(reasoning_tokens) or 0,
    )


_COUNT_FIELDS = ("input_tokens", "output_tokens", "total_tokens", "cache_read_input_tokens",
                 "cache_creation_input_tokens", "reasoning_tokens")


def is_count_report(usage: object) -> bool:
    """Whether ``usage`` is a ``TokenUsage`` whose counts are all non-negative ``int``s.

    The framework integrations only ever build such reports (``usage_from_counts``); an agent
    of the application's own hands ``AgentReply.usage`` to the pipeline directly, which checks
    it with this before pricing or settling anything on it.
    """
    if not isinstance(usage, TokenUsage):
        return False
    for name in _COUNT_FIELDS:
        value = getattr(usage, name)
        if type(value) is not int or value < 0:
            return False
    return True
