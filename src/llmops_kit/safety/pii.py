"""Find and redact personal data and secrets with pre-compiled, linear-time regexes.

Used by the offline analyzer (findings), the audit sink and telemetry content capture
(redaction), so it must be cheap and must never hang: every pattern either starts only
at the beginning of a character run (negative look-behind) or has bounded repetition,
so a 5 MB input costs a few passes over the text, not a backtracking explosion.

Candidates are then validated in Python where a checksum exists (Luhn for payment cards,
ISO 7064 mod-97 for IBANs) to keep false positives down. It is pattern matching, not NER:
names and postal addresses are not found.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["PII_KINDS", "PiiMatch", "find_pii", "redact_pii"]


@dataclass(frozen=True, slots=True)
class PiiMatch:
    """Where a piece of personal data or a secret sits; never carries the value itself,
    so a match can be logged or counted without leaking what it found."""

    kind: str
    start: int
    end: int


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card_ok(value: str) -> bool:
    digits = "".join(c for c in value if c.isdigit())
    if not 13 <= len(digits) <= 19 or len(set(digits)) == 1:
        return False
    return _luhn_ok(digits)


def _iban_ok(value: str) -> bool:
    s = value.replace(" ", "").upper()
    if not 15 <= len(s) <= 34:
        return False
    rearranged = s[4:] + s[:4]
    try:
        number = int("".join(str(int(c, 36)) for c in rearranged))
    except ValueError:
        return False
    return number % 97 == 1


def _phone_ok(value: str) -> bool:
    return 7 <= sum(c.isdigit() for c in value) <= 15


def _entropy(value: str) -> float:
    counts = Counter(value)
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def _classes(value: str) -> int:
    return (
        any(c.islower() for c in value)
        + any(c.isupper() for c in value)
        + any(c.isdigit() for c in value)
        + any(not c.isalnum() for c in value)
    )


def _openai_ok(value: str) -> bool:
    return any(c.isdigit() for c in value) and any(c.isalpha() for c in value)


def _password_ok(value: str) -> bool:
    # Passwords are not high-entropy, but a plain lowercase word ("reset") is prose, not a secret.
    return len(value) >= 6 and _classes(value) >= 2


def _token_ok(value: str) -> bool:
    return len(value) >= 16 and _classes(value) >= 2 and _entropy(value) >= 3.0


@dataclass(frozen=True, slots=True)
class _Rule:
    kind: str
    pattern: re.Pattern[str]
    validate: Callable[[str], bool] | None = None
    group: str | None = None  # redact only this named group (keeps "password=" readable)
    # Short, checksum-validated patterns: after a rejected candidate, search again one character
    # later, so "10.1.1.1 4111..." still finds the card inside a longer rejected digit run. Only
    # safe for bounded-length patterns, and capped by _RESCAN_BUDGET so adversarial input
    # ("1 1 1 1 ...") cannot turn it into millions of Python-level searches.
    rescan: bool = False
    # Cheap pre-checks: the pattern cannot match unless the text holds one of these literals
    # (or, with ``needs_digits``, two ``\d`` digits at most one space, dot or dash apart: every
    # number pattern below has such a pair) - skipping it then changes no result.
    needs_any: tuple[str, ...] = ()
    needs_digits: bool = False
    # The fewest digits a reported match holds (its pattern or validator requires them): an ASCII
    # text with fewer digits in all cannot yield one, so the rule is skipped (answers quoting a
    # temperature or a price hold a digit pair, rarely thirteen digits).
    min_digits: int = 0
    # For case-insensitive patterns: lowercase literals one of which every match holds, checked
    # only on ASCII texts, where ``(?i)`` is plain ASCII case folding and ``text.lower()`` shows
    # what it would match (elsewhere "ı" and "ſ" also match "i" and "s"; those texts skip this).
    needs_any_ascii_ci: tuple[str, ...] = ()
    # Patterns for a fragment every match contains (one pattern per alternative at least), each
    # led by a literal or a character class, so the regex engine skips ahead to the characters that
    # can start it. The rules' own patterns start with a look-behind or ``\b``, which makes the
    # engine try every position of the text.
    needs_match: tuple[re.Pattern[str], ...] = ()


_SEP = r"[ .\-]"
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_PASSWORD_KEYS = r"password|passwd|passphrase|pwd"
_TOKEN_KEYS = (
    r"api[_\-]?key|apikey|secret[_\-]?access[_\-]?key|access[_\-]?key|secret[_\-]?key|client[_\-]?secret|secret|"
    r"access[_\-]?token|auth[_\-]?token|refresh[_\-]?token|token|private[_\-]?key|key"
)

# Order matters only for ties: on overlap the longer match wins, then the earlier rule.
_RULES: tuple[_Rule, ...] = (
    _Rule(
        "azure_storage_key",
        re.compile(r"(?i)\bAccountKey=(?P<v>[A-Za-z0-9+/]{20,200}={0,2})"),
        group="v",
        needs_any=("=",),
        needs_any_ascii_ci=("accountkey=",),
    ),
    _Rule("aws_access_key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), needs_any=("AKIA", "ASIA")),
    # GitHub tokens (classic ghp_/gho_/ghu_/ghs_/ghr_ and fine-grained github_pat_), documented prefixes
    _Rule("github_token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b"),
          needs_any=("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_")),
    # Slack tokens: xoxb- (bot), xoxp- (user), xoxa-/xoxr-/xoxs-
    _Rule("slack_token", re.compile(r"\bxox[abprs]-[A-Za-z0-9\-]{10,255}"), needs_any=("xox",)),
    _Rule(
        "openai_key",
        re.compile(r"(?<![A-Za-z0-9_\-])sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,300}"),
        _openai_ok,
        needs_any=("sk-",),
    ),
    _Rule(
        "bearer_token",
        re.compile(r"(?i)\bbearer[ \t]{1,8}(?P<v>[A-Za-z0-9\-._~+/]{16,4096}={0,2})"),
        group="v",
        needs_any_ascii_ci=("bearer",),
    ),
    _Rule(
        "secret",
        re.compile(
            rf"(?i)(?<![A-Za-z0-9])(?:{_PASSWORD_KEYS})[\"']?[ \t]{{0,4}}[:=][ \t]{{0,4}}[\"']?"
            r"(?P<v>[^\s\"'&;,<>]{1,256})"
        ),
        lambda v: _password_ok(v),
        group="v",
        needs_any=(":", "="),
        needs_any_ascii_ci=("pass", "pwd"),
    ),
    _Rule(
        "secret",
        re.compile(
            rf"(?i)(?<![A-Za-z0-9])(?:{_TOKEN_KEYS})[\"']?[ \t]{{0,4}}[:=][ \t]{{0,4}}[\"']?"
            r"(?P<v>[^\s\"'&;,<>]{1,4096})"
        ),
        lambda v: _token_ok(v),
        group="v",
        needs_any=(":", "="),
        needs_any_ascii_ci=("key", "secret", "token"),  # every alternative of _TOKEN_KEYS holds one
    ),
    _Rule(
        "email",
        re.compile(
            r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]{1,64}@"
            r"[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63}){0,8}\.[A-Za-z]{2,24}(?![A-Za-z0-9\-])"
        ),
        needs_any=("@",),
    ),
    _Rule(
        "iban",
        re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b"),
        _iban_ok,
        rescan=True,
        needs_digits=True,
        needs_match=(re.compile(r"[A-Z]{2}\d\d"),),
    ),
    _Rule("credit_card", re.compile(r"(?<![\d\-])\d(?:[ \-]?\d){12,18}(?![\d\-]?\d)"), _card_ok, rescan=True,
          needs_digits=True, needs_match=(re.compile(r"\d(?:[ \-]?\d){12}"),), min_digits=13),
    _Rule(
        "us_ssn",
        re.compile(r"(?<![\d\-])(?!000|666|9\d\d)\d{3}([\- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\d\-]?\d)"),
        needs_digits=True,
        needs_match=(re.compile(r"\d{3}[\- ]\d{2}[\- ]\d{4}"),),
        min_digits=9,
    ),
    _Rule(
        "ipv4",
        re.compile(rf"(?<![\d.])(?:{_OCTET}\.){{3}}{_OCTET}(?!\.?\d)"),
        needs_digits=True,
        needs_match=(re.compile(r"\d\.\d{1,3}\.\d{1,3}\.\d"),),
        min_digits=4,
    ),
    _Rule(
        "phone",
        re.compile(
            r"(?<![\w+])\+\d{1,3}[ .\-]?(?:\(\d{1,4}\)[ .\-]?)?\d{1,4}(?:[ .\-]?\d{2,4}){1,4}(?![\w])"
            r"|(?<![\w\-.])\(?\d{3}\)?" + _SEP + r"?\d{3}[.\-]\d{4}(?![\w\-]|\.\d)"
        ),
        _phone_ok,
        rescan=True,
        needs_digits=True,
        needs_match=(re.compile(r"\+\d"), re.compile(r"\d{3}[.\-]\d{4}")),  # one per alternative
        min_digits=7,  # _phone_ok
    ),
)

#: Every kind ``find_pii`` can report.
PII_KINDS: tuple[str, ...] = tuple(dict.fromkeys(r.kind for r in _RULES))


_RESCAN_BUDGET = 20_000


def _spans(rule: _Rule, text: str) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    pos, n = 0, len(text)
    budget = _RESCAN_BUDGET if rule.rescan else 0
    search = rule.pattern.search
    while pos <= n:
        m = search(text, pos)
        if m is None:
            break
        start, end = m.span(rule.group) if rule.group else m.span()
        if rule.validate is None or rule.validate(text[start:end]):
            out.append((start, end))
            pos = max(m.end(), m.start() + 1)
        elif budget > 0:
            budget -= 1
            pos = m.start() + 1
        else:
            pos = max(m.end(), m.start() + 1)
    return out


#: Texts up to this size have their matches cached: the safety check and the audit redaction
#: scan the same query and response, so the second scan of a run is a dictionary hit.
_CACHE_MAX_CHARS = 16_384
_DIGIT_PAIR = re.compile(r"\d[ .\-]?\d")
_WITHOUT_DIGITS = str.maketrans("", "", "0123456789")


def _holds_any(text: str, literals: tuple[str, ...]) -> bool:
    # A plain loop: any() over a generator costs twice as much here, and this runs per rule per text.
    for literal in literals:  # noqa: SIM110
        if literal in text:
            return True
    return False


def find_pii(text: str) -> list[PiiMatch]:
    """Non-overlapping matches sorted by position; on overlap the longer span wins."""
    if not text or not isinstance(text, str):
        return []
    if len(text) <= _CACHE_MAX_CHARS:
        return list(_find_cached(text))
    return _find(text)


@functools.lru_cache(maxsize=128)
def _find_cached(text: str) -> tuple[PiiMatch, ...]:
    return tuple(_find(text))


def _find(text: str) -> list[PiiMatch]:
    has_digits: bool | None = None
    digit_count: int | None = None
    lowered: str | None = None  # ``text.lower()`` of an ASCII text, made on first need
    candidates: list[tuple[int, int, int, str]] = []
    for order, rule in enumerate(_RULES):
        if rule.needs_any and not _holds_any(text, rule.needs_any):
            continue
        if rule.needs_digits:
            if has_digits is None:
                has_digits = _DIGIT_PAIR.search(text) is not None
            if not has_digits:
                continue
            if rule.min_digits > 2 and text.isascii():  # on ASCII text ``\d`` is [0-9]: count those
                if digit_count is None:
                    digit_count = len(text) - len(text.translate(_WITHOUT_DIGITS))
                if digit_count < rule.min_digits:
                    continue
        if rule.needs_any_ascii_ci and text.isascii():
            if lowered is None:
                lowered = text.lower()
            if not _holds_any(lowered, rule.needs_any_ascii_ci):
                continue
        if rule.needs_match and not any(p.search(text) for p in rule.needs_match):
            continue
        for start, end in _spans(rule, text):
            candidates.append((start, end, order, rule.kind))
    # Sweep by position; within an overlapping cluster the longer span (then the earlier rule) wins.
    # Linear after the sort, so thousands of matches in a large text stay cheap.
    candidates.sort(key=lambda c: (c[0], -(c[1] - c[0]), c[2]))
    kept: list[PiiMatch] = []
    for start, end, _order, kind in candidates:
        if kept and start < kept[-1].end:
            last = kept[-1]
            if end - start > last.end - last.start:
                kept[-1] = PiiMatch(kind, start, end)
            continue
        kept.append(PiiMatch(kind, start, end))
    return kept


def redact_pii(text: str, *, placeholder: str = "[{kind}]") -> str:
    """Replace every match with ``placeholder.format(kind=...)``; other text is kept byte for byte."""
    matches = find_pii(text)
    if not matches:
        return text
    parts: list[str] = []
    pos = 0
    for m in matches:
        parts.append(text[pos : m.start])
        parts.append(placeholder.format(kind=m.kind))
        pos = m.end
    parts.append(text[pos:])
    return "".join(parts)
