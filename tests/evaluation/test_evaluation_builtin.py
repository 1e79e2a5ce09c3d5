"""Built-in offline evaluators: scores on realistic support answers and hostile inputs."""

from __future__ import annotations

import json

import pytest
from tests.evaluation.conftest import SUPPORT_ANSWER, SUPPORT_QUERY

from llmops_kit.agent import ToolCallRecord
from llmops_kit.evaluation.base import EvalContext, EvalResult
from llmops_kit.evaluation.builtin import (
    HasCitations,
    HasNumbers,
    HeuristicQuality,
    JsonSchemaValid,
    JsonValid,
    LengthWithinBounds,
    MustInclude,
    MustNotInclude,
    NeutralTone,
    ToolCalled,
    ToolNotCalled,
    TopicCoverage,
)
from llmops_kit.evaluation.builtin._stem import stem

SCHEMA = {
    "type": "object",
    "required": ["ticket", "priority"],
    "properties": {"ticket": {"type": "integer"}, "priority": {"enum": ["low", "high"]}},
}


def all_evaluators():
    return [
        TopicCoverage(),
        HasNumbers(),
        HasCitations(),
        NeutralTone(),
        LengthWithinBounds(),
        HeuristicQuality(),
        MustInclude(["refund"]),
        MustNotInclude(["guarantee"]),
        ToolCalled(["lookup_order"]),
        ToolNotCalled(["delete_account"]),
        JsonValid(),
        JsonSchemaValid(SCHEMA),
    ]


@pytest.mark.parametrize(
    "word,expected",
    [
        ("refunds", "refund"),
        ("refunded", "refund"),
        ("shipped", "ship"),
        ("deliveries", "delivery"),
        ("invoices", "invoic"),
        ("damaged", "damag"),
    ],
)
def test_stem_folds_inflections(word: str, expected: str) -> None:
    assert stem(word) == expected


async def test_topic_coverage_accepts_inflections_and_synonyms() -> None:
    ev = TopicCoverage()
    ctx = EvalContext(expected_topics=("refunds", "shipping", "order number"))
    r = await ev.evaluate(
        "q", "We will reimburse you once the courier collects it; quote your order id.", ctx
    )
    assert r.score == 1.0 and r.passed is True
    r2 = await ev.evaluate("q", "We will reimburse you.", ctx)
    assert r2.score == pytest.approx(1 / 3) and r2.passed is False
    assert "shipping" in r2.explanation and "order number" in r2.explanation


async def test_topic_coverage_custom_synonyms_and_skip_without_topics() -> None:
    ev = TopicCoverage(synonyms={"escalate": ["hand over to a specialist"]})
    r = await ev.evaluate(
        "q", "I will hand this over to a specialist today.", EvalContext(expected_topics=["escalate"])
    )
    assert r.score == 1.0
    skipped = await ev.evaluate("q", "anything", EvalContext())
    assert skipped.status == "skipped" and skipped.score is None


async def test_good_support_answer_scores_high(support_context: EvalContext) -> None:
    results = await HeuristicQuality().evaluate_many(SUPPORT_QUERY, SUPPORT_ANSWER, support_context)
    by = {r.name: r for r in results}
    assert set(by) == {
        "topic_coverage",
        "has_numbers",
        "has_citations",
        "neutral_tone",
        "length_within_bounds",
        "heuristic_quality",
    }
    assert by["topic_coverage"].score == 1.0
    assert by["has_numbers"].score == 1.0 and by["has_citations"].score == 1.0
    assert by["neutral_tone"].score == 1.0 and by["length_within_bounds"].score == 1.0
    assert by["heuristic_quality"].score == 1.0 and by["heuristic_quality"].passed is True
    assert "topic_coverage=1.00" in by["heuristic_quality"].explanation


async def test_poor_answer_scores_low(support_context: EvalContext) -> None:
    bad = "Honestly, maybe try again later? Probably a ridiculous courier issue, I guess."
    results = await HeuristicQuality().evaluate_many(SUPPORT_QUERY, bad, support_context)
    by = {r.name: r for r in results}
    assert by["neutral_tone"].score == 0.0
    assert by["has_citations"].score == 0.0 and by["has_numbers"].score == 0.0
    assert by["heuristic_quality"].score < 0.4 and by["heuristic_quality"].passed is False


async def test_combined_renormalises_when_topics_absent() -> None:
    r = await HeuristicQuality().evaluate(SUPPORT_QUERY, SUPPORT_ANSWER, EvalContext())
    assert r.score == 1.0 and "not applied: topic_coverage" in r.explanation


async def test_length_bounds_decay() -> None:
    ev = LengthWithinBounds(min_words=10, max_words=20)
    assert (await ev.evaluate("q", "one two three four five", EvalContext())).score == 0.5
    assert (await ev.evaluate("q", " ".join(["w"] * 40), EvalContext())).score == 0.5
    with pytest.raises(ValueError, match="length bounds"):
        LengthWithinBounds(min_words=10, max_words=5)


