"""Offline quality heuristics: topic coverage, numbers, citations, neutral tone, length.

Each check is its own evaluator with a named score; :class:`HeuristicQuality` combines
them into ``heuristic_quality`` (0–1, weighted mean of the sub-scores that apply). They
are cheap signals, not judgements: good for catching an off-topic, empty, rambling or
source-free support answer on every run, where an LLM judge would cost a call.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence

from llmops_kit.evaluation._text import count_words, window, words
from llmops_kit.evaluation.base import EvalContext, EvalResult
from llmops_kit.evaluation.builtin._base import BaseEvaluator
from llmops_kit.evaluation.builtin._stem import DEFAULT_SYNONYMS, stem

_MIN_PREFIX = 5  # a stem that is a prefix of another counts when it has at least this many letters


def _stems_match(a: str, b: str) -> bool:
    if a == b:
        return True
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    return len(short) >= _MIN_PREFIX and long_.startswith(short)


def _phrase_in(phrase_stems: Sequence[str], text_stems: Sequence[str], text_set: frozenset[str]) -> bool:
    """All stems of the phrase occur in order-insensitive fashion; single stems allow prefix matches."""
    if not phrase_stems:
        return False
    for ps in phrase_stems:
        if ps in text_set:
            continue
        if not any(_stems_match(ps, ts) for ts in text_set if ts[:2] == ps[:2]):
            return False
    return True


class TopicCoverage(BaseEvaluator):
    """Share of ``context.expected_topics`` the response covers (inflections and synonyms count)."""

    def __init__(
        self,
        *,
        threshold: float = 0.6,
        synonyms: Mapping[str, Sequence[str]] | None = None,
        name: str = "topic_coverage",
    ) -> None:
        self.name = name
        self.threshold = threshold
        merged: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in DEFAULT_SYNONYMS.items()}
        for k, v in (synonyms or {}).items():
            merged[k.lower()] = (*merged.get(k.lower(), ()), *v)
        self._synonyms = merged

    def _variants(self, topic: str) -> list[tuple[str, ...]]:
        key = topic.lower().strip()
        phrases = [key, *self._synonyms.get(key, ())]
        stem_key = " ".join(stem(w) for w in words(key))
        for k, syns in self._synonyms.items():  # "refunds" finds the "refund" entry too
            if k != key and " ".join(stem(w) for w in words(k)) == stem_key:
                phrases.extend(syns)
        return [tuple(stem(w) for w in words(p)) for p in phrases]

    runs_inline = True  # pure CPU: no await inside

    async def score(self, query: str, response: str, context: EvalContext) -> EvalResult:
        topics = [t for t in (str(t).strip() for t in context.expected_topics or ()) if t]
        if not topics:
            return self.skipped("no expected_topics in the context")
        text, _ = window(response)
        text_stems = [stem(w) for w in words(text)]
        text_set = frozenset(text_stems)
        covered = [t for t in topics if any(_phrase_in(v, text_stems, text_set) for v in self._variants(t))]
        missing = [t for t in topics if t not in covered]
        value = len(covered) / len(topics)
        why = f"covered {len(covered)}/{len(topics)} topics" + (
            f"; missing: {', '.join(missing)}" if missing else ""
        )
        return self.result(value, why)


_NUMBER = re.compile(r"(?<![A-Za-z])(?:\d{1,3}(?:[,.]\d{3})+|\d+(?:[.,]\d+)?)(?:\s?%)?")


class HasNumbers(BaseEvaluator):
    """1 when the response states concrete figures (days, amounts, percentages), else 0."""

    def __init__(self, *, threshold: float = 1.0, name: str = "has_numbers") -> None:
        self.name = name
        self.threshold = threshold

    runs_inline = True  # pure CPU: no await inside

    async def score(self, query: str, response: str, context: EvalContext) -> EvalResult:
        text, _ = window(response)
        found = _NUMBER.findall(text)
        return self.result(
            # a count only: an excerpt could be a card or account number, and explanations are exported
            # even when message content capture is off
            1.0 if found else 0.0, f"{len(found)} number(s)"
        )


_CITATION_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("url", re.compile(r"https?://[^\s<>\"')\]]+", re.IGNORECASE)),
    ("bracket", re.compile(r"\[(?:\d{1,3}|[A-Za-z][\w .-]{0,40})\](?!\()")),
    ("source", re.compile(r"\b(?:sources?|references?|citations?|see)\s*:", re.IGNORECASE)),
    ("according", re.compile(r"\baccording to (?:our|the)\b", re.IGNORECASE)),
    ("policy_ref", re.compile(r"\b(?:section|article|policy|kb)\s*#?\s*\d+(?:\.\d+)*", re.IGNORECASE)),
)


class HasCitations(BaseEvaluator):
    """1 when the response points at a source: a URL, ``[1]``, "Source:", a policy/KB section."""

    def __init__(self, *, threshold: float = 1.0, name: str = "has_citations") -> None:
        self.name = name
        self.threshold = threshold

    runs_inline = True  # pure CPU: no await inside

    async def score(self, query: str, response: str, context: EvalContext) -> EvalResult:
        text, _ = window(response)
        kinds = [kind for kind, pattern in _CITATION_PATTERNS if pattern.search(text)]
        return self.result(
            1.0 if kinds else 0.0, f"citation kinds: {', '.join(kinds)}" if kinds else "no citation"
        )


LOADED_WORDS: frozenset[str] = frozenset(
    {
        "amazing",
        "awesome",
        "terrible",
        "horrible",
        "awful",
        "outrageous",
        "ridiculous",
        "stupid",
        "idiotic",
        "obviously",
        "clearly",
        "absolutely",
        "totally",
        "disgusting",
        "pathetic",
        "incredible",
        "unbelievable",
        "insane",
        "worst",
        "fantastic",
        "shocking",
        "hate",
        "dumb",
        "useless",
        "lazy",
        "fault",
    }
)
HEDGE_WORDS: frozenset[str] = frozenset(
    {
        "maybe",
        "perhaps",
        "possibly",
        "probably",
        "presumably",
        "arguably",
        "somewhat",
        "guess",
        "hopefully",
        "apparently",
        "supposedly",
        "seemingly",
    }
)
HEDGE_PHRASES: tuple[str, ...] = (
    "i think",
    "i guess",
    "i believe",
    "sort of",
    "kind of",
    "not sure",
    "might be",
    "could be",
    "i suppose",
)


class NeutralTone(BaseEvaluator):
    """1 minus 0.2 per loaded or hedging word per 100 words (floor 0).

    Support answers should be calm and committal; a density keeps one "perhaps" in a long
    answer from failing it while a short answer full of them scores low.
    """

    def __init__(
        self,
        *,
        threshold: float = 0.6,
        penalty_per_100_words: float = 0.2,
        loaded: frozenset[str] = LOADED_WORDS,
        hedges: frozenset[str] = HEDGE_WORDS,
        name: str = "neutral_tone",
    ) -> None:
        self.name = name
        self.threshold = threshold
        self._penalty = penalty_per_100_words
        self._loaded = loaded
        self._hedges = hedges

    runs_inline = True  # pure CPU: no await inside

    async def score(self, query: str, response: str, context: EvalContext) -> EvalResult:
        text, _ = window(response)
        tokens = words(text)
        if not tokens:
            return self.result(0.0, "empty response", label="empty", passed=False)
        loaded = [t for t in tokens if t in self._loaded]
        hedges = [t for t in tokens if t in self._hedges]
        lower = " ".join(tokens)
        phrases = [p for p in HEDGE_PHRASES if f" {p} " in f" {lower} "]
        hits = len(loaded) + len(hedges) + sum(lower.count(p) for p in phrases)
        density = hits * 100.0 / max(len(tokens), 20)
        value = max(0.0, 1.0 - self._penalty * density)
        flagged = sorted(set(loaded + hedges + phrases))
        return self.result(
            round(value, 4),
            f"{hits} loaded/hedging term(s) in {len(tokens)} words"
            + (f": {', '.join(flagged[:8])}" if flagged else ""),
        )


class LengthWithinBounds(BaseEvaluator):
    """1 inside [min_words, max_words]; outside it decays as words/min or max/words."""

    def __init__(
        self,
        *,
        min_words: int = 15,
        max_words: int = 350,
        threshold: float = 0.8,
        name: str = "length_within_bounds",
    ) -> None:
        if min_words < 0 or max_words < max(min_words, 1):
            raise ValueError(
                f"length bounds must satisfy 0 <= min_words <= max_words, got {min_words}..{max_words}"
            )
        self.name = name
        self.threshold = threshold
        self.min_words = min_words
        self.max_words = max_words

    runs_inline = True  # pure CPU: no await inside

    async def score(self, query: str, response: str, context: EvalContext) -> EvalResult:
        n = count_words(response)
        if n < self.min_words:
            value = n / self.min_words if self.min_words else 1.0
        elif n > self.max_words:
            value = self.max_words / n
        else:
            value = 1.0
        return self.result(round(value, 4), f"{n} words (bounds {self.min_words}..{self.max_words})")


#: Weights for a customer-support answer: covering the customer's topics matters most.
DEFAULT_WEIGHTS: Mapping[str, float] = {
    "topic_coverage": 0.40,
    "has_numbers": 0.10,
    "has_citations": 0.15,
    "neutral_tone": 0.15,
    "length_within_bounds": 0.20,
}


class HeuristicQuality(BaseEvaluator):
    """Weighted mean of the heuristic sub-scores (skipped ones drop out and weights renormalise).

    ``evaluate_many`` returns every sub-result plus the combined one, so the runner reports
    each named sub-score; ``evaluate`` returns the combined result alone (the protocol shape).
    """

    def __init__(
        self,
        parts: Sequence[BaseEvaluator] | None = None,
        *,
        weights: Mapping[str, float] | None = None,
        threshold: float = 0.6,
        name: str = "heuristic_quality",
    ) -> None:
        self.name = name
        self.threshold = threshold
        self.parts: list[BaseEvaluator] = (
            list(parts)
            if parts is not None
            else [TopicCoverage(), HasNumbers(), HasCitations(), NeutralTone(), LengthWithinBounds()]
        )
        self.weights = dict(weights or DEFAULT_WEIGHTS)
        unknown = [p.name for p in self.parts if self.weights.get(p.name, 0) <= 0]
        if unknown:
            raise ValueError(f"no positive weight for heuristic part(s): {', '.join(unknown)}")

    @property  # type: ignore[override]
    def runs_inline(self) -> bool:  # inline exactly when every part is
        return all(getattr(p, "runs_inline", False) is True for p in self.parts)

    async def evaluate_many(self, query: str, response: str, context: EvalContext) -> list[EvalResult]:
        if self.runs_inline:  # CPU-only parts: in turn, no task per part
            subs = [await p.evaluate(query, response, context) for p in self.parts]
        else:
            subs = list(await asyncio.gather(*(p.evaluate(query, response, context) for p in self.parts)))
        try:
            combined = self.combine(subs)
        except Exception as exc:  # pragma: no cover - combine is arithmetic over floats
            from llmops_kit.evaluation.builtin._base import error_result

            combined = error_result(self.name, exc, threshold=self.threshold)
        return [*subs, combined]

    async def score(self, query: str, response: str, context: EvalContext) -> EvalResult:
        return (await self.evaluate_many(query, response, context))[-1]

    def combine(self, subs: Sequence[EvalResult]) -> EvalResult:
        scored = [
            (r, self.weights.get(r.name, 0.0))
            for r in subs
            if r.status == "completed" and r.score is not None
        ]
        total_w = sum(w for _, w in scored)
        if not scored or total_w <= 0:
            return EvalResult(
                name=self.name,
                score=None,
                explanation="no heuristic applied",
                threshold=self.threshold,
                status="error" if any(r.status == "error" for r in subs) else "skipped",
                error_type=next((r.error_type for r in subs if r.error_type), None),
            )
        value = round(sum(float(r.score) * w for r, w in scored) / total_w, 4)  # type: ignore[arg-type]
        parts = " ".join(f"{r.name}={r.score:.2f}" for r, _ in scored)
        dropped = [r.name for r in subs if r.status != "completed" or r.score is None]
        why = parts + (f" (not applied: {', '.join(dropped)})" if dropped else "")
        return self.result(value, why)
