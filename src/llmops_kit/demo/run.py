"""Run the demo scenarios through ``ProductionAgent`` and collect what the terminal shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llmops_kit.config import Settings
from llmops_kit.demo.agent import ScriptedSupportAgent
from llmops_kit.demo.scenarios import SCENARIOS, Scenario
from llmops_kit.pipeline import ProductionAgent
from llmops_kit.results import RunResult
from llmops_kit.runtime import build_runtime
from llmops_kit.telemetry.jsonl import span_to_dict
from llmops_kit.telemetry.setup import TelemetryProviders, configure_telemetry

#: The per-request limit the demo uses when .env sets none, so one scenario can trip it.
DEMO_MAX_TOKENS_PER_REQUEST = 2000
#: A daily token budget so the demo can show "budget left" (only when .env sets none).
DEMO_DAILY_TOKEN_BUDGET = 1_000_000


@dataclass
class DemoOutcome:
    scenario: Scenario
    result: RunResult
    spans: list[dict[str, Any]] = field(default_factory=list)


def demo_settings(base: Settings | None = None) -> Settings:
    settings = base or Settings.load()
    update: dict[str, Any] = {}
    if settings.max_tokens_per_request is None:
        update["max_tokens_per_request"] = DEMO_MAX_TOKENS_PER_REQUEST
    if settings.daily_token_budget is None:
        update["daily_token_budget"] = DEMO_DAILY_TOKEN_BUDGET
    return settings.model_copy(update=update) if update else settings


async def run_demo(settings: Settings, scenarios: tuple[Scenario, ...] = SCENARIOS,
                   providers: TelemetryProviders | None = None) -> tuple[list[DemoOutcome], TelemetryProviders]:
    """Configure telemetry explicitly (as an app would), run each scenario, return results + spans."""
    providers = providers or configure_telemetry(settings, set_global=False)
    memory = InMemorySpanExporter()
    if providers.tracer_provider is not None and hasattr(providers.tracer_provider, "add_span_processor"):
        providers.tracer_provider.add_span_processor(SimpleSpanProcessor(memory))
    runtime = build_runtime(settings, tracer_provider=providers.tracer_provider,
                            meter_provider=providers.meter_provider, logger_provider=providers.logger_provider)
    agent = ProductionAgent(ScriptedSupportAgent(), name="support", runtime=runtime, model="gpt-4o-mini")
    runtime.tokens.count_text("warm-up", "gpt-4o-mini")  # load the tokenizer at start-up, as an app would
    outcomes: list[DemoOutcome] = []
    try:
        for sc in scenarios:
            result = await agent.run(sc.query, user_id=sc.user_id, tenant_id=sc.tenant_id,
                                     session_id="demo-session", expected_topics=sc.expected_topics)
            spans = [span_to_dict(s) for s in memory.get_finished_spans()
                     if format(s.context.trace_id, "032x") == result.trace_id]
            outcomes.append(DemoOutcome(sc, result, spans))
    finally:
        await runtime.aclose()
        providers.force_flush()
    return outcomes, providers
