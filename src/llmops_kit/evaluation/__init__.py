"""Evaluators around every run, and the evaluation suite that gates CI.

``base`` holds the protocol; ``builtin`` the offline evaluators; ``runner`` the online
policy (sampling, thresholds, inline/background, gates); ``adapters`` bridge
azure-ai-evaluation and MAF; ``suite``/``cli`` run versioned test cases as a CI gate.
Submodules are imported on demand so ``import llmops_kit`` stays cheap.
"""

from __future__ import annotations

from llmops_kit.evaluation.base import EvalContext, EvalResult, Evaluator

__all__ = ["EvalContext", "EvalResult", "EvaluationRunner", "Evaluator", "Scored", "default_evaluators"]


def __getattr__(name: str):
    if name in {"EvaluationRunner", "Scored"}:
        from llmops_kit.evaluation import runner

        return getattr(runner, name)
    if name == "default_evaluators":
        from llmops_kit.evaluation.defaults import default_evaluators

        return default_evaluators
    raise AttributeError(name)
