"""Application Insights export: the ``configure_azure_monitor`` call and two small bridges.

App Insights derives what it shows from exporter conventions that differ from the GenAI
semantic conventions in two places, both measured against the real exporter
(azure-monitor-opentelemetry-exporter 1.0.0b58, see tests/azure_monitor):

* the dependency ``type`` (``GenAI | <system>``), which the portal's agent views key on, is
  read from the deprecated ``gen_ai.system`` only; a span carrying just
  ``gen_ai.provider.name`` (what MAF and newer instrumentations emit) arrives as ``N/A``
  (CLIENT) or ``InProc`` (INTERNAL). :class:`GenAISystemSpanProcessor` fills it in.
* a log record becomes a *customEvent* only when it carries ``microsoft.custom_event.name``;
  an OTel event (``event_name=...``) without it lands in *traces* with message ``n/a``.
  :class:`CustomEventLogRecordProcessor` maps the event name across.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opentelemetry.context import Context
from opentelemetry.sdk._logs import LogRecordProcessor, ReadWriteLogRecord
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import get_current_span

from llmops_kit.telemetry import semconv as sc

if TYPE_CHECKING:
    from opentelemetry.sdk.resources import Resource

    from llmops_kit.config import Settings

#: The attribute the exporter turns into an App Insights customEvent name (exporter _constants.py).
CUSTOM_EVENT_NAME_ATTRIBUTE = "microsoft.custom_event.name"


class GenAISystemSpanProcessor(SpanProcessor):
    """Give every GenAI span a ``gen_ai.system`` so App Insights types it ``GenAI | <system>``.

    Applies only to spans with ``gen_ai.operation.name`` and no ``gen_ai.system``; the value
    is the span's own ``gen_ai.provider.name``, else the nearest GenAI parent's system (an
    ``execute_tool`` span inherits its agent's). Attributes set after the span started are
    not seen: the exporter reads the finished span, and on_end can no longer write.
    """

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        attrs = span.attributes or {}
        if sc.GEN_AI_OPERATION_NAME not in attrs or sc.GEN_AI_SYSTEM in attrs:
            return
        system = attrs.get(sc.GEN_AI_PROVIDER_NAME)
        if system is None:
            parent_attrs = getattr(get_current_span(parent_context), "attributes", None) or {}
            system = parent_attrs.get(sc.GEN_AI_SYSTEM) or parent_attrs.get(sc.GEN_AI_PROVIDER_NAME)
        if system is not None:
            span.set_attribute(sc.GEN_AI_SYSTEM, str(system))

    def on_end(self, span: ReadableSpan) -> None:
        return None

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class CustomEventLogRecordProcessor(LogRecordProcessor):
    """Route OTel events (log records with ``event_name``) to App Insights customEvents.

    Without this an evaluation result (``gen_ai.evaluation.result``) becomes a MessageData
    with message ``n/a``; with it, a customEvent named after the event whose
    customDimensions are the event's attributes and whose operation/parent ids are the
    span's. Must run before the exporting processor (``configure_azure_monitor`` adds
    ``log_record_processors`` ahead of its own batch processor).
    """

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        record = log_record.log_record
        name = record.event_name
        if not name:
            return
        if record.attributes is None:
            record.attributes = {}
        if CUSTOM_EVENT_NAME_ATTRIBUTE not in record.attributes:
            record.attributes[CUSTOM_EVENT_NAME_ATTRIBUTE] = name  # type: ignore[index]

    def emit(self, log_record: ReadWriteLogRecord) -> None:  # older SDKs call emit()
        self.on_emit(log_record)

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def ingestion_endpoint(conn: str) -> str:
    """Where envelopes go, for the CLI's "telemetry -> ..." line (never the key).

    Settings already validated the string (config.py); without ``IngestionEndpoint`` the
    exporter uses the global endpoint below.
    """
    for chunk in conn.split(";"):
        key, _, value = chunk.partition("=")
        if key.strip().lower() == "ingestionendpoint" and value.strip():
            return value.strip()
    return "https://dc.services.visualstudio.com/"


def azure_monitor_kwargs(settings: Settings, resource: Resource, credential: Any = None) -> dict[str, Any]:
    """The ``configure_azure_monitor`` keyword arguments llmops-kit's settings select.

    ``read_timeout`` bounds how long one stuck ingestion request can hold the exporter thread
    (azure-core's default is 300 s); ``sampling_ratio`` replaces the distro's default
    rate-limited sampler (5 traces/s), which drops spans of short runs nondeterministically.
    """
    assert settings.applicationinsights_connection_string is not None
    conn = settings.applicationinsights_connection_string.get_secret_value()
    kwargs: dict[str, Any] = {
        "connection_string": conn,
        "sampling_ratio": settings.telemetry_sampling_ratio,
        "enable_live_metrics": settings.telemetry_enable_live_metrics,
        "resource": resource,
        "logger_name": "llmops_kit",
        "read_timeout": settings.telemetry_read_timeout_seconds,
        "span_processors": [GenAISystemSpanProcessor()],
        "log_record_processors": [CustomEventLogRecordProcessor()],
    }
    perf = getattr(settings, "telemetry_enable_performance_counters", None)
    if perf is not None:
        kwargs["enable_performance_counters"] = bool(perf)
    if settings.telemetry_storage_directory is not None:
        kwargs["storage_directory"] = str(settings.telemetry_storage_directory)
    if credential is not None:
        kwargs["credential"] = credential
    return kwargs
