"""Packaged prices, overrides, deployments, unknown models, cost arithmetic, estimates."""

from __future__ import annotations

import json

import pytest

from llmops_kit.budget.estimate import actual_amount, estimate_amount
from llmops_kit.pricing.base import ModelPrice, Pricing, UnknownModelPriceError
from llmops_kit.pricing.table import PriceTable, PriceTableError
from llmops_kit.pricing.tokens import default_token_counter
from llmops_kit.usage import TokenUsage


def test_packaged_table_has_openai_and_azure_prices() -> None:
    table = PriceTable.load()
    assert isinstance(table, Pricing)
    p = table.price_for("gpt-4o")
    assert (p.input_usd_per_mtok, p.output_usd_per_mtok, p.cached_input_usd_per_mtok) == (2.5, 10.0, 1.25)
    assert table.price_for("gpt-4.1-mini").input_usd_per_mtok == 0.4
    assert table.price_for("azure/eu/gpt-4o-2024-08-06").input_usd_per_mtok == 2.75
    assert table.price_for("azure/gpt-4o-mini").output_usd_per_mtok == 0.6
    assert "litellm" in table.table_version and "generated" in table.table_version


def test_cost_rounds_up_and_applies_cached_and_reasoning_prices() -> None:
    table = PriceTable.load(
        overrides={"r1": {"input": 1.0, "output": 4.0, "cached_input": 0.25, "reasoning": 8.0}}
    )
    # gpt-4o: 1000 in ($2.50/M) + 1000 out ($10/M) = 2,500 + 10,000 micro-USD
    assert table.cost_micro_usd("gpt-4o", TokenUsage(1000, 1000)) == 12_500
    # 1 input token of gpt-4o-mini costs 0.15 micro-USD -> rounds up to 1, never down to 0
    assert table.cost_micro_usd("gpt-4o-mini", TokenUsage(1, 0)) == 1
    # 800 of 1000 input tokens cached at $1.25/M: 200*2.5 + 800*1.25 = 1,500
    assert table.cost_micro_usd("gpt-4o", TokenUsage(1000, 0, cache_read_input_tokens=800)) == 1_500
    # reasoning bills at the output rate when no reasoning rate exists (o3: $8/M)
    assert table.cost_micro_usd("o3", TokenUsage(0, 1000, reasoning_tokens=900)) == 8_000
    # with a reasoning rate: 100 visible * 4 + 900 reasoning * 8; 10 cached inputs at 0.25
    assert (
        table.cost_micro_usd("r1", TokenUsage(10, 1000, cache_read_input_tokens=10, reasoning_tokens=900))
        == 7_603
    )
    assert table.cost_usd("gpt-4o", TokenUsage(1000, 1000)) == pytest.approx(0.0125)


def test_deployments_map_to_base_models_and_unknown_is_never_free(tmp_path) -> None:
    table = PriceTable.load(deployments={"prod-chat": "azure/gpt-4o"})
    assert table.price_for("prod-chat").input_usd_per_mtok == 2.5
    assert table.price_for("gpt-4o-2099-01-01").model == "gpt-4o"  # undated fallback
    with pytest.raises(UnknownModelPriceError, match="my-model"):
        table.price_for("my-model")
    default = PriceTable.load(unknown="default", default_price={"input": 3.0, "output": 12.0})
    price = default.price_for("my-model")
    assert (price.input_usd_per_mtok, price.source) == (3.0, "default")
    assert default.cost_micro_usd("my-model", TokenUsage(1000, 0)) == 3_000
    with pytest.raises(PriceTableError):
        PriceTable.load(unknown="default")


def test_override_file_then_inline_win(tmp_path) -> None:
    f = tmp_path / "prices.yaml"
    f.write_text(
        "models:\n  gpt-4o: {input: 2.0, output: 8.0}\n  custom: {input: 1, output: 2}\n"
        "deployments:\n  team-bot: custom\n"
    )
    table = PriceTable.load(overrides_file=f, overrides={"custom": {"input": 5, "output": 6}})
    assert table.price_for("gpt-4o").input_usd_per_mtok == 2.0
    assert table.price_for("gpt-4o").source == "file:prices.yaml"
    assert table.price_for("team-bot").input_usd_per_mtok == 5.0
    j = tmp_path / "p.json"
    j.write_text(json.dumps({"gpt-4o": {"input": 9, "output": 9}}))
    assert PriceTable.load(overrides_file=j).price_for("gpt-4o").output_usd_per_mtok == 9.0


