"""OpenTelemetry exporters that append one JSON line per span, metric point or log record.

The embedded default when no App Insights or OTLP endpoint is configured: real SDK
exporters (batched by the SDK's processors, like any other exporter), so ``llmops-kit
report`` reads exactly what a backend would have received.

Lines are encoded with orjson: an export batch runs on the SDK's worker thread but holds
the GIL, so its cost is paid by the application (writing one of MAF's spans took about
15 µs with the standard library encoder, about 7 with orjson). A row orjson cannot carry
exactly - a NaN or infinite float (orjson writes ``null``), a lone surrogate, an integer
beyond 64 bits - is written by the standard library encoder as before.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
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


def _finite(value: Any) -> bool:
    """False when a NaN or infinite float sits anywhere in ``value`` (nested values included), which
    orjson would write as ``null``. Attribute maps are the common case: their values are checked in
    one loop, recursing only into sequences and maps."""
    if isinstance(value, float):  # a subclass too (NumPy's float64 passes OTel's checks)
        return value - value == 0.0  # inf - inf and nan - nan are nan
    if isinstance(value, dict):
        value = value.values()
    elif not isinstance(value, (list, tuple)):
        return True
    for item in value:
        if isinstance(item, float):
            if item - item != 0.0:
                return False
        elif isinstance(item, (list, tuple, dict)) and not _finite(item):
            return False
    return True


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


#: str-valued enum keys (MAF's attribute names are ``OtelAttr`` members) are written as their value
_OPTIONS = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS


def encode_line(row: dict[str, Any], exact: bool = True) -> bytes:
    """One JSON line. ``exact=False`` (a non-finite float somewhere in the row) or a row orjson
    refuses takes the standard library encoder, which keeps ``NaN``/``Infinity`` as tokens
    Python's ``json`` reads back."""
    if exact:
        try:
            return orjson.dumps(row, default=str, option=_OPTIONS)
        except TypeError:  # a lone surrogate, an integer beyond 64 bits, a key it cannot write
            pass
    try:
        text = json.dumps(row, ensure_ascii=True, separators=(",", ":"), default=str)
    except (TypeError, ValueError):  # a nested key json refuses (a tuple): every key made text
        text = json.dumps(_jsonable(row), ensure_ascii=True, separators=(",", ":"), default=str)
    return (text + "\n").encode("ascii")


class _JsonlWriter:
    """Appends lines under a lock; one ``write`` per batch keeps lines whole across processes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def write(self, lines: Sequence[bytes]) -> None:
        if not lines:
            return
        payload = b"".join(lines)
        with self._lock, open(self.path, "ab") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())


def span_to_dict(span: ReadableSpan) -> dict[str, Any]:
    """A finished span as the dict one line of ``spans.jsonl`` holds (attribute names as the span
    has them: ``str``, or a str-valued enum member such as MAF's, which compares equal to its text)."""
    return _span_row(span)[0]


def _span_row(span: ReadableSpan) -> tuple[dict[str, Any], bool]:
    """The span's row and whether orjson can write it exactly (no non-finite float in it).

    Attribute values are OTel's (primitives and homogeneous sequences of them), which orjson
    writes as they are; ``default=str`` covers anything else, as the stdlib path always did."""
    ctx = span.get_span_context()
    parent = span.parent
    start, end = span.start_time or 0, span.end_time or 0
    attributes = dict(span.attributes) if span.attributes else {}
    events = [{"name": e.name, "timestamp_ns": e.timestamp, "attributes": dict(e.attributes) if e.attributes else {}}
              for e in span.events]
    resource = span.resource
    row = {
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
        "attributes": attributes,
        "events": events,
        "service": (resource.attributes or {}).get("service.name") if resource else None,
    }
    # the maps are where a float can be (the rest is names, ids, integers and one finite duration)
    return row, _finite(attributes) and all(_finite(e["attributes"]) for e in events)


class JsonlSpanExporter(SpanExporter):
    def __init__(self, directory: str | Path) -> None:
        self._writer = _JsonlWriter(Path(directory) / SPANS_FILE)

    @property
    def path(self) -> Path:
        return self._writer.path

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            self._writer.write([encode_line(*_span_row(s)) for s in spans])
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
        rows: list[bytes] = []
        for rm in metrics_data.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    for point in metric.data.data_points:
                        attributes = dict(point.attributes) if point.attributes else {}
                        row: dict[str, Any] = {
                            "name": metric.name,
                            "unit": metric.unit,
                            "time_ns": point.time_unix_nano,
                            "attributes": attributes,
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
                        rows.append(encode_line(row, _finite(row)))
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
        rows: list[bytes] = []
        for item in batch:
            rec = item.log_record
            attributes = dict(rec.attributes) if rec.attributes else {}
            for value in attributes.values():
                if isinstance(value, (dict, list, tuple)):  # extended attributes: nested keys as text, as before
                    attributes = _jsonable(attributes)
                    break
            body = rec.body
            if body is not None:  # any value, nested maps included: keys made text, as before
                body = _jsonable(body)
            row = {
                "event_name": rec.event_name or None,
                "time_ns": rec.timestamp or rec.observed_timestamp,
                "severity": rec.severity_text,
                "body": body,
                "trace_id": format_trace_id(rec.trace_id) if rec.trace_id else None,
                "span_id": format_span_id(rec.span_id) if rec.span_id else None,
                "attributes": attributes,
            }
            rows.append(encode_line(row, _finite(row)))
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
