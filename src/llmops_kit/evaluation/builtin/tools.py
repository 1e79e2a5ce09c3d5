"""Did the agent call the tools it should have (``context.tool_calls``)?"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from llmops_kit.evaluation.base import EvalContext, EvalResult
from llmops_kit.evaluation.builtin._base import InlineEvaluator


class ToolCalled(InlineEvaluator):
    """Score = share of expected tools called (``mode="all"``) or 1/0 for ``"any"``.

    Expected names come from the constructor or ``context.metadata["expected_tools"]``.
    A call that recorded an error counts as not made unless ``count_failed=True``: an
    agent that called the refund tool and got an exception did not issue the refund.
    """

    def __init__(
        self,
        tools: Sequence[str] | None = None,
        *,
        mode: Literal["all", "any"] = "all",
        count_failed: bool = False,
        threshold: float = 1.0,
        name: str = "tool_called",
    ) -> None:
        if mode not in ("all", "any"):
            raise ValueError(f"mode must be 'all' or 'any', got {mode!r}")
        self.name = name
        self.threshold = threshold
        self._tools = list(tools) if tools else None
        self._mode = mode
        self._count_failed = count_failed

    def nothing_to_score(self, context: EvalContext) -> bool:
        """No expected tools given and none in the context: :meth:`judge` would skip."""
        if self._tools:
            return False
        metadata = context.metadata
        return metadata is None or (type(metadata) is dict and metadata.get("expected_tools") is None)

    def judge(self, query: str, response: str, context: EvalContext) -> EvalResult:
        expected = self._tools or list((context.metadata or {}).get("expected_tools") or ())
        if not expected:
            return self.skipped("no expected tools")
        called = {
            str(getattr(c, "name", ""))
            for c in context.tool_calls or ()
            if self._count_failed or not getattr(c, "error", None)
        }
        hit = [t for t in expected if t in called]
        missing = [t for t in expected if t not in called]
        value = (1.0 if hit else 0.0) if self._mode == "any" else len(hit) / len(expected)
        why = f"called: {', '.join(sorted(called)) or 'none'}" + (
            f"; missing: {', '.join(missing)}" if missing else ""
        )
        return self.result(value, why)


class ToolNotCalled(InlineEvaluator):
    """Passes when none of the forbidden tools was called (``context.metadata["forbidden_tools"]``)."""

    def __init__(
        self, tools: Sequence[str] | None = None, *, threshold: float = 1.0, name: str = "tool_not_called"
    ) -> None:
        self.name = name
        self.threshold = threshold
        self._tools = list(tools) if tools else None

    def judge(self, query: str, response: str, context: EvalContext) -> EvalResult:
        forbidden = self._tools or list((context.metadata or {}).get("forbidden_tools") or ())
        if not forbidden:
            return self.skipped("no forbidden tools")
        called = {str(getattr(c, "name", "")) for c in context.tool_calls or ()}
        bad = [t for t in forbidden if t in called]
        return self.result(1.0 if not bad else 0.0, "none called" if not bad else f"called: {', '.join(bad)}")
