"""Text normalisation for the offline analyzer: undo the cheap tricks attackers use to slip
past keyword rules (full-width letters, zero-width characters, Unicode tag smuggling,
leetspeak, stretched letters) before any pattern runs.

It must never raise: the analyzer sees whatever a user or a tool produced, including lone
surrogates and bytes.
"""

from __future__ import annotations

import operator
import re
import unicodedata
from dataclasses import dataclass

# Format (Cf) characters that render as nothing: zero-width space/joiners, bidi controls,
# word joiners, BOM, soft hyphen, Mongolian vowel separator, interlinear annotation marks.
_INVISIBLE_RANGES: tuple[tuple[int, int], ...] = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF9, 0xFFFB),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0080, 0xE01EF),
)
_INVISIBLE = {cp: None for lo, hi in _INVISIBLE_RANGES for cp in range(lo, hi + 1)}
# Unicode "tag" characters mirror printable ASCII and are invisible: "ASCII smuggling".
# Map them back to ASCII so the hidden text is scanned like visible text.
_TAGS = {cp: cp - 0xE0000 for cp in range(0xE0020, 0xE007F)}
_TAG_RE = re.compile("[\U000e0020-\U000e007e]")
_INVISIBLE_RE = re.compile("[" + "".join(f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in _INVISIBLE_RANGES) + "]")
_SURROGATE_RE = re.compile("[\ud800-\udfff]")

_QUOTES: tuple[tuple[str, str], ...] = (
    ("\u2018", "'"), ("\u2019", "'"), ("\u02bc", "'"), ("\u201c", '"'), ("\u201d", '"'), ("`", "'"),
)
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})
_LEET_SYMBOLS = "013457@$"
# A token mixing letters with leet symbols ("k1ll", "su1c1de", "p@ssword"); pure numbers are left
# alone. Starts only at a token boundary and looks ahead a bounded distance: linear time. The
# leet-symbol look-ahead comes first because it is the one most tokens fail.
_LEET_TOKEN = re.compile(
    r"(?<![a-z0-9@$])(?=[a-z0-9@$]{0,39}[013457@$])(?=[a-z0-9@$]{0,39}[a-z])[a-z0-9@$]{2,40}(?![a-z0-9@$])"
)
_STRETCH = re.compile(r"([a-z])\1{2,}")
# The replacement as a C callable (``m[1]``): a template string like r"\1" costs a Python-level
# template call on every ``sub``, even when nothing matches.
_FIRST_GROUP = operator.itemgetter(1)


@dataclass(frozen=True, slots=True)
class Normalized:
    """The casefolded text patterns run on, plus what the normalisation itself revealed."""

    text: str
    #: NFKC text with invisible characters removed but case kept (base64 payloads need case).
    cased: str
    had_invisible: bool
    had_tags: bool


def coerce_text(value: object) -> str:
    """Whatever arrived, a ``str`` without lone surrogates (they break encoders downstream)."""
    if value is None:
        return ""
    if isinstance(value, bytes | bytearray):
        text = bytes(value).decode("utf-8", errors="replace")
    elif isinstance(value, str):
        text = value
    else:
        try:
            text = str(value)
        except Exception:
            return ""
    # Surrogates are non-ASCII: ``isascii`` reads a flag CPython keeps on the string, so the
    # common case skips the regex pass entirely.
    if not text.isascii() and _SURROGATE_RE.search(text):
        text = _SURROGATE_RE.sub("\ufffd", text)
    return text


def _deleet(match: re.Match[str]) -> str:
    return match.group(0).translate(_LEET)


def normalize(value: object) -> Normalized:
    text = coerce_text(value)
    if text.isascii():
        # Every invisible and tag character is non-ASCII, and NFKC maps ASCII to itself, so those
        # three passes cannot change an ASCII text; nor can any quote but the backtick.
        cased = text
        folded = text.casefold()
        if "`" in folded:
            folded = folded.replace("`", "'")
        had_invisible = had_tags = False
    else:
        cased, had_invisible, had_tags = _unicode_clean(text)
        folded = cased.casefold()
        for old, new in _QUOTES:  # str.replace is far faster than str.translate on megabytes
            if old in folded:
                folded = folded.replace(old, new)
    return Normalized(_undo_leet_and_stretch(folded), cased, had_invisible, had_tags)


def _unicode_clean(text: str) -> tuple[str, bool, bool]:
    """(NFKC text without tag or invisible characters, had invisible, had tags)."""
    had_tags = bool(_TAG_RE.search(text))
    if had_tags:
        text = text.translate(_TAGS)
    had_invisible = bool(_INVISIBLE_RE.search(text))
    if had_invisible:
        text = text.translate(_INVISIBLE)
    try:
        cased = unicodedata.normalize("NFKC", text)
    except Exception:  # defensive: NFKC of odd input must not take the request down
        cased = text
    return cased, had_invisible, had_tags


def _undo_leet_and_stretch(folded: str) -> str:
    """``k1ll`` -> ``kill``, ``kiiiill`` -> ``kill``.

    A leet token needs one of the leet symbols: without any (most prose) the per-position regex
    pass would find nothing, and one ``in`` per symbol is a memchr. The stretch pass has no such
    cheap test (it needs a letter tripled) and always runs."""
    for symbol in _LEET_SYMBOLS:
        if symbol in folded:
            folded = _LEET_TOKEN.sub(_deleet, folded)
            break
    return _STRETCH.sub(_FIRST_GROUP, folded)
