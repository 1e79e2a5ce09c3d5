"""EvaluationRunner: sampling, thresholds, timeouts, background scoring and gates."""

from __future__ import annotations

import asyncio
import random

import pytest

from llmops_kit.evaluation.base import EvalContext, EvalResult
from llmops_kit.evaluation.builtin import HeuristicQuality, MustInclude
from llmops_kit.evaluation.runner import EvaluationRunner, Scored


class Fixed:
    """A real evaluator with a fixed score (the runner, not the scoring, is under test)."""

    def __init__(self, name: str, score: float, threshold: float = 0.5) -> None:
        self.name, self._score, self.threshold = name, score, threshold
        self.calls = 0

    async def evaluate(self, query: str, response: str, context: EvalContext) -> EvalResult:
        self.calls += 1
        return EvalResult(
            self.name, self._score, passed=self._score >= self.threshold, threshold=self.threshold
        )


class Slow(Fixed):
    def __init__(self, name: str, release: asyncio.Event) -> None:
        super().__init__(name, 1.0)
        self.release = release

    async def evaluate(self, query: str, response: str, context: EvalContext) -> EvalResult:
        await self.release.wait()
        return await super().evaluate(query, response, context)


class Raises(Fixed):
    async def evaluate(self, query: str, response: str, context: EvalContext) -> EvalResult:
        raise RuntimeError("judge down")


class ReturnsGarbage(Fixed):
    async def evaluate(self, query: str, response: str, context: EvalContext):  # type: ignore[override]
        return {"score": 1}


async def test_inline_runs_all_and_returns_results() -> None:
    runner = EvaluationRunner([Fixed("a", 0.9), Fixed("b", 0.1)])
    results = await runner.evaluate("q", "r", EvalContext())
    assert [(r.name, r.passed) for r in results] == [("a", True), ("b", False)]


async def test_sampling_is_deterministic_and_statistically_right() -> None:
    def picks(seed: int) -> list[int]:
        ev = Fixed("s", 1.0)
        runner = EvaluationRunner([Scored(ev, sample_rate=0.2)], rng=random.Random(seed))
        return [len(runner.select()) for _ in range(5000)]

    a, b = picks(7), picks(7)
    assert a == b  # same seed, same decisions
    assert picks(8) != a
    rate = sum(a) / len(a)
    # binomial(5000, 0.2): sd ≈ 0.0057; ±4 sd
    assert 0.177 < rate < 0.223


async def test_default_rate_zero_and_one() -> None:
    ev = Fixed("s", 1.0)
    never = EvaluationRunner([ev], default_sample_rate=0.0, rng=random.Random(1))
    assert all(not never.select() for _ in range(200))
    always = EvaluationRunner([ev], default_sample_rate=1.0, rng=random.Random(1))
    assert all(always.select() for _ in range(200))
    per_eval = EvaluationRunner([Scored(ev, sample_rate=1.0)], default_sample_rate=0.0)
    assert per_eval.select()


async def test_only_when_flagged() -> None:
    ev = Fixed("flag", 1.0)
    runner = EvaluationRunner([Scored(ev, only_when_flagged=True), Fixed("always", 1.0)])
    assert [r.name for r in await runner.evaluate("q", "r")] == ["always"]
    assert [r.name for r in await runner.evaluate("q", "r", flagged=True)] == ["flag", "always"]


async def test_threshold_override_rejudges_pass() -> None:
    runner = EvaluationRunner([Scored(Fixed("a", 0.7), threshold=0.8)])
    (r,) = await runner.evaluate("q", "r")
    assert r.threshold == 0.8 and r.passed is False and r.label == "fail"


async def test_composite_reports_sub_scores_and_threshold_only_on_combined(support_context) -> None:
    from tests.evaluation.conftest import SUPPORT_ANSWER

    runner = EvaluationRunner([Scored(HeuristicQuality(), threshold=0.99)])
    results = await runner.evaluate("q", SUPPORT_ANSWER, support_context)
    names = [r.name for r in results]
    assert names[-1] == "heuristic_quality" and "topic_coverage" in names
    assert results[-1].threshold == 0.99
    assert next(r for r in results if r.name == "topic_coverage").threshold == 0.6


