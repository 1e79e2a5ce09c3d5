"""Embedding relevance with the real bundled MiniLM model (loads offline)."""

from __future__ import annotations

import asyncio
import threading

from tests.evaluation.conftest import SUPPORT_ANSWER, SUPPORT_QUERY

from llmops_kit.evaluation.base import EvalContext
from llmops_kit.evaluation.builtin.embedding import EmbeddingRelevance, SentenceEncoder, _load_minilm


async def test_relevant_answer_beats_off_topic(minilm_encoder: SentenceEncoder) -> None:
    ev = EmbeddingRelevance(minilm_encoder)
    on = await ev.evaluate(SUPPORT_QUERY, SUPPORT_ANSWER, EvalContext())
    off = await ev.evaluate(
        SUPPORT_QUERY, "The Eiffel Tower is 330 metres tall and was finished in 1889.", EvalContext()
    )
    assert on.status == "completed" and off.status == "completed"
    assert on.score > 0.3 > off.score
    assert on.label == "relevant" and on.passed is True
    assert off.label == "not_relevant" and off.passed is False


async def test_hostile_inputs(minilm_encoder: SentenceEncoder) -> None:
    ev = EmbeddingRelevance(minilm_encoder)
    empty = await ev.evaluate(SUPPORT_QUERY, "", EvalContext())
    assert empty.score == 0.0 and empty.passed is False
    huge = await ev.evaluate(SUPPORT_QUERY, "refund policy " * 400_000, EvalContext())
    assert huge.status == "completed" and 0.0 <= huge.score <= 1.0
    odd = await ev.evaluate(SUPPORT_QUERY, "refund \ud800 damaged \udfff", EvalContext())
    assert odd.status == "completed"


def test_model_loads_once_across_threads() -> None:
    calls = []
    lock = threading.Lock()

    def counting_loader():
        with lock:
            calls.append(1)
        return _load_minilm()

    enc = SentenceEncoder(counting_loader)
    barrier = threading.Barrier(4)
    out: list[object] = []

    def worker() -> None:
        barrier.wait()
        out.append(enc.model())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and enc.loads == 1
    assert len(out) == 4 and all(m is out[0] for m in out)
    vecs = enc.encode(["hello", "refund"])
    assert vecs.shape == (2, 384)


async def test_concurrent_async_scoring_shares_one_model(minilm_encoder: SentenceEncoder) -> None:
    ev = EmbeddingRelevance(minilm_encoder)
    results = await asyncio.gather(
        *(ev.evaluate(SUPPORT_QUERY, SUPPORT_ANSWER, EvalContext()) for _ in range(6))
    )
    assert len({r.score for r in results}) == 1
    assert minilm_encoder.loads == 1


async def test_loader_failure_is_an_error_result_not_an_exception() -> None:
    def broken():
        raise OSError("weights unreadable")

    r = await EmbeddingRelevance(SentenceEncoder(broken)).evaluate("q", "a", EvalContext())
    assert r.status == "error" and r.error_type == "OSError"
