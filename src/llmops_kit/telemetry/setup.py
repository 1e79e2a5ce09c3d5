"""``configure_telemetry(settings)``: the one explicit call that installs OTel providers.

Library code never calls this; applications, the CLI and the samples do. Mode ``auto``
picks App Insights when a connection string is set, OTLP when an endpoint is set, and the
local JSONL store otherwise.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opentelemetry import _logs, metrics, trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, ConsoleLogRecordExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

from llmops_kit.telemetry.azure import ingestion_endpoint as _ingestion_endpoint  # doctor.py imports it here
from llmops_kit.telemetry.jsonl import JsonlLogExporter, JsonlMetricExporter, JsonlSpanExporter

if TYPE_CHECKING:
    from llmops_kit.config import Settings

log = logging.getLogger(__name__)


@dataclass
class TelemetryProviders:
    """What ``configure_telemetry`` set up; ``shutdown()`` flushes and closes it."""

    mode: str
    destination: str
    tracer_provider: Any = None
    meter_provider: Any = None
    logger_provider: Any = None
    _closers: list[Any] = field(default_factory=list)

    def force_flush(self) -> None:
        for p in (self.tracer_provider, self.logger_provider, self.meter_provider):
            flush = getattr(p, "force_flush", None)
            if flush is not None:
                try:
                    flush()
                except Exception:  # flushing must never break shutdown of the app
                    log.warning("telemetry flush failed", exc_info=True)

    def shutdown(self) -> None:
        self.force_flush()
        for p in (self.tracer_provider, self.logger_provider, self.meter_provider):
            stop = getattr(p, "shutdown", None)
            if stop is not None:
                try:
                    stop()
                except Exception:
                    log.warning("telemetry shutdown failed", exc_info=True)


def resolve_mode(settings: Settings) -> str:
    if settings.telemetry != "auto":
        return settings.telemetry
    if settings.applicationinsights_connection_string is not None:
        return "azure"
    if settings.otel_exporter_otlp_endpoint:
        return "otlp"
    return "local"


def _resource(settings: Settings) -> Resource:
    from llmops_kit import __version__

    return Resource.create(
        {
            "service.name": settings.service_name,
            "deployment.environment.name": settings.environment,
            "llmops_kit.version": __version__,
        }
    )


def build_local_providers(settings: Settings) -> TelemetryProviders:
    """SDK providers writing JSONL under ``settings.telemetry_dir`` (not installed globally)."""
    directory = settings.telemetry_dir
    directory.mkdir(parents=True, exist_ok=True)
    resource = _resource(settings)
    reader = PeriodicExportingMetricReader(
        JsonlMetricExporter(directory),
        export_interval_millis=int(settings.telemetry_metric_export_interval_seconds * 1000),
    )
    mp = MeterProvider(resource=resource, metric_readers=[reader])
    tp = TracerProvider(resource=resource)
    tp.add_span_processor(_sampled(settings, BatchSpanProcessor(JsonlSpanExporter(directory),
                                                                schedule_delay_millis=500), mp))
    lp = LoggerProvider(resource=resource)
    lp.add_log_record_processor(
        BatchLogRecordProcessor(JsonlLogExporter(directory), schedule_delay_millis=500)
    )
    return TelemetryProviders("local", str(directory), tp, mp, lp)


def _sampled(settings: Settings, processor: Any, meter_provider: Any) -> Any:
    """The exporter's processor, behind the tail sampler when ``TAIL_SAMPLING_ENABLED``."""
    from llmops_kit.telemetry.sampling import wrap_with_tail_sampling

    return wrap_with_tail_sampling(
        processor, enabled=settings.tail_sampling_enabled, ratio=settings.tail_sampling_ratio,
        latency_ms=settings.tail_sampling_latency_ms, cost_usd=settings.tail_sampling_cost_usd,
        max_traces=settings.tail_sampling_max_traces, max_spans=settings.tail_sampling_max_spans,
        meter_provider=meter_provider,
    )


def _build_console(settings: Settings) -> TelemetryProviders:
    resource = _resource(settings)
    tp = TracerProvider(resource=resource)
    tp.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    reader = PeriodicExportingMetricReader(ConsoleMetricExporter())
    mp = MeterProvider(resource=resource, metric_readers=[reader])
    lp = LoggerProvider(resource=resource)
    lp.add_log_record_processor(BatchLogRecordProcessor(ConsoleLogRecordExporter()))
    return TelemetryProviders("console", "stdout", tp, mp, lp)


