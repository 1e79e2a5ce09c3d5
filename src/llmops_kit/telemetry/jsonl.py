"""OpenTelemetry exporters that append one JSON line per span, metric point or log record.

The embedded default when no App Insights or OTLP endpoint is configured: real SDK
exporters (batched by the SDK's processors, like any other exporter), so ``llmops-kit
report`` reads exactly what a backend would have received.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics import Counter, Histogram, ObservableCounter, UpDownCounter
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    HistogramDataPoint,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    NumberDataPoint,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import format_span_id, format_trace_id

SPANS_FILE = "spans.jsonl"
METRICS_FILE = "metrics.jsonl"
LOGS_FILE = "logs.jsonl"


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


class _JsonlWriter:
    """Appends lines under a lock; one ``write`` per batch keeps lines whole across processes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        payload = "".join(
            json.dumps(row, ensure_ascii=True, separators=(",", ":"), default=str) + "\n" for row in rows
        )
        with self._lock, open(self.path, "a", encoding="utf-8") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())


def span_to_dict(span: ReadableSpan) -> dict[str, Any]:
    ctx = span.get_span_context()
    parent = span.parent
    start, end = span.start_time or 0, span.end_time or 0
    return {
        "name": span.name,
        "trace_id": format_trace_id(ctx.trace_id),
        "span_id": format_span_id(ctx.span_id),
        "parent_span_id": format_span_id(parent.span_id) if parent else None,
        "kind": span.kind.name,
        "start_ns": start,
        "end_ns": end,
        "duration_ms": (end - start) / 1e6,
        "status": span.status.status_code.name,
        "status_description": span.status.description,
        "attributes": _jsonable(dict(span.attributes or {})),
        "events": [
            {"name": e.name, "timestamp_ns": e.timestamp, "attributes": _jsonable(dict(e.attributes or {}))}
            for e in span.events
        ],
        "service": (span.resource.attributes or {}).get("service.name") if span.resource else None,
    }


class JsonlSpanExporter(SpanExporter):
    def __init__(self, directory: str | Path) -> None:
        self._writer = _JsonlWriter(Path(directory) / SPANS_FILE)

    @property
    def path(self) -> Path:
        return self._writer.path

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            self._writer.write([span_to_dict(s) for s in spans])
        except OSError:
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class JsonlMetricExporter(MetricExporter):
    """Writes delta points so a reader can sum lines without tracking cumulative state."""

    def __init__(self, directory: str | Path) -> None:
        super().__init__(
            preferred_temporality={
                Counter: AggregationTemporality.DELTA,
                ObservableCounter: AggregationTemporality.DELTA,  # llmops-kit's summed counters
                UpDownCounter: AggregationTemporality.CUMULATIVE,
                Histogram: AggregationTemporality.DELTA,
            }
        )
        self._writer = _JsonlWriter(Path(directory) / METRICS_FILE)

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        rows: list[dict[str, Any]] = []
        for rm in metrics_data.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    for point in metric.data.data_points:
                        row: dict[str, Any] = {
                            "name": metric.name,
                            "unit": metric.unit,
                            "time_ns": point.time_unix_nano,
                            "attributes": _jsonable(dict(point.attributes or {})),
                        }
                        if isinstance(point, HistogramDataPoint):
                            if point.count == 0:
                                continue
                            row.update(kind="histogram", count=point.count, sum=point.sum,
                                       min=point.min, max=point.max)
                        elif isinstance(point, NumberDataPoint):
                            row.update(kind="sum", value=point.value)
                        else:
                            continue
                        rows.append(row)
        try:
            self._writer.write(rows)
        except OSError:
            return MetricExportResult.FAILURE
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        return None


class JsonlLogExporter(LogRecordExporter):
    def __init__(self, directory: str | Path) -> None:
        self._writer = _JsonlWriter(Path(directory) / LOGS_FILE)

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        rows = []
        for item in batch:
            rec = item.log_record
            rows.append(
                {
                    "event_name": rec.event_name or None,
                    "time_ns": rec.timestamp or rec.observed_timestamp,
                    "severity": rec.severity_text,
                    "body": _jsonable(rec.body),
                    "trace_id": format_trace_id(rec.trace_id) if rec.trace_id else None,
                    "span_id": format_span_id(rec.span_id) if rec.span_id else None,
                    "attributes": _jsonable(dict(rec.attributes or {})),
                }
            )
        try:
            self._writer.write(rows)
        except OSError:
            return LogRecordExportResult.FAILURE
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Read a JSONL file, skipping a torn last line rather than failing the whole report."""
    rows: list[dict[str, Any]] = []
    if not path.exists():
        return rows
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows
