"""MAF ``usage_details`` -> :class:`llmops_kit.usage.TokenUsage`, read exactly as MAF reported it.

Usage is only ever taken from a final ``ChatResponse``/``AgentResponse`` (``usage_details``),
never summed from streamed updates: the function-invocation loop re-emits cumulative
snapshots with ``merge_mode="replace"`` and MAF's finalizer already folds them, so reading
the final response is the one way that can't double count. :func:`usage_from_updates`
exists for callers that only hold updates, and honours ``merge_mode`` the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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


def to_token_usage(details: Mapping[str, Any] | None) -> TokenUsage | None:
    """``None`` when the provider reported nothing, so nobody mistakes "unknown" for zero."""
    if not details:
        return None
    values: dict[str, int] = {}
    for source, target in _FIELDS.items():
        raw = details.get(source)
        if raw is None:
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


def usage_from_updates(updates: Iterable[object]) -> TokenUsage | None:
    """Fold ``usage`` contents of streamed updates: ``replace`` resets, anything else adds."""
    total: TokenUsage | None = None
    for update in updates:
        for content in getattr(update, "contents", None) or ():
            if getattr(content, "type", None) != "usage":
                continue
            usage = to_token_usage(getattr(content, "usage_details", None))
            if usage is None:
                continue
            replaces = getattr(content, "merge_mode", None) == "replace" or total is None
            total = usage if replaces else total + usage  # a "replace" snapshot is the whole figure
    return total
