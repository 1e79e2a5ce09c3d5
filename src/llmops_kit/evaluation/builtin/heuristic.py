"""Offline quality heuristics: topic coverage, numbers, citations, neutral tone, length.

Each check is its own evaluator with a named score; :class:`HeuristicQuality` combines
them into ``heuristic_quality`` (0–1, weighted mean of the sub-scores that apply). They
are cheap signals, not judgements: good for catching an off-topic, empty, rambling or
source-free support answer on every run, where an LLM judge would cost a call.

Because they run on every agent run, each part reads the response through a shared
:class:`~llmops_kit.evaluation._text.TextView` (window, tokens, lower-cased text computed
once per run), and the slow-to-scan patterns are reached through cheap exact pre-checks
(keyword ``find`` then an anchored match). Every shortcut returns exactly what the plain
``findall``/``search`` over the window would: ``tests/evaluation/test_evaluation_golden.py``
holds the scores recorded before them.
"""

from __future__ import annotations

import asyncio
import re
from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence

from llmops_kit.evaluation._text import TextView, words
from llmops_kit.evaluation.base import EvalContext, EvalResult
from llmops_kit.evaluation.builtin._base import BaseEvaluator, InlineEvaluator, _clean, error_result
from llmops_kit.evaluation.builtin._stem import DEFAULT_SYNONYMS, stem

_MIN_PREFIX = 5  # a stem that is a prefix of another counts when it has at least this many letters


def _stems_match(a: str, b: str) -> bool:
    if a == b:
        return True
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    return len(short) >= _MIN_PREFIX and long_.startswith(short)


def _text_stems(tokens: frozenset[str], prefixes: frozenset[str]) -> tuple[frozenset[str], dict[str, list[str]]]:
    """The distinct stems of the tokens opening with one of ``prefixes``, and them by first two letters.

    Only those tokens can matter: ``stem`` keeps a word's first two letters, and
    :func:`_phrase_in` only compares stems sharing them with a phrase stem; skipping the rest
    skips most of the stemming, the costly part.
    """
    stems = frozenset(map(stem, [w for w in tokens if w[:2] in prefixes]))
    by_prefix: dict[str, list[str]] = {}
    for ts in stems:
        by_prefix.setdefault(ts[:2], []).append(ts)
    return stems, by_prefix


def _phrase_in(phrase_stems: Sequence[str], text_set: frozenset[str], by_prefix: Mapping[str, list[str]]) -> bool:
    """All stems of the phrase occur in order-insensitive fashion; single stems allow prefix matches."""
    if not phrase_stems:
        return False
    for ps in phrase_stems:
        if ps in text_set:
            continue
        if len(ps) < _MIN_PREFIX:  # a shorter stem can only match itself
            return False
        bucket = by_prefix.get(ps[:2])  # the stems with ts[:2] == ps[:2]
        if bucket is None or not any(_stems_match(ps, ts) for ts in bucket):
            return False
    return True


class _TextPart(InlineEvaluator):
    """A heuristic part that reads the response through a :class:`TextView`.

    :meth:`assess` does the scoring; ``judge`` (hence ``evaluate``) builds a view of its own,
    while :class:`HeuristicQuality` builds one per run and hands it to every part.
    """

    def judge(self, query: str, response: str, context: EvalContext) -> EvalResult:
        return self.assess(TextView(response), query, context)

    @abstractmethod
    def assess(self, view: TextView, query: str, context: EvalContext) -> EvalResult:
        """Score the (cleaned) response behind ``view``."""

    def assess_now(self, view: TextView, query: str, context: EvalContext) -> EvalResult:
        """:meth:`assess` with ``evaluate``'s error handling."""
        try:
            return self.assess(view, query, context)
        except Exception as exc:  # an evaluator bug must not escape into the run
            return self._failed(exc)

    #: Whether :class:`HeuristicQuality` may call :meth:`assess_now` with its shared view: not for a
    #: subclass that scores some other way (overrides ``judge``, or the coroutine path).
    shares_view: bool = True

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "judge" in cls.__dict__ or cls.sync_capable is not True:
            cls.shares_view = False


#: Topic -> its variants' stems, per TopicCoverage instance; bounded (topics come with each run).
_VARIANTS_CACHE_MAX = 512


