"""``LLMOpsCallbackHandler``: OpenTelemetry GenAI spans and metrics for LangChain runs.

Design (from the anchors' measured behaviour and bug trackers, research/langchain.md):
- Spans only for GenAI operations: the root (``invoke_workflow`` or ``invoke_agent``), nested
  agents, ``chat``/``text_completion``, ``execute_tool`` and ``retrieval``. Every other run
  (prompt, parser, lambda, graph node) is kept in the run map only so its children find
  their nearest span-bearing ancestor (its id maps to that ancestor's record: no object, no
  span). That halves the span count and the cost.
- Nested leaves (model, tool, retriever) create their span when they end, backdated to their
  real start, with all attributes in one pass; a leaf that gets children creates it then.
- Parents come from ``run_id``/``parent_run_id`` and an explicit parent context; the OTel
  context is never attached or detached across callbacks (that breaks under ``ainvoke``).
  Only a root falls back to the ambient context, so it nests under the caller's span.
- Any run still open when its parent ends or errors is ended there (a guard that raised,
  a cancelled task): no span stays open and no per-run state stays behind.
- Usage comes from ``usage_metadata`` (fallback ``llm_output``), is priced per chat span and
  rolled up onto every enclosing agent/workflow span. A call without usage is flagged
  ``llmops.usage_missing`` and never priced by guesswork.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from time import perf_counter, time_ns
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from llmops_kit.agent import ModelCallRecord, ToolCallRecord
from llmops_kit.pricing.base import Pricing, UnknownModelPriceError
from llmops_kit.telemetry import semconv as sc
from llmops_kit.telemetry.instruments import Telemetry
from llmops_kit.usage import TokenUsage
from llmops_kit_langchain import content as cnt
from llmops_kit_langchain.extract import ResultView, error_type, is_control_flow, provider_name

Redactor = Callable[[str], str]

_TRUE = ("1", "true", "yes", "on")
_K_AGG, _K_CHAT, _K_LLM, _K_TOOL, _K_RETR = range(5)
_EMPTY: dict[str, Any] = {}


@dataclass(slots=True)
class RunSummary:
    """What one root run reported, for adapters (``ProductionAgent``) and budget settlement."""

    model_calls: list[ModelCallRecord] = field(default_factory=list)
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    documents: list[str] = field(default_factory=list)
    usage: TokenUsage = field(default_factory=TokenUsage)
    usage_missing: bool = False
    cost_micro_usd: int = 0
    unpriced_calls: int = 0
    ttft_s: float | None = None
    model: str | None = None
    provider: str | None = None
    trace_id: str | None = None


class _Run:
    """State of one span-bearing run. Span-less runs (prompts, parsers, lambdas, graph nodes)
    get no object at all: their ``run_id`` maps straight to this record (a "passenger"), so
    their children find the nearest span in one dict lookup.

    A nested leaf (model, tool, retriever) starts its span only when it ends, with its real
    start time and every attribute in one go (``span`` is ``None`` until then): one attribute
    pass and no live-span lock round-trip per span. A leaf that turns out to have children
    (an agent used as a tool, a retriever calling a model) starts its span at that moment.
    """

    __slots__ = (
        "aggs",
        "attrs",
        "children",
        "ctx",
        "kind",
        "model",
        "name",
        "open",
        "parent_ctx",
        "passengers",
        "provider",
        "root",
        "run_id",
        "span",
        "span_kind",
        "span_name",
        "start_ns",
        "summary",
        "t0",
        "tool_call_id",
        "ttft",
        "u_cache_create",
        "u_cache_read",
        "u_calls",
        "u_cost",
        "u_in",
        "u_missing",
        "u_out",
        "u_reason",
        "u_total",
        "u_unpriced",
    )

    def __init__(self, run_id: UUID, kind: int, span: Any, parent: _Run | None) -> None:
        self.run_id = run_id
        self.kind = kind
        self.span = span
        self.ctx: Any = None
        self.open = True
        self.summary: RunSummary | None = None
        self.children: list[_Run] | None = []
        self.passengers: list[UUID] | None = []
        if parent is None:
            self.root: _Run | None = None  # None = "I am the root" (no self-reference cycle)
            aggs: tuple[_Run, ...] = ()
        else:
            self.root = parent.root or parent
            aggs = parent.aggs
        if kind == _K_AGG:
            self.aggs = (*aggs, self)
            self.u_in = self.u_out = self.u_total = self.u_cache_read = 0
            self.u_cache_create = self.u_reason = self.u_cost = self.u_unpriced = self.u_calls = 0
            self.u_missing = False
        else:
            self.aggs = aggs
        self.t0 = perf_counter()


class LLMOpsCallbackHandler(BaseCallbackHandler):
    """Attach with ``config={"callbacks": [LLMOpsCallbackHandler()]}`` or ``with_config``.

    One instance may be shared by any number of concurrent runs (threads or tasks). Spans
    go to ``tracer_provider`` (default: the OTel global one the app configured); metrics go
    through the shared :class:`~llmops_kit.telemetry.instruments.Telemetry`.
    """

    # Called synchronously on the event loop under ainvoke: no executor hop, callbacks in
    # order, and the caller's context is visible to roots. Every hook is O(1) and never blocks.
    run_inline = True
    raise_error = False

    def __init__(
        self,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: Any = None,
        logger_provider: Any = None,
        telemetry: Telemetry | None = None,
        pricing: Pricing | None = None,
        capture_content: bool | None = None,
        redact: Redactor | None = None,
        agent_name: str | None = None,
    ) -> None:
        if telemetry is None:
            if capture_content is None:
                capture_content = os.environ.get("ENABLE_SENSITIVE_DATA", "").strip().lower() in _TRUE
            telemetry = Telemetry(
                tracer_provider,
                meter_provider,
                logger_provider,
                capture_content=capture_content,
                redact=redact,
            )
        self.telemetry = telemetry
        self._tracer = telemetry.tracer
        self._capture = telemetry.capture_content if capture_content is None else capture_content
        self._redact = redact if redact is not None else telemetry.redact
        if pricing is None:
            from llmops_kit.pricing.table import PriceTable

            pricing = PriceTable.load()
        self._pricing = pricing
        self._agent_name = agent_name
        self._runs: dict[UUID, _Run] = {}
        self._collect: dict[UUID, RunSummary] = {}
        self._lock = threading.Lock()

    # --- introspection (tests, leak checks) ------------------------------------------------
    @property
    def open_runs(self) -> int:
        """Runs currently tracked; 0 whenever no invocation is in flight."""
        return len(self._runs) + len(self._collect)

    def collect(self, run_id: UUID) -> RunSummary:
        """Register a summary for the root run ``run_id`` (pass the same id as ``config["run_id"]``).

        The summary fills in as the run proceeds; ``forget(run_id)`` drops it if the run never
        started (e.g. an exception before LangChain dispatched the root start).
        """
        summary = RunSummary()
        self._collect[run_id] = summary
        return summary

    def forget(self, run_id: UUID) -> None:
        self._collect.pop(run_id, None)

    # --- core -----------------------------------------------------------------------------
    def _open(
        self,
        run_id: UUID,
        parent: _Run | None,
        kind: int,
        name: str,
        span_kind: SpanKind,
        attrs: dict[str, Any],
    ) -> _Run:
        """Start a span under ``parent`` (the nearest span-bearing run) and track it."""
        if parent is not None:
            ctx = parent.ctx
            if ctx is None:  # first child of this parent: under the lock, two threads may race
                with self._lock:
                    if parent.span is None:
                        self._materialize(parent, None)
                    ctx = parent.ctx
                    if ctx is None:
                        ctx = parent.ctx = trace.set_span_in_context(parent.span)
            if kind == _K_AGG:
                rec = _Run(run_id, kind, self._tracer.start_span(name, ctx, span_kind, attrs), parent)
            else:  # a leaf: its span starts when it ends (see _Run)
                rec = _Run(run_id, kind, None, parent)
                rec.parent_ctx = ctx
                rec.span_name = name
                rec.span_kind = span_kind
                rec.attrs = attrs
                rec.start_ns = time_ns()
            children = parent.children
            if children is not None:
                children.append(rec)
        else:  # root (or a parent we never saw): nest under the caller's current span
            rec = _Run(run_id, kind, self._tracer.start_span(name, None, span_kind, attrs), None)
            if self._collect:
                summary = rec.summary = self._collect.pop(run_id, None)
                if summary is not None:
                    summary.trace_id = format(rec.span.get_span_context().trace_id, "032x")
        self._runs[run_id] = rec
        return rec

    def _materialize(self, rec: _Run, end_attrs: dict[str, Any] | None) -> Any:
        """Start the deferred span of a leaf, with its start attributes plus ``end_attrs``."""
        attrs = rec.attrs
        if end_attrs:
            attrs.update(end_attrs)
        rec.attrs = None
        span = rec.span = self._tracer.start_span(
            rec.span_name, rec.parent_ctx, rec.span_kind, attrs, start_time=rec.start_ns
        )
        return span

    def _finish(
        self, rec: _Run, error: BaseException | None, attrs: dict[str, Any] | None = None
    ) -> None:
        """End ``rec`` (adding ``attrs``) and everything under it still open (once)."""
        rec.open = False
        children, passengers = rec.children, rec.passengers
        rec.children = rec.passengers = None
        if children:
            for child in children:
                if child.open:
                    self._orphan(child, error)
        if passengers:
            runs = self._runs
            for rid in passengers:  # span-less runs that never ended (aborted): no leak
                runs.pop(rid, None)
        span = rec.span
        if span is None:
            with self._lock:  # a child starting on another thread may materialize it first
                span = rec.span
                if span is None:
                    span = self._materialize(rec, attrs)
                    attrs = None
        if attrs:
            span.set_attributes(attrs)
        if rec.kind == _K_AGG:
            self._flush_rollup(rec)
            rec.aggs = ()  # drop the self-reference
        if error is not None and not is_control_flow(error):
            et = error_type(error)
            span.set_status(Status(StatusCode.ERROR, str(error)[:256] or et))
            span.set_attribute(sc.ERROR_TYPE, et)
            span.record_exception(error)
        span.end()

    def _orphan(self, rec: _Run, parent_error: BaseException | None) -> None:
        """A run whose own end never came: ended by its parent, marked as such."""
        self._runs.pop(rec.run_id, None)
        attrs: dict[str, Any] = {sc.LLMOPS_ORPHANED: True}
        if parent_error is None:
            attrs[sc.ERROR_TYPE] = "llmops.orphaned"
            if rec.span is None:
                self._materialize(rec, attrs)
                attrs = None
            rec.span.set_status(Status(StatusCode.ERROR, "run never ended; closed by its parent"))
        self._finish(rec, parent_error, attrs)

    def _end(self, run_id: UUID, error: BaseException | None = None) -> None:
        rec = self._runs.pop(run_id, None)
        # a passenger maps to its span-bearing ancestor: ending it only drops the mapping
        if rec is not None and rec.run_id == run_id:
            self._finish(rec, error)

    def _pop_own(self, run_id: UUID) -> _Run | None:
        """The record of a span-bearing run (model, tool, retriever), removed from the map."""
        rec = self._runs.pop(run_id, None)
        if rec is not None and rec.run_id != run_id:
            return None
        return rec

    def _flush_rollup(self, rec: _Run) -> None:
        if not rec.u_calls:
            return
        attrs: dict[str, Any] = {
            sc.LLMOPS_MODEL_CALLS: rec.u_calls,
            sc.GEN_AI_USAGE_INPUT_TOKENS: rec.u_in,
            sc.GEN_AI_USAGE_OUTPUT_TOKENS: rec.u_out,
            sc.LLMOPS_USAGE_TOTAL_TOKENS: rec.u_total,
        }
        if rec.u_cache_read:
            attrs[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = rec.u_cache_read
        if rec.u_cache_create:
            attrs[sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] = rec.u_cache_create
        if rec.u_reason:
            attrs[sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = rec.u_reason
        if rec.u_cost or not rec.u_unpriced:  # never a $0 that only means "no price known"
            attrs[sc.LLMOPS_COST_USD] = rec.u_cost / 1_000_000
        if rec.u_unpriced:
            attrs[sc.LLMOPS_COST_UNPRICED_CALLS] = rec.u_unpriced
        if rec.u_missing:
            attrs[sc.LLMOPS_USAGE_MISSING] = True
        rec.span.set_attributes(attrs)

    # --- chains (roots, agents, everything else without a span) ---------------------------
    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        parent = self._runs.get(parent_run_id) if parent_run_id is not None else None
        agent = metadata.get("lc_agent_name") if metadata else None
        if parent is not None:
            # the hot path: most runs (prompts, parsers, lambdas, graph nodes) get no span
            if agent is None or agent != (kwargs.get("name") or (serialized or {}).get("name")):
                self._runs[run_id] = parent
                passengers = parent.passengers
                if passengers is not None:
                    passengers.append(run_id)
                return
            agent_name, op = agent, sc.OP_INVOKE_AGENT
            span_name = f"{sc.OP_INVOKE_AGENT} {agent}"
        elif agent or (self._agent_name and parent_run_id is None):
            agent_name, op = agent or self._agent_name, sc.OP_INVOKE_AGENT
            span_name = f"{sc.OP_INVOKE_AGENT} {agent_name}"
        else:
            name = kwargs.get("name") or (serialized or {}).get("name") or "chain"
            agent_name, op = None, sc.OP_INVOKE_WORKFLOW
            span_name = f"{sc.OP_INVOKE_WORKFLOW} {name}"
        attrs: dict[str, Any] = {sc.GEN_AI_OPERATION_NAME: op}
        if agent_name:
            attrs[sc.GEN_AI_AGENT_NAME] = agent_name
        if metadata:
            conv = metadata.get("thread_id") or metadata.get("conversation_id") or metadata.get("session_id")
            if conv:
                attrs[sc.GEN_AI_CONVERSATION_ID] = str(conv)
        self._open(run_id, parent, _K_AGG, span_name, SpanKind.INTERNAL, attrs).name = agent_name

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        rec = self._runs.pop(run_id, None)
        if rec is not None and rec.run_id == run_id:
            self._finish(rec, None)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, error)

    # --- models ---------------------------------------------------------------------------
    def _model_attrs(
        self, op: str, metadata: dict[str, Any] | None, kwargs: dict[str, Any]
    ) -> tuple[str, str, dict[str, Any]]:
        """``(model, provider, start attributes)`` from LangSmith params (``ls_*`` metadata)."""
        meta = metadata or _EMPTY
        model = meta.get("ls_model_name")
        if not model:
            params = kwargs.get("invocation_params") or _EMPTY
            model = (
                params.get("model")
                or params.get("model_name")
                or params.get("deployment_name")
                or kwargs.get("name")
                or "unknown"
            )
        provider = provider_name(meta.get("ls_provider"))
        attrs: dict[str, Any] = {
            sc.GEN_AI_OPERATION_NAME: op,
            sc.GEN_AI_PROVIDER_NAME: provider,
            sc.GEN_AI_SYSTEM: provider,
            sc.GEN_AI_REQUEST_MODEL: model,
        }
        temp = meta.get("ls_temperature")
        if temp is not None:
            attrs[sc.GEN_AI_REQUEST_TEMPERATURE] = temp
        max_tokens = meta.get("ls_max_tokens")
        if max_tokens is not None:
            attrs[sc.GEN_AI_REQUEST_MAX_TOKENS] = max_tokens
        return model, provider, attrs

    def _model_open(
        self,
        kind: int,
        op: str,
        run_id: UUID,
        parent_run_id: UUID | None,
        model: str,
        provider: str,
        attrs: dict[str, Any],
    ) -> None:
        parent = self._runs.get(parent_run_id) if parent_run_id is not None else None
        rec = self._open(run_id, parent, kind, f"{op} {model}", SpanKind.CLIENT, attrs)
        rec.model = model
        rec.provider = provider
        rec.ttft = None

    def on_chat_model_start(
        self,
        serialized: dict[str, Any] | None,
        messages: list[list[Any]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        model, provider, attrs = self._model_attrs(sc.OP_CHAT, metadata, kwargs)
        if messages:
            system, inputs = cnt.input_messages(messages[0], self._capture, self._redact)
            if system is not None:
                attrs[sc.GEN_AI_SYSTEM_INSTRUCTIONS] = system
            attrs[sc.GEN_AI_INPUT_MESSAGES] = inputs
        self._model_open(_K_CHAT, sc.OP_CHAT, run_id, parent_run_id, model, provider, attrs)

    def on_llm_start(
        self,
        serialized: dict[str, Any] | None,
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        model, provider, attrs = self._model_attrs(sc.OP_TEXT_COMPLETION, metadata, kwargs)
        if self._capture and prompts:
            body = [
                {"role": "user", "parts": [{"type": "text", "content": cnt.text_value(p, self._redact)}]}
                for p in prompts
            ]
            attrs[sc.GEN_AI_INPUT_MESSAGES] = cnt.to_json(body)
        self._model_open(_K_LLM, sc.OP_TEXT_COMPLETION, run_id, parent_run_id, model, provider, attrs)

    def on_llm_new_token(self, token: str, *, run_id: UUID, **kwargs: Any) -> None:
        rec = self._runs.get(run_id)
        if rec is not None and rec.ttft is None and rec.run_id == run_id:
            rec.ttft = perf_counter() - rec.t0

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        rec = self._pop_own(run_id)
        if rec is not None:
            self._model_done(rec, response, None)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        rec = self._pop_own(run_id)
        if rec is not None:
            self._model_done(rec, kwargs.get("response"), error)

    def _model_done(self, rec: _Run, response: Any, error: BaseException | None) -> None:
        duration = perf_counter() - rec.t0
        attrs: dict[str, Any] = {}
        usage = None
        model = rec.model
        if response is not None:
            view = ResultView(response)
            usage = view.usage
            if view.model:
                attrs[sc.GEN_AI_RESPONSE_MODEL] = model = view.model
            reason = view.finish_reason
            if reason:
                attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] = (reason,)
            if view.response_id:
                attrs[sc.GEN_AI_RESPONSE_ID] = view.response_id
            if view.message is not None and rec.kind == _K_CHAT:
                attrs[sc.GEN_AI_OUTPUT_MESSAGES] = cnt.output_messages(
                    (view.message,), reason, self._capture, self._redact
                )
            elif self._capture and rec.kind == _K_LLM:
                texts = [g.text for gens in response.generations for g in gens]
                attrs[sc.GEN_AI_OUTPUT_MESSAGES] = cnt.output_messages(
                    [_Text(t) for t in texts], reason, True, self._redact
                )
        ttft = rec.ttft
        if ttft is not None:
            attrs[sc.GEN_AI_RESPONSE_TTFC] = ttft
        cost: int | None = None
        if usage is not None:
            attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] = usage.input_tokens
            attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] = usage.output_tokens
            if usage.cache_read_input_tokens:
                attrs[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = usage.cache_read_input_tokens
            if usage.cache_creation_input_tokens:
                attrs[sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] = usage.cache_creation_input_tokens
            if usage.reasoning_tokens:
                attrs[sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = usage.reasoning_tokens
            cost = self._cost(model, usage)
            if cost is not None:
                attrs[sc.LLMOPS_COST_USD] = cost / 1_000_000
        elif error is None:
            attrs[sc.LLMOPS_USAGE_MISSING] = True
        root = rec.root or rec
        agent = None
        for agg in reversed(rec.aggs):  # the nearest enclosing agent: "cost by agent" for handler users
            agent = agg.name
            if agent:
                break
        if rec.aggs or root.summary is not None:
            self._roll_up(rec, root, model, usage, cost, duration, agent)
        self.telemetry.record_model_call(
            model=model,
            provider=rec.provider,
            operation=sc.OP_CHAT if rec.kind == _K_CHAT else sc.OP_TEXT_COMPLETION,
            usage=usage,
            duration_s=duration,
            cost_usd=cost / 1_000_000 if cost else None,
            ttft_s=ttft,
            error_type=error_type(error) if error is not None else None,
            agent=agent,
        )
        self._finish(rec, error, attrs)

    def _cost(self, model: str, usage: TokenUsage) -> int | None:
        """Micro-USD, or ``None`` when the model has no price (never a guessed $0)."""
        try:
            return self._pricing.cost_micro_usd(model, usage)
        except UnknownModelPriceError:
            return None

    def _roll_up(
        self,
        rec: _Run,
        root: _Run,
        model: str,
        usage: TokenUsage | None,
        cost: int | None,
        duration: float,
        agent: str | None,
    ) -> None:
        with self._lock:
            for agg in rec.aggs:
                agg.u_calls += 1
                if usage is None:
                    agg.u_missing = True
                    continue
                agg.u_in += usage.input_tokens
                agg.u_out += usage.output_tokens
                agg.u_total += usage.total_tokens
                agg.u_cache_read += usage.cache_read_input_tokens
                agg.u_cache_create += usage.cache_creation_input_tokens
                agg.u_reason += usage.reasoning_tokens
                if cost is None:
                    agg.u_unpriced += 1
                else:
                    agg.u_cost += cost
            summary = root.summary
            if summary is not None:
                summary.model_calls.append(
                    ModelCallRecord(
                        model=model,
                        usage=usage if usage is not None else TokenUsage(reported=False),
                        provider=rec.provider or "langchain",
                        duration_s=duration,
                        ttft_s=rec.ttft,
                        agent_name=agent or self._agent_name,
                    )
                )
                summary.model = model
                summary.provider = rec.provider
                if usage is None:
                    summary.usage_missing = True
                else:
                    summary.usage = summary.usage + usage
                if cost is None:
                    if usage is not None:
                        summary.unpriced_calls += 1
                else:
                    summary.cost_micro_usd += cost
                if summary.ttft_s is None and rec.ttft is not None:
                    summary.ttft_s = (rec.t0 - root.t0) + rec.ttft

    # --- tools ----------------------------------------------------------------------------
    def on_tool_start(
        self,
        serialized: dict[str, Any] | None,
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        ser = serialized or _EMPTY
        name = ser.get("name") or kwargs.get("name") or "tool"
        attrs: dict[str, Any] = {
            sc.GEN_AI_OPERATION_NAME: sc.OP_EXECUTE_TOOL,
            sc.GEN_AI_TOOL_NAME: name,
            sc.GEN_AI_TOOL_TYPE: "function",
        }
        call_id = kwargs.get("tool_call_id")
        if call_id:
            attrs[sc.GEN_AI_TOOL_CALL_ID] = call_id
        if self._capture:
            desc = ser.get("description")
            if desc:
                attrs[sc.GEN_AI_TOOL_DESCRIPTION] = desc
            attrs[sc.GEN_AI_TOOL_CALL_ARGUMENTS] = cnt.text_value(
                inputs if inputs is not None else input_str, self._redact
            )
        parent = self._runs.get(parent_run_id) if parent_run_id is not None else None
        rec = self._open(run_id, parent, _K_TOOL, f"{sc.OP_EXECUTE_TOOL} {name}", SpanKind.INTERNAL, attrs)
        rec.name = name
        rec.tool_call_id = call_id

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        rec = self._pop_own(run_id)
        if rec is None:
            return
        result = None
        if self._capture:
            result = cnt.text_value(output, self._redact)
        self._tool_summary(rec, result, None)
        self._finish(rec, None, {sc.GEN_AI_TOOL_CALL_RESULT: result} if result is not None else None)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        rec = self._pop_own(run_id)
        if rec is None:
            return
        self._tool_summary(rec, None, error)
        self._finish(rec, error)

    def _tool_summary(self, rec: _Run, result: str | None, error: BaseException | None) -> None:
        summary = (rec.root or rec).summary
        if summary is None or rec.kind != _K_TOOL:
            return
        record = ToolCallRecord(
            name=rec.name,
            call_id=rec.tool_call_id,
            result=result,
            error=error_type(error) if error is not None else None,
        )
        with self._lock:
            summary.tool_calls.append(record)

    # --- retrievers -----------------------------------------------------------------------
    def on_retriever_start(
        self,
        serialized: dict[str, Any] | None,
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        name = kwargs.get("name") or (serialized or _EMPTY).get("name") or "retriever"
        attrs: dict[str, Any] = {sc.GEN_AI_OPERATION_NAME: sc.OP_RETRIEVAL, sc.GEN_AI_DATA_SOURCE_ID: name}
        if self._capture:
            attrs[sc.GEN_AI_RETRIEVAL_QUERY_TEXT] = cnt.text_value(query, self._redact)
        parent = self._runs.get(parent_run_id) if parent_run_id is not None else None
        self._open(run_id, parent, _K_RETR, f"{sc.OP_RETRIEVAL} {name}", SpanKind.CLIENT, attrs)

    def on_retriever_end(self, documents: Sequence[Any], *, run_id: UUID, **kwargs: Any) -> None:
        rec = self._pop_own(run_id)
        if rec is None:
            return
        summary = (rec.root or rec).summary
        if summary is not None:
            with self._lock:
                summary.documents.extend(str(getattr(d, "page_content", d)) for d in documents)
        attrs: dict[str, Any] = {sc.LLMOPS_RETRIEVAL_DOCUMENT_COUNT: len(documents)}
        if self._capture:
            attrs[sc.GEN_AI_RETRIEVAL_DOCUMENTS] = cnt.retrieval_documents(documents, self._redact)
        self._finish(rec, None, attrs)

    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, error)

    # --- LangGraph dispatches these to every handler ----------------------------------------
    def on_interrupt(self, *args: Any, **kwargs: Any) -> None:
        return None

    def on_resume(self, *args: Any, **kwargs: Any) -> None:
        return None


class _Text:
    """A bare completion text, shaped like a message for the output serializer."""

    __slots__ = ("text",)
    type = "ai"

    def __init__(self, text: str) -> None:
        self.text = text

    @property
    def content(self) -> str:
        return self.text
