"""Regenerate ``src/llmops_kit/pricing/data/model_prices.json`` from LiteLLM's MIT price table.

Why a trimmed copy: the full LiteLLM table is 3 MB and 4,500 entries across 150 providers,
and importing litellm fetches it from GitHub at run time. We ship only OpenAI and Azure
OpenAI chat/responses models with the price and limit fields, in USD per 1M tokens (which
is numerically micro-USD per token), so the budget code never multiplies tiny floats.

Usage (no litellm import, only its data file is read)::

    .venv/bin/pip download litellm --no-deps -d /tmp/litellm
    python scripts/update_prices.py /tmp/litellm/litellm-*.whl      # a wheel, or
    python scripts/update_prices.py path/to/model_prices_and_context_window_backup.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
import zipfile
from pathlib import Path

MEMBER = "litellm/model_prices_and_context_window_backup.json"
OUT = Path(__file__).resolve().parents[1] / "src" / "llmops_kit" / "pricing" / "data" / "model_prices.json"
PROVIDERS = {"openai", "azure"}
MODES = {"chat", "responses"}
#: LiteLLM per-token field -> our per-1M-token field.
PRICE_FIELDS = {
    "input_cost_per_token": "input",
    "output_cost_per_token": "output",
    "cache_read_input_token_cost": "cached_input",
    "cache_creation_input_token_cost": "cache_creation",
    "output_cost_per_reasoning_token": "reasoning",
}
LIMIT_FIELDS = ("max_input_tokens", "max_output_tokens")


def _read_source(path: Path) -> tuple[dict, str]:
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as zf:
            raw = zf.read(MEMBER)
        match = re.search(r"litellm-([0-9][^-]*)-", path.name)
        return json.loads(raw), f"litellm {match.group(1) if match else '?'} {MEMBER}"
    return json.loads(path.read_text(encoding="utf-8")), f"{path.name}"


def _per_mtok(value: float) -> float:
    # 2.5e-06 * 1e6 = 2.4999999999999996 in binary floats; 9 decimals keeps every real price exact
    return round(float(value) * 1_000_000, 9)


def trim(table: dict) -> dict[str, dict]:
    """Keep OpenAI/Azure chat models with an input and output price; prices per 1M tokens."""
    out: dict[str, dict] = {}
    for key, entry in sorted(table.items()):
        if not isinstance(entry, dict) or entry.get("litellm_provider") not in PROVIDERS:
            continue
        if entry.get("mode") not in MODES:
            continue
        if "input_cost_per_token" not in entry or "output_cost_per_token" not in entry:
            continue
        row: dict[str, float | int | str] = {"provider": entry["litellm_provider"]}
        for src, dst in PRICE_FIELDS.items():
            if isinstance(entry.get(src), (int, float)):
                row[dst] = _per_mtok(entry[src])
        for name in LIMIT_FIELDS:
            if isinstance(entry.get(name), int):
                row[name] = entry[name]
        out[key] = row
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "source", type=Path, help="litellm wheel or model_prices_and_context_window_backup.json"
    )
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    table, source = _read_source(args.source)
    models = trim(table)
    if not models:
        print("no OpenAI/Azure chat models found; refusing to write an empty table", file=sys.stderr)
        return 1
    doc = {
        "_meta": {
            "source": source,
            "license": "MIT, Copyright (c) 2023 Berri AI (see NOTICE)",
            "generated": dt.date.today().isoformat(),
            "units": "USD per 1M tokens",
            "models": len(models),
        },
        "models": models,
    }
    args.out.write_text(json.dumps(doc, separators=(",", ":"), sort_keys=False) + "\n", encoding="utf-8")
    print(f"wrote {len(models)} models to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
