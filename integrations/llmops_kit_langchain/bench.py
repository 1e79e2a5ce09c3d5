"""Factories for ``/work/shared/bench/lc_overhead.py --handler llmops_kit_langchain.bench:<factory>``.

Content capture is on in ``bench_factory``, as it is for every anchor in that script, so the
comparison is like with like; the handler's default (content off) is cheaper still.

``bench_factory_span_floor`` is a measuring stick, not a product: it emits our four spans with
our parenting (span-less runs mapped to their span-bearing ancestor) and only the minimal
handler's attributes (operation, model/tool name, input/output tokens), and does nothing else
(no content, cost, roll-ups, metrics, orphan tracking). The gap between it and
``bench_factory`` is what our required attributes and bookkeeping cost; the gap between it
and ``otel-minimal`` is the per-span price of emitting 4 spans for 8 dispatched runs.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from llmops_kit_langchain.handler import LLMOpsCallbackHandler


def bench_factory(tracer_provider: Any) -> LLMOpsCallbackHandler:
    return LLMOpsCallbackHandler(tracer_provider=tracer_provider, capture_content=True)


def bench_factory_no_content(tracer_provider: Any) -> LLMOpsCallbackHandler:
    return LLMOpsCallbackHandler(tracer_provider=tracer_provider, capture_content=False)


def bench_factory_span_floor(tracer_provider: Any) -> BaseCallbackHandler:
    return _SpanFloor(tracer_provider.get_tracer("llmops.bench.span_floor"))


class _SpanFloor(BaseCallbackHandler):
    run_inline = True

    def __init__(self, tracer: Any) -> None:
        self._tracer = tracer
        self._runs: dict[UUID, tuple[UUID, Any]] = {}  # run_id -> (owner run_id, owner span)

    def _open(self, run_id: UUID, parent_run_id: UUID | None, name: str, kind: SpanKind, attrs: Any) -> None:
        owner = self._runs.get(parent_run_id) if parent_run_id is not None else None
        ctx = trace.set_span_in_context(owner[1]) if owner is not None else None
        self._runs[run_id] = (run_id, self._tracer.start_span(name, ctx, kind, attrs))

    def _close(self, run_id: UUID, attrs: Any = None) -> None:
        owner = self._runs.pop(run_id, None)
        if owner is not None and owner[0] == run_id:
            if attrs:
                owner[1].set_attributes(attrs)
            owner[1].end()

    def on_chain_start(
        self, serialized: Any, inputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kw: Any
    ) -> None:
        owner = self._runs.get(parent_run_id) if parent_run_id is not None else None
        if owner is not None:
            self._runs[run_id] = owner
            return
        name = kw.get("name") or (serialized or {}).get("name") or "chain"
        self._open(
            run_id, None, f"invoke_workflow {name}", SpanKind.INTERNAL, {"gen_ai.operation.name": "invoke_workflow"}
        )

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kw: Any) -> None:
        self._close(run_id)

    def on_chat_model_start(
        self,
        serialized: Any,
        messages: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: Any = None,
        **kw: Any,
    ) -> None:
        model = (metadata or {}).get("ls_model_name") or "unknown"
        self._open(
            run_id,
            parent_run_id,
            f"chat {model}",
            SpanKind.CLIENT,
            {"gen_ai.operation.name": "chat", "gen_ai.request.model": model},
        )

    def on_llm_end(self, response: Any, *, run_id: UUID, **kw: Any) -> None:
        usage = response.generations[0][0].message.usage_metadata or {}
        self._close(
            run_id,
            {
                "gen_ai.usage.input_tokens": usage.get("input_tokens", 0),
                "gen_ai.usage.output_tokens": usage.get("output_tokens", 0),
            },
        )

    def on_tool_start(
        self, serialized: Any, input_str: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kw: Any
    ) -> None:
        name = (serialized or {}).get("name") or "tool"
        self._open(
            run_id,
            parent_run_id,
            f"execute_tool {name}",
            SpanKind.INTERNAL,
            {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name},
        )

    def on_tool_end(self, output: Any, *, run_id: UUID, **kw: Any) -> None:
        self._close(run_id)

    def on_retriever_start(
        self, serialized: Any, query: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kw: Any
    ) -> None:
        name = kw.get("name") or (serialized or {}).get("name") or "retriever"
        self._open(run_id, parent_run_id, f"retrieval {name}", SpanKind.CLIENT, {"gen_ai.operation.name": "retrieval"})

    def on_retriever_end(self, documents: Any, *, run_id: UUID, **kw: Any) -> None:
        self._close(run_id)
