"""Estimates before a call and actual amounts after it, in every budget unit.

The estimate is deliberately an upper bound: input is counted exactly (plus chat framing),
output is the full ``max_output_tokens`` and cost uses the uncached input rate; cached
discounts and shorter replies are credited back at settlement.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llmops_kit.budget.base import BudgetAmount
from llmops_kit.pricing.base import Pricing, TokenCounter
from llmops_kit.usage import TokenUsage


def _as_messages(value: Sequence[Any]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for item in value:
        if type(item) is dict and all(type(v) is str for v in item.values()):
            out.append(item)  # already role/content strings (the framework guards build these)
        elif isinstance(item, dict):
            out.append(
                {str(k): v if isinstance(v, str) else str(v) for k, v in item.items() if v is not None}
            )
        elif isinstance(item, str):
            out.append({"role": "user", "content": item})
        else:  # LangChain BaseMessage / MAF Message: read the text, not the repr
            content = getattr(item, "content", None)
            if content is None:
                content = getattr(item, "text", None)
            role = getattr(item, "role", None) or getattr(item, "type", None) or "user"
            out.append(
                {"role": str(role), "content": content if isinstance(content, str) else str(content or "")}
            )
    return out


def estimate_amount(
    pricing: Pricing,
    counter: TokenCounter,
    model: str,
    text_or_messages: str | Sequence[Any],
    max_output_tokens: int,
) -> BudgetAmount:
    if max_output_tokens < 0:
        raise ValueError("max_output_tokens must be >= 0")
    if isinstance(text_or_messages, str):
        messages = [{"role": "user", "content": text_or_messages}]
    else:
        messages = _as_messages(text_or_messages)
    input_tokens = counter.count_messages(messages, model)
    usage = TokenUsage(input_tokens=input_tokens, output_tokens=int(max_output_tokens))
    return BudgetAmount(
        input_tokens=input_tokens,
        output_tokens=int(max_output_tokens),
        total_tokens=input_tokens + int(max_output_tokens),
        cost_micro_usd=pricing.cost_micro_usd(model, usage),
    )


def actual_amount(pricing: Pricing, model: str, usage: TokenUsage) -> BudgetAmount:
    total = usage.total_tokens or (usage.input_tokens + usage.output_tokens)
    return BudgetAmount(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        total_tokens=total,
        cost_micro_usd=pricing.cost_micro_usd(model, usage),
    )


def bound_output_tokens(pricing: Pricing, model: str, requested: int | None, cap: int) -> int:
    """Output tokens to reserve: the request's ``max_tokens``, else the configured cap
    (``MAX_OUTPUT_TOKENS``), never above the model's own output limit when the table knows it.

    An unset ``max_tokens`` must not become an unbounded reservation (LiteLLM caps at 16,384
    for the same reason); callers should also pass the bound to the model so the estimate holds.
    """
    bound = requested if requested is not None and requested > 0 else cap
    try:
        model_max = pricing.price_for(model).max_output_tokens
    except LookupError:
        model_max = None
    return min(bound, model_max) if model_max else bound
