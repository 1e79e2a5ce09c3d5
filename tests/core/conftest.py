"""A fully local Runtime whose telemetry lands in memory, so tests can assert exact trees."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llmops_kit.config import Settings
from llmops_kit.runtime import Runtime, build_runtime


@dataclass
class Captured:
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader
    logs: InMemoryLogRecordExporter
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    logger_provider: LoggerProvider

    def metric_points(self, name: str) -> list:
        data = self.metrics.get_metrics_data()
        points = []
        for rm in data.resource_metrics if data else []:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    if m.name == name:
                        points.extend(m.data.data_points)
        return points


@pytest.fixture
def captured() -> Captured:
    spans = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader])
    logs = InMemoryLogRecordExporter()
    lp = LoggerProvider()
    lp.add_log_record_processor(SimpleLogRecordProcessor(logs))
    return Captured(spans, reader, logs, tp, mp, lp)


def make_settings(tmp: Path, **overrides) -> Settings:
    values = {"data_dir": tmp / ".llmops", "budget_ledger": "sqlite", **overrides}
    return Settings.load(None, **values)


@pytest.fixture
def make_runtime(tmp_path, captured):  # type: ignore[no-untyped-def]
    runtimes: list[Runtime] = []

    def factory(**overrides) -> Runtime:
        inject = {k: overrides.pop(k) for k in ("safety", "audit", "budget", "evaluators") if k in overrides}
        rt = build_runtime(
            make_settings(tmp_path, **overrides), tracer_provider=captured.tracer_provider,
            meter_provider=captured.meter_provider, logger_provider=captured.logger_provider, **inject,
        )
        runtimes.append(rt)
        return rt

    yield factory
