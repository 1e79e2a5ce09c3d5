"""Settings → safety guard: Azure Content Safety when an endpoint is set, else the offline analyzer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmops_kit.safety.base import SafetyGuard

if TYPE_CHECKING:
    from llmops_kit.config import Settings

__all__ = ["guard_from_settings"]


def guard_from_settings(settings: Settings) -> SafetyGuard:
    if settings.content_safety_endpoint:
        from llmops_kit.safety.azure import AzureContentSafetyGuard

        return AzureContentSafetyGuard.from_settings(settings)
    from llmops_kit.safety.local import LocalSafetyAnalyzer

    return LocalSafetyAnalyzer(
        thresholds=settings.safety_thresholds,
        block_pii_in_output=settings.safety_block_pii_in_output,
    )
