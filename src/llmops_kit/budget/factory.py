"""Build a ledger by name; imports a backend only when it is chosen (redis is an extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from llmops_kit.budget.base import BudgetLedger

LedgerKind = Literal["memory", "sqlite", "redis"]


def build_ledger(
    kind: LedgerKind | str,
    *,
    db_path: str | Path | None = None,
    redis_url: str | None = None,
    key_prefix: str = "llmops-budget",
) -> BudgetLedger:
    kind = str(kind).strip().lower()
    if kind == "auto":
        kind = "redis" if redis_url else "sqlite"
    if kind == "memory":
        from llmops_kit.budget.ledger_memory import MemoryLedger

        return MemoryLedger()
    if kind == "sqlite":
        from llmops_kit.budget.ledger_sqlite import SQLiteLedger

        return SQLiteLedger(db_path or Path(".llmops") / "budget.sqlite3")
    if kind == "redis":
        if not redis_url:
            raise ValueError("BUDGET_LEDGER=redis needs REDIS_URL (redis://host:6379/0)")
        try:
            from llmops_kit.budget.ledger_redis import RedisLedger
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ValueError(
                "BUDGET_LEDGER=redis needs the redis extra: pip install 'llmops-kit[redis]'"
            ) from exc
        return RedisLedger(redis_url, key_prefix=key_prefix)
    raise ValueError(f"BUDGET_LEDGER: unknown ledger {kind!r}; expected auto | memory | sqlite | redis")
