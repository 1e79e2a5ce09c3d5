"""Golden scores: the default evaluator set must score a broad corpus exactly as it was recorded.

``golden_scores.json`` holds (query, response, context) cases - short and long answers, numbers,
citations, loaded/hedging tone, empty and whitespace-only text, CJK/emoji/accents, lone surrogates,
bytes, text past the 200k analysis window, keyword/tool metadata, invalid patterns - with every
``EvalResult.to_dict()`` the runner produced (``include_skipped=True``) before the evaluators were
optimised. Speed work on the evaluators or the runner must leave every name, score, label, verdict,
explanation, status and the order unchanged, on the runner path and on each evaluator alone.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from pathlib import Path
from typing import Any

import pytest

from llmops_kit.agent import ToolCallRecord
from llmops_kit.evaluation._text import _WORD, TextView, count_words, words
from llmops_kit.evaluation.base import EvalContext, EvalResult
from llmops_kit.evaluation.builtin import HasNumbers, HeuristicQuality
from llmops_kit.evaluation.builtin.heuristic import _CITATION_CHECKS, _CITATION_PATTERNS, _NUMBER, _searched
from llmops_kit.evaluation.defaults import default_evaluators
from llmops_kit.evaluation.runner import EvaluationRunner

GOLDEN = json.loads((Path(__file__).parent / "golden_scores.json").read_text(encoding="ascii"))
CASES: dict[str, dict[str, Any]] = {c["id"]: c for c in GOLDEN["cases"]}


def decode_value(raw: Any) -> Any:
    """Responses are stored compactly: plain JSON, or a repeat/concat recipe, bytes as hex, None, int."""
    if not isinstance(raw, dict):
        return raw
    if "repeat" in raw:
        text = raw["repeat"] * raw["times"]
        return text[: raw["limit"]] if raw.get("limit") is not None else text
    if "concat" in raw:
        return "".join(decode_value(p) for p in raw["concat"])
    if "bytes_hex" in raw:
        return bytes.fromhex(raw["bytes_hex"])
    if "int" in raw:
        return raw["int"]
    if raw.get("none"):
        return None
    raise ValueError(f"unknown encoding {raw!r}")


def decode_context(raw: dict[str, Any]) -> EvalContext:
    """A fresh context per use: evaluators must not depend on (or leave) state in it."""
    context = EvalContext(
        run_id=raw.get("run_id"),
        agent_name=raw.get("agent_name"),
        tool_calls=[ToolCallRecord(**t) for t in raw.get("tool_calls", [])],
        expected_topics=raw.get("expected_topics", ()),
        metadata=dict(raw.get("metadata") or {}),
    )
    if raw.get("metadata_none"):
        context.metadata = None  # type: ignore[assignment]
    return context


def inputs(case: dict[str, Any]) -> tuple[Any, Any, EvalContext]:
    return decode_value(case["query"]), decode_value(case["response"]), decode_context(case["context"])


def test_corpus_is_broad() -> None:
    """The file is the contract: guard against it being truncated or regenerated smaller."""
    assert len(CASES) == len(GOLDEN["cases"]) >= 140
    statuses = {(r["name"], r["status"]) for c in CASES.values() for r in c["expected"]}
    for name in ("topic_coverage", "must_include", "must_not_include", "tool_called"):
        assert (name, "completed") in statuses and (name, "skipped") in statuses
    assert ("must_include", "error") in statuses
    texts = [decode_value(c["response"]) for c in CASES.values()]
    assert any(isinstance(t, str) and len(t) > 200_000 for t in texts)
    assert {type(t) for t in texts} == {str, bytes, int, type(None)}


@pytest.mark.parametrize("case_id", sorted(CASES))
async def test_runner_matches_golden(case_id: str) -> None:
    case = CASES[case_id]
    expected = case["expected"]
    runner = EvaluationRunner(default_evaluators(), include_skipped=True, default_sample_rate=1.0)
    assert [r.to_dict() for r in await runner.evaluate(*inputs(case))] == expected
    # the default runner drops "skipped" results and nothing else; a second run on the same runner
    # (warm caches) must agree with the first
    dropping = EvaluationRunner(default_evaluators())
    for _ in range(2):
        got = [r.to_dict() for r in await dropping.evaluate(*inputs(case))]
        assert got == [r for r in expected if r["status"] != "skipped"]


@pytest.mark.parametrize("case_id", sorted(CASES))
async def test_each_evaluator_alone_matches_golden(case_id: str) -> None:
    """``evaluate`` called directly (the protocol path, no runner, no shared work) agrees too."""
    case = CASES[case_id]
    by_name = {r["name"]: r for r in case["expected"]}
    for ev in default_evaluators():
        got = await ev.evaluate(*inputs(case))
        assert got.to_dict() == by_name[ev.name], ev.name
        for part in getattr(ev, "parts", ()):
            assert (await part.evaluate(*inputs(case))).to_dict() == by_name[part.name], part.name


class _Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text")


async def test_unprintable_response_is_an_error_of_every_evaluator() -> None:
    """Cleaning that raises is each evaluator's own error (as ``evaluate`` reports it), not one
    error for the whole heuristic set: the shared analysis must not change that."""
    results = await EvaluationRunner(default_evaluators()).evaluate("q", _Unprintable(), EvalContext())
    thresholds = {"topic_coverage": 0.6, "has_numbers": 1.0, "has_citations": 1.0, "neutral_tone": 0.6,
                  "length_within_bounds": 0.8, "must_include": 1.0, "must_not_include": 1.0, "tool_called": 1.0}
    parts = {"topic_coverage", "has_numbers", "has_citations", "neutral_tone", "length_within_bounds"}
    expected = [
        EvalResult(name, None, "error", None, "RuntimeError: no text", threshold, "0-1", "error", "RuntimeError",
                   part_of="heuristic_quality" if name in parts else None)
        for name, threshold in thresholds.items()
    ]
    expected.insert(5, EvalResult("heuristic_quality", None, None, None, "no heuristic applied", 0.6, "0-1", "error",
                                  "RuntimeError"))
    assert results == expected


# --- the fast paths against the reference regular expressions, on random tricky text ---------

_REFERENCE_NUMBER = re.compile(r"(?<![A-Za-z])(?:\d{1,3}(?:[,.]\d{3})+|\d+(?:[.,]\d+)?)(?:\s?%)?")
_PIECES = [*"seourcSEOURCfnitadgpolykbKBhw:#.,%51[]()'’ \t\n\x1c_", "\u017f", "\u212a", "\u0131", "\u0130", "é",
           "\uff13", "\u00a0", "\u3000", "according to ", "our", "the", "see", "source", "section", "policy", "kb",
           "http://", "rock'n'roll", "don't", "x'ab9", "it’s", "I’M", "1,234.56", "4.2.1", "中"]


def _random_texts(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 16))) for _ in range(count)]


@pytest.mark.parametrize("seed", range(4))
def test_fast_text_paths_equal_the_reference_patterns(seed: int) -> None:
    for text in _random_texts(seed, 4000):
        assert words(text) == [w.lower() for w in _WORD.findall(text)], text
        assert count_words(text) == len(text.split()), text
        assert _NUMBER.findall(text) == _REFERENCE_NUMBER.findall(text), text
        view = TextView(text)
        for kind, pattern in _CITATION_PATTERNS:
            assert _CITATION_CHECKS.get(kind, _searched)(pattern, view) is (pattern.search(text) is not None), (
                kind, text)


@pytest.mark.parametrize("seed", range(4))
def test_the_citation_and_digit_shortcuts_equal_the_reference_on_long_and_short_texts(seed: int) -> None:
    """``HasCitations`` settles "cites nothing" with substring pre-checks and ``HasNumbers`` starts
    at ``TextView.first_digit`` (a ``find`` per digit on ASCII windows of 256+ characters): both
    must score exactly what the reference patterns give, below and above that length."""
    from llmops_kit.evaluation.builtin.heuristic import HasCitations

    rng = random.Random(seed)
    pieces = _random_texts(seed, 1200)
    ascii_pieces = [p for p in pieces if p.isascii()]
    texts = pieces + [
        "".join(rng.choice(source) for _ in range(rng.randint(8, 40)))
        for source in (pieces, ascii_pieces) for _ in range(300)
    ]
    assert sum(len(t) >= 256 and t.isascii() for t in texts) >= 50  # the long-window path is exercised
    citations, ctx = HasCitations(), EvalContext()
    for text in texts:
        view = TextView(text)
        cited = any(pattern.search(text) for _, pattern in _CITATION_PATTERNS)
        assert (citations.assess(view, "q", ctx).score == 1.0) is cited, text
        assert _NUMBER.findall(text, max(view.first_digit, 0)) == _REFERENCE_NUMBER.findall(text), text


# --- the synchronous shortcuts never bypass an override -------------------------------------


class _Judged(HasNumbers):  # overrides the synchronous scoring
    def judge(self, query: str, response: str, context: EvalContext) -> EvalResult:
        return self.result(0.25, "judged")


class _Awaited(HasNumbers):  # overrides the coroutine (and really suspends)
    async def score(self, query: str, response: str, context: EvalContext) -> EvalResult:
        await asyncio.sleep(0)
        return self.result(0.5, "awaited")


class _Assessed(HasNumbers):  # overrides the shared-view scoring
    def assess(self, view: TextView, query: str, context: EvalContext) -> EvalResult:
        return self.result(0.75, f"{len(view.tokens)} tokens")


@pytest.mark.parametrize(
    "part,score,why", [(_Judged(), 0.25, "judged"), (_Awaited(), 0.5, "awaited"), (_Assessed(), 0.75, "3 tokens")]
)
async def test_overridden_parts_score_their_own_way(part: HasNumbers, score: float, why: str) -> None:
    quality = HeuristicQuality([part], weights={"has_numbers": 1.0})
    for results in (
        await EvaluationRunner([quality, part.__class__(name="alone")]).evaluate("q", "one two three", EvalContext()),
        await quality.evaluate_many("q", "one two three", EvalContext()),
    ):
        by_name = {r.name: r for r in results}
        assert (by_name["has_numbers"].score, by_name["has_numbers"].explanation) == (score, why)
        assert by_name["heuristic_quality"].score == score
        if "alone" in by_name:
            assert (by_name["alone"].score, by_name["alone"].explanation) == (score, why)
    assert (await quality.evaluate("q", "one two three", EvalContext())).score == score
