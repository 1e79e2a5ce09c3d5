"""Bridges to Microsoft Agent Framework's experimental evaluation API.

* :class:`MAFEvaluator` wraps a MAF ``Evaluator`` (e.g. ``LocalEvaluator(keyword_check(...),
  tool_called_check(...))``) so the checks users already wrote score our runs. Each of
  MAF's per-check scores becomes an :class:`EvalResult`, plus one combined result under the
  wrapper's name (passed = the MAF item passed).
* :class:`AsMAFEvaluator` goes the other way: our evaluators as a MAF ``Evaluator`` for
  ``agent_framework.evaluate_agent(..., evaluators=...)``.

API shapes read in agent_framework 1.23 ``_evaluation.py``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

from llmops_kit.evaluation.base import EvalContext, EvalResult, Evaluator
from llmops_kit.evaluation.builtin._base import BaseEvaluator, error_result


def to_eval_item(query: str, response: str, context: EvalContext) -> Any:
    """A MAF ``EvalItem`` whose conversation replays the run: user, tool calls/results, answer."""
    from agent_framework import Content, EvalItem, Message

    conversation: list[Any] = [Message("user", [query])]
    calls = list(context.tool_calls or ())
    if calls:
        ids = [c.call_id or f"call_{i}" for i, c in enumerate(calls)]
        conversation.append(
            Message(
                "assistant",
                [
                    Content.from_function_call(cid, c.name, arguments=c.arguments)
                    for cid, c in zip(ids, calls, strict=True)
                ],
            )
        )
        conversation.append(
            Message(
                "tool",
                [
                    Content.from_function_result(cid, result=c.result, exception=c.error)
                    for cid, c in zip(ids, calls, strict=True)
                ],
            )
        )
    conversation.append(Message("assistant", [response]))
    docs = "\n\n".join(d for d in context.documents or () if d) or None
    return EvalItem(conversation=conversation, context=docs, expected_output=context.reference)


class MAFEvaluator(BaseEvaluator):
    """A MAF ``Evaluator`` scoring one run; its per-check scores come back as named results."""

    def __init__(self, maf_evaluator: Any, *, name: str | None = None, threshold: float = 1.0) -> None:
        if not callable(getattr(maf_evaluator, "evaluate", None)):
            raise TypeError(
                f"{maf_evaluator!r} is not a MAF Evaluator (needs async evaluate(items, eval_name=...))"
            )
        self._maf = maf_evaluator
        self.name = name or f"maf_{getattr(maf_evaluator, 'name', 'evaluator')}".lower()
        self.threshold = threshold

    async def evaluate_many(self, query: str, response: str, context: EvalContext) -> list[EvalResult]:
        try:
            from llmops_kit.evaluation._text import clean

            item = to_eval_item(clean(query), clean(response), context or EvalContext())
            results = await self._maf.evaluate([item], eval_name=context.run_id or "llmops")
            return self._map(results)
        except Exception as exc:
            return [error_result(self.name, exc, threshold=self.threshold)]

    async def score(self, query: str, response: str, context: EvalContext) -> EvalResult:
        return (await self.evaluate_many(query, response, context))[-1]

    def _map(self, results: Any) -> list[EvalResult]:
        if getattr(results, "status", "completed") != "completed":
            err = RuntimeError(f"MAF evaluator status {results.status}: {getattr(results, 'error', '')}")
            return [error_result(self.name, err, threshold=self.threshold)]
        items = list(getattr(results, "items", None) or ())
        if not items:  # providers without per-item results: use the counts
            passed = results.failed == 0 and results.total > 0
            return [
                self.result(1.0 if passed else 0.0, f"{results.passed}/{results.total} passed", passed=passed)
            ]
        item = items[0]
        out: list[EvalResult] = []
        for s in item.scores:
            reason = (s.sample or {}).get("reason", "") if isinstance(s.sample, dict) else ""
            out.append(
                EvalResult(
                    name=f"{self.name}.{s.name}",
                    score=float(s.score),
                    passed=s.passed,
                    label=None if s.passed is None else ("pass" if s.passed else "fail"),
                    explanation=str(reason),
                )
            )
        if item.is_error:
            err = RuntimeError(f"{item.error_code}: {item.error_message}")
            out.append(error_result(self.name, err, threshold=self.threshold))
            return out
        scores = [float(s.score) for s in item.scores]
        mean = sum(scores) / len(scores) if scores else (1.0 if item.is_passed else 0.0)
        failed = [s.name for s in item.scores if s.passed is False]
        why = f"{len(scores) - len(failed)}/{len(scores)} checks passed" + (
            f"; failed: {', '.join(failed)}" if failed else ""
        )
        out.append(self.result(round(mean, 4), why, passed=item.is_passed))
        return out


class AsMAFEvaluator:
    """Our evaluators as a MAF ``Evaluator``: ``evaluate(items, *, eval_name) -> EvalResults``."""

    def __init__(self, evaluators: Sequence[Evaluator], *, name: str = "llmops-kit") -> None:
        self.name = name
        self._evaluators = list(evaluators)

    async def evaluate(self, items: Sequence[Any], *, eval_name: str = "llmops-kit") -> Any:
        from agent_framework import EvalItemResult, EvalResults, EvalScoreResult

        from llmops_kit.agent import ToolCallRecord

        per_eval: dict[str, dict[str, int]] = {}
        out_items: list[Any] = []
        counts = {"passed": 0, "failed": 0, "errored": 0}
        for idx, item in enumerate(items):
            calls = [
                ToolCallRecord(name=c.name, call_id=c.call_id)
                for m in item.conversation
                for c in (m.contents or ())
                if c.type == "function_call" and c.name
            ]
            ctx = EvalContext(
                run_id=f"{eval_name}:{idx}",
                tool_calls=calls,
                documents=[item.context] if item.context else [],
                reference=item.expected_output,
            )
            results = await asyncio.gather(
                *(e.evaluate(item.query, item.response, ctx) for e in self._evaluators)
            )
            scores = []
            status = "pass"
            for r in results:
                c = per_eval.setdefault(r.name, {"passed": 0, "failed": 0, "errored": 0})
                if r.status == "error" or r.score is None:
                    c["errored" if r.status == "error" else "passed"] += 0 if r.status != "error" else 1
                    if r.status == "error":
                        status = "error"
                    continue
                c["passed" if r.passed is not False else "failed"] += 1
                if r.passed is False and status == "pass":
                    status = "fail"
                scores.append(
                    EvalScoreResult(
                        name=r.name,
                        score=float(r.score),
                        passed=r.passed,
                        sample={"reason": r.explanation, "scale": r.scale},
                    )
                )
            if not scores and status == "pass":
                status = "fail"  # nothing applied: a pass would carry no evidence (MAF's own rule)
            counts[{"pass": "passed", "fail": "failed", "error": "errored"}[status]] += 1
            out_items.append(
                EvalItemResult(
                    item_id=str(idx),
                    status=status,
                    scores=scores,
                    input_text=item.query,
                    output_text=item.response,
                )
            )
        return EvalResults(
            provider=self.name,
            eval_id="llmops-kit",
            run_id=f"{eval_name}-{uuid.uuid4().hex[:8]}",
            status="completed",
            result_counts=counts,
            per_evaluator=per_eval,
            items=out_items,
        )
