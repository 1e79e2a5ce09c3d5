"""Trace-correlated logs through stdlib logging and the OTel Logs API (in-memory exporter)."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import format_span_id, format_trace_id

from llmops_kit.telemetry import semconv as sc
from llmops_kit.telemetry.logs import (
    OTelLogHandler,
    RunContextFilter,
    current_log_fields,
    instrument_logging,
    run_log_context,
    structlog_logger,
)


@pytest.fixture
def otel_logs() -> Iterator[tuple[LoggerProvider, InMemoryLogExporter]]:
    exporter = InMemoryLogExporter()
    lp = LoggerProvider()
    lp.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    yield lp, exporter
    lp.shutdown()


@pytest.fixture
def logger_name(request: pytest.FixtureRequest) -> Iterator[str]:
    name = f"llmops_test.{request.node.name}"
    yield name
    logger = logging.getLogger(name)
    for h in list(logger.handlers):
        logger.removeHandler(h)


def test_records_carry_run_and_span_ids(otel_logs, logger_name: str) -> None:
    lp, exporter = otel_logs
    instrument_logging(lp, logger_name=logger_name)
    log = logging.getLogger(logger_name)
    tracer = TracerProvider().get_tracer("t")
    with run_log_context(run_id="r-1", agent="support", tenant_id="contoso", session_id="s-9"), \
            tracer.start_as_current_span("invoke_agent support") as span:
        log.info("reserved %d tokens", 42, extra={"budget_scope": "tenant"})
    log.warning("outside any run")
    records = [r.log_record for r in exporter.get_finished_logs()]
    assert [r.body for r in records] == ["reserved 42 tokens", "outside any run"]
    inside, outside = records
    ctx = span.get_span_context()
    assert inside.trace_id == ctx.trace_id and inside.span_id == ctx.span_id
    assert inside.attributes[sc.LLMOPS_RUN_ID] == "r-1"
    assert inside.attributes[sc.GEN_AI_AGENT_NAME] == "support"
    assert inside.attributes[sc.LLMOPS_TENANT_ID] == "contoso"
    assert inside.attributes[sc.LLMOPS_SESSION_ID] == "s-9"
    assert inside.attributes["budget_scope"] == "tenant"
    assert inside.severity_text == "INFO"
    assert sc.LLMOPS_RUN_ID not in outside.attributes and not outside.trace_id
    assert outside.severity_text == "WARNING"


def test_filter_makes_fields_available_to_text_formatters(logger_name: str) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RunContextFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s run=%(run_id)s trace=%(trace_id)s %(message)s"))
    log = logging.getLogger(logger_name)
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    tracer = TracerProvider().get_tracer("t")
    log.info("no run")
    with run_log_context(run_id="r-2"), tracer.start_as_current_span("x") as span:
        log.info("in run")
    lines = stream.getvalue().splitlines()
    assert lines[0] == "INFO run= trace= no run"
    assert lines[1] == f"INFO run=r-2 trace={format_trace_id(span.get_span_context().trace_id)} in run"


async def test_context_is_per_task_and_restored() -> None:
    async def run(name: str) -> dict[str, str]:
        with run_log_context(run_id=name, agent="a"):
            await asyncio.sleep(0.01)
            return current_log_fields()

    a, b = await asyncio.gather(run("r-a"), run("r-b"))
    assert a["run_id"] == "r-a" and b["run_id"] == "r-b"
    with run_log_context(run_id="outer", tenant_id="t1"):
        with run_log_context(agent="inner"):
            assert current_log_fields() == {"run_id": "outer", "tenant_id": "t1", "agent": "inner"}
        with pytest.raises(RuntimeError), run_log_context(run_id="failing"):
            raise RuntimeError("run failed")
        assert current_log_fields() == {"run_id": "outer", "tenant_id": "t1"}
    assert current_log_fields() == {}


def test_exceptions_are_exported_and_exporter_logs_are_not_looped(otel_logs, logger_name: str) -> None:
    lp, exporter = otel_logs
    handler = OTelLogHandler(lp)
    log = logging.getLogger(logger_name)
    log.addHandler(handler)
    try:
        raise ValueError("bad price table")
    except ValueError:
        log.exception("pricing failed")
    logging.getLogger("opentelemetry.sdk._logs").addHandler(handler)
    try:
        logging.getLogger("opentelemetry.sdk._logs").error("exporter diagnostics")
    finally:
        logging.getLogger("opentelemetry.sdk._logs").removeHandler(handler)
    records = [r.log_record for r in exporter.get_finished_logs()]
    assert len(records) == 1
    assert records[0].attributes["exception.type"] == "ValueError"
    assert "bad price table" in records[0].attributes["exception.message"]
    assert records[0].severity_text == "ERROR"


def test_instrument_logging_is_idempotent(otel_logs, logger_name: str) -> None:
    lp, _ = otel_logs
    h1 = instrument_logging(lp, logger_name=logger_name)
    h2 = instrument_logging(lp, logger_name=logger_name)
    assert h1 is h2
    assert sum(isinstance(h, OTelLogHandler) for h in logging.getLogger(logger_name).handlers) == 1


def test_structlog_events_are_exported_with_run_fields(otel_logs, logger_name: str) -> None:
    lp, exporter = otel_logs
    log = structlog_logger(logger_name, lp, component="router")
    tracer = TracerProvider().get_tracer("t")
    with run_log_context(run_id="r-3", tenant_id="fabrikam"), tracer.start_as_current_span("x") as span:
        log.info("routed", route="billing")
    (record,) = [r.log_record for r in exporter.get_finished_logs()]
    assert record.body == "routed"
    assert record.attributes["route"] == "billing"
    assert record.attributes["component"] == "router"
    assert record.attributes[sc.LLMOPS_RUN_ID] == "r-3"
    assert record.attributes[sc.LLMOPS_TENANT_ID] == "fabrikam"
    assert format_span_id(record.span_id) == format_span_id(span.get_span_context().span_id)
