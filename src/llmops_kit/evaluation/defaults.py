"""The evaluator set attached to every run when the application names none."""

from __future__ import annotations

from llmops_kit.evaluation.base import Evaluator
from llmops_kit.evaluation.builtin import HeuristicQuality, MustInclude, MustNotInclude, ToolCalled


def default_evaluators() -> list[Evaluator]:
    """Offline heuristics for a support answer plus keyword/tool checks.

    The keyword and tool checks score only runs whose context names terms or tools
    (``metadata["must_include"]``, ``["must_not_include"]``, ``["expected_tools"]``) and
    otherwise report "skipped", which the runner drops; so the set is safe on every run and
    costs well under a millisecond for a typical answer (no model, no network).
    """
    return [HeuristicQuality(), MustInclude(), MustNotInclude(), ToolCalled()]
