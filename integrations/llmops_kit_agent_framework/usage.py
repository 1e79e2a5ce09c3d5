"""MAF ``usage_details`` -> :class:`llmops_kit.usage.TokenUsage`, read exactly as MAF reported it.

Usage is only ever taken from a final ``ChatResponse``/``AgentResponse`` (``usage_details``),
never summed from streamed updates: the function-invocation loop re-emits cumulative
snapshots with ``merge_mode="replace"`` and MAF's finalizer already folds them, so reading
the final response is the one way that can't double count (tested with streams of
``replace`` snapshots and of ``usage_details=None`` chunks in ``tests/maf``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmops_kit.usage import TokenUsage

_FIELDS = {
    "input_token_count": "input_tokens",
    "output_token_count": "output_tokens",
    "total_token_count": "total_tokens",
    "cache_read_input_token_count": "cache_read_input_tokens",
    "cache_creation_input_token_count": "cache_creation_input_tokens",
    "reasoning_output_token_count": "reasoning_tokens",
}

_FIELD_PAIRS = tuple(_FIELDS.items())


def to_token_usage(details: Mapping[str, Any] | None) -> TokenUsage | None:
    """``None`` when the provider reported nothing, so nobody mistakes "unknown" for zero."""
    if not details:
        return None
    values: dict[str, int] = {}
    for source, target in _FIELD_PAIRS:
        raw = details.get(source)
        if raw is None:
            continue
        if type(raw) is int:  # what providers send: no conversion, no exception frame
            values[target] = raw if raw > 0 else 0
            continue
        try:
            values[target] = max(int(raw), 0)
        except (TypeError, ValueError):
            continue  # a malformed provider field must not break bookkeeping
    if not values:
        return None
    return TokenUsage(**values)


def usage_of(response: object) -> TokenUsage | None:
    """Usage of a ``ChatResponse``/``AgentResponse`` (``usage_details`` may be ``None``)."""
    return to_token_usage(getattr(response, "usage_details", None))

