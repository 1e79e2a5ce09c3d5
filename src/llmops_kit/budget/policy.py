"""Budget policy: which limits exist (scope × window × unit) and which apply to a subject.

The common cases come from ``.env`` (:meth:`BudgetPolicy.from_settings_values`), the rest
from a YAML/JSON file (:meth:`BudgetPolicy.load_file`), and operator edits made with
``llmops-kit budget set`` are stored in the ledger and merged on top (:meth:`merged`).
A limit with a ``match`` (``tenant acme``) replaces the generic limit of the same scope,
window and unit for that one id; that is how per-tenant overrides work.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from llmops_kit.budget.base import (
    BUDGET_UNITS,
    BudgetScopeKind,
    BudgetSubject,
    BudgetUnit,
    BudgetWindow,
)

SCOPES: tuple[str, ...] = get_args(BudgetScopeKind)
WINDOWS: tuple[str, ...] = get_args(BudgetWindow)
DEFAULT_SOFT_THRESHOLDS: tuple[int, ...] = (50, 80, 100)
_SUBJECT_FIELD = {
    "tenant": "tenant_id",
    "user": "user_id",
    "agent": "agent",
    "session": "session_id",
    "run": "run_id",
    "call": "call_id",
}
_WINDOW_WORD = {"day": "daily", "month": "monthly", "run": "per-run", "call": "per-call"}
#: override keys accepted per tenant (``.env`` JSON or the policy file's ``tenants:``)
_TENANT_KEYS = {
    "daily_cost_budget_usd": ("day", "cost_micro_usd"),
    "monthly_cost_budget_usd": ("month", "cost_micro_usd"),
    "daily_token_budget": ("day", "total_tokens"),
    "monthly_token_budget": ("month", "total_tokens"),
}


class BudgetPolicyError(ValueError):
    """A policy entry is malformed; the message names the entry and the accepted form."""


def usd_to_micro(usd: float) -> int:
    return round(float(usd) * 1_000_000)


@dataclass(frozen=True, slots=True)
class BudgetLimit:
    scope: BudgetScopeKind
    window: BudgetWindow
    unit: BudgetUnit
    limit: int
    match: str | None = None
    soft: tuple[int, ...] | None = None

    @property
    def identity(self) -> tuple[str, str | None, str, str]:
        return (self.scope, self.match, self.window, self.unit)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "scope": self.scope,
            "window": self.window,
            "unit": self.unit,
            "limit": self.limit,
        }
        if self.match is not None:
            out["match"] = self.match
        if self.soft is not None:
            out["soft"] = list(self.soft)
        return out


def limit_label(scope: str, scope_id: str | None, window: str, unit: str) -> str:
    """Human label: ``tenant acme daily cost_micro_usd``, ``run total_tokens``."""
    head = scope if scope in ("global", "run", "call") or scope_id is None else f"{scope} {scope_id}"
    if window == scope:
        return f"{head} {unit}"
    return f"{head} {_WINDOW_WORD.get(window, window)} {unit}"


def _soft(value: Any, where: str) -> tuple[int, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [v for v in value.replace(" ", "").split(",") if v]
    try:
        out = tuple(sorted({int(float(v)) for v in value}))
    except (TypeError, ValueError) as exc:
        raise BudgetPolicyError(f"{where}: soft thresholds must be percents like [50, 80, 100]") from exc
    if any(p <= 0 or p > 100 for p in out):
        raise BudgetPolicyError(f"{where}: soft thresholds must be between 1 and 100")
    return out


def parse_limit(entry: Mapping[str, Any], where: str = "limit") -> BudgetLimit | tuple[str, Any, str, str]:
    """One limit from a mapping; ``limit: null`` returns the identity to remove instead."""
    if not isinstance(entry, Mapping):
        raise BudgetPolicyError(f"{where}: expected a mapping with scope, window, unit, limit")
    scope = str(entry.get("scope", "")).lower()
    window = str(entry.get("window", "")).lower()
    unit = str(entry.get("unit", "cost_usd" if "usd" in entry else "")).lower()
    if scope not in SCOPES:
        raise BudgetPolicyError(f"{where}: scope {scope!r} is not one of {', '.join(SCOPES)}")
    if window not in WINDOWS:
        raise BudgetPolicyError(f"{where}: window {window!r} is not one of {', '.join(WINDOWS)}")
    raw = entry.get("usd", entry.get("limit"))
    match = entry.get("match")
    match = None if match in (None, "", "*") else str(match)
    if scope == "global" and match is not None:
        raise BudgetPolicyError(f"{where}: a global limit cannot have a match")
    if unit in ("cost_usd", "usd"):
        unit = "cost_micro_usd"
        if raw is not None:
            raw = usd_to_micro(_number(raw, where))
    if unit not in BUDGET_UNITS:
        raise BudgetPolicyError(f"{where}: unit {unit!r} is not one of {', '.join(BUDGET_UNITS)}, cost_usd")
    if raw is None:
        return (scope, match, window, unit)
    value = _number(raw, where)
    if value < 0 or value != int(value):
        raise BudgetPolicyError(f"{where}: limit must be a whole non-negative number (micro-USD or tokens)")
    return BudgetLimit(
        scope=scope,
        window=window,
        unit=unit,
        limit=int(value),
        match=match,  # type: ignore[arg-type]
        soft=_soft(entry.get("soft"), where),
    )


def _number(raw: Any, where: str) -> float:
    if isinstance(raw, bool):
        raise BudgetPolicyError(f"{where}: limit must be a number")
    try:
        return float(raw)
    except (TypeError, ValueError) as exc:
        raise BudgetPolicyError(f"{where}: limit must be a number, got {raw!r}") from exc


def _tenant_limits(tenant: str, values: Mapping[str, Any], where: str) -> list[BudgetLimit]:
    out: list[BudgetLimit] = []
    if not isinstance(values, Mapping):
        raise BudgetPolicyError(f"{where}: tenant {tenant!r} overrides must be a mapping")
    for key, value in values.items():
        if key not in _TENANT_KEYS:
            raise BudgetPolicyError(
                f"{where}: tenant {tenant!r}: unknown key {key!r}; use {', '.join(_TENANT_KEYS)}"
            )
        if value is None:
            continue
        window, unit = _TENANT_KEYS[key]
        amount = (
            usd_to_micro(_number(value, where)) if unit == "cost_micro_usd" else int(_number(value, where))
        )
        out.append(BudgetLimit("tenant", window, unit, amount, match=str(tenant)))  # type: ignore[arg-type]
    return out


class BudgetPolicy:
    """An immutable set of limits; identities are unique (the last definition wins)."""

    def __init__(
        self, limits: Iterable[BudgetLimit] = (), soft_thresholds: Sequence[int] = DEFAULT_SOFT_THRESHOLDS
    ):
        by_id: dict[tuple[str, str | None, str, str], BudgetLimit] = {}
        for lim in limits:
            by_id[lim.identity] = lim
        self.limits: tuple[BudgetLimit, ...] = tuple(by_id.values())
        self.soft_thresholds: tuple[int, ...] = _soft(list(soft_thresholds), "soft_thresholds") or ()

    # --- construction ---------------------------------------------------------------------
    @classmethod
    def from_settings_values(
        cls,
        *,
        max_tokens_per_request: int | None = None,
        daily_token_budget: int | None = None,
        daily_cost_budget_usd: float | None = None,
        monthly_cost_budget_usd: float | None = None,
        tenant_daily_cost_budget_usd: float | None = None,
        user_daily_token_budget: int | None = None,
        tenant_overrides: Mapping[str, Mapping[str, Any]] | str | None = None,
        soft_thresholds: Sequence[int] | str = DEFAULT_SOFT_THRESHOLDS,
    ) -> BudgetPolicy:
        limits: list[BudgetLimit] = []
        if max_tokens_per_request is not None:
            limits.append(BudgetLimit("run", "run", "total_tokens", int(max_tokens_per_request)))
            limits.append(BudgetLimit("call", "call", "total_tokens", int(max_tokens_per_request)))
        if daily_token_budget is not None:
            limits.append(BudgetLimit("global", "day", "total_tokens", int(daily_token_budget)))
        if daily_cost_budget_usd is not None:
            limits.append(BudgetLimit("global", "day", "cost_micro_usd", usd_to_micro(daily_cost_budget_usd)))
        if monthly_cost_budget_usd is not None:
            limits.append(
                BudgetLimit("global", "month", "cost_micro_usd", usd_to_micro(monthly_cost_budget_usd))
            )
        if tenant_daily_cost_budget_usd is not None:
            limits.append(
                BudgetLimit("tenant", "day", "cost_micro_usd", usd_to_micro(tenant_daily_cost_budget_usd))
            )
        if user_daily_token_budget is not None:
            limits.append(BudgetLimit("user", "day", "total_tokens", int(user_daily_token_budget)))
        if isinstance(tenant_overrides, str):
            try:
                tenant_overrides = json.loads(tenant_overrides) if tenant_overrides.strip() else None
            except json.JSONDecodeError as exc:
                raise BudgetPolicyError(
                    'BUDGET_TENANT_OVERRIDES: not valid JSON; expected {"acme": {"daily_cost_budget_usd": 5}}'
                ) from exc
        for tenant, values in (tenant_overrides or {}).items():
            limits.extend(_tenant_limits(tenant, values, "tenant_overrides"))
        if isinstance(soft_thresholds, str):
            soft_thresholds = _soft(soft_thresholds, "soft_thresholds") or ()
        return cls(limits, soft_thresholds)

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], where: str = "policy") -> BudgetPolicy:
        if not isinstance(doc, Mapping):
            raise BudgetPolicyError(f"{where}: expected a mapping with 'limits' and/or 'tenants'")
        limits: list[BudgetLimit] = []
        for i, entry in enumerate(doc.get("limits") or []):
            parsed = parse_limit(entry, f"{where}: limits[{i}]")
            if not isinstance(parsed, BudgetLimit):
                raise BudgetPolicyError(f"{where}: limits[{i}] has no limit value")
            limits.append(parsed)
        for tenant, values in (doc.get("tenants") or {}).items():
            limits.extend(_tenant_limits(str(tenant), values, where))
        soft = _soft(doc.get("soft_thresholds"), f"{where}: soft_thresholds")
        return cls(limits, DEFAULT_SOFT_THRESHOLDS if soft is None else soft)

    @classmethod
    def load_file(cls, path: str | Path) -> BudgetPolicy:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise BudgetPolicyError(f"{path}: cannot read budget policy file ({exc.strerror})") from exc
        try:
            if path.suffix.lower() in (".yaml", ".yml"):
                import yaml

                doc = yaml.safe_load(text) or {}
            else:
                doc = json.loads(text)
        except Exception as exc:
            raise BudgetPolicyError(
                f"{path}: not valid {path.suffix.lstrip('.').upper() or 'JSON'}: {exc}"
            ) from exc
        return cls.from_dict(doc, str(path))

    def merged(
        self, other: BudgetPolicy | None = None, removals: Iterable[tuple[str, Any, str, str]] = ()
    ) -> BudgetPolicy:
        """This policy with ``other``'s limits replacing same identities and ``removals`` dropped."""
        gone = set(removals)
        limits = [lim for lim in self.limits if lim.identity not in gone]
        soft = self.soft_thresholds
        if other is not None:
            limits.extend(other.limits)
        return BudgetPolicy(limits, soft)

    def apply_overrides_doc(self, doc: Mapping[str, Any] | None) -> BudgetPolicy:
        """Merge a stored ``budget set`` document: ``{"limits": [...]}``, ``limit: null`` removes."""
        if not doc:
            return self
        add: list[BudgetLimit] = []
        remove: list[tuple[str, Any, str, str]] = []
        for i, entry in enumerate(doc.get("limits") or []):
            parsed = parse_limit(entry, f"stored overrides[{i}]")
            (add.append if isinstance(parsed, BudgetLimit) else remove.append)(parsed)  # type: ignore[arg-type]
        return self.merged(BudgetPolicy(add), removals=remove)

    # --- evaluation -----------------------------------------------------------------------
    def applicable(self, subject: BudgetSubject) -> list[tuple[BudgetLimit, str | None]]:
        """Limits that apply to ``subject`` with the scope id each one is counted under."""
        specific = {lim.identity for lim in self.limits if lim.match is not None}
        out: list[tuple[BudgetLimit, str | None]] = []
        for lim in self.limits:
            if lim.scope == "global":
                out.append((lim, None))
                continue
            scope_id = getattr(subject, _SUBJECT_FIELD[lim.scope])
            if scope_id is None:
                continue
            if lim.match is not None:
                if lim.match == scope_id:
                    out.append((lim, scope_id))
            elif (lim.scope, scope_id, lim.window, lim.unit) not in specific:
                out.append((lim, scope_id))
        return out

    def thresholds_for(self, lim: BudgetLimit) -> tuple[int, ...]:
        return lim.soft if lim.soft is not None else self.soft_thresholds

    def to_dict(self) -> dict[str, Any]:
        return {
            "soft_thresholds": list(self.soft_thresholds),
            "limits": [lim.to_dict() for lim in self.limits],
        }
