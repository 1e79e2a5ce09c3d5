"""Text hygiene shared by the built-in evaluators.

Agent output is untrusted: it may be empty, several megabytes long, bytes that are not
UTF-8, or a ``str`` holding lone surrogates (which crash ``encode()`` deep inside
tokenizers and JSON writers). Every evaluator passes its inputs through :func:`clean`
so each of those cases becomes ordinary text with a defined score, never an exception.
"""

from __future__ import annotations

import re

#: Analysis window. Regex and word statistics over the first 200k characters are stable
#: for quality heuristics and keep a 5 MB response from costing seconds per evaluator.
ANALYSIS_LIMIT = 200_000

_WORD = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)?")


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
    """Lower-cased word tokens (letters/digits, with simple contractions)."""
    return [w.lower() for w in _WORD.findall(text)]


def count_words(text: str) -> int:
    """Whitespace word count over the full text; cheap even for multi-megabyte responses."""
    return len(text.split())
