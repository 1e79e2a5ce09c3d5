"""Local (non-global) providers wired to the real App Insights exporters, plus a governed run.

Same exporters, processors and envelope mapping as ``configure_azure_monitor`` uses, but
owned by the test, so failure scenarios can run in-process and shorten the storage lease.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure.monitor.opentelemetry.exporter import (
    AzureMonitorLogExporter,
    AzureMonitorMetricExporter,
    AzureMonitorTraceExporter,
)
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from llmops_kit.config import Settings
from llmops_kit.demo.agent import ScriptedSupportAgent
from llmops_kit.evaluation.base import EvalContext, EvalResult
from llmops_kit.pipeline import ProductionAgent
from llmops_kit.results import RunResult
from llmops_kit.runtime import Runtime, build_runtime
from llmops_kit.telemetry.azure import CustomEventLogRecordProcessor, GenAISystemSpanProcessor


class CitesSourceEvaluator:
    """Deterministic evaluator: does the answer cite a ``Source:``?"""

    name = "cites_source"

    async def evaluate(self, query: str, response: str, context: EvalContext) -> EvalResult:
        cited = "Source:" in response
        return EvalResult(self.name, score=1.0 if cited else 0.0, passed=cited)


@dataclass
class Exporting:
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    logger_provider: LoggerProvider
    runtime: Runtime
    agent: ProductionAgent
    storage: Path

    async def run(self, query: str = "What is your refund policy for annual plans?") -> RunResult:
        return await self.agent.run(query, user_id="u-1", tenant_id="contoso", session_id="s-1")

    def flush(self) -> None:
        self.tracer_provider.force_flush()
        self.logger_provider.force_flush()

    def stored_blobs(self) -> list[Path]:
        return sorted(p for p in self.storage.rglob("*") if ".blob" in p.name)

    async def close(self) -> None:
        await self.runtime.aclose()
        for p in (self.tracer_provider, self.logger_provider, self.meter_provider):
            p.shutdown()


def build_exporting(
    conn: str, tmp: Path, *, schedule_delay_ms: int = 5000, **exporter_kwargs: Any
) -> Exporting:
    storage = tmp / "ai-storage"
    kw: dict[str, Any] = {"connection_string": conn, "storage_directory": str(storage), "read_timeout": 5,
                          "storage_min_retry_interval": 1, **exporter_kwargs}
    resource = Resource.create({"service.name": "llmops-failure-test"})
    tp = TracerProvider(resource=resource)
    tp.add_span_processor(GenAISystemSpanProcessor())
    span_exporter = AzureMonitorTraceExporter(tracer_provider=tp, **kw)  # its resource, not the global one
    tp.add_span_processor(BatchSpanProcessor(span_exporter, schedule_delay_millis=schedule_delay_ms))
    lp = LoggerProvider(resource=resource)
    lp.add_log_record_processor(CustomEventLogRecordProcessor())
    lp.add_log_record_processor(
        BatchLogRecordProcessor(AzureMonitorLogExporter(**kw), schedule_delay_millis=schedule_delay_ms)
    )
    reader = PeriodicExportingMetricReader(AzureMonitorMetricExporter(**kw), export_interval_millis=3_600_000)
    mp = MeterProvider(resource=resource, metric_readers=[reader])
    settings = Settings.load(None, data_dir=tmp / ".llmops", budget_ledger="sqlite")
    runtime = build_runtime(settings, tracer_provider=tp, meter_provider=mp, logger_provider=lp,
                            evaluators=[CitesSourceEvaluator()])
    agent = ProductionAgent(ScriptedSupportAgent(step_delay_s=0.0), name="support", runtime=runtime,
                            model="gpt-4o-mini")
    return Exporting(tp, mp, lp, runtime, agent, storage)
