"""Split texts to fit a remote analyzer's per-request limits without losing a boundary phrase.

Content Safety limits are counted in Unicode code points, which is what ``len(str)`` counts.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["batch_documents", "split_text"]


def split_text(text: str, limit: int, *, overlap: int = 100) -> list[str]:
    """Pieces of at most ``limit`` characters, cut at whitespace where possible, each overlapping
    the previous by up to ``overlap`` characters so a phrase straddling a cut is seen whole once."""
    if limit <= 0:
        raise ValueError("limit must be positive")
    if len(text) <= limit:
        return [text]
    overlap = max(0, min(overlap, limit // 4))
    pieces: list[str] = []
    start, n = 0, len(text)
    while start < n:
        end = min(start + limit, n)
        if end < n:
            # Prefer a whitespace cut in the last 10% of the window.
            cut = text.rfind(" ", end - max(1, limit // 10), end)
            if cut > start:
                end = cut + 1
        pieces.append(text[start:end])
        if end >= n:
            break
        start = max(end - overlap, start + 1)
    return pieces


def batch_documents(
    documents: Sequence[str], *, max_chars: int, max_docs: int
) -> list[list[tuple[int, str]]]:
    """Group ``(original index, piece)`` pairs into requests of at most ``max_docs`` pieces and
    ``max_chars`` characters in total; a long document is split and all its pieces keep its index."""
    batches: list[list[tuple[int, str]]] = []
    current: list[tuple[int, str]] = []
    size = 0
    for index, doc in enumerate(documents):
        if not doc or not doc.strip():
            continue
        for piece in split_text(doc, max_chars):
            if current and (len(current) >= max_docs or size + len(piece) > max_chars):
                batches.append(current)
                current, size = [], 0
            current.append((index, piece))
            size += len(piece)
    if current:
        batches.append(current)
    return batches
