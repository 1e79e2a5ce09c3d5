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

from llmops_kit.usage import TokenUsage, usage_from_counts


def to_token_usage(details: Mapping[str, Any] | None) -> TokenUsage | None:
    """``None`` when the provider reported nothing, so nobody mistakes "unknown" for zero - or
    reported input/output counts that are not counts (``usage_from_counts``): a malformed
    report never raises in bookkeeping and never prices a call at $0."""
    if not details:
        return None
    get = details.get
    return usage_from_counts(
        get("input_token_count"),
        get("output_token_count"),
        total_tokens=get("total_token_count"),
        cache_read_input_tokens=get("cache_read_input_token_count"),
        cache_creation_input_tokens=get("cache_creation_input_token_count"),
        reasoning_tokens=get("reasoning_output_token_count"),
    )


def usage_of(response: object) -> TokenUsage | None:
    """Usage of a ``ChatResponse``/``AgentResponse`` (``usage_details`` may be ``None``)."""
    return to_token_usage(getattr(response, "usage_details", None))
