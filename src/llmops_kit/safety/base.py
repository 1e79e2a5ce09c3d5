"""The contract every content-safety backend meets (offline analyzer, Azure Content Safety).

A verdict always says whether the text was actually evaluated: an analyzer that could not
run returns ``status="unavailable"`` and lets the configured fail mode decide, instead of
pretending the text was safe.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

SafetyStage = Literal["input", "output", "tool"]
SafetyAction = Literal["allow", "block", "flag"]
SafetyStatus = Literal["evaluated", "not_evaluated", "unavailable"]

#: Azure AI Content Safety harm categories, in the API's spelling.
HARM_CATEGORIES: tuple[str, ...] = ("Hate", "SelfHarm", "Sexual", "Violence")


@dataclass(slots=True)
class CategoryResult:
    category: str
    severity: int
    threshold: int
    blocked: bool


@dataclass(slots=True)
class SafetyVerdict:
    """One check of one text. ``allowed`` is what the pipeline acts on."""

    stage: SafetyStage
    allowed: bool
    action: SafetyAction = "allow"
    reason: str | None = None
    categories: list[CategoryResult] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    analyzer: str = "unknown"
    status: SafetyStatus = "evaluated"
    latency_ms: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "stage": self.stage, "allowed": self.allowed, "action": self.action, "reason": self.reason,
            "categories": [
                {"category": c.category, "severity": c.severity, "threshold": c.threshold, "blocked": c.blocked}
                for c in self.categories
            ],
            "findings": list(self.findings), "analyzer": self.analyzer, "status": self.status,
            "latency_ms": self.latency_ms,
        }


@runtime_checkable
class SafetyGuard(Protocol):
    """Checks text before the model sees it and before the user sees the answer."""

    name: str

    async def check_input(self, text: str, *, documents: Sequence[str] = ()) -> SafetyVerdict: ...

    async def check_output(self, text: str) -> SafetyVerdict: ...

    async def aclose(self) -> None: ...
