"""Verdict building shared by every backend, so the offline analyzer and Azure Content Safety
produce the same shape, the same reasons and the same threshold semantics."""

from __future__ import annotations

from collections.abc import Mapping

from llmops_kit.safety.base import HARM_CATEGORIES, CategoryResult, SafetyStage, SafetyVerdict

__all__ = [
    "REASON_UNAVAILABLE",
    "build_categories",
    "harm_reason",
    "merge_thresholds",
    "unavailable_verdict",
    "zero_categories",
]

REASON_UNAVAILABLE = "safety_unavailable"
DEFAULT_THRESHOLD = 4
# The categories in API order, by name for zero_categories (fails at import if the tuple changes).
_HATE, _SELF_HARM, _SEXUAL, _VIOLENCE = HARM_CATEGORIES


def merge_thresholds(thresholds: Mapping[str, int] | None) -> dict[str, int]:
    """Per-category thresholds on the 0-7 scale; unknown categories are an error, not ignored,
    because a typo would otherwise silently fall back to the default."""
    merged = dict.fromkeys(HARM_CATEGORIES, DEFAULT_THRESHOLD)
    for key, value in (thresholds or {}).items():
        if key not in merged:
            raise ValueError(f"unknown harm category {key!r}; expected one of {', '.join(HARM_CATEGORIES)}")
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 7:
            raise ValueError(f"threshold for {key} must be an int 0-7, got {value!r}")
        merged[key] = value
    return merged


def build_categories(severities: Mapping[str, int], thresholds: Mapping[str, int]) -> list[CategoryResult]:
    """One result per category. Severity 0 never blocks: a threshold of 0 means "block anything
    the analyzer rated at all", not "block every text"."""
    out = []
    for cat in HARM_CATEGORIES:
        if cat in severities:
            sev = int(severities[cat])
            thr = thresholds.get(cat, DEFAULT_THRESHOLD)
            out.append(CategoryResult(cat, sev, thr, sev > 0 and sev >= thr))  # positional: runs on every check
    return out


def zero_categories(thresholds: Mapping[str, int]) -> list[CategoryResult]:
    """``build_categories`` of an all-zero severity map (the text had no harm phrase): nothing to
    look up or compare, one fresh result per category. Runs twice per governed run."""
    get = thresholds.get
    # Written out: no loop step or append per category (a comprehension is a function call of its own).
    return [
        CategoryResult(_HATE, 0, get(_HATE, DEFAULT_THRESHOLD), False),
        CategoryResult(_SELF_HARM, 0, get(_SELF_HARM, DEFAULT_THRESHOLD), False),
        CategoryResult(_SEXUAL, 0, get(_SEXUAL, DEFAULT_THRESHOLD), False),
        CategoryResult(_VIOLENCE, 0, get(_VIOLENCE, DEFAULT_THRESHOLD), False),
    ]


def harm_reason(categories: list[CategoryResult]) -> str | None:
    """``"Violence>=4"`` for the most severe blocked category (ties: API order)."""
    worst: CategoryResult | None = None
    for c in categories:  # first of the highest, like max() over the blocked ones
        if c.blocked and (worst is None or c.severity > worst.severity):
            worst = c
    return None if worst is None else f"{worst.category}>={worst.threshold}"


def unavailable_verdict(
    stage: SafetyStage,
    analyzer: str,
    thresholds: Mapping[str, int] | None = None,
    *,
    fail_mode: str,
    detail: str | None = None,
) -> SafetyVerdict:
    """The guard could not look. No category results (claiming severity 0 would be a lie);
    ``closed`` blocks, ``open`` allows and says so with the ``fail_open`` finding."""
    del thresholds  # kept in the signature so callers need not special-case this path
    findings = [f"error:{detail}"] if detail else []
    if fail_mode == "open":
        return SafetyVerdict(
            stage=stage,
            allowed=True,
            action="flag",
            reason=REASON_UNAVAILABLE,
            findings=["fail_open", *findings],
            analyzer=analyzer,
            status="unavailable",
        )
    return SafetyVerdict(
        stage=stage,
        allowed=False,
        action="block",
        reason=REASON_UNAVAILABLE,
        findings=findings,
        analyzer=analyzer,
        status="unavailable",
    )
