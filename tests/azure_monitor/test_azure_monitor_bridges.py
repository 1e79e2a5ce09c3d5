"""Why the two bridges exist, shown with the real exporters (local providers, nothing global).

App Insights types a dependency ``GenAI | <system>`` from ``gen_ai.system`` only, and makes a
customEvent only from ``microsoft.custom_event.name``; these tests pin that exporter
behaviour and show the bridges fixing it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from azure.monitor.opentelemetry.exporter import AzureMonitorLogExporter, AzureMonitorTraceExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind
from tests.fixtures.appinsights_capture import CaptureServer, base_data, base_type, props

from llmops_kit.telemetry.azure import CustomEventLogRecordProcessor, GenAISystemSpanProcessor


@pytest.fixture
def exporter_kwargs(appinsights_capture: CaptureServer, tmp_path) -> dict:
    return {"connection_string": appinsights_capture.connection_string, "disable_offline_storage": True,
            "read_timeout": 5}


def _tracer_provider(kwargs: dict, bridge: bool) -> TracerProvider:
    tp = TracerProvider()
    if bridge:
        tp.add_span_processor(GenAISystemSpanProcessor())
    tp.add_span_processor(SimpleSpanProcessor(AzureMonitorTraceExporter(tracer_provider=tp, **kwargs)))
    return tp


def _types(capture: CaptureServer) -> dict[str, str]:
    return {base_data(e)["name"]: base_data(e)["type"] for e in capture.by_base_type("RemoteDependencyData")}


def _emit(tp: TracerProvider) -> None:
    tracer = tp.get_tracer("t")
    with tracer.start_as_current_span("invoke_agent a", kind=SpanKind.INTERNAL, attributes={
            "gen_ai.operation.name": "invoke_agent", "gen_ai.provider.name": "microsoft.agent_framework"}):
        with tracer.start_as_current_span("chat m", kind=SpanKind.CLIENT, attributes={
                "gen_ai.operation.name": "chat", "gen_ai.provider.name": "azure.ai.openai"}):
            pass
        with tracer.start_as_current_span("execute_tool t", kind=SpanKind.INTERNAL, attributes={
                "gen_ai.operation.name": "execute_tool"}):
            pass
        with tracer.start_as_current_span("chat both", kind=SpanKind.CLIENT, attributes={
                "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                "gen_ai.system": "openai"}):
            pass
    tp.shutdown()


def test_provider_name_alone_is_not_typed_genai(appinsights_capture: CaptureServer, exporter_kwargs) -> None:
    _emit(_tracer_provider(exporter_kwargs, bridge=False))
    assert _types(appinsights_capture) == {
        "chat m": "N/A", "execute_tool t": "InProc", "invoke_agent a": "InProc",
        "chat both": "GenAI | openai"}


def test_bridge_types_every_genai_span(appinsights_capture: CaptureServer, exporter_kwargs) -> None:
    _emit(_tracer_provider(exporter_kwargs, bridge=True))
    assert _types(appinsights_capture) == {
        "chat m": "GenAI | azure.ai.openai", "execute_tool t": "GenAI | microsoft.agent_framework",
        "invoke_agent a": "GenAI | microsoft.agent_framework", "chat both": "GenAI | openai"}


@pytest.fixture
def logger_provider_factory(exporter_kwargs) -> Iterator:
    made: list[LoggerProvider] = []

    def make(bridge: bool) -> LoggerProvider:
        lp = LoggerProvider()
        if bridge:
            lp.add_log_record_processor(CustomEventLogRecordProcessor())
        lp.add_log_record_processor(SimpleLogRecordProcessor(AzureMonitorLogExporter(**exporter_kwargs)))
        made.append(lp)
        return lp

    yield make
    for lp in made:
        lp.shutdown()


@pytest.mark.parametrize(("bridge", "expected"), [(False, "MessageData"), (True, "EventData")])
def test_otel_events_become_custom_events(appinsights_capture: CaptureServer, logger_provider_factory,
                                          bridge: bool, expected: str) -> None:
    lp = logger_provider_factory(bridge)
    lp.get_logger("llmops_kit").emit(event_name="gen_ai.evaluation.result",
                                     attributes={"gen_ai.evaluation.name": "relevance"})
    lp.force_flush()
    (envelope,) = appinsights_capture.envelopes()
    assert base_type(envelope) == expected
    assert props(envelope)["gen_ai.evaluation.name"] == "relevance"
    if bridge:
        assert base_data(envelope)["name"] == "gen_ai.evaluation.result"
    else:
        assert base_data(envelope)["message"] == "n/a"  # a traces row the portal shows as "n/a"
