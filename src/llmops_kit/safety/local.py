"""The offline safety analyzer: the embedded default when no Content Safety endpoint is set.

What it is: deterministic heuristics, no model download, no network. Text is normalised
(NFKC, case folding, invisible and Unicode-tag characters removed, simple leetspeak and
stretched letters undone), then checked with

* harm-category phrase lists (Hate, SelfHarm, Sexual, Violence) scored on Azure's 0-7 scale,
  blocked per category at ``severity >= threshold`` (default 4);
* prompt-injection / jailbreak patterns on the user prompt, and indirect-injection patterns on
  documents (retrieved passages, tool results);
* PII and secrets (``pii.py``): reported on input, reported on output and blocked there when
  ``block_pii_in_output`` is set.

What it is not: a classifier. It has no semantic understanding, so it misses paraphrases,
sarcasm, coded language, other languages and anything not on its lists, and a phrase can be
quoted in a harmless context (a news report, a moderation question). It is tuned for
precision over recall: everyday words ("kill the process", "ignore the noise", "password
reset") do not trigger it, at the cost of letting novel attacks through. Use Azure AI
Content Safety (with Prompt Shields) for real coverage; the verdict says which analyzer ran.

Texts longer than ``max_scan_chars`` are scanned as head + tail windows so time stays
bounded; the verdict then carries the finding ``scan_truncated``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from time import perf_counter

from llmops_kit.safety.base import HARM_CATEGORIES, SafetyStage, SafetyVerdict
from llmops_kit.safety.injection import detect_injection, prompt_injection
from llmops_kit.safety.normalize import coerce_text, fold_ascii, normalize_parts
from llmops_kit.safety.pii import find_pii
from llmops_kit.safety.terms import TermHit, TermMatcher, tokenize
from llmops_kit.safety.verdicts import (
    build_categories,
    harm_reason,
    merge_thresholds,
    unavailable_verdict,
    zero_categories,
)

__all__ = ["ANALYZER_NAME", "LocalSafetyAnalyzer"]

logger = logging.getLogger(__name__)

ANALYZER_NAME = "local-heuristic"
# Above this size the check runs in a worker thread so the event loop keeps serving.
_THREAD_THRESHOLD_CHARS = 50_000


class LocalSafetyAnalyzer:
    """Offline :class:`~llmops_kit.safety.base.SafetyGuard`. Cheap to build; holds no I/O."""

    name = ANALYZER_NAME
    #: No network or disk: callers may await it directly rather than in a task of its own
    #: (texts above ``_THREAD_THRESHOLD_CHARS`` still go to a worker thread).
    runs_inline = True

    def __init__(
        self,
        *,
        thresholds: Mapping[str, int] | None = None,
        block_pii_in_output: bool = False,
        detect_injection: bool = True,
        max_scan_chars: int = 500_000,
        max_documents: int = 64,
    ) -> None:
        self.thresholds = merge_thresholds(thresholds)
        self.block_pii_in_output = block_pii_in_output
        self.detect_injection = detect_injection
        if max_scan_chars < 1000:
            raise ValueError("max_scan_chars must be at least 1000")
        self.max_scan_chars = max_scan_chars
        self.max_documents = max_documents
        self._terms = TermMatcher()

    def __repr__(self) -> str:
        return (
            f"LocalSafetyAnalyzer(thresholds={self.thresholds}, "
            f"block_pii_in_output={self.block_pii_in_output})"
        )

    async def check_input(self, text: str, *, documents: Sequence[str] = ()) -> SafetyVerdict:
        # The governed run's case (a short str, no documents) is analysed right here: no second
        # coroutine, no size sum over the documents. Anything else takes the general path.
        if type(text) is str and len(text) <= _THREAD_THRESHOLD_CHARS and type(documents) is tuple and not documents:
            return self.analyze(text, stage="input")
        return await self._run("input", text, documents)

    async def check_output(self, text: str) -> SafetyVerdict:
        if type(text) is str and len(text) <= _THREAD_THRESHOLD_CHARS:
            return self.analyze(text, stage="output")
        return await self._run("output", text, ())

    async def aclose(self) -> None:
        return None

    async def probe(self) -> tuple[bool, str]:
        """For ``llmops-kit doctor``: see :func:`llmops_kit.safety.probe.probe`."""
        from llmops_kit.safety.probe import probe

        return await probe(self)

    async def _run(self, stage: SafetyStage, text: object, documents: Sequence[object]) -> SafetyVerdict:
        size = len(text) if isinstance(text, str | bytes) else 0
        try:
            size += sum(len(d) for d in documents if isinstance(d, str | bytes))
        except TypeError:
            pass
        if size > _THREAD_THRESHOLD_CHARS:
            return await asyncio.to_thread(self.analyze, text, stage=stage, documents=documents)
        return self.analyze(text, stage=stage, documents=documents)

    def analyze(
        self, text: object, *, stage: SafetyStage = "input", documents: Sequence[object] = ()
    ) -> SafetyVerdict:
        """Synchronous check (benchmarks, CLI). Never raises: an internal error yields an
        ``unavailable`` verdict that blocks, the safe default for a guard that could not look."""
        started = perf_counter()
        try:
            verdict = self._analyze(text, stage, documents)
        except Exception:  # a bug here must not take the request down
            logger.exception("local safety analyzer failed")
            verdict = unavailable_verdict(stage, ANALYZER_NAME, self.thresholds, fail_mode="closed")
        verdict.latency_ms = (perf_counter() - started) * 1000.0
        return verdict

    # -- internals ------------------------------------------------------------------------

    def _window(self, raw: str, findings: list[str]) -> str:
        if len(raw) <= self.max_scan_chars:
            return raw
        if "scan_truncated" not in findings:
            findings.append("scan_truncated")
        half = self.max_scan_chars // 2
        return raw[:half] + "\n" + raw[-half:]

    def _analyze(self, text: object, stage: SafetyStage, documents: Sequence[object]) -> SafetyVerdict:
        findings: list[str] = []
        blocks: list[str] = []
        if type(text) is str and text.isascii() and len(text) <= self.max_scan_chars:
            # The common case: what coerce_text returns unchanged (it only replaces lone surrogates),
            # nothing to window, and no invisible or tag character to find.
            raw = cased = text
            folded = fold_ascii(text)
            had_invisible = had_tags = False
        else:
            raw = coerce_text(text)
            if len(raw) > self.max_scan_chars:
                raw = self._window(raw, findings)
            folded, cased, had_invisible, had_tags = normalize_parts(raw)
        hits = self._terms.scan(tokenize(folded))
        # One fresh result per category (callers may mutate them); with no phrase found every severity
        # is 0, and zero_categories has no severity map to build or read.
        if hits:
            categories = build_categories(self._severities(hits), self.thresholds)
        else:
            categories = zero_categories(self.thresholds)

        # Prompt injection (input only): the user prompt, then each document.
        if stage == "input" and self.detect_injection:
            if had_tags:
                findings.append("jailbreak:ascii_smuggling")
                blocks.append("prompt_injection")
            found = prompt_injection(folded, cased)
            if found is not None:  # None: nothing to find, as in most prompts
                self._add_prompt_findings(found, findings, blocks)
            if type(documents) is not tuple or documents:  # the empty default has nothing to scan
                self._scan_documents(documents, findings, blocks)
        if had_invisible:
            findings.append("obfuscation:invisible_characters")

        # PII and secrets: on the raw text, so offsets and formats are the user's own.
        pii = find_pii(raw)
        if pii:
            findings.extend(f"pii:{k}" for k in dict.fromkeys(m.kind for m in pii))
            if stage == "output" and self.block_pii_in_output:
                blocks.append("pii")

        # Injection outranks harm, which outranks PII; harm_reason is None when nothing blocked.
        if blocks and blocks[0] in ("prompt_injection", "indirect_prompt_injection"):
            reason: str | None = blocks[0]
        else:
            reason = harm_reason(categories) if hits else None  # no phrase found: no category blocks
            if reason is None and blocks:
                reason = blocks[0]
        allowed = reason is None
        # Positional, as the fields are declared: keywords cost twice as much on every check. The
        # findings list is this check's own; de-duplicating needs two entries at least.
        return SafetyVerdict(
            stage,
            allowed,
            "block" if not allowed else ("flag" if findings else "allow"),
            reason,
            categories,
            findings if len(findings) < 2 else list(dict.fromkeys(findings)),
            ANALYZER_NAME,
            "evaluated",
        )

    @staticmethod
    def _add_prompt_findings(found: tuple[list[str], list[str]], findings: list[str], blocks: list[str]) -> None:
        """The user prompt's injection findings, from ``prompt_injection``'s (attacks, info)."""
        attacks, info = found
        if attacks:
            findings.extend(f"jailbreak:{a}" for a in attacks)
            blocks.append("prompt_injection")
        if info:
            findings.extend(f"obfuscation:{i}" for i in info)

    @staticmethod
    def _severities(hits: list[TermHit]) -> dict[str, int]:
        """Highest severity per harm category among the phrases found (0 when none)."""
        severities = dict.fromkeys(HARM_CATEGORIES, 0)
        for hit in hits:
            if hit.severity > severities.get(hit.category, 0):
                severities[hit.category] = hit.severity
        return severities

    def _scan_documents(self, documents: Sequence[object], findings: list[str], blocks: list[str]) -> None:
        try:
            docs = list(documents or ())
        except TypeError:
            docs = [documents]
        if len(docs) > self.max_documents:
            findings.append("documents_truncated")
            docs = docs[: self.max_documents]
        for i, doc in enumerate(docs):
            dfolded, dcased, _invisible, dtags = normalize_parts(self._window(coerce_text(doc), findings))
            attacks, _info = detect_injection(dfolded, dcased, document=True)
            if dtags:
                attacks.insert(0, "ascii_smuggling")
            if attacks:
                findings.extend(f"indirect_injection:doc{i}:{a}" for a in attacks)
                if "indirect_prompt_injection" not in blocks:
                    blocks.append("indirect_prompt_injection")
