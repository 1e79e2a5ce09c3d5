"""Shared plumbing for built-in evaluators: input cleaning and never-raise semantics."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable

from llmops_kit.evaluation._text import clean
from llmops_kit.evaluation.base import EvalContext, EvalResult

_log = logging.getLogger(__name__)

#: Methods whose override can change whether (or how) a run is skipped: see ``nothing_to_score``.
_SKIP_SENSITIVE = ("score", "evaluate", "evaluate_many", "evaluate_now", "judge", "skipped", "_terms")


class BaseEvaluator(ABC):
    """Cleans inputs, then scores; any exception becomes ``status="error"``.

    Subclasses implement :meth:`score`. The run must never fail because an evaluator
    tripped over odd output, so the guard lives here once instead of in every evaluator.
    """

    name: str = "evaluator"
    threshold: float | None = None
    scale: str = "0-1"
    #: True when ``score`` never waits on I/O: the runner then awaits it directly instead of
    #: wrapping it in tasks (same result, ~30 µs less per evaluator per run). A subclass that
    #: overrides ``score``/``evaluate`` without restating it is not assumed inline.
    runs_inline: bool = False
    #: True when ``evaluate_now`` (see :class:`InlineEvaluator`) returns, synchronously, what the
    #: runner would get from ``evaluate_many`` (if defined) or ``evaluate``. Like ``runs_inline``,
    #: a subclass that overrides ``score``/``evaluate``/``evaluate_many`` without restating it
    #: loses it, so the shortcut can never bypass an override.
    sync_capable: bool = False
    #: ``None``, or ``nothing_to_score(context) -> bool``: True only when ``evaluate_now`` would
    #: return a single "skipped" result for ``str`` inputs and this context (the keyword and tool
    #: checks without terms). The runner, which drops skipped results, then builds none: three
    #: result objects and calls less on a default run. A subclass that overrides how it scores or
    #: skips without restating it loses it.
    nothing_to_score: Callable[[EvalContext], bool] | None = None

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__
        overrides = any(m in own for m in ("score", "evaluate", "evaluate_many"))
        if "runs_inline" not in own and overrides:
            cls.runs_inline = False
        if "sync_capable" not in own and overrides:
            cls.sync_capable = False
        if "nothing_to_score" not in own and any(m in own for m in _SKIP_SENSITIVE):
            cls.nothing_to_score = None

    async def evaluate(self, query: str, response: str, context: EvalContext) -> EvalResult:
        try:
            return await self.score(_clean(query), _clean(response), context or EvalContext())
        except Exception as exc:  # an evaluator bug must not escape into the run
            return self._failed(exc)

    def _failed(self, exc: Exception) -> EvalResult:
        """The error result for an exception raised while scoring (logged: it is an evaluator bug)."""
        _log.warning("evaluator %s failed: %s", self.name, type(exc).__name__, exc_info=True)
        return error_result(self.name, exc, threshold=self.threshold, scale=self.scale)

    @abstractmethod
    async def score(self, query: str, response: str, context: EvalContext) -> EvalResult: ...

    def result(
        self, score: float | None, explanation: str, *, label: str | None = None, passed: bool | None = None
    ) -> EvalResult:
        """Build a completed result; ``passed`` defaults to ``score >= threshold``."""
        if passed is None and score is not None and self.threshold is not None:
            passed = score >= self.threshold
        if label is None and passed is not None:
            label = "pass" if passed else "fail"
        # positional: the same result, half the cost of keywords (this runs ~6 times per run)
        return EvalResult(self.name, score, label, passed, explanation, self.threshold, self.scale)

    def skipped(self, why: str) -> EvalResult:
        return EvalResult(self.name, None, None, None, why, self.threshold, self.scale, "skipped")


def error_result(
    name: str, exc: BaseException, *, threshold: float | None = None, scale: str = "0-1"
) -> EvalResult:
    """A failed evaluation: no score, not passed, the exception type for telemetry (``error.type``)."""
    message = clean(str(exc))[:500]
    return EvalResult(
        name=name,
        score=None,
        label="error",
        passed=None,
        explanation=f"{type(exc).__name__}: {message}" if message else type(exc).__name__,
        threshold=threshold,
        scale=scale,
        status="error",
        error_type=type(exc).__name__,
    )


class InlineEvaluator(BaseEvaluator):
    """A CPU-only built-in: :meth:`judge` scores synchronously, ``score`` merely wraps it.

    ``evaluate`` keeps the async protocol; :meth:`evaluate_now` returns the same result without
    creating a coroutine, which is what the runner calls on every run (a few µs less per
    evaluator than stepping a coroutine).
    """

    runs_inline = True
    sync_capable = True

    async def score(self, query: str, response: str, context: EvalContext) -> EvalResult:
        return self.judge(query, response, context)

    @abstractmethod
    def judge(self, query: str, response: str, context: EvalContext) -> EvalResult:
        """Score cleaned inputs (``score`` without the coroutine)."""

    def evaluate_now(self, query: str, response: str, context: EvalContext) -> EvalResult | list[EvalResult]:
        """``evaluate`` without the coroutine: same cleaning, same error handling."""
        try:
            return self.judge(_clean(query), _clean(response), context or EvalContext())
        except Exception as exc:  # an evaluator bug must not escape into the run
            return self._failed(exc)


def _clean(value: object) -> str:
    """:func:`clean`, skipping its UTF-8 round trip for ASCII ``str`` (``isascii`` is O(1))."""
    return value if type(value) is str and value.isascii() else clean(value)
