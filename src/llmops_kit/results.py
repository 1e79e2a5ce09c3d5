"""``RunResult``: everything a caller (and an audit reviewer) needs to know about one run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from llmops_kit.audit.base import AuditReceipt
from llmops_kit.budget.base import BudgetState
from llmops_kit.evaluation.base import EvalResult
from llmops_kit.safety.base import SafetyVerdict
from llmops_kit.usage import TokenUsage

RunStatus = Literal["ok", "blocked_input", "blocked_output", "budget_denied", "error"]
RUN_STATUSES: tuple[str, ...] = ("ok", "blocked_input", "blocked_output", "budget_denied", "error")


@dataclass(slots=True)
class RunResult:
    """The outcome of one governed run. ``status != "ok"`` always comes with a ``reason``."""

    run_id: str
    trace_id: str
    agent: str
    status: RunStatus
    response: str
    reason: str | None = None
    usage: TokenUsage = field(default_factory=TokenUsage)
    usage_missing: bool = False
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    model: str | None = None
    safety: list[SafetyVerdict] = field(default_factory=list)
    evaluations: list[EvalResult] = field(default_factory=list)
    budget: BudgetState = field(default_factory=BudgetState)
    audit: AuditReceipt | None = None
    error_type: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    #: "reported" (provider usage, priced) or "reservation" (usage or price missing: charged as reserved)
    cost_source: str = "reported"
    #: actual usage exceeded what was reserved before the call (recorded and flagged, never dropped)
    over_reservation: bool = False

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
