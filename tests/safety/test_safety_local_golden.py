"""Golden verdicts for the offline analyzer: every case in ``golden_verdicts.json`` was recorded
from the analyzer before its fast paths were added, and must still produce the identical verdict
(everything but ``latency_ms``) and, for the PII rows, the identical spans.

The corpus covers the literals of the other safety tests, benign prose, every PII kind, jailbreak
and harm phrasings, obfuscations (zero-width, tags, full-width, homoglyphs, leetspeak, stretched
letters), non-ASCII scripts, lone surrogates, bytes and non-str objects, long and windowed texts,
documents, and the analyzer options. Inputs JSON cannot hold directly are described by small specs
that :func:`build_input` turns back into the object the analyzer saw. New cases must be recorded
with a known-good analyzer, never from the code under test.

Below the replay, the fast paths' premises are tested directly: every pre-check literal is proven
to occur in every match of its pattern (read from the parsed regex), switching the pre-checks off
changes no finding on the corpus, and the tokenizer and phrase matcher agree with the simple
versions they replaced.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import random
import re
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from llmops_kit.safety import injection, pii, terms
from llmops_kit.safety import normalize as normalize_module
from llmops_kit.safety.local import LocalSafetyAnalyzer
from llmops_kit.safety.normalize import normalize
from llmops_kit.safety.pii import find_pii

FIXTURE = Path(__file__).with_name("golden_verdicts.json")


class StrObject:
    """A non-str object whose ``str()`` is fixed, so the recorded verdict is reproducible."""

    def __init__(self, value: str) -> None:
        self.value = value

    def __str__(self) -> str:
        return self.value


class BadStr:
    """An object whose ``str()`` raises: the analyzer must treat it as empty text."""

    def __str__(self) -> str:
        raise RuntimeError("no text here")


def build_input(spec: Any) -> object:
    """Turn a fixture spec into the analyzer's input: a JSON string is used as is (lone surrogates
    survive ``\\uXXXX`` escapes); a dict describes bytes, repeated long text, a credential-shaped text
    kept in pieces or a non-str object."""
    if isinstance(spec, str):
        return spec
    kind = spec["type"]
    if kind == "none":
        return None
    if kind in ("int", "float", "list", "dict"):
        return spec["value"]
    if kind == "bytes":
        return bytes.fromhex(spec["hex"])
    if kind == "bytearray":
        return bytearray.fromhex(spec["hex"])
    if kind == "repeat":
        return "".join(part * times for part, times in spec["parts"])
    if kind == "join":  # a made-up credential kept in pieces, so secret scanners leave the fixture alone
        return "".join(spec["parts"])
    if kind == "strobj":
        return StrObject(spec["value"])
    if kind == "badstr":
        return BadStr()
    raise ValueError(f"unknown input spec {spec!r}")


def build_documents(spec: Any) -> Any:
    """``None``: the default ``()``; a list: a list of inputs; ``{"raw": spec}``: that object itself,
    for the not-a-sequence paths (a bare string, an int, ``None``)."""
    if spec is None:
        return ()
    if isinstance(spec, dict):
        return build_input(spec["raw"])
    return [build_input(item) for item in spec]


def verdict_dict(analyzer: LocalSafetyAnalyzer, case: dict[str, Any]) -> dict[str, object]:
    """The verdict as recorded: ``to_dict()`` without the timing."""
    verdict = analyzer.analyze(
        build_input(case["text"]), stage=case["stage"], documents=build_documents(case.get("documents"))
    )
    out = verdict.to_dict()
    del out["latency_ms"]
    return out


def pii_spans(text: object) -> list[list[object]]:
    """``find_pii`` as recorded: [kind, start, end] per match (what redaction relies on)."""
    return [[m.kind, m.start, m.end] for m in find_pii(text)]  # type: ignore[arg-type]


def _load() -> list[dict[str, Any]]:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))["cases"]


CASES = _load()


def test_corpus_is_broad() -> None:
    """Guards against a truncated fixture silently passing."""
    assert len(CASES) >= 300
    assert len({c["id"] for c in CASES}) == len(CASES)
    actions = {c["verdict"]["action"] for c in CASES}
    assert actions == {"allow", "flag", "block"}
    findings = {f.split(":")[0] for c in CASES for f in c["verdict"]["findings"]}
    assert {"jailbreak", "obfuscation", "pii", "indirect_injection", "scan_truncated"} <= findings


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_verdict_matches_golden(case: dict[str, Any]) -> None:
    analyzer = LocalSafetyAnalyzer(**case.get("config", {}))
    got = verdict_dict(analyzer, case)
    assert got == case["verdict"], f"case {case['id']}: verdict changed"
    if "pii" in case:
        text = build_input(case["text"])
        assert pii_spans(text) == case["pii"], f"case {case['id']}: PII spans changed"


# --- the fast paths' pre-checks, each checked against what it claims ------------------------

try:  # the regex parser, to read which literals every match of a pattern must contain
    from re import _constants as _sre  # Python 3.11+
    from re import _parser as _sre_parse
except ImportError:  # pragma: no cover - Python 3.10
    import sre_constants as _sre  # type: ignore[no-redef]
    import sre_parse as _sre_parse  # type: ignore[no-redef]

_REPEATS = {_sre.MAX_REPEAT, _sre.MIN_REPEAT, getattr(_sre, "POSSESSIVE_REPEAT", _sre.MAX_REPEAT)}
_GROUPS = {_sre.SUBPATTERN, getattr(_sre, "ATOMIC_GROUP", _sre.SUBPATTERN)}


def _open_runs(items: Any, runs: set[str], has: Any) -> set[str]:
    """Walk a parsed pattern; ``runs`` are the literal texts just before this point on every path
    not yet known to contain a gate literal. A path is dropped once its run contains one. Anything
    but literals and literal-only classes ends the run, so the answer errs towards "not covered"."""
    for op, av in items:
        if not runs:
            break
        if op is _sre.LITERAL:
            runs = {r + chr(av) for r in runs}
        elif op is _sre.IN and len(av) <= 16 and all(o is _sre.LITERAL for o, _v in av):
            runs = {r + chr(v) for r in runs for _o, v in av}
        elif op in _GROUPS:
            runs = _open_runs(av[-1], runs, has)
        elif op is _sre.BRANCH:
            runs = set().union(*(_open_runs(alt, runs, has) for alt in av[1]))
        elif op in _REPEATS and av[0] >= 1:
            runs = {""} if _open_runs(av[2], runs, has) else set()
        else:
            runs = {""}
        runs = {r for r in runs if not has(r)}
    return runs


def _every_match_holds(pattern: re.Pattern[str], literals: tuple[str, ...], *, fold: bool) -> bool:
    def has(run: str) -> bool:
        run = run.lower() if fold else run
        return any(lit in run for lit in literals)

    return not _open_runs(_sre_parse.parse(pattern.pattern, pattern.flags), {""}, has)


def test_gate_analysis_can_fail() -> None:
    """The analysis itself: it must reject a gate that misses an alternative."""
    github = re.compile(r"\bgh[pousr]_x|github_pat_")
    assert _every_match_holds(github, ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"), fold=False)
    assert not _every_match_holds(github, ("ghp_", "github_pat_"), fold=False)
    assert not _every_match_holds(re.compile(r"ignore(?:d)?|skip"), ("ignore",), fold=False)
    assert not _every_match_holds(re.compile(r"(?:x)?ignore"), ("xignore",), fold=False)
    assert _every_match_holds(re.compile(r"(?i)Bearer\s"), ("bearer",), fold=True)
    assert not _every_match_holds(re.compile(r"(?i)Bearer\s"), ("bearer",), fold=False)


def test_injection_gates_cover_every_alternative() -> None:
    for rule in injection._PROMPT_RULES + injection._DOCUMENT_RULES:
        assert _every_match_holds(rule.pattern, rule.gate, fold=False), rule.name


def test_pii_literal_gates_cover_every_alternative() -> None:
    for rule in pii._RULES:
        if rule.needs_any:
            if rule.pattern.flags & re.IGNORECASE:  # under (?i) the literals must have no case
                assert all(lit.lower() == lit.upper() for lit in rule.needs_any), rule.kind
            assert _every_match_holds(rule.pattern, rule.needs_any, fold=False), rule.kind
        if rule.needs_any_ascii_ci:
            assert rule.pattern.flags & re.IGNORECASE, rule.kind
            assert _every_match_holds(rule.pattern, rule.needs_any_ascii_ci, fold=True), rule.kind


def _corpus_texts() -> list[str]:
    texts = [t for t in (build_input(c["text"]) for c in CASES) if isinstance(t, str)]
    return list(dict.fromkeys(texts))


def test_gates_change_no_result_on_the_corpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """With every pre-check switched off, injection and PII findings are the same."""
    texts = _corpus_texts()
    normalized = [normalize(t) for t in texts]
    gated = [injection.detect_injection(n.text, n.cased, document=True) for n in normalized]
    gated_pii = [pii._find(t) for t in texts]
    ungate = {"needs_any": (), "needs_digits": False, "needs_any_ascii_ci": (), "needs_match": ()}
    monkeypatch.setattr(pii, "_RULES", tuple(dataclasses.replace(r, **ungate) for r in pii._RULES))
    for name in ("_PROMPT_RULES", "_DOCUMENT_RULES"):
        monkeypatch.setattr(injection, name, tuple(r._replace(gate=("",)) for r in getattr(injection, name)))
    assert [injection.detect_injection(n.text, n.cased, document=True) for n in normalized] == gated
    assert [pii._find(t) for t in texts] == gated_pii


def test_ascii_fast_path_premises() -> None:
    """normalize() skips NFKC, invisible, tag and most quote handling for ASCII text: no ASCII
    character is changed by any of them (NFKC composes nothing within ASCII either)."""
    ascii_chars = "".join(map(chr, range(128)))
    assert unicodedata.normalize("NFKC", ascii_chars) == ascii_chars
    assert not normalize_module._INVISIBLE_RE.search(ascii_chars)
    assert not normalize_module._TAG_RE.search(ascii_chars)
    assert [old for old, _new in normalize_module._QUOTES if old.isascii()] == ["`"]


def _reference_tokenize(text: str) -> list[str]:
    """The tokenizer as first written: words, then contractions split in Python."""
    out: list[str] = []
    for tok in re.findall(r"[a-z0-9]+(?:'[a-z]+)?|'[a-z]+", text):
        if "'" in tok and not tok.startswith("'") and tok not in ("i'm", "we're"):
            head, _, tail = tok.partition("'")
            out += [head, "'" + tail]
        else:
            out.append(tok)
    return out


def test_tokenize_matches_the_reference_on_every_short_string() -> None:
    for length in range(6):
        for chars in itertools.product("i'mwer1 ", repeat=length):
            text = "".join(chars)
            assert terms.tokenize(text) == _reference_tokenize(text), text


def _reference_match(tokens: list[str], i: int, elements: tuple[Any, ...]) -> bool:
    """Backtracking over optional elements, as the matcher was first written."""
    if not elements:
        return True
    el, rest = elements[0], elements[1:]
    if i < len(tokens) and tokens[i] in el.words and _reference_match(tokens, i + 1, rest):
        return True
    return el.optional and _reference_match(tokens, i, rest)


def _reference_scan(phrases: list[tuple[str, int, str]], tokens: list[str]) -> list[tuple[str, int, str]]:
    hits: list[tuple[str, int, str]] = []
    parsed = [terms._parse(*p) for p in phrases]
    for i in range(len(tokens)):
        for ph in parsed:
            starts = terms.TermMatcher._first_words(ph.elements)
            seen = {h[2] for h in hits}
            if tokens[i] in starts and ph.source not in seen and _reference_match(tokens, i, ph.elements):
                hits.append((ph.category, ph.severity, ph.source))
    return hits


def test_term_matcher_matches_the_reference_on_random_phrases() -> None:
    rng = random.Random(7)
    vocab = ["a", "b", "c", "d"]
    for _ in range(400):
        phrases = []
        for _p in range(rng.randint(1, 5)):
            elements = [
                "|".join(rng.sample(vocab, rng.randint(1, 2))) + ("?" if rng.random() < 0.4 else "")
                for _e in range(rng.randint(1, 4))
            ]
            phrases.append((rng.choice(["Hate", "Violence"]), rng.randint(1, 7), " ".join(elements)))
        matcher = terms.TermMatcher(phrases)
        for _t in range(10):
            tokens = [rng.choice([*vocab, "x"]) for _k in range(rng.randint(0, 8))]
            got = [(h.category, h.severity, h.phrase) for h in matcher.scan(tokens)]
            assert got == _reference_scan(phrases, tokens), (phrases, tokens)
