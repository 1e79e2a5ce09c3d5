"""MAF's evaluation protocol in both directions, with MAF's own LocalEvaluator and checks."""

from __future__ import annotations

from agent_framework import EvalItem, LocalEvaluator, Message, keyword_check, tool_called_check
from tests.evaluation.conftest import SUPPORT_ANSWER, SUPPORT_QUERY

from llmops_kit.agent import ToolCallRecord
from llmops_kit.evaluation.adapters.maf import AsMAFEvaluator, MAFEvaluator
from llmops_kit.evaluation.base import EvalContext
from llmops_kit.evaluation.builtin import MustInclude, ToolCalled
from llmops_kit.evaluation.runner import EvaluationRunner


async def test_wrap_maf_local_evaluator() -> None:
    maf = LocalEvaluator(keyword_check("refund", "30 days"), tool_called_check("lookup_order"))
    ev = MAFEvaluator(maf, name="maf_local")
    ctx = EvalContext(
        run_id="r1", tool_calls=[ToolCallRecord(name="lookup_order", call_id="c1", result="{}")]
    )
    results = await ev.evaluate_many(SUPPORT_QUERY, SUPPORT_ANSWER, ctx)
    by = {r.name: r for r in results}
    assert by["maf_local.keyword_check"].passed is True
    assert by["maf_local.tool_called"].passed is True
    assert by["maf_local"].passed is True and by["maf_local"].score == 1.0

    missing = await ev.evaluate_many(SUPPORT_QUERY, "Please wait.", EvalContext())
    by = {r.name: r for r in missing}
    assert (
        by["maf_local.keyword_check"].passed is False
        and "refund" in by["maf_local.keyword_check"].explanation
    )
    assert by["maf_local.tool_called"].passed is False
    assert by["maf_local"].passed is False and by["maf_local"].score == 0.0


async def test_wrapped_maf_evaluator_in_runner_and_failures() -> None:
    runner = EvaluationRunner([MAFEvaluator(LocalEvaluator(keyword_check("refund")))])
    results = await runner.evaluate(SUPPORT_QUERY, SUPPORT_ANSWER, EvalContext())
    assert results[-1].name == "maf_local" and results[-1].passed is True

    class Broken:
        name = "broken"

        async def evaluate(self, items, *, eval_name="x"):
            raise ConnectionError("foundry unreachable")

    (r,) = await MAFEvaluator(Broken()).evaluate_many("q", "a", EvalContext())
    assert r.status == "error" and r.error_type == "ConnectionError"
    odd = await MAFEvaluator(LocalEvaluator(keyword_check("x"))).evaluate("q", "x \ud800", EvalContext())
    assert odd.status == "completed" and odd.passed is True


async def test_our_evaluators_as_a_maf_evaluator() -> None:
    from agent_framework import Content

    ours = AsMAFEvaluator([MustInclude(["refund"]), ToolCalled(["lookup_order"])])
    good = EvalItem(
        conversation=[
            Message("user", [SUPPORT_QUERY]),
            Message("assistant", [Content.from_function_call("c1", "lookup_order", arguments="{}")]),
            Message("assistant", [SUPPORT_ANSWER]),
        ]
    )
    bad = EvalItem(conversation=[Message("user", [SUPPORT_QUERY]), Message("assistant", ["No idea."])])
    results = await ours.evaluate([good, bad], eval_name="ci")
    assert results.status == "completed"
    assert results.passed == 1 and results.failed == 1 and not results.all_passed
    assert results.items[0].is_passed and results.items[1].is_failed
    assert {s.name for s in results.items[0].scores} == {"must_include", "tool_called"}
    assert results.per_evaluator["must_include"] == {"passed": 1, "failed": 1, "errored": 0}
