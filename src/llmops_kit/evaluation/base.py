"""The evaluator contract: ``async evaluate(query, response, context) -> EvalResult``.

Scores are floats on the evaluator's own scale (``scale`` says which); ``passed`` compares
the score with the evaluator's threshold. An evaluator that fails returns
``status="error"`` with ``error_type`` rather than raising into the run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from llmops_kit.agent import ToolCallRecord

EvalStatus = Literal["completed", "error", "skipped"]


@dataclass(slots=True)
class EvalContext:
    """What an evaluator may look at besides the query and the response."""

    run_id: str | None = None
    agent_name: str | None = None
    tool_calls: Sequence[ToolCallRecord] = ()
    documents: Sequence[str] = ()
    expected_topics: Sequence[str] = ()
    reference: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class EvalResult:
    name: str
    score: float | None
    label: str | None = None
    passed: bool | None = None
    explanation: str = ""
    threshold: float | None = None
    scale: str = "0-1"
    status: EvalStatus = "completed"
    error_type: str | None = None
    #: the evaluator this result is a sub-score of (``HeuristicQuality``'s parts): telemetry
    #: reports it as an attribute of that evaluator's event, the audit record lists it as is
    part_of: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "score": self.score, "label": self.label, "passed": self.passed,
            "explanation": self.explanation, "threshold": self.threshold, "scale": self.scale,
            "status": self.status, "error_type": self.error_type,
        }


@runtime_checkable
class Evaluator(Protocol):
    name: str

    async def evaluate(self, query: str, response: str, context: EvalContext) -> EvalResult: ...