class TopicCoverage(_TextPart):
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
        self._variants_cache: dict[str, tuple[list[tuple[str, ...]], frozenset[str]]] = {}

    def _variants_of(self, topic: str) -> tuple[list[tuple[str, ...]], frozenset[str]]:
        """:meth:`_variants` and the first two letters of their stems, remembered: they depend
        only on the topic and the synonym table."""
        cache = self._variants_cache
        found = cache.get(topic)
        if found is None:
            if len(cache) >= _VARIANTS_CACHE_MAX:
                cache.clear()
            variants = self._variants(topic)
            found = cache[topic] = (variants, frozenset(ps[:2] for v in variants for ps in v))
        return found

    def _variants(self, topic: str) -> list[tuple[str, ...]]:
        key = topic.lower().strip()
        phrases = [key, *self._synonyms.get(key, ())]
        stem_key = " ".join(stem(w) for w in words(key))
        for k, syns in self._synonyms.items():  # "refunds" finds the "refund" entry too
            if k != key and " ".join(stem(w) for w in words(k)) == stem_key:
                phrases.extend(syns)
        return [tuple(stem(w) for w in words(p)) for p in phrases]

    def assess(self, view: TextView, query: str, context: EvalContext) -> EvalResult:
        raw = context.expected_topics
        if not raw:  # the usual case: skip without building the comprehension
            return self.skipped("no expected_topics in the context")
        topics = [t for t in (str(t).strip() for t in raw) if t]
        if not topics:
            return self.skipped("no expected_topics in the context")
        known = {t: self._variants_of(t) for t in topics}
        text_set, by_prefix = _text_stems(view.token_set, frozenset().union(*(p for _, p in known.values())))
        covered = [t for t in topics if any(_phrase_in(v, text_set, by_prefix) for v in known[t][0])]
        missing = [t for t in topics if t not in covered]
        value = len(covered) / len(topics)
        why = f"covered {len(covered)}/{len(topics)} topics" + (
            f"; missing: {', '.join(missing)}" if missing else ""
        )
        return self.result(value, why)


#: A figure: ``(?<![A-Za-z])(?:\d{1,3}(?:[,.]\d{3})+|\d+(?:[.,]\d+)?)(?:\s?%)?`` with its first
#: digit moved in front of the look-behind - the same matches, but a leading ``\d`` lets the
#: regex engine skip to the next digit instead of trying the look-behind at every position.
_NUMBER = re.compile(r"\d(?<![A-Za-z]\d)(?:\d{0,2}(?:[,.]\d{3})+|\d*(?:[.,]\d+)?)(?:\s?%)?")


class HasNumbers(_TextPart):
    """1 when the response states concrete figures (days, amounts, percentages), else 0."""

    def __init__(self, *, threshold: float = 1.0, name: str = "has_numbers") -> None:
        self.name = name
        self.threshold = threshold

    def assess(self, view: TextView, query: str, context: EvalContext) -> EvalResult:
        # every match opens with a digit: the search may start at the first (its look-behind still
        # sees the text before it)
        at = view.first_digit
        found = _NUMBER.findall(view.window, at) if at >= 0 else ()
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


def _searched(pattern: re.Pattern[str], view: TextView) -> bool:
    """The reference check: the pattern anywhere in the window."""
    return pattern.search(view.window) is not None


def _keyword_anchored(keywords: tuple[str, ...]) -> Callable[[re.Pattern[str], TextView], bool]:
    r"""A check for a pattern whose every match opens with one of ``keywords`` (case-insensitively).

    Scanning a pattern that opens with ``\b`` and an alternation costs ~20 ns per character;
    ``str.find`` of the keywords in the lower-cased window, then the pattern matched at each hit
    (which still sees the character before it, for ``\b``), gives the same answer for a fraction.
    """

    def check(pattern: re.Pattern[str], view: TextView) -> bool:
        lower = view.lower
        if lower is None:  # case folding that str.lower() does not mirror: scan
            return _searched(pattern, view)
        text = view.window
        for keyword in keywords:
            at = lower.find(keyword)
            while at >= 0:
                if pattern.match(text, at):
                    return True
                at = lower.find(keyword, at + 1)
        return False

    return check


#: The "source" pattern read backwards: a match of ``\b(?:sources?|…|see)\s*:`` exists exactly when
#: the reversed window has one of this (same characters, same classes, ``\b`` at the mirrored
#: spot), and this one opens with the rare ``:`` instead of the common words.
_SOURCE_REVERSED = re.compile(r":\s*(?:s?ecruos|s?ecnerefer|s?noitatic|ees)\b", re.IGNORECASE)


def _source_cited(pattern: re.Pattern[str], view: TextView) -> bool:
    text = view.window
    if ":" not in text:
        return False
    lower = view.lower  # every match holds one of the words, lower-cased (see TextView.lower)
    if lower is not None and not ("see" in lower or "source" in lower or "reference" in lower or "citation" in lower):
        return False  # a colon is common in answers; the words are not: skip reversing the text
    return _SOURCE_REVERSED.search(text[::-1]) is not None