async def test_citation_kinds() -> None:
    ev = HasCitations()
    for text in ("See https://x.example/a", "as shown [1]", "Source: returns policy", "per policy 4.2"):
        assert (await ev.evaluate("q", text, EvalContext())).score == 1.0, text
    assert (await ev.evaluate("q", "no sources here at all", EvalContext())).score == 0.0


async def test_keywords_fixed_regex_and_from_metadata() -> None:
    r = await MustInclude([r"\b\d+ days\b", "refund"], regex=True).evaluate(
        "q", SUPPORT_ANSWER, EvalContext()
    )
    assert r.score == 1.0 and r.passed
    ctx = EvalContext(
        metadata={"must_include": ["refund", "store credit"], "must_not_include": ["lawsuit", "Refund"]}
    )
    inc = await MustInclude().evaluate("q", SUPPORT_ANSWER, ctx)
    assert inc.score == 0.5 and inc.passed is False and "store credit" in inc.explanation
    exc = await MustNotInclude().evaluate("q", SUPPORT_ANSWER, ctx)
    assert exc.score == 0.5 and exc.passed is False and "Refund" in exc.explanation
    assert (await MustInclude().evaluate("q", "x", EvalContext())).status == "skipped"
    with pytest.raises(ValueError, match="invalid regular expression"):
        MustInclude(["(unclosed"], regex=True)


async def test_tool_called_modes_and_failed_calls() -> None:
    calls = [ToolCallRecord(name="lookup_order"), ToolCallRecord(name="issue_refund", error="Timeout")]
    ctx = EvalContext(tool_calls=calls)
    assert (await ToolCalled(["lookup_order", "issue_refund"]).evaluate("q", "a", ctx)).score == 0.5
    assert (
        await ToolCalled(["lookup_order", "issue_refund"], count_failed=True).evaluate("q", "a", ctx)
    ).score == 1
    assert (
        await ToolCalled(["issue_refund", "lookup_order"], mode="any").evaluate("q", "a", ctx)
    ).passed is True
    meta = EvalContext(
        tool_calls=calls, metadata={"expected_tools": ["escalate"], "forbidden_tools": ["lookup_order"]}
    )
    assert (await ToolCalled().evaluate("q", "a", meta)).score == 0.0
    assert (await ToolNotCalled().evaluate("q", "a", meta)).passed is False


async def test_json_checks() -> None:
    good = json.dumps({"ticket": 12, "priority": "high"})
    assert (await JsonValid().evaluate("q", f"```json\n{good}\n```", EvalContext())).score == 1.0
    assert (await JsonValid().evaluate("q", "here: {", EvalContext())).score == 0.0
    schema = JsonSchemaValid(SCHEMA)
    assert (await schema.evaluate("q", good, EvalContext())).passed is True
    bad = await schema.evaluate("q", json.dumps({"ticket": "12", "priority": "urgent"}), EvalContext())
    assert bad.score == 0.0 and "2 schema error(s)" in bad.explanation
    with pytest.raises(Exception, match="is not valid"):
        JsonSchemaValid({"type": "no-such-type"})


HOSTILE = {
    "empty": "",
    "huge": ("Refund within 30 days, see https://x.example. " * 120_000)[:5_000_000],
    "lone_surrogates": "refund \ud800 policy \udfff 30 days",
    "nul_and_controls": "refund\x00\x1b[31m 30 days",
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
async def test_every_evaluator_defines_a_result_for_hostile_text(
    case: str, support_context: EvalContext
) -> None:
    text = HOSTILE[case]
    for ev in all_evaluators():
        r = await ev.evaluate(text, text, support_context)
        assert isinstance(r, EvalResult), ev.name
        assert r.name == ev.name
        assert r.status in ("completed", "skipped", "error")
        assert r.status == "error" or r.score is None or 0.0 <= r.score <= 1.0
        json.dumps(r.to_dict())  # serialisable: no surrogates leak into audit/telemetry


async def test_non_utf8_bytes_are_decoded_not_raised(support_context: EvalContext) -> None:
    raw = b"refund \xff\xfe within 30 days"
    for ev in all_evaluators():
        r = await ev.evaluate("q", raw, support_context)  # type: ignore[arg-type]
        assert isinstance(r, EvalResult) and r.status in ("completed", "skipped", "error")
    r = await MustInclude(["refund"]).evaluate("q", raw, support_context)  # type: ignore[arg-type]
    assert r.passed is True


async def test_evaluator_bug_becomes_error_result() -> None:
    class Broken(TopicCoverage):
        async def score(self, query, response, context):
            raise KeyError("boom")

    r = await Broken().evaluate("q", "a", EvalContext(expected_topics=["x"]))
    assert r.status == "error" and r.error_type == "KeyError" and r.score is None
