"""Factory for ``/work/shared/bench/lc_overhead.py --handler llmops_kit_langchain.bench:bench_factory``.

Content capture is on, as it is for every anchor in that script, so the comparison is like
with like; the handler's default (content off) is cheaper still.
"""

from __future__ import annotations

from typing import Any

from llmops_kit_langchain.handler import LLMOpsCallbackHandler


def bench_factory(tracer_provider: Any) -> LLMOpsCallbackHandler:
    return LLMOpsCallbackHandler(tracer_provider=tracer_provider, capture_content=True)


def bench_factory_no_content(tracer_provider: Any) -> LLMOpsCallbackHandler:
    return LLMOpsCallbackHandler(tracer_provider=tracer_provider, capture_content=False)
