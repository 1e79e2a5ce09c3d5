"""A real governed workload (the demo agent through ``ProductionAgent``) recorded in memory.

Shared by the operate tests: the emitted-name registry, the sampling exactness check and the
HTML report all read what these runs really produced, never a hand-written list.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent_framework import Agent
from opentelemetry import trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llmops_kit.config import Settings
from llmops_kit.demo.agent import ScriptedSupportAgent
from llmops_kit.demo.scenarios import SCENARIOS, Scenario
from llmops_kit.pipeline import ProductionAgent
from llmops_kit.results import RunResult
from llmops_kit.runtime import build_runtime
from llmops_kit.safety.base import SafetyVerdict
from llmops_kit_agent_framework import llmops_middleware, run_as
from llmops_kit_agent_framework.testing import ScriptedChatClient, get_weather
from llmops_kit_langchain.testing import ScriptedChatModel


class _ForwardToWorkload(SpanProcessor):
    """MAF creates its spans through the *global* tracer provider (it takes none per agent),
    and under the middleware its ``invoke_agent`` is a governed run's only span: while a
    workload runs, the global provider hands MAF's spans to the workload's processor too."""

    def __init__(self) -> None:
        self.target: SpanProcessor | None = None

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        if self.target is not None:
            self.target.on_start(span, parent_context=parent_context)

    def on_end(self, span: Any) -> None:
        if self.target is not None:
            self.target.on_end(span)


_FORWARD = _ForwardToWorkload()
_FORWARD_INSTALLED: list[bool] = []


def _forward_maf_spans(target: SpanProcessor | None) -> None:
    """Point the global provider's forwarder at ``target`` (``None``: stop), installing it once
    (OTel forbids replacing a global provider; another test area may have set one already)."""
    if not _FORWARD_INSTALLED:
        current = trace.get_tracer_provider()
        if not isinstance(current, TracerProvider):
            current = TracerProvider()
            trace.set_tracer_provider(current)
        current.add_span_processor(_FORWARD)
        _FORWARD_INSTALLED.append(True)
    _FORWARD.target = target


SHIPPING = Scenario("Shipping question", "How long does express shipping take?", "ok",
                    expected_topics=("express", "business days"))


def _overflowing_prompt(messages: list[Any]) -> str:
    from langchain_core.exceptions import ContextOverflowError

    raise ContextOverflowError(
        "This model's maximum context length is 128000 tokens (context_length_exceeded)")


class UnreachableSafety:
    """A safety backend whose service is down: every call raises, as a tripped client would."""

    name = "unreachable"

    async def check_input(self, text: str, *, documents: Sequence[str] = ()) -> SafetyVerdict:
        raise ConnectionError("content safety endpoint refused the connection")

    async def check_output(self, text: str) -> SafetyVerdict:
        raise ConnectionError("content safety endpoint refused the connection")

    async def aclose(self) -> None:
        return None


@dataclass
class Recorded:
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader
    logs: InMemoryLogExporter
    results: list[RunResult] = field(default_factory=list)

    def metric_points(self) -> list[tuple[str, dict[str, Any], Any]]:
        data = self.metrics.get_metrics_data()
        out: list[tuple[str, dict[str, Any], Any]] = []
        for rm in data.resource_metrics if data else []:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    for p in m.data.data_points:
                        out.append((m.name, dict(p.attributes or {}), p))
        return out


def settings_for(data_dir: Path, **overrides: Any) -> Settings:
    base = {"data_dir": data_dir, "telemetry": "off", "max_tokens_per_request": 3000,
            "daily_token_budget": 2500, "budget_ledger": "memory"}
    return Settings.load(env_file=None, **(base | overrides))


def run_workload(data_dir: Path, *, wrap: Any = None, rounds: int = 1) -> Recorded:
    """Every lifecycle outcome: ok, blocked input, budget denial, tool error, safety outage,
    soft budget thresholds. ``wrap(processor, meter_provider)`` may put a sampler in front."""
    spans, reader, logs = InMemorySpanExporter(), InMemoryMetricReader(), InMemoryLogExporter()
    resource = Resource.create({"service.name": "operate-tests"})
    mp = MeterProvider(resource=resource, metric_readers=[reader])
    tp = TracerProvider(resource=resource)
    processor: SpanProcessor = SimpleSpanProcessor(spans)
    processor = wrap(processor, mp) if wrap else processor
    tp.add_span_processor(processor)
    lp = LoggerProvider(resource=resource)
    lp.add_log_record_processor(SimpleLogRecordProcessor(logs))
    rec = Recorded(spans, reader, logs)
    settings = settings_for(data_dir)

    async def go() -> None:
        kw = {"tracer_provider": tp, "meter_provider": mp, "logger_provider": lp}
        runtime = build_runtime(settings, **kw)
        down = build_runtime(settings_for(data_dir / "down"), safety=UnreachableSafety(), **kw)
        try:
            model = "gpt-4o-mini"
            agent = ProductionAgent(ScriptedSupportAgent(), name="support", runtime=runtime, model=model)
            triage = ProductionAgent(ScriptedSupportAgent(), name="triage", runtime=down, model=model)
            summarizer = ProductionAgent(ScriptedChatModel(script=[_overflowing_prompt]), name="summarizer",
                                         runtime=runtime, model=model)
            for i in range(rounds):
                rec.results.append(await summarizer.run("Summarise the attached 300-page contract.",
                                                        tenant_id="fabrikam", session_id=f"s-{i}-long"))
                for n, sc in enumerate((*SCENARIOS, SHIPPING)):
                    tenant = ("contoso", "fabrikam")[(i + n) % 2]
                    rec.results.append(await agent.run(
                        sc.query, user_id=sc.user_id, tenant_id=tenant, session_id=f"s-{i}-{n % 2}",
                        expected_topics=sc.expected_topics))
                rec.results.append(await triage.run("What is your refund policy?", tenant_id="contoso",
                                                    session_id=f"s-{i}-down"))
                # a MAF agent governed by the middleware: its run span is MAF's "invoke_agent weather"
                maf = Agent(ScriptedChatClient(), name="weather", tools=[get_weather],
                            middleware=llmops_middleware(runtime, on_result=rec.results.append))
                _forward_maf_spans(processor)
                try:
                    with run_as(user_id="u-maf", tenant_id="contoso", session_id=f"s-{i}-maf"):
                        await maf.run("What's the weather in Oslo?")
                finally:
                    _forward_maf_spans(None)
        finally:
            await runtime.aclose()
            await down.aclose()
    asyncio.run(go())
    tp.shutdown()
    lp.shutdown()
    return rec