@pytest.mark.parametrize(
    "row,match",
    [
        ({"input": 1}, "missing output"),
        ({"input": -1, "output": 1}, "non-negative"),
        ({"input": "x", "output": 1}, "non-negative"),
        ({"input_cost_per_token": 1, "output": 1}, "unknown field"),
    ],
)
def test_bad_override_rows_name_model_and_field(row, match) -> None:
    with pytest.raises(PriceTableError, match=match):
        PriceTable.load(overrides={"m": row})


def test_estimate_and_actual_amounts() -> None:
    table, counter = PriceTable.load(), default_token_counter()
    est = estimate_amount(table, counter, "gpt-4o", [{"role": "user", "content": "hello world"}], 100)
    assert est.input_tokens == 2 + 3 + 1 + 3  # content + role + per-message + reply primer
    assert est.output_tokens == 100 and est.total_tokens == est.input_tokens + 100
    assert est.cost_micro_usd == table.cost_micro_usd("gpt-4o", TokenUsage(est.input_tokens, 100))
    assert estimate_amount(table, counter, "gpt-4o", "hello world", 100) == est
    act = actual_amount(table, "gpt-4o", TokenUsage(1000, 10, cache_read_input_tokens=1000))
    assert act.cost_micro_usd == 1_250 + 100 and act.total_tokens == 1010


def test_model_price_dataclass_default_source() -> None:
    assert ModelPrice("m", 1.0, 2.0).source == "builtin"


def test_output_bound_uses_request_then_cap_then_model_limit() -> None:
    from llmops_kit.budget.estimate import bound_output_tokens

    table = PriceTable.load()
    assert bound_output_tokens(table, "gpt-4o", 200, 1024) == 200
    assert bound_output_tokens(table, "gpt-4o", None, 1024) == 1024
    assert bound_output_tokens(table, "gpt-4o", 999_999_999, 1024) == 16_384  # gpt-4o max output
    assert bound_output_tokens(table, "unknown-model", None, 1024) == 1024


def _decimal_cost(price: ModelPrice, usage: TokenUsage) -> int:
    """The cost arithmetic spelled out in Decimals: the reference the table's integer rates must equal."""
    import math
    from decimal import Decimal

    def rate(value: float | None) -> Decimal | None:
        return None if value is None else Decimal(str(value))

    p_in = rate(price.input_usd_per_mtok)
    assert p_in is not None
    p_out = rate(price.output_usd_per_mtok) or Decimal(0)
    p_cached = rate(price.cached_input_usd_per_mtok) or p_in
    p_create = rate(price.cache_creation_usd_per_mtok) or p_in
    p_reason = rate(price.reasoning_usd_per_mtok)
    cache_read = max(0, min(usage.cache_read_input_tokens, usage.input_tokens))
    cache_create = max(0, min(usage.cache_creation_input_tokens, usage.input_tokens - cache_read))
    total = max(0, usage.input_tokens - cache_read - cache_create) * p_in + cache_read * p_cached \
        + cache_create * p_create
    output = max(0, usage.output_tokens)
    if p_reason is not None:
        reasoning = max(0, min(usage.reasoning_tokens, output))
        total += (output - reasoning) * p_out + reasoning * p_reason
    else:
        total += output * p_out
    return math.ceil(total)


def test_cost_equals_decimal_arithmetic_for_every_packaged_price_and_odd_rates() -> None:
    import random

    rng = random.Random(7)
    odd = {f"odd{i}": {"input": round(rng.uniform(0, 90), rng.randint(0, 7)),
                       "output": round(rng.uniform(0, 300), rng.randint(0, 7)),
                       "cached_input": rng.choice([None, 0, round(rng.uniform(0, 5), 6)]),
                       "reasoning": rng.choice([None, round(rng.uniform(0, 50), 3)])} for i in range(200)}
    table = PriceTable.load(overrides=odd)
    models = [*table.models(), *odd]
    for _ in range(20_000):
        model = rng.choice(models)
        tokens = [rng.choice([0, 1, 7, rng.randint(0, 10**6), rng.randint(0, 10**12)]) for _ in range(5)]
        usage = TokenUsage(tokens[0], tokens[1], cache_read_input_tokens=tokens[2],
                           cache_creation_input_tokens=tokens[3], reasoning_tokens=tokens[4])
        assert table.cost_micro_usd(model, usage) == _decimal_cost(table.price_for(model), usage), (model, usage)
