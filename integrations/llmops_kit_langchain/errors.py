"""Exceptions a guardrail raises to stop a LangChain run.

They carry the run status ``ProductionAgent`` reports (``blocked_input``, ``blocked_output``,
``budget_denied``) so the adapter maps a stopped chain to a governed result, not to an error.
"""

from __future__ import annotations

from typing import Any


class GuardrailTriggered(Exception):
    """Base class: a guardrail stopped the run before (or instead of) a model result."""

    status = "error"

    def __init__(self, reason: str, *, detail: Any = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail  # the SafetyVerdict or BudgetReservation behind the decision


class InputBlockedError(GuardrailTriggered):
    status = "blocked_input"


class OutputBlockedError(GuardrailTriggered):
    status = "blocked_output"


class BudgetExceededError(GuardrailTriggered):
    status = "budget_denied"
