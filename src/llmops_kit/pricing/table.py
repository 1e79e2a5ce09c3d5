"""The price table: packaged LiteLLM-derived prices, overridable by a file and inline.

Merge order is built-in < overrides file < inline overrides, so an operator's negotiated
Azure price always wins over the packaged list price. Deployment names (arbitrary on Azure)
map to base models first. An unknown model raises or uses a configured default price:
it is never priced at $0, because a $0 model silently bypasses every cost budget.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any, Literal, NamedTuple

from llmops_kit.pricing.base import ModelPrice, UnknownModelPriceError
from llmops_kit.usage import TokenUsage

UnknownPolicy = Literal["error", "default"]

_DATE_SUFFIX = re.compile(r"-\d{4}-\d{2}-\d{2}$")
_PROVIDER_PREFIXES = ("openai/", "azure/", "azure_ai/")
#: accepted spellings in override files -> ModelPrice field
_FIELD_ALIASES = {
    "input": "input_usd_per_mtok",
    "input_usd_per_mtok": "input_usd_per_mtok",
    "output": "output_usd_per_mtok",
    "output_usd_per_mtok": "output_usd_per_mtok",
    "cached_input": "cached_input_usd_per_mtok",
    "cached_input_usd_per_mtok": "cached_input_usd_per_mtok",
    "cache_creation": "cache_creation_usd_per_mtok",
    "cache_creation_usd_per_mtok": "cache_creation_usd_per_mtok",
    "reasoning": "reasoning_usd_per_mtok",
    "reasoning_usd_per_mtok": "reasoning_usd_per_mtok",
    "max_input_tokens": "max_input_tokens",
    "max_output_tokens": "max_output_tokens",
}
_IGNORED_FIELDS = {"provider", "mode", "source"}


class PriceTableError(ValueError):
    """An override file or mapping is malformed; the message names the model and field."""


def _load_packaged() -> tuple[dict[str, Any], dict[str, Any]]:
    raw = (resources.files("llmops_kit.pricing") / "data" / "model_prices.json").read_text(encoding="utf-8")
    doc = json.loads(raw)
    return doc.get("models", {}), doc.get("_meta", {})


def _price_from_row(model: str, row: Mapping[str, Any], source: str) -> ModelPrice:
    if not isinstance(row, Mapping):
        raise PriceTableError(f"price for {model!r} must be a mapping, got {type(row).__name__}")
    kwargs: dict[str, Any] = {}
    for key, value in row.items():
        if key in _IGNORED_FIELDS:
            continue
        field = _FIELD_ALIASES.get(key)
        if field is None:
            raise PriceTableError(
                f"price for {model!r}: unknown field {key!r}; use input, output, cached_input, "
                "cache_creation, reasoning (USD per 1M tokens), max_input_tokens, max_output_tokens"
            )
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise PriceTableError(f"price for {model!r}: {key} must be a non-negative number")
        kwargs[field] = int(value) if field.startswith("max_") else float(value)
    for required in ("input_usd_per_mtok", "output_usd_per_mtok"):
        if required not in kwargs:
            raise PriceTableError(
                f"price for {model!r}: missing {required.split('_usd')[0]} (USD per 1M tokens)"
            )
    return ModelPrice(model=model, source=source, **kwargs)


def _read_mapping_file(path: Path) -> Mapping[str, Any]:
    text = Path(path).read_text(encoding="utf-8")
    if Path(path).suffix.lower() in {".yaml", ".yml"}:
        import yaml

        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    if not isinstance(data, Mapping):
        raise PriceTableError(f"{path}: expected a mapping of model -> price")
    return data


def _split_overrides(data: Mapping[str, Any]) -> tuple[Mapping[str, Any], Mapping[str, str]]:
    """Accept ``{"models": {...}, "deployments": {...}}`` or a bare ``{model: price}`` mapping."""
    if "models" in data or "deployments" in data:
        return data.get("models") or {}, data.get("deployments") or {}
    return data, {}


def _mtok(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(str(value))


_RESOLVED_MAX = 4096


class _Rates(NamedTuple):
    """A price's per-token rates (micro-USD per token = USD per 1M tokens) as exact integers over
    one common ``denominator``.

    The rates come from the table as decimal numbers (``Decimal(str(rate))``); scaled to one
    denominator they price a model call with a few integer products and one ceiling division -
    the same exact figure Decimal arithmetic gives, for a fifth of the cost (every model call is
    priced at least once on the request path).
    """

    input: int
    output: int
    cached_input: int
    cache_creation: int
    reasoning: int | None
    denominator: int

    @classmethod
    def of(cls, price: ModelPrice) -> _Rates:
        p_in = _mtok(price.input_usd_per_mtok)
        assert p_in is not None  # ModelPrice requires an input rate
        exact = (p_in, _mtok(price.output_usd_per_mtok) or Decimal(0), _mtok(price.cached_input_usd_per_mtok) or p_in,
                 _mtok(price.cache_creation_usd_per_mtok) or p_in, _mtok(price.reasoning_usd_per_mtok))
        ratios = [rate.as_integer_ratio() if rate is not None else None for rate in exact]
        denominator = math.lcm(*(r[1] for r in ratios if r is not None))
        scaled = [None if r is None else r[0] * (denominator // r[1]) for r in ratios]
        return cls(scaled[0], scaled[1], scaled[2], scaled[3], scaled[4], denominator)  # type: ignore[arg-type]


class PriceTable:
    """Implements :class:`~llmops_kit.pricing.base.Pricing`."""

    def __init__(
        self,
        prices: Mapping[str, ModelPrice],
        *,
        deployments: Mapping[str, str] | None = None,
        unknown: UnknownPolicy = "error",
        default_price: ModelPrice | None = None,
        table_version: str = "",
    ) -> None:
        if unknown not in ("error", "default"):
            raise PriceTableError(f"unknown must be 'error' or 'default', got {unknown!r}")
        if unknown == "default" and default_price is None:
            raise PriceTableError("unknown='default' needs a default_price")
        self._prices = dict(prices)
        self._deployments = dict(deployments or {})
        self._unknown = unknown
        self._default = default_price
        self.table_version = table_version
        # model name -> (price, its exact per-token rates): every model call prices its usage
        # several times (estimate, settle, metrics), and name resolution plus five Decimal
        # conversions cost more than the arithmetic. The table is immutable once built.
        self._resolved: dict[str, tuple[ModelPrice, _Rates]] = {}

    @classmethod
    def load(
        cls,
        overrides_file: str | Path | None = None,
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
        deployments: Mapping[str, str] | None = None,
        unknown: UnknownPolicy = "error",
        default_price: ModelPrice | Mapping[str, Any] | None = None,
    ) -> PriceTable:
        packaged, meta = _load_packaged()
        prices = {name: _price_from_row(name, row, "builtin") for name, row in packaged.items()}
        merged_deployments: dict[str, str] = {}
        if overrides_file is not None:
            file_models, file_deps = _split_overrides(_read_mapping_file(Path(overrides_file)))
            for name, row in file_models.items():
                prices[name] = _price_from_row(name, row, f"file:{Path(overrides_file).name}")
            merged_deployments.update({str(k): str(v) for k, v in file_deps.items()})
        for name, row in (overrides or {}).items():
            prices[name] = _price_from_row(name, row, "inline")
        merged_deployments.update(deployments or {})
        if isinstance(default_price, Mapping):
            default_price = _price_from_row("<default>", default_price, "default")
        elif default_price is not None and default_price.source == "builtin":
            default_price = ModelPrice(**{**_as_kwargs(default_price), "source": "default"})
        version = f"{meta.get('source', 'packaged table')} (generated {meta.get('generated', '?')})"
        return cls(
            prices,
            deployments=merged_deployments,
            unknown=unknown,
            default_price=default_price,
            table_version=version,
        )

    # --- lookup ---------------------------------------------------------------------------
    def _candidates(self, model: str) -> list[str]:
        base = self._deployments.get(model, model)
        names = [base]
        stripped = base
        for prefix in _PROVIDER_PREFIXES:
            if stripped.startswith(prefix):
                stripped = stripped[len(prefix) :]
                names.append(stripped)
                break
        undated = _DATE_SUFFIX.sub("", stripped)
        if undated != stripped:
            names.append(undated)
            if base.startswith("azure/"):
                names.insert(names.index(undated), "azure/" + undated)
        return names

    def find(self, model: str) -> ModelPrice | None:
        """The model's price, or ``None`` when it has none (no default applied)."""
        for name in self._candidates(model):
            price = self._prices.get(name)
            if price is not None:
                return price
        return None

    def price_for(self, model: str) -> ModelPrice:
        return self._resolve(model)[0]

    def _resolve(self, model: str) -> tuple[ModelPrice, _Rates]:
        hit = self._resolved.get(model)
        if hit is not None:
            return hit
        price = self._lookup(model)
        rates = _Rates.of(price)
        if len(self._resolved) >= _RESOLVED_MAX:  # bounded: model names come from callers
            self._resolved.clear()
        self._resolved[model] = (price, rates)
        return price, rates

    def _lookup(self, model: str) -> ModelPrice:
        price = self.find(model)
        if price is not None:
            return price
        if self._unknown == "default" and self._default is not None:
            return ModelPrice(**{**_as_kwargs(self._default), "model": model})
        raise UnknownModelPriceError(
            f"no price for model {model!r}: add it to the pricing file (PRICING_FILE), map the deployment "
            "to a base model, or set UNKNOWN_MODEL_PRICE=default with a default price"
        )

    def models(self) -> list[str]:
        return sorted(self._prices)

    # --- cost -----------------------------------------------------------------------------
    def cost_micro_usd(self, model: str, usage: TokenUsage) -> int:
        """Cost in whole micro-USD, rounded up so a budget never under-counts.

        Input: uncached tokens at the input rate, cache reads at the cached rate (input rate
        if none), cache writes at the cache-creation rate (input rate if none). Output
        includes reasoning tokens at the output rate, unless a reasoning rate exists.
        """
        p_in, p_out, p_cached, p_create, p_reason, denominator = self._resolve(model)[1]
        cache_read = max(0, min(usage.cache_read_input_tokens, usage.input_tokens))
        cache_create = max(0, min(usage.cache_creation_input_tokens, usage.input_tokens - cache_read))
        uncached = max(0, usage.input_tokens - cache_read - cache_create)
        total = uncached * p_in + cache_read * p_cached + cache_create * p_create
        output = max(0, usage.output_tokens)
        if p_reason is not None:
            reasoning = max(0, min(usage.reasoning_tokens, output))
            total += (output - reasoning) * p_out + reasoning * p_reason
        else:
            total += output * p_out
        return -(-total // denominator)  # exact ceiling of total / denominator

    def cost_usd(self, model: str, usage: TokenUsage) -> float:
        return self.cost_micro_usd(model, usage) / 1_000_000


def _as_kwargs(price: ModelPrice) -> dict[str, Any]:
    return {name: getattr(price, name) for name in ModelPrice.__slots__}
