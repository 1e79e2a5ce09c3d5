"""Turn :class:`~llmops_kit.config.Settings` values into a policy, a ledger and a manager.

``runtime.py`` and the ``budget`` CLI share this, so both see the same limits. Settings
fields that may not exist yet (``budget_tenant_overrides``, ``budget_soft_thresholds``,
``budget_redis_prefix``) are read with defaults.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from llmops_kit.budget.base import BudgetLedger, BudgetThresholdEvent
from llmops_kit.budget.factory import build_ledger
from llmops_kit.budget.manager import BudgetManager
from llmops_kit.budget.policy import DEFAULT_SOFT_THRESHOLDS, BudgetPolicy


def policy_from_settings(settings: Any) -> BudgetPolicy:
    """``.env`` limits, then the policy file's limits on top (same identity: the file wins)."""
    policy = BudgetPolicy.from_settings_values(
        max_tokens_per_request=settings.max_tokens_per_request,
        daily_token_budget=settings.daily_token_budget,
        daily_cost_budget_usd=settings.daily_cost_budget_usd,
        monthly_cost_budget_usd=settings.monthly_cost_budget_usd,
        tenant_daily_cost_budget_usd=settings.tenant_daily_cost_budget_usd,
        user_daily_token_budget=settings.user_daily_token_budget,
        tenant_overrides=getattr(settings, "budget_tenant_overrides", None),
        soft_thresholds=getattr(settings, "budget_soft_thresholds", None) or DEFAULT_SOFT_THRESHOLDS,
    )
    if settings.budget_policy_file is not None:
        policy = policy.merged(BudgetPolicy.load_file(settings.budget_policy_file))
    return policy


def ledger_from_settings(settings: Any) -> BudgetLedger:
    redis_url = settings.redis_url.get_secret_value() if settings.redis_url is not None else None
    return build_ledger(
        settings.budget_ledger,
        db_path=settings.resolved_budget_db_path,
        redis_url=redis_url,
        key_prefix=getattr(settings, "budget_redis_prefix", None) or "llmops-budget",
    )


def manager_from_settings(
    settings: Any,
    *,
    ledger: BudgetLedger | None = None,
    on_threshold: Callable[[BudgetThresholdEvent], None] | None = None,
    clock: Callable[[], float] | None = None,
) -> BudgetManager:
    kwargs: dict[str, Any] = {} if clock is None else {"clock": clock}
    return BudgetManager(
        policy_from_settings(settings),
        ledger or ledger_from_settings(settings),
        fail_mode=settings.budget_fail_mode,
        timezone=settings.budget_timezone,
        lease_seconds=settings.budget_lease_seconds,
        on_threshold=on_threshold,
        **kwargs,
    )
