"""Trace-correlated logs: every log line knows its run, session, agent, tenant, trace and span.

A log line that says "safety check failed" is useless at 3 a.m. unless it joins to the run
that failed. The pipeline opens :func:`run_log_context` around a run; a ``logging.Filter``
adds those fields plus the current span's ids to each record (for text formatters), and
:class:`OTelLogHandler` exports records through the OTel Logs API with the same fields as
semconv attributes and the active span context, so App Insights ``traces`` join to the run
by ``operation_Id`` and ``customDimensions["llmops.run.id"]``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from opentelemetry import _logs, trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.trace import format_span_id, format_trace_id

from llmops_kit.telemetry import semconv as sc

#: Record attribute -> OTel attribute. Record attributes keep plain names so ``%(run_id)s`` works.
FIELD_ATTRIBUTES: dict[str, str] = {
    "run_id": sc.LLMOPS_RUN_ID,
    "session_id": sc.LLMOPS_SESSION_ID,
    "agent": sc.GEN_AI_AGENT_NAME,
    "tenant_id": sc.LLMOPS_TENANT_ID,
    "user_id": sc.LLMOPS_USER_ID,
}
RUN_FIELDS: tuple[str, ...] = tuple(FIELD_ATTRIBUTES)
TRACE_FIELDS: tuple[str, ...] = ("trace_id", "span_id")

_run_fields: ContextVar[Mapping[str, str] | None] = ContextVar("llmops_run_log_fields", default=None)

# Loggers whose records must never be exported by this handler: exporting logs through them
# would feed the exporter's own diagnostics back into itself.
_SELF_LOGGERS = ("opentelemetry", "azure.monitor.opentelemetry", "azure.core.pipeline")
_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime",
                                                                               "taskName"}
_STD_TO_OTEL = {
    logging.DEBUG: SeverityNumber.DEBUG, logging.INFO: SeverityNumber.INFO,
    logging.WARNING: SeverityNumber.WARN, logging.ERROR: SeverityNumber.ERROR,
    logging.CRITICAL: SeverityNumber.FATAL,
}


@contextmanager
def run_log_context(
    *, run_id: str | None = None, agent: str | None = None, tenant_id: str | None = None,
    session_id: str | None = None, user_id: str | None = None,
) -> Iterator[dict[str, str]]:
    """Bind a run's fields to every log record emitted inside the block (asyncio-safe).

    Nested blocks inherit the outer fields and override the ones they set; leaving a block
    restores the outer fields even when the run raised.
    """
    given = {"run_id": run_id, "agent": agent, "tenant_id": tenant_id, "session_id": session_id,
             "user_id": user_id}
    fields = {**(_run_fields.get() or {}), **{k: str(v) for k, v in given.items() if v is not None}}
    token = _run_fields.set(fields)
    try:
        yield dict(fields)
    finally:
        _run_fields.reset(token)


def current_log_fields() -> dict[str, str]:
    """The current run's fields plus the current span's ids (only the ones that are known)."""
    fields = dict(_run_fields.get() or {})
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        fields["trace_id"] = format_trace_id(ctx.trace_id)
        fields["span_id"] = format_span_id(ctx.span_id)
    return fields


class RunContextFilter(logging.Filter):
    """Sets ``run_id``, ``session_id``, ``agent``, ``tenant_id``, ``user_id``, ``trace_id`` and
    ``span_id`` on every record ("" when unknown, so format strings never fail). Never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = current_log_fields()
        for name in (*RUN_FIELDS, *TRACE_FIELDS):
            if not getattr(record, name, None):
                setattr(record, name, fields.get(name, ""))
        return True


class OTelLogHandler(logging.Handler):
    """Exports stdlib records through a given OTel ``LoggerProvider`` (never the global one
    implicitly), in the active span's context, with the run fields as semconv attributes."""

    def __init__(self, logger_provider: _logs.LoggerProvider, level: int = logging.NOTSET) -> None:
        super().__init__(level=level)
        self.logger_provider = logger_provider

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(_SELF_LOGGERS):
            return
        try:
            self.logger_provider.get_logger(record.name).emit(
                timestamp=int(record.created * 1e9),
                severity_number=_severity(record.levelno),
                severity_text=record.levelname,
                body=record.getMessage(),
                attributes=record_attributes(record),
                exception=record.exc_info[1] if record.exc_info else None,
            )
        except Exception:  # logging must never take the application down
            self.handleError(record)

    def flush(self) -> None:
        flush = getattr(self.logger_provider, "force_flush", None)
        if callable(flush):
            flush()


def record_attributes(record: logging.LogRecord) -> dict[str, Any]:
    """Run fields as semconv attributes, ``extra={...}`` values, and the code location."""
    fields = current_log_fields()
    attrs: dict[str, Any] = {}
    for key, value in vars(record).items():
        if key in _RESERVED or key in TRACE_FIELDS or key.startswith("_"):
            continue
        if key in FIELD_ATTRIBUTES:
            if value:
                attrs[FIELD_ATTRIBUTES[key]] = str(value)
        elif isinstance(value, (str, bool, int, float)):
            attrs[key] = value
        elif value is not None:
            attrs[key] = str(value)
    for name, attr in FIELD_ATTRIBUTES.items():
        if attr not in attrs and fields.get(name):
            attrs[attr] = fields[name]
    attrs["code.function.name"] = record.funcName
    attrs["code.line.number"] = record.lineno
    return attrs


def _severity(levelno: int) -> SeverityNumber:
    for std in sorted(_STD_TO_OTEL, reverse=True):
        if levelno >= std:
            return _STD_TO_OTEL[std]
    return SeverityNumber.TRACE


def instrument_logging(
    logger_provider: _logs.LoggerProvider, *, logger_name: str = "llmops_kit", level: int = logging.INFO,
) -> OTelLogHandler:
    """Export ``logger_name``'s records (the library's own by default) through ``logger_provider``.

    Returns the handler so the caller can remove it (``logging.getLogger(name).removeHandler(h)``).
    Calling it twice for the same logger and provider returns the existing handler.
    """
    logger = logging.getLogger(logger_name)
    for h in logger.handlers:
        if isinstance(h, OTelLogHandler) and h.logger_provider is logger_provider:
            return h
    handler = OTelLogHandler(logger_provider)
    handler.addFilter(RunContextFilter())
    logger.addHandler(handler)
    if logger.level == logging.NOTSET or logger.level > level:
        logger.setLevel(level)
    return handler


# --- optional structlog ---------------------------------------------------------------------
def add_run_fields(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: the same run and trace fields the stdlib filter adds."""
    for key, value in current_log_fields().items():
        event_dict.setdefault(key, value)
    return event_dict


def structlog_logger(name: str, logger_provider: _logs.LoggerProvider, **initial_values: Any) -> Any:
    """A structlog logger whose events go through stdlib ``logging`` to the OTel handler.

    Configures nothing globally (``structlog.wrap_logger``), so it is safe inside libraries;
    apps that use ``structlog.configure`` can put :func:`add_run_fields` and
    ``structlog.stdlib.render_to_log_kwargs`` in their own processor chain instead.
    Raises ``ImportError`` with the install command when structlog is missing.
    """
    try:
        import structlog
    except ImportError as exc:
        raise ImportError("structlog is not installed: pip install structlog") from exc
    instrument_logging(logger_provider, logger_name=name, level=logging.DEBUG)
    return structlog.wrap_logger(
        logging.getLogger(name),
        processors=[structlog.stdlib.add_log_level, add_run_fields, structlog.stdlib.render_to_log_kwargs],
        wrapper_class=structlog.stdlib.BoundLogger,
        **initial_values,
    )
