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
_INVISIBLE_CLASS = "".join(f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in _INVISIBLE_RANGES)
_INVISIBLE_RE = re.compile("[" + _INVISIBLE_CLASS + "]")
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
# Either kind of hidden character: most non-ASCII text has neither, and one pass over it then
# replaces the two separate searches.
_HIDDEN_RE = re.compile("[" + _INVISIBLE_CLASS + "\U000e0020-\U000e007e]")

_QUOTES: tuple[tuple[str, str], ...] = (
    ("\u2018", "'"), ("\u2019", "'"), ("\u02bc", "'"), ("\u201c", '"'), ("\u201d", '"'), ("`", "'"),
)
# With an entry (itself) for every other character a leet token can hold too: a character the table
# lacks costs ``str.translate`` a KeyError raised and cleared.
_LEET = str.maketrans(
    {c: c for c in "abcdefghijklmnopqrstuvwxyz2689"}
    | {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
)
_LEET_SYMBOLS = "013457@$"
# A token mixing letters with leet symbols ("k1ll", "su1c1de", "p@ssword"); pure numbers are left
# alone. Starts only at a token boundary and looks ahead a bounded distance: linear time. The
# leet-symbol look-ahead comes first because it is the one most tokens fail. Written without
# backtracking (possessive repeats, each look-ahead skipping only what cannot end it: [a-z2689] are the
# run characters that are not leet symbols, [0-9@$] those that are not letters), it matches exactly
# what ``(?=[a-z0-9@$]{0,39}[013457@$])(?=[a-z0-9@$]{0,39}[a-z])[a-z0-9@$]{2,40}(?![a-z0-9@$])`` does
# after the same look-behind, about a quarter faster.
_LEET_TOKEN = re.compile(
    r"(?<![a-z0-9@$])(?=[a-z2689]{0,39}+[013457@$])(?=[0-9@$]{0,39}+[a-z])[a-z0-9@$]{2,40}+(?![a-z0-9@$])"
)
# Byte tables for _has_leet_run: 0x01 on the bytes a leet token is made of ([a-z0-9@$]), and 0xFF on
# those of them that are not leet symbols / not letters (0x00 elsewhere).
_RUN_BYTES = b"abcdefghijklmnopqrstuvwxyz0123456789@$"
_RUN_MEMBER = bytes(1 if b in _RUN_BYTES else 0 for b in range(256))
_RUN_NOT_LEET = bytes(0xFF if b in _RUN_BYTES and chr(b) not in _LEET_SYMBOLS else 0 for b in range(256))
_RUN_NOT_LETTER = bytes(0xFF if b in _RUN_BYTES and not 0x61 <= b <= 0x7A else 0 for b in range(256))
# From this length on the leet pass first asks _has_leet_run (under 1 µs, 7 µs on 2 KB) whether the
# per-position regex (2 µs at this length, 35 µs on 2 KB) can find anything at all. Shorter texts skip
# the question: it would save little, and cost that much again when the answer is yes ("7c", "3pm").
_LEET_RUN_CHECK_CHARS = 128
_STRETCH = re.compile(r"([a-z])\1{2,}")
# Any character three times in a row: a superset of what _STRETCH needs, and about half its cost per
# position (no letter class, no open-ended repeat). Used as the pre-check on short texts.
_TRIPLE = re.compile(r"(.)\1\1", re.DOTALL)
# Texts from this length on use the whole-text integer pre-check (_has_stretch) instead: its fixed cost
# is higher, its cost per character about a third of the regex's.
_STRETCH_INT_CHECK_CHARS = 128
# 0x00 for the bytes of a-z, 0xFF for every other byte (see _has_stretch).
_NOT_LETTER = bytes(0 if 0x61 <= b <= 0x7A else 0xFF for b in range(256))
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
    return match[0].translate(_LEET)


def normalize(value: object) -> Normalized:
    return Normalized(*normalize_parts(coerce_text(value)))


def normalize_parts(text: str) -> tuple[str, str, bool, bool]:
    """:func:`normalize` of a text that already went through :func:`coerce_text`, as the plain tuple
    ``(text, cased, had_invisible, had_tags)``: the analyzer's hot path skips coercing twice and
    building the frozen dataclass (together about half a microsecond on a short text)."""
    if text.isascii():
        return fold_ascii(text), text, False, False
    cased, had_invisible, had_tags = _unicode_clean(text)
    folded = cased.casefold()
    for old, new in _QUOTES:  # str.replace is far faster than str.translate on megabytes
        if old in folded:
            folded = folded.replace(old, new)
    return _undo_leet_and_stretch(folded), cased, had_invisible, had_tags


def fold_ascii(text: str) -> str:
    """The casefolded text of :func:`normalize_parts` for an ASCII ``text``, whose cased text is
    ``text`` itself and which holds no invisible or tag character: the analyzer's common case
    asks for this one string, without the tuple.

    Every invisible and tag character is non-ASCII, and NFKC maps ASCII to itself, so those three
    passes cannot change an ASCII text; nor can any quote but the backtick."""
    folded = text.casefold()
    if "`" in folded:
        folded = folded.replace("`", "'")
    return _undo_leet_and_stretch(folded)


def _unicode_clean(text: str) -> tuple[str, bool, bool]:
    """(NFKC text without tag or invisible characters, had invisible, had tags)."""
    if not _HIDDEN_RE.search(text):
        had_tags = had_invisible = False
    else:
        text, had_invisible, had_tags = _strip_hidden(text)
    try:
        cased = unicodedata.normalize("NFKC", text)
    except Exception:  # defensive: NFKC of odd input must not take the request down
        cased = text
    return cased, had_invisible, had_tags


def _strip_hidden(text: str) -> tuple[str, bool, bool]:
    """Tags mapped back to ASCII, then invisible characters removed: (text, had invisible, had tags)."""
    had_tags = bool(_TAG_RE.search(text))
    if had_tags:
        text = text.translate(_TAGS)
    had_invisible = bool(_INVISIBLE_RE.search(text))
    if had_invisible:
        text = text.translate(_INVISIBLE)
    return text, had_invisible, had_tags


def _undo_leet_and_stretch(folded: str) -> str:
    """``k1ll`` -> ``kill``, ``kiiiill`` -> ``kill``.

    A leet token needs one of the leet symbols: without any (most prose) the per-position regex
    pass would find nothing, and one ``in`` per symbol is a memchr. With one (any number holding
    0, 1, 3, 4, 5 or 7, any e-mail address), a token also needs a letter in the same run, which
    :func:`_has_leet_run` answers for the whole text in a few C passes. The stretch pass needs a letter
    tripled, which almost no text has: a cheaper pre-check finds that out first (on 2 KB of prose
    the stretch regex alone cost 30 µs)."""
    for symbol in _LEET_SYMBOLS:
        if symbol in folded:
            if len(folded) < _LEET_RUN_CHECK_CHARS or _has_leet_run(folded):
                folded = _LEET_TOKEN.sub(_deleet, folded)
            break
    if len(folded) < _STRETCH_INT_CHECK_CHARS:
        if not _TRIPLE.search(folded):
            return folded
    elif not _has_stretch(folded):
        return folded
    return _STRETCH.sub(_FIRST_GROUP, folded)


def _has_leet_run(folded: str) -> bool:
    """Does a run of [a-z0-9@$] characters hold both a leet symbol and a letter? Every leet token is
    such a run (a whole one, 2-40 long), so when none is, ``_LEET_TOKEN.sub`` would change nothing.

    Byte lanes of one integer per property (UTF-8 as in :func:`_has_stretch`: a-z, 0-9, @ and $
    bytes occur only as those characters, multi-byte characters separate runs like any other).
    ``member`` is 0x01 on run bytes; ``starts``/``ends`` mark each run's first byte and the byte just
    after it. A mask that is 0xFF on the run bytes lacking a property, plus 0x01 at each run start,
    carries through a run that lacks the property everywhere and sets the byte after it, but stops at
    the first byte that has it. So a run has both properties exactly when neither sum sets its end."""
    data = folded.encode("utf-8", "surrogatepass")
    member = int.from_bytes(data.translate(_RUN_MEMBER), "little")
    edges = member ^ (member << 8)
    starts = edges & member
    ends = edges ^ starts
    no_leet = int.from_bytes(data.translate(_RUN_NOT_LEET), "little") + starts
    no_letter = int.from_bytes(data.translate(_RUN_NOT_LETTER), "little") + starts
    return ends & (no_leet | no_letter) != ends


def _has_stretch(folded: str) -> bool:
    """Exactly ``_STRETCH.search(folded) is not None``, in a few linear C passes and no per-character
    regex step: is some byte of the UTF-8 text equal to the next two and one of a-z?

    The text read as one integer, XORed with itself shifted by one and by two bytes, has a zero byte
    exactly where three bytes in a row are equal; OR-ing in a mask that is zero only on a-z bytes
    keeps the letter triples. UTF-8 is exact here: a-z bytes occur only as those ASCII characters
    (every byte of a multi-byte character is >= 0x80), so byte triples are character triples.
    ``surrogatepass`` keeps any lone surrogate encodable (it becomes three bytes >= 0x80)."""
    data = folded.encode("utf-8", "surrogatepass")
    n = len(data)
    if n < 3:
        return False
    mid = data[1:-1]
    middle = int.from_bytes(mid, "little")
    diff = (middle ^ int.from_bytes(data[:-2], "little")) | (middle ^ int.from_bytes(data[2:], "little"))
    if b"\0" not in diff.to_bytes(n - 2, "little"):  # no byte tripled at all: the common case
        return False
    diff |= int.from_bytes(mid.translate(_NOT_LETTER), "little")
    return b"\0" in diff.to_bytes(n - 2, "little")
