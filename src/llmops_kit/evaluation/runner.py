"""Runs evaluators around an agent run: sampled, concurrent, time-boxed, inline or background.

Scoring must never slow or fail a run unless the operator asked for a gate: background
mode returns at once and hands results to ``on_result``; inline mode bounds every
evaluator by ``timeout_s``; an evaluator that raises, hangs or returns garbage becomes an
``EvalResult`` with ``status="error"``. Gated evaluators always run inline (a gate cannot
wait for a background task) and :meth:`EvaluationRunner.gate_failed` reads their verdicts.
``on_result`` receives background results only: inline results are returned to the caller,
which emits them itself.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import sys
import time
import types
from collections.abc import Awaitable, Callable, Coroutine, Generator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from llmops_kit.evaluation.base import EvalContext, EvalResult, Evaluator
from llmops_kit.evaluation.builtin._base import BaseEvaluator, error_result

_log = logging.getLogger(__name__)

RunnerMode = Literal["inline", "background", "off"]
OnResult = Callable[[EvalResult, EvalContext], "Awaitable[None] | None"]


@dataclass(frozen=True)
class Scored:
    """An evaluator with its online policy.

    ``threshold`` overrides the evaluator's own; ``sample_rate`` (0–1) overrides the runner
    default; ``only_when_flagged`` scores only runs another check flagged; ``gate`` makes a
    failing verdict fail the run (see :meth:`EvaluationRunner.gate_failed`).
    """

    evaluator: Evaluator
    threshold: float | None = None
    sample_rate: float | None = None
    only_when_flagged: bool = False
    gate: bool = False

    def __post_init__(self) -> None:
        if not isinstance(getattr(self.evaluator, "name", None), str) or not callable(
            getattr(self.evaluator, "evaluate", None)
        ):
            raise TypeError(f"{self.evaluator!r} is not an Evaluator (needs .name and async .evaluate)")
        if self.sample_rate is not None and not 0.0 <= self.sample_rate <= 1.0:
            raise ValueError(f"sample_rate for {self.name} must be within 0..1, got {self.sample_rate}")

    @property
    def name(self) -> str:
        return self.evaluator.name


def apply_threshold(result: EvalResult, threshold: float | None) -> EvalResult:
    """Re-judge ``passed`` (and a pass/fail label) against an operator-set threshold."""
    if threshold is None or result.status != "completed" or result.score is None:
        return result
    passed = result.score >= threshold
    label = result.label
    if label in (None, "pass", "fail"):
        label = "pass" if passed else "fail"
    return replace(result, threshold=threshold, passed=passed, label=label)


class EvaluationRunner:
    """Applies a set of :class:`Scored` evaluators to a run's query and response."""

    def __init__(
        self,
        evaluators: Sequence[Evaluator | Scored],
        *,
        mode: RunnerMode = "inline",
        default_sample_rate: float = 1.0,
        rng: random.Random | None = None,
        on_result: OnResult | None = None,
        timeout_s: float = 30.0,
        max_background: int = 1000,
        include_skipped: bool = False,
    ) -> None:
        if mode not in ("inline", "background", "off"):
            raise ValueError(f"mode must be 'inline', 'background' or 'off', got {mode!r}")
        if not 0.0 <= default_sample_rate <= 1.0:
            raise ValueError(f"default_sample_rate must be within 0..1, got {default_sample_rate}")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        self.scored: list[Scored] = [e if isinstance(e, Scored) else Scored(e) for e in evaluators]
        names = [s.name for s in self.scored]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"evaluator names must be unique, duplicated: {', '.join(dupes)}")
        self.mode: RunnerMode = mode
        self.default_sample_rate = default_sample_rate
        self._rng = rng if rng is not None else random.Random()
        self._on_result = on_result
        self.timeout_s = timeout_s
        self._max_background = max_background
        self._tasks: set[asyncio.Task[None]] = set()
        self.include_skipped = include_skipped  # "not applicable" results are noise in telemetry
        self.dropped = 0  # background batches refused because max_background were pending

    @property
    def gated_names(self) -> frozenset[str]:
        """The names of the evaluators whose verdict gates a run; read on every run, and usually
        none gate: then no set is built (names are read afresh otherwise, an evaluator's may change)."""
        for s in self.scored:
            if s.gate:
                return frozenset(s.name for s in self.scored if s.gate)
        return _NONE_GATED

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def select(self, *, flagged: bool = False) -> list[Scored]:
        """Which evaluators score this run (consumes the RNG only for fractional rates)."""
        chosen: list[Scored] = []
        for s in self.scored:
            if s.only_when_flagged and not flagged:
                continue
            rate = self.default_sample_rate if s.sample_rate is None else s.sample_rate
            if rate >= 1.0 or (rate > 0.0 and self._rng.random() < rate):
                chosen.append(s)
        return chosen

    async def evaluate(
        self, query: str, response: str, context: EvalContext | None = None, *, flagged: bool = False
    ) -> list[EvalResult]:
        """Inline: the results. Background: ``[]`` now (gated ones inline); results to ``on_result``."""
        if self.mode == "off":
            return []
        context = context if context is not None else EvalContext()
        chosen = self.select(flagged=flagged)
        if not chosen:
            return []
        if self.mode == "inline":
            if _all_sync(chosen):  # the default set: scored right here, no coroutine per evaluator
                return self._score_now(chosen, query, response, context)
            return await self._run_all(chosen, query, response, context)
        inline = [s for s in chosen if s.gate]
        later = [s for s in chosen if not s.gate]
        if later:
            self._schedule(later, query, response, context)
        return await self._run_all(inline, query, response, context) if inline else []

    async def _background(
        self, chosen: list[Scored], query: str, response: str, context: EvalContext
    ) -> None:
        for r in await self._run_all(chosen, query, response, context):
            await self._notify(r, context)

    def gate_failed(self, results: Sequence[EvalResult]) -> bool:
        """True when a gated evaluator's verdict is a fail (errors and timeouts do not gate)."""
        gated = self.gated_names
        return any(r.name in gated and r.passed is False for r in results)

    async def drain(self, timeout_s: float | None = None) -> int:
        """Wait for background scoring (on shutdown); cancel what is left after ``timeout_s``.

        Returns how many tasks were cancelled.
        """
        if not self._tasks:
            return 0
        tasks = list(self._tasks)
        _done, pending = await asyncio.wait(tasks, timeout=timeout_s)
        for t in pending:
            t.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
            _log.warning(
                "evaluation drain: cancelled %d background task(s) after %ss", len(pending), timeout_s
            )
        return len(pending)

    # ------------------------------------------------------------------ internals
    def _schedule(self, chosen: list[Scored], query: str, response: str, context: EvalContext) -> None:
        if len(self._tasks) >= self._max_background:
            self.dropped += 1
            _log.warning(
                "evaluation backlog full (%d pending): dropped scoring of run %s",
                len(self._tasks),
                context.run_id,
            )
            return
        task = asyncio.get_running_loop().create_task(self._background(chosen, query, response, context))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_all(
        self, chosen: list[Scored], query: str, response: str, context: EvalContext
    ) -> list[EvalResult]:
        # Evaluators that never wait on I/O (``runs_inline``) are awaited in turn: the same
        # results as a gather, without two asyncio tasks each on every run; those that can also
        # score synchronously (``sync_capable``, the CPU-only built-ins) are called without
        # even a coroutine. The others still run concurrently as tasks, started first so they
        # overlap the inline ones.
        inline = [_runs_inline(s.evaluator) for s in chosen]
        if all(inline):  # the usual case (the default set): no task, no bookkeeping
            batches: list[list[EvalResult] | None] = []
            for s in chosen:
                now = self._run_now(s, query, response, context)
                if now is None:
                    now = await self._run_one(s, query, response, context, inline=True)
                batches.append(now)
        else:
            batches = await self._run_mixed(chosen, inline, query, response, context)
        keep_skipped = self.include_skipped
        return [r for batch in batches if batch for r in batch if keep_skipped or r.status != "skipped"]

    def _score_now(
        self, chosen: list[Scored], query: str, response: str, context: EvalContext
    ) -> list[EvalResult]:
        """:meth:`_run_all` for evaluators that are all ``runs_inline`` and ``sync_capable``: the same
        results in one list, without a coroutine, a batch list or a check list per evaluator.

        When skipped results are dropped anyway, an evaluator whose ``nothing_to_score`` says it
        would only skip is not called at all (that answer is exact for ``str`` inputs only).
        """
        keep_skipped = self.include_skipped
        may_skip = not keep_skipped and type(query) is str and type(response) is str
        results: list[EvalResult] = []
        for s in chosen:
            ev = s.evaluator
            if may_skip and BaseEvaluator in type(ev).__mro__:  # isinstance without the ABC hook
                nothing = ev.nothing_to_score
                if nothing is not None:
                    try:
                        if nothing(context) is True:
                            continue
                    except Exception:  # the check decides nothing: evaluate_now reports what is wrong
                        pass
            try:
                out = ev.evaluate_now(query, response, context)  # type: ignore[attr-defined]
            except Exception as exc:  # the built-ins catch their own errors; this is _run_one's guard
                _log.warning("evaluator %s raised %s", s.name, type(exc).__name__, exc_info=True)
                results.append(error_result(s.name, exc, threshold=s.threshold))
                continue
            if s.threshold is not None or type(out) is not list:
                out = self._checked(s, out)
            for r in out:
                if not isinstance(r, EvalResult):
                    bad = TypeError(f"evaluator {s.name} returned {type(r).__name__}, not EvalResult")
                    r = error_result(s.name, bad, threshold=s.threshold)
                if keep_skipped or r.status != "skipped":
                    results.append(r)
        return results

    async def _run_mixed(
        self, chosen: list[Scored], inline: list[bool], query: str, response: str, context: EvalContext
    ) -> list[list[EvalResult] | None]:
        others = [s for s, flag in zip(chosen, inline, strict=True) if not flag]
        pending = asyncio.gather(*(self._run_one(s, query, response, context) for s in others))
        batches: list[list[EvalResult] | None] = []
        try:
            for s, flag in zip(chosen, inline, strict=True):
                if not flag:
                    batches.append(None)
                    continue
                now = self._run_now(s, query, response, context)
                if now is None:
                    now = await self._run_one(s, query, response, context, inline=True)
                batches.append(now)
        except BaseException:
            pending.cancel()
            raise
        rest = iter(await pending)
        return [b if b is not None else next(rest) for b in batches]

    def _run_now(self, s: Scored, query: str, response: str, context: EvalContext) -> list[EvalResult] | None:
        """A ``sync_capable`` evaluator's results, computed synchronously; ``None`` for the others.

        No timer is armed: a call that cannot suspend could not be interrupted by one either
        (see :meth:`_run_inline`)."""
        ev = s.evaluator
        if getattr(ev, "sync_capable", False) is not True:
            return None
        try:
            out = ev.evaluate_now(query, response, context)  # type: ignore[attr-defined]
        except Exception as exc:  # the built-ins catch their own errors; this is _run_one's guard
            _log.warning("evaluator %s raised %s", s.name, type(exc).__name__, exc_info=True)
            return [error_result(s.name, exc, threshold=s.threshold)]
        return self._checked(s, out)

    async def _run_one(
        self, s: Scored, query: str, response: str, context: EvalContext, *, inline: bool = False
    ) -> list[EvalResult]:
        ev = s.evaluator
        many = getattr(ev, "evaluate_many", None)
        try:
            call = many(query, response, context) if callable(many) else ev.evaluate(query, response, context)
            if inline and _HAS_TIMEOUT_CM and isinstance(call, types.CoroutineType):
                out = await self._run_inline(call)
            else:
                out = await asyncio.wait_for(call, timeout=self.timeout_s)
        except asyncio.TimeoutError:
            exc = TimeoutError(f"evaluator {s.name} took longer than {self.timeout_s}s")
            return [error_result(s.name, exc, threshold=s.threshold)]
        except Exception as exc:
            _log.warning("evaluator %s raised %s", s.name, type(exc).__name__, exc_info=True)
            return [error_result(s.name, exc, threshold=s.threshold)]
        return self._checked(s, out)

    @staticmethod
    def _checked(s: Scored, out: object) -> list[EvalResult]:
        """``out`` as a list of results: anything else becomes an error, the override threshold applied."""
        batch = out if isinstance(out, list) else [out]
        checked: list[EvalResult] = []
        for r in batch:
            if not isinstance(r, EvalResult):
                bad = TypeError(f"evaluator {s.name} returned {type(r).__name__}, not EvalResult")
                checked.append(error_result(s.name, bad, threshold=s.threshold))
            elif s.threshold is not None and r.name == s.name:
                checked.append(apply_threshold(r, s.threshold))
            else:
                checked.append(r)
        return checked

    async def _run_inline(self, call: Coroutine[Any, Any, Any]) -> Any:
        """Await ``call`` in this task. It is stepped once by hand: an evaluator that finishes
        without suspending (the CPU-only built-ins) is done without arming a timer, exactly as
        a timeout could not have interrupted it; one that does suspend is resumed under the
        remaining time limit, still in this task and context, as a plain ``await`` would be."""
        started = time.monotonic()
        try:
            first = call.send(None)
        except StopIteration as stop:
            return stop.value
        remaining = self.timeout_s - (time.monotonic() - started)
        async with asyncio.timeout(max(remaining, 0.0)):  # type: ignore[attr-defined]
            return await _Resumed(call, first)

    async def _notify(self, result: EvalResult, context: EvalContext) -> None:
        if self._on_result is None:
            return
        try:
            out = self._on_result(result, context)  # type: ignore[misc]
            if inspect.isawaitable(out):
                await out
        except Exception:  # a telemetry hook must not lose the other results
            _log.warning("evaluation on_result hook failed for %s", result.name, exc_info=True)


