"""Price contracts. Prices are USD per 1M tokens, which equals micro-USD per token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from llmops_kit.usage import TokenUsage


class UnknownModelPriceError(LookupError):
    """A model has no price and no default price is configured; never silently $0."""


@dataclass(frozen=True, slots=True)
class ModelPrice:
    model: str
    input_usd_per_mtok: float
    output_usd_per_mtok: float
    cached_input_usd_per_mtok: float | None = None
    cache_creation_usd_per_mtok: float | None = None
    reasoning_usd_per_mtok: float | None = None
    max_input_tokens: int | None = None
    max_output_tokens: int | None = None
    source: str = "builtin"


@runtime_checkable
class Pricing(Protocol):
    def price_for(self, model: str) -> ModelPrice: ...

    def cost_micro_usd(self, model: str, usage: TokenUsage) -> int: ...


@runtime_checkable
class TokenCounter(Protocol):
    """Counts tokens offline. ``exact`` says whether a real tokenizer was used."""

    exact: bool

    def count_text(self, text: str, model: str | None = None) -> int: ...

    def count_messages(self, messages: list[dict[str, str]], model: str | None = None) -> int: ...