def _build_otlp(settings: Settings) -> TelemetryProviders:
    try:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as exc:  # pragma: no cover - depends on installed extras
        raise RuntimeError(
            "LLMOPS_TELEMETRY=otlp needs the 'otlp' extra: pip install 'llmops-kit[otlp]'"
        ) from exc
    base = (settings.otel_exporter_otlp_endpoint or "").rstrip("/")
    resource = _resource(settings)
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=f"{base}/v1/metrics"),
        export_interval_millis=int(settings.telemetry_metric_export_interval_seconds * 1000),
    )
    mp = MeterProvider(resource=resource, metric_readers=[reader])
    tp = TracerProvider(resource=resource)
    tp.add_span_processor(_sampled(settings, BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{base}/v1/traces")), mp))
    lp = LoggerProvider(resource=resource)
    lp.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter(endpoint=f"{base}/v1/logs")))
    return TelemetryProviders("otlp", base, tp, mp, lp)


def _configure_azure(settings: Settings, credential: Any = None) -> TelemetryProviders:
    try:
        from azure.monitor.opentelemetry import configure_azure_monitor
    except ImportError as exc:  # pragma: no cover - depends on installed extras
        raise RuntimeError(
            "App Insights export needs the 'azure' extra: pip install 'llmops-kit[azure]'"
        ) from exc
    from llmops_kit.telemetry.azure import azure_monitor_kwargs

    kwargs = azure_monitor_kwargs(settings, _resource(settings), credential)
    _refuse_second_global_setup("App Insights")
    # The distro builds its PeriodicExportingMetricReader itself and reads the interval only
    # from this variable; an explicit value in the environment still wins.
    os.environ.setdefault(
        "OTEL_METRIC_EXPORT_INTERVAL", str(int(settings.telemetry_metric_export_interval_seconds * 1000))
    )
    configure_azure_monitor(**kwargs)
    _own_library_logging(kwargs.get("logger_name", "llmops_kit"))
    return TelemetryProviders(
        "azure", _ingestion_endpoint(kwargs["connection_string"]), trace.get_tracer_provider(),
        metrics.get_meter_provider(), _logs.get_logger_provider(),
    )


def _own_library_logging(logger_name: str) -> None:
    """Swap the distro's plain handler on our logger for ours: same exporter, plus run fields.

    The distro attaches an OTel ``LoggingHandler`` that knows nothing of runs, and leaves the
    logger at WARNING; ours adds run/session/tenant/agent ids (App Insights ``traces`` join
    to the run) and exports from INFO.
    """
    import logging

    from llmops_kit.telemetry.logs import OTelLogHandler, instrument_logging

    logger = logging.getLogger(logger_name)
    for handler in list(logger.handlers):
        if type(handler).__name__ == "LoggingHandler" and not isinstance(handler, OTelLogHandler):
            logger.removeHandler(handler)
    instrument_logging(_logs.get_logger_provider(), logger_name=logger_name)


def _refuse_second_global_setup(what: str) -> None:
    """OTel ignores a second global provider (with only a log warning): fail loudly instead.

    ``configure_azure_monitor`` in particular would silently keep exporting to the first
    destination, which is how telemetry "goes missing" after a re-configuration.
    """
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        raise RuntimeError(
            f"cannot configure {what} telemetry: global OpenTelemetry providers are already installed "
            "in this process (configure_telemetry must be called once, at start-up; use "
            "set_global=False or pass providers to build_runtime for additional pipelines)"
        )


def configure_telemetry(
    settings: Settings | None = None, *, set_global: bool = True, credential: Any = None
) -> TelemetryProviders:
    """Install tracer, meter and logger providers for the mode the settings select.

    Call once at application start. ``set_global=False`` builds the providers without
    installing them (App Insights mode always installs: ``configure_azure_monitor`` does).
    """
    from llmops_kit.config import Settings

    settings = settings or Settings.load()
    mode = resolve_mode(settings)
    if mode == "off":
        return TelemetryProviders("off", "nowhere")
    if mode == "azure":
        return _configure_azure(settings, credential)
    builders = {"local": build_local_providers, "console": _build_console, "otlp": _build_otlp}
    providers = builders[mode](settings)
    if set_global:
        _refuse_second_global_setup(mode)
        trace.set_tracer_provider(providers.tracer_provider)
        metrics.set_meter_provider(providers.meter_provider)
        _logs.set_logger_provider(providers.logger_provider)
    if mode in ("local", "otlp"):
        # the library's own log records, with run and trace ids, next to its spans
        from llmops_kit.telemetry.logs import instrument_logging

        instrument_logging(providers.logger_provider)
    return providers