#: How each kind is checked when plain ``search`` would be slow; each is exact (see the golden tests).
_CITATION_CHECKS: Mapping[str, Callable[[re.Pattern[str], TextView], bool]] = {
    "url": _keyword_anchored(("http",)),
    "bracket": _keyword_anchored(("[",)),
    "source": _source_cited,
    "according": _keyword_anchored(("according to ",)),
    "policy_ref": _keyword_anchored(("section", "article", "policy", "kb")),
}


#: ``_CITATION_PATTERNS`` with each kind's check, looked up once instead of on every run.
_CITATION_RUN: tuple[tuple[str, re.Pattern[str], Callable[[re.Pattern[str], TextView], bool]], ...] = tuple(
    (kind, pattern, _CITATION_CHECKS.get(kind, _searched)) for kind, pattern in _CITATION_PATTERNS
)


def _may_cite(view: TextView, lower: str) -> bool:
    """False only when no ``_CITATION_PATTERNS`` entry can match the window; ``lower`` is ``view.lower``.

    Each kind needs text that ``in`` finds far faster than its check (a few single characters are
    a ``memchr``; ``TextView.lower`` shows every keyword a case-insensitive match holds), so the
    usual answer, which cites nothing, is settled here. Keep it in step with the patterns (the
    golden tests hold the scores).
    """
    text = view.window
    return (
        # url ("http" ... "://") and source (a source word, then ":") both need a colon
        (":" in text and ("http" in lower or "see" in lower or "source" in lower or "reference" in lower
                          or "citation" in lower))
        or "[" in text  # bracket
        or "according to " in lower  # according
        # policy_ref: a keyword, then a figure
        or (view.first_digit >= 0
            and ("section" in lower or "article" in lower or "policy" in lower or "kb" in lower))
    )


class HasCitations(_TextPart):
    """1 when the response points at a source: a URL, ``[1]``, "Source:", a policy/KB section."""

    def __init__(self, *, threshold: float = 1.0, name: str = "has_citations") -> None:
        self.name = name
        self.threshold = threshold

    def assess(self, view: TextView, query: str, context: EvalContext) -> EvalResult:
        lower = view.lower
        if lower is not None and not _may_cite(view, lower):
            return self.result(0.0, "no citation")
        kinds = [
            kind for kind, pattern, check in _CITATION_RUN if check(pattern, view)
        ]
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
#: Each hedge phrase's words: a phrase can only be present when all of them are tokens.
_PHRASE_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = tuple((p, tuple(p.split())) for p in HEDGE_PHRASES)
#: The longest word of each hedge phrase: without one of them among the tokens no phrase can be present,
#: which settles most answers with one set test instead of one per phrase.
_PHRASE_KEYS: frozenset[str] = frozenset(max(ws, key=len) for _, ws in _PHRASE_WORDS)


class NeutralTone(_TextPart):
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
        self._toned = frozenset(loaded) | frozenset(hedges)
        #: Every token that can add a hit: without one of them (the usual calm answer) there is
        #: nothing to count, and one pass over the token list shows it.
        self._cues = self._toned | _PHRASE_KEYS

    def assess(self, view: TextView, query: str, context: EvalContext) -> EvalResult:
        tokens = view.tokens
        if not tokens:
            return self.result(0.0, "empty response", label="empty", passed=False)
        flagged: list[str] | None = None
        if self._cues.isdisjoint(tokens):
            hits = 0
        else:
            hits, flagged = self._hits(view, tokens)
        density = hits * 100.0 / max(len(tokens), 20)
        value = max(0.0, 1.0 - self._penalty * density)
        return self.result(
            value if value == 1.0 else round(value, 4),  # the usual calm answer: 1.0, which round() keeps
            f"{hits} loaded/hedging term(s) in {len(tokens)} words"
            + (f": {', '.join(flagged[:8])}" if flagged else ""),
        )

    def _hits(self, view: TextView, tokens: list[str]) -> tuple[int, list[str]]:
        """The loaded/hedging occurrences among ``tokens`` and the distinct terms found, sorted."""
        present = view.token_set
        # Per distinct loaded/hedging word: its occurrences (tokens.count), once per list it is on.
        toned = self._toned & present
        hits = sum(tokens.count(w) * ((w in self._loaded) + (w in self._hedges)) for w in toned) if toned else 0
        phrases: list[str] = []
        candidates = (
            [p for p, ws in _PHRASE_WORDS if present.issuperset(ws)] if not present.isdisjoint(_PHRASE_KEYS) else []
        )
        if candidates:  # only then is the joined text needed
            lower = " ".join(tokens)
            padded = f" {lower} "
            phrases = [p for p in candidates if f" {p} " in padded]
            hits += sum(lower.count(p) for p in phrases)
        return hits, sorted(toned.union(phrases)) if toned or phrases else []


