"""Must-include / must-not-include checks, by keyword or regular expression.

Terms come from the constructor or, when none were given, from the run's
``context.metadata["must_include"]`` / ``["must_not_include"]`` — that is how an
evaluation suite hands each case its own terms to one shared evaluator instance.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from llmops_kit.evaluation._text import window
from llmops_kit.evaluation.base import EvalContext, EvalResult
from llmops_kit.evaluation.builtin._base import InlineEvaluator

#: Compiled per-run terms (from ``context.metadata``) per evaluator instance; bounded because
#: each run may bring its own terms.
_TERMS_CACHE_MAX = 256


def _compile(terms: Sequence[str], *, regex: bool, case_sensitive: bool) -> list[tuple[str, re.Pattern[str]]]:
    flags = 0 if case_sensitive else re.IGNORECASE
    out: list[tuple[str, re.Pattern[str]]] = []
    for term in terms:
        if not isinstance(term, str) or not term:
            raise ValueError(f"keyword terms must be non-empty strings, got {term!r}")
        try:
            out.append((term, re.compile(term if regex else re.escape(term), flags)))
        except re.error as exc:
            raise ValueError(f"invalid regular expression {term!r}: {exc}") from exc
    return out


class _KeywordEvaluator(InlineEvaluator):
    metadata_key = ""

    def __init__(
        self,
        terms: Sequence[str] | None = None,
        *,
        regex: bool = False,
        case_sensitive: bool = False,
        threshold: float = 1.0,
        name: str | None = None,
    ) -> None:
        self.name = name or self.metadata_key
        self.threshold = threshold
        self._regex = regex
        self._case = case_sensitive
        # Bad patterns are a configuration error: fail at construction, not on every run.
        self._fixed = _compile(list(terms), regex=regex, case_sensitive=case_sensitive) if terms else None
        self._compiled: dict[tuple[object, ...], list[tuple[str, re.Pattern[str]]]] = {}

    def _no_terms(self, context: EvalContext) -> bool:
        """``nothing_to_score``: no terms given and none in the context, so :meth:`_terms` is ``None``."""
        if self._fixed is not None:
            return False
        metadata = context.metadata
        return metadata is None or (type(metadata) is dict and metadata.get(self.metadata_key) is None)

    def _terms(self, context: EvalContext) -> list[tuple[str, re.Pattern[str]]] | None:
        if self._fixed is not None:
            return self._fixed
        raw = (context.metadata or {}).get(self.metadata_key)
        if not raw:
            return None
        if isinstance(raw, str):
            raw = [raw]
        terms = list(raw)
        regex = bool((context.metadata or {}).get("regex", self._regex))
        try:
            key: tuple[object, ...] | None = (regex, *terms)
            hash(key)
        except TypeError:  # an unhashable term: _compile rejects it below
            key = None
        compiled = self._compiled.get(key) if key is not None else None
        if compiled is None:  # a bad term raises here on every run, as before (failures are not cached)
            compiled = _compile(terms, regex=regex, case_sensitive=self._case)
            if key is not None:
                if len(self._compiled) >= _TERMS_CACHE_MAX:
                    self._compiled.clear()
                self._compiled[key] = compiled
        return compiled


class MustInclude(_KeywordEvaluator):
    """Score = share of terms found; passes only when every term is present (threshold 1.0)."""

    metadata_key = "must_include"
    nothing_to_score = _KeywordEvaluator._no_terms

    def judge(self, query: str, response: str, context: EvalContext) -> EvalResult:
        terms = self._terms(context)
        if not terms:
            return self.skipped("no must_include terms")
        text, _ = window(response)
        missing = [t for t, p in terms if not p.search(text)]
        value = (len(terms) - len(missing)) / len(terms)
        return self.result(
            value,
            f"found {len(terms) - len(missing)}/{len(terms)}"
            + (f"; missing: {', '.join(missing)}" if missing else ""),
        )


class MustNotInclude(_KeywordEvaluator):
    """Score = share of forbidden terms absent; passes only when none appears."""

    metadata_key = "must_not_include"
    nothing_to_score = _KeywordEvaluator._no_terms

    def judge(self, query: str, response: str, context: EvalContext) -> EvalResult:
        terms = self._terms(context)
        if not terms:
            return self.skipped("no must_not_include terms")
        text, _ = window(response)
        present = [t for t, p in terms if p.search(text)]
        value = (len(terms) - len(present)) / len(terms)
        return self.result(value, "none present" if not present else f"present: {', '.join(present)}")