_HAS_TIMEOUT_CM = sys.version_info >= (3, 11)
_NONE_GATED: frozenset[str] = frozenset()


def _runs_inline(evaluator: object) -> bool:
    """True for evaluators that declare they never wait on I/O (the CPU-only built-ins)."""
    return getattr(evaluator, "runs_inline", False) is True


def _all_sync(chosen: Sequence[Scored]) -> bool:
    """True when every evaluator is ``runs_inline`` and ``sync_capable``: :meth:`EvaluationRunner._run_all`
    would then call each one's ``evaluate_now`` in turn (read in the same order as it does)."""
    for s in chosen:
        if getattr(s.evaluator, "runs_inline", False) is not True:
            return False
    for s in chosen:  # noqa: SIM110 - on every run: a loop is half the cost of all(<generator>)
        if getattr(s.evaluator, "sync_capable", False) is not True:
            return False
    return True


class _Resumed:
    """Awaitable that continues a coroutine already stepped once, forwarding what the task
    sends or throws (cancellation included) - ``yield from`` semantics for a started coroutine."""

    __slots__ = ("_coro", "_first")

    def __init__(self, coro: Coroutine[Any, Any, Any], first: Any) -> None:
        self._coro, self._first = coro, first

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, value = self._coro, self._first
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # forwarded into the coroutine, not swallowed
                try:
                    value = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    value = coro.send(sent)
                except StopIteration as stop:
                    return stop.value