async def test_timeout_exception_and_garbage_become_error_results() -> None:
    hang = Slow("hang", asyncio.Event())
    runner = EvaluationRunner(
        [hang, Raises("boom", 1.0), ReturnsGarbage("junk", 1.0), Fixed("ok", 1.0)], timeout_s=0.05
    )
    by = {r.name: r for r in await runner.evaluate("q", "r")}
    assert by["hang"].status == "error" and by["hang"].error_type == "TimeoutError"
    assert by["boom"].status == "error" and by["boom"].error_type == "RuntimeError"
    assert by["junk"].status == "error" and by["junk"].error_type == "TypeError"
    assert by["ok"].status == "completed" and by["ok"].passed


async def test_background_returns_immediately_and_delivers_to_on_result() -> None:
    release = asyncio.Event()
    got: list[tuple[str, str | None]] = []
    runner = EvaluationRunner(
        [Slow("slow", release)], mode="background", on_result=lambda r, c: got.append((r.name, c.run_id))
    )
    assert await runner.evaluate("q", "r", EvalContext(run_id="run-1")) == []
    assert runner.pending == 1 and got == []
    release.set()
    assert await runner.drain() == 0
    assert got == [("slow", "run-1")] and runner.pending == 0


async def test_on_result_async_and_failing_hooks_do_not_lose_results() -> None:
    seen: list[str] = []

    async def hook(r: EvalResult, c: EvalContext) -> None:
        if r.name == "a":
            raise ValueError("exporter down")
        seen.append(r.name)

    runner = EvaluationRunner([Fixed("a", 1.0), Fixed("b", 1.0)], mode="background", on_result=hook)
    await runner.evaluate("q", "r")
    await runner.drain()
    assert seen == ["b"]


async def test_drain_cancels_after_timeout() -> None:
    runner = EvaluationRunner([Slow("never", asyncio.Event())], mode="background", timeout_s=60)
    await runner.evaluate("q", "r")
    assert await runner.drain(timeout_s=0.01) == 1
    assert runner.pending == 0


async def test_background_backlog_is_bounded() -> None:
    runner = EvaluationRunner([Slow("s", asyncio.Event())], mode="background", max_background=2)
    for _ in range(5):
        await runner.evaluate("q", "r")
    assert runner.pending == 2 and runner.dropped == 3
    await runner.drain(timeout_s=0.01)


async def test_gate_runs_inline_even_in_background_mode() -> None:
    got: list[str] = []
    gate = Fixed("must", 0.0)
    runner = EvaluationRunner(
        [Scored(gate, gate=True), Fixed("bg", 1.0)],
        mode="background",
        on_result=lambda r, c: got.append(r.name),
    )
    results = await runner.evaluate("q", "r")
    assert [r.name for r in results] == ["must"]
    assert runner.gate_failed(results) is True
    await runner.drain()
    assert got == ["bg"]


async def test_gate_ignores_ungated_failures_and_errors() -> None:
    runner = EvaluationRunner([Scored(Raises("g", 1.0), gate=True), Fixed("bad", 0.0)])
    results = await runner.evaluate("q", "r")
    assert runner.gate_failed(results) is False


async def test_off_mode_and_skipped_results() -> None:
    ev = Fixed("a", 1.0)
    assert await EvaluationRunner([ev], mode="off").evaluate("q", "r") == []
    assert ev.calls == 0
    assert await EvaluationRunner([MustInclude()]).evaluate("q", "r") == []
    kept = await EvaluationRunner([MustInclude()], include_skipped=True).evaluate("q", "r")
    assert kept[0].status == "skipped"


def test_configuration_errors_are_clear() -> None:
    with pytest.raises(ValueError, match="mode"):
        EvaluationRunner([], mode="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sample_rate"):
        Scored(Fixed("a", 1.0), sample_rate=1.5)
    with pytest.raises(ValueError, match="unique"):
        EvaluationRunner([Fixed("a", 1.0), Fixed("a", 0.0)])
    with pytest.raises(TypeError, match="not an Evaluator"):
        Scored(object())  # type: ignore[arg-type]


def test_gated_names_reads_the_current_gates_and_names() -> None:
    """Read on every run: no set built when nothing gates, the current names when something does."""
    assert EvaluationRunner([MustInclude()]).gated_names == frozenset()
    gate = MustInclude(name="before")
    runner = EvaluationRunner([Scored(gate, gate=True), MustInclude(name="other")])
    assert runner.gated_names == frozenset({"before"})
    gate.name = "after"
    assert runner.gated_names == frozenset({"after"})