class LengthWithinBounds(_TextPart):
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

    def assess(self, view: TextView, query: str, context: EvalContext) -> EvalResult:
        n = view.word_count()
        if n < self.min_words:
            value = n / self.min_words if self.min_words else 1.0
        elif n > self.max_words:
            value = self.max_words / n
        else:
            value = 1.0
        return self.result(
            value if value == 1.0 else round(value, 4),  # within bounds (the usual case): 1.0, which round() keeps
            f"{n} words (bounds {self.min_words}..{self.max_words})",
        )


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
        for p in self.parts:  # noqa: SIM110 - read on every run: a loop is half the cost of all(<generator>)
            if getattr(p, "runs_inline", False) is not True:
                return False
        return True

    @property  # type: ignore[override]
    def sync_capable(self) -> bool:  # evaluate_now works exactly when every part has it
        for p in self.parts:  # noqa: SIM110 - as above
            if getattr(p, "sync_capable", False) is not True:
                return False
        return True

    async def evaluate_many(self, query: str, response: str, context: EvalContext) -> list[EvalResult]:
        if self.sync_capable:
            return self.evaluate_now(query, response, context)
        if self.runs_inline:  # CPU-only parts: in turn, no task per part
            subs = [await p.evaluate(query, response, context) for p in self.parts]
        else:
            subs = list(await asyncio.gather(*(p.evaluate(query, response, context) for p in self.parts)))
        return self._with_parts(subs)

    def evaluate_now(self, query: str, response: str, context: EvalContext) -> list[EvalResult]:
        """``evaluate_many`` without coroutines, the response analysed once for all parts.

        Each part still gets ``evaluate``'s cleaning (done once here; it is idempotent) and error
        handling; only the tokenising and lower-casing are shared through one :class:`TextView`.
        """
        try:
            query, response = _clean(query), _clean(response)
        except Exception:  # an unprintable input: each part reports the error itself, as in evaluate()
            subs = [p.evaluate_now(query, response, context) for p in self.parts]  # type: ignore[attr-defined]
            return self._with_parts(subs)
        context = context or EvalContext()
        view: TextView | None = None
        subs: list[EvalResult] = []
        for p in self.parts:
            if _TextPart in type(p).__mro__ and p.shares_view is True:  # isinstance without the ABC hook
                if view is None:
                    view = TextView(response)
                subs.append(p.assess_now(view, query, context))
            else:
                subs.append(p.evaluate_now(query, response, context))  # type: ignore[attr-defined]
        return self._with_parts(subs)

    def _with_parts(self, subs: list[EvalResult]) -> list[EvalResult]:
        """The parts, each marked ``part_of`` this evaluator, then the combined result.

        The mark lets telemetry send one ``gen_ai.evaluation.result`` per evaluator with the
        part scores as attributes, instead of six events and six histogram points a run.
        """
        name = self.name
        for sub in subs:
            sub.part_of = name
        subs.append(self._combined(subs))  # every caller hands over a list of its own
        return subs

    def _combined(self, subs: Sequence[EvalResult]) -> EvalResult:
        try:
            return self.combine(subs)
        except Exception as exc:  # pragma: no cover - combine is arithmetic over floats
            return error_result(self.name, exc, threshold=self.threshold)

    async def score(self, query: str, response: str, context: EvalContext) -> EvalResult:
        return (await self.evaluate_many(query, response, context))[-1]

    def combine(self, subs: Sequence[EvalResult]) -> EvalResult:
        # One pass splits the parts into scored (with their weights) and dropped; the sums stay
        # ``sum()`` over lists in part order, so every float is what it always was.
        weights = self.weights
        scored: list[EvalResult] = []
        ws: list[float] = []
        dropped: list[str] = []
        for r in subs:
            if r.status == "completed" and r.score is not None:
                scored.append(r)
                ws.append(weights.get(r.name, 0.0))
            else:
                dropped.append(r.name)
        total_w = sum(ws)
        if not scored or total_w <= 0:
            return EvalResult(
                name=self.name,
                score=None,
                explanation="no heuristic applied",
                threshold=self.threshold,
                status="error" if any(r.status == "error" for r in subs) else "skipped",
                error_type=next((r.error_type for r in subs if r.error_type), None),
            )
        value = round(sum([float(r.score) * w for r, w in zip(scored, ws, strict=True)]) / total_w, 4)  # type: ignore[arg-type]
        why = " ".join([f"{r.name}={r.score:.2f}" for r in scored]) + (
            f" (not applied: {', '.join(dropped)})" if dropped else ""
        )
        return self.result(value, why)
