"""Text hygiene shared by the built-in evaluators.

Agent output is untrusted: it may be empty, several megabytes long, bytes that are not
UTF-8, or a ``str`` holding lone surrogates (which crash ``encode()`` deep inside
tokenizers and JSON writers). Every evaluator passes its inputs through :func:`clean`
so each of those cases becomes ordinary text with a defined score, never an exception.

The default evaluators run on every agent run, so the analysis here is built for speed:
:class:`TextView` analyses one cleaned response lazily and at most once, for all the
heuristic parts of a run to share, and :func:`words` takes a split-based fast path for
the common case (ASCII, or text without the curly apostrophe) that gives exactly the
tokens of the reference regular expression.
"""

from __future__ import annotations

import re

#: Analysis window. Regex and word statistics over the first 200k characters are stable
#: for quality heuristics and keep a 5 MB response from costing seconds per evaluator.
ANALYSIS_LIMIT = 200_000

#: The token definition: letters/digits, optionally one apostrophe plus letters ("don't").
_WORD = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)?")
_WORD_LOWER = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")

#: Byte table for lower-cased ASCII text: every byte that cannot be part of a token becomes a space.
_SEPARATORS = bytes(b if b in b"abcdefghijklmnopqrstuvwxyz0123456789'" else 32 for b in range(256))
#: Byte table: what ``str.split()`` splits on (ASCII whitespace, including \x1c-\x1f) -> " ", the rest -> "x".
_SPACE_MARKS = bytes(32 if chr(b).isspace() else 120 for b in range(256))
#: An apostrophe that cannot join two token parts: not after a letter/digit, or not before a letter.
_LONE_APOSTROPHE = re.compile(r"'(?:(?<![a-z0-9]')|(?![a-z]))")
#: A chunk the split cannot reproduce: a second apostrophe, or a digit after "'letters".
_CHAINED_APOSTROPHE = re.compile(r"'[a-z]*[0-9']")

#: The only non-ASCII characters that ``re.IGNORECASE`` matches against ASCII letters
#: (dotted/dotless i, long s, Kelvin sign); U+0130 is also the only one whose ``lower()``
#: is longer than one character. Without them, ``text.lower()`` is aligned with ``text``
#: and shows every case-insensitive occurrence of an ASCII keyword.
_CASE_SPECIALS = ("\u0130", "\u0131", "\u017f", "\u212a")


def clean(value: object) -> str:
    """Any value → valid UTF-8-encodable ``str`` (lone surrogates and bad bytes → U+FFFD)."""
    if value is None:
        return ""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", errors="replace")
    text = value if isinstance(value, str) else str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", errors="surrogatepass").decode("utf-8", errors="replace")
    return text


def window(text: str, limit: int = ANALYSIS_LIMIT) -> tuple[str, bool]:
    """The analysed prefix of ``text`` and whether it was truncated."""
    if len(text) <= limit:
        return text, False
    return text[:limit], True


def words(text: str) -> list[str]:
    """Lower-cased word tokens (letters/digits, with simple contractions).

    Same list as ``[w.lower() for w in _WORD.findall(text)]``, at a fraction of the cost: a byte
    translate + split does the work, and only text the split cannot reproduce exactly (chained
    apostrophes like "rock'n'roll", or both kinds of apostrophe at once) goes through the regex.
    """
    joiner = "'"
    if not text.isascii() and "’" in text:
        if "'" in text:
            return [w.lower() for w in _WORD.findall(text)]
        # The curly apostrophe joins like the straight one: split with "'", then put it back.
        text, joiner = text.replace("’", "'"), "’"
    # Every other non-ASCII character only separates tokens, as the "?" it is encoded to does.
    spaced = text.encode("ascii", errors="replace").lower().translate(_SEPARATORS).decode("ascii")
    if "'" in spaced:
        spaced = _LONE_APOSTROPHE.sub(" ", spaced)
        if _CHAINED_APOSTROPHE.search(spaced):
            found = _WORD_LOWER.findall(spaced)
            return found if joiner == "'" else [w.replace("'", joiner) for w in found]
        if joiner != "'":
            spaced = spaced.replace("'", joiner)  # every "'" left joins a token
    return spaced.split()


def count_words(text: str) -> int:
    """Whitespace word count over the full text; cheap even for multi-megabyte responses.

    ``len(text.split())``; for ASCII text counted as word starts (a non-space byte after a
    space or at the start) in a byte-translated copy, without creating a string per word.
    """
    if not text.isascii():
        return len(text.split())
    marks = text.encode("ascii").translate(_SPACE_MARKS)
    return marks.count(b" x") + marks.startswith(b"x")


#: From this length on, :attr:`TextView.first_digit` looks for the digit (below, a scan is as cheap).
_FIRST_DIGIT_MIN_CHARS = 256


def _first_ascii_digit(text: str) -> int:
    """The index of the first 0-9 in ``text``, ``-1`` without any; each ``find`` searches only
    what is left before the best position so far."""
    first = len(text)
    for digit in "0123456789":
        at = text.find(digit, 0, first)
        if at >= 0:
            first = at
    return first if first < len(text) else -1


def aligned_lower(text: str) -> str | None:
    """``text.lower()`` when it is position-aligned with ``text`` and shows every
    case-insensitive match of an ASCII keyword (see ``_CASE_SPECIALS``), else ``None``."""
    if not text.isascii() and any(c in text for c in _CASE_SPECIALS):
        return None
    return text.lower()


class TextView:
    """One cleaned response, analysed lazily and at most once per run.

    :class:`~llmops_kit.evaluation.builtin.heuristic.HeuristicQuality` builds one per run and
    hands it to every part, so the window is cut, the text lower-cased and the tokens split
    once instead of once per part. It holds only derived data of the one response and is
    dropped with the run (no cache outlives the call).
    """

    __slots__ = (
        "_first_digit", "_lower", "_lower_done", "_token_set", "_tokens", "text", "truncated", "window",
    )

    def __init__(self, text: str) -> None:
        self.text = text
        self.window, self.truncated = window(text)
        self._tokens: list[str] | None = None
        self._token_set: frozenset[str] | None = None
        self._lower: str | None = None
        self._lower_done = False
        self._first_digit: int | None = None

    @property
    def tokens(self) -> list[str]:
        """:func:`words` of the window."""
        if self._tokens is None:
            self._tokens = words(self.window)
        return self._tokens

    @property
    def token_set(self) -> frozenset[str]:
        """The distinct tokens of the window."""
        if self._token_set is None:
            self._token_set = frozenset(self.tokens)
        return self._token_set

    @property
    def lower(self) -> str | None:
        """:func:`aligned_lower` of the window."""
        if not self._lower_done:
            self._lower, self._lower_done = aligned_lower(self.window), True
        return self._lower

    @property
    def first_digit(self) -> int:
        r"""No character of the window before this one can match ``\d``; ``-1`` when none can.

        A regex scans ~4 ns per character; ten ``find`` calls (``memchr``, ~0.6 µs in all) place
        the first digit of a long ASCII window, so a pattern that needs a figure skips a digit-free
        answer and starts at its first figure. A short or non-ASCII window (other scripts' digits
        count too) gives 0: scanning it whole costs no more than placing its first digit would.
        """
        at = self._first_digit
        if at is None:
            text = self.window
            at = _first_ascii_digit(text) if len(text) >= _FIRST_DIGIT_MIN_CHARS and text.isascii() else 0
            self._first_digit = at
        return at

    def word_count(self) -> int:
        """:func:`count_words` over the full text (not the window)."""
        return count_words(self.text)
