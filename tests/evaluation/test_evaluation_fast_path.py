"""The runner's synchronous fast path and the ``nothing_to_score`` shortcut of the built-ins.

The shortcut lets the runner skip building a result it would drop anyway; it must never
bypass a subclass that changed how it scores or skips.
"""

from __future__ import annotations

import asyncio

from llmops_kit.evaluation.base import EvalContext, EvalResult
from llmops_kit.evaluation.builtin import HeuristicQuality, MustInclude, MustNotInclude, ToolCalled
from llmops_kit.evaluation.runner import EvaluationRunner


def _run(runner: EvaluationRunner, response: str, context: EvalContext) -> list[EvalResult]:
    return asyncio.run(runner.evaluate("What's the weather in Oslo?", response, context))


def test_evaluators_without_terms_are_not_reported_unless_skips_are_kept() -> None:
    evaluators = [HeuristicQuality(), MustInclude(), MustNotInclude(), ToolCalled()]
    dropped = _run(EvaluationRunner(evaluators), "Oslo: 7C, light rain.", EvalContext())
    assert {r.name for r in dropped} == {r.name for r in dropped if r.status == "completed"}
    assert "must_include" not in {r.name for r in dropped}

    kept = _run(EvaluationRunner(evaluators, include_skipped=True), "Oslo: 7C, light rain.", EvalContext())
    skipped = {r.name: r for r in kept if r.status == "skipped"}
    assert {"must_include", "must_not_include"} <= set(skipped)
    assert all(r.score is None and r.explanation for r in skipped.values())


def test_terms_in_the_context_are_scored_on_the_fast_path() -> None:
    runner = EvaluationRunner([MustInclude(), MustNotInclude()])
    context = EvalContext(metadata={"must_include": ["oslo"], "must_not_include": ["snow"]})
    results = {r.name: r for r in _run(runner, "Oslo: 7C, light rain.", context)}
    assert results["must_include"].passed is True
    assert results["must_not_include"].passed is True
    failing = {r.name: r for r in _run(runner, "Snow in Bergen.", context)}
    assert failing["must_include"].passed is False
    assert failing["must_not_include"].passed is False


def test_a_subclass_that_overrides_its_terms_loses_the_shortcut_and_is_scored() -> None:
    class AlwaysOslo(MustInclude):
        def _terms(self, context: EvalContext):  # type: ignore[no-untyped-def]
            return super()._terms(EvalContext(metadata={"must_include": ["oslo"]}))

    assert MustInclude.nothing_to_score is not None
    assert AlwaysOslo.nothing_to_score is None
    results = _run(EvaluationRunner([AlwaysOslo(name="always_oslo")]), "Oslo: 7C.", EvalContext())
    assert [(r.name, r.passed) for r in results] == [("always_oslo", True)]


def test_a_subclass_that_restates_the_shortcut_keeps_it() -> None:
    class Restated(MustInclude):
        nothing_to_score = MustInclude.nothing_to_score

        def judge(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            return super().judge(*args, **kwargs)

    assert Restated.nothing_to_score is not None


def test_a_shortcut_that_raises_decides_nothing() -> None:
    class Broken(MustInclude):
        def nothing_to_score(self, context: EvalContext) -> bool:  # type: ignore[override]
            raise RuntimeError("broken check")

    context = EvalContext(metadata={"must_include": ["oslo"]})
    results = _run(EvaluationRunner([Broken(name="broken")]), "Oslo: 7C.", context)
    assert [(r.name, r.passed) for r in results] == [("broken", True)]
