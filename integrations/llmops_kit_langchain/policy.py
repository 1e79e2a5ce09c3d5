"""The per-model-call guardrail decisions, shared by the guard handler and the agent middleware.

Before a call: new user input is checked (only when the request ends with a human message,
i.e. a new turn; a tool-loop step re-sends the same input and is not re-checked) while the
call's budget is reserved, concurrently, through :class:`~llmops_kit.lifecycle.RunGovernor`.
After the call: the reservation is settled with the provider-reported usage (``None`` usage
settles at the reserved amount, never at $0) and the output is checked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from llmops_kit.agent import RunContext
from llmops_kit.budget.base import BudgetReservation
from llmops_kit.lifecycle import RunGovernor
from llmops_kit.usage import TokenUsage
from llmops_kit_langchain.errors import BudgetExceededError, InputBlockedError, OutputBlockedError

if TYPE_CHECKING:
    from llmops_kit.runtime import Runtime


def _text(msg: Any) -> str:
    text = getattr(msg, "text", None)
    if isinstance(text, str):
        return text
    content = getattr(msg, "content", "")
    return content if isinstance(content, str) else str(content)


def new_user_input(messages: Sequence[Any]) -> str | None:
    """The trailing human message(s) of a request: new input, or ``None`` in a tool-loop step."""
    tail: list[str] = []
    for msg in reversed(messages):
        if getattr(msg, "type", None) != "human":
            break
        tail.append(_text(msg))
    return "\n".join(reversed(tail)) if tail else None


def prompt_text(messages: Sequence[Any]) -> str:
    """Everything the model will read, for the budget estimate (system, history, tool results)."""
    return "\n".join(_text(m) for m in messages)


class GuardPolicy:
    """Async decisions on one model call; raises a :class:`GuardrailTriggered` subclass to stop."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        check_input: bool = True,
        check_output: bool = True,
        enforce_budget: bool = True,
    ) -> None:
        self.runtime = runtime
        self.governor = RunGovernor(runtime)
        self.check_input = check_input
        self.check_output = check_output
        self.enforce_budget = enforce_budget

    async def before_call(
        self, ctx: RunContext, messages: Sequence[Any], model: str
    ) -> BudgetReservation | None:
        user_text = new_user_input(messages) if self.check_input else None
        reserve = self.governor.reserve_budget(ctx, prompt_text(messages), model) if self.enforce_budget else None
        admit = (
            self.governor.admit(ctx, user_text, model=model, reserve_budget=False)
            if user_text is not None
            else None
        )
        if admit is not None and reserve is not None:
            admission, reservation = await asyncio.gather(admit, reserve)
        else:
            admission = await admit if admit is not None else None
            reservation = await reserve if reserve is not None else None
        if admission is not None and not admission.allowed:
            if reservation is not None and reservation.granted:
                await self.runtime.budget.settle(reservation, _zero())
            raise InputBlockedError(admission.reason or "unsafe_input", detail=admission.input_verdict)
        if reservation is not None and not reservation.granted:
            raise BudgetExceededError(reservation.reason or "budget exhausted", detail=reservation)
        return reservation

    async def after_call(
        self,
        ctx: RunContext,
        reservation: BudgetReservation | None,
        model: str,
        usage: TokenUsage | None,
        output_text: str | None,
    ) -> None:
        await self.settle(reservation, model, usage)
        if self.check_output and output_text:
            verdict = await self.governor.check_output(ctx, output_text)
            if not verdict.allowed:
                raise OutputBlockedError(verdict.reason or "unsafe_output", detail=verdict)

    async def settle(
        self, reservation: BudgetReservation | None, model: str, usage: TokenUsage | None
    ) -> None:
        """Settle with actual usage; ``None`` (unreported, or the call failed) keeps the reserved amount."""
        if reservation is None or not reservation.granted:
            return
        from llmops_kit.budget.estimate import actual_amount

        actual = None
        if usage is not None and usage.reported:
            try:
                actual = actual_amount(self.runtime.pricing, model, usage)
            except LookupError:
                actual = None
        await self.runtime.budget.settle(reservation, actual)


def _zero() -> Any:
    """Nothing was spent: the model was never called because the input was blocked."""
    from llmops_kit.budget.base import BudgetAmount

    return BudgetAmount()
