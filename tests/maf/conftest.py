"""Fixtures for the MAF integration tests: real MAF, scripted model, real llmops-kit backends.

Tracing: MAF 1.23 creates its ``invoke_agent`` / ``chat`` / ``execute_tool`` spans through
``agent_framework.observability.get_tracer()``, which is ``opentelemetry.trace.get_tracer()`` -
the *global* TracerProvider; there is no per-agent provider argument. The span-tree tests
must see MAF's spans, so this conftest installs a global SDK TracerProvider ONCE per test
session (or, if another test area already installed one, adds our exporter to it - OTel
forbids replacing a global provider). Library code never does this; our runtime receives
the same provider explicitly.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from agent_framework.observability import OBSERVABILITY_SETTINGS
from opentelemetry import trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llmops_kit.budget.ledger_memory import MemoryLedger
from llmops_kit.budget.manager import BudgetManager
from llmops_kit.budget.policy import BudgetLimit, BudgetPolicy
from llmops_kit.config import Settings
from llmops_kit.runtime import Runtime, build_runtime

_SPANS = InMemorySpanExporter()
_PROVIDER: TracerProvider | None = None


def _global_tracer_provider() -> TracerProvider:
    global _PROVIDER
    if _PROVIDER is None:
        current = trace.get_tracer_provider()
        if isinstance(current, TracerProvider):
            current.add_span_processor(SimpleSpanProcessor(_SPANS))
            _PROVIDER = current
        else:
            provider = TracerProvider()
            provider.add_span_processor(SimpleSpanProcessor(_SPANS))
            trace.set_tracer_provider(provider)
            _PROVIDER = provider
    return _PROVIDER


@pytest.fixture(scope="session")
def tracer_provider() -> TracerProvider:
    provider = _global_tracer_provider()
    if not OBSERVABILITY_SETTINGS.ENABLED:
        pytest.fail("MAF instrumentation is off (ENABLE_INSTRUMENTATION=false?); the MAF tests need it on")
    return provider


@pytest.fixture
def spans(tracer_provider: TracerProvider) -> Iterator[InMemorySpanExporter]:
    _SPANS.clear()
    yield _SPANS
    _SPANS.clear()


class Telemetry:
    """The in-memory readers of one test's runtime."""

    def __init__(self) -> None:
        self.metric_reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.metric_reader])
        self.log_exporter = InMemoryLogRecordExporter()
        self.logger_provider = LoggerProvider()
        self.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(self.log_exporter))

    def metric_points(self, name: str) -> list[Any]:
        data = self.metric_reader.get_metrics_data()
        points: list[Any] = []
        for rm in data.resource_metrics if data else []:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == name:
                        points.extend(metric.data.data_points)
        return points


@pytest.fixture
def telemetry() -> Telemetry:
    return Telemetry()


RuntimeFactory = Callable[..., Runtime]


@pytest.fixture
async def make_runtime(
    tmp_path: Path, tracer_provider: TracerProvider, telemetry: Telemetry
) -> Any:
    """Build a runtime on the real embedded backends; ``limits`` become a memory-ledger budget policy."""
    built: list[Runtime] = []

    def make(*, limits: Sequence[BudgetLimit] = (), evaluators: Any = None, **overrides: Any) -> Runtime:
        values: dict[str, Any] = {
            "data_dir": tmp_path / f"runtime{len(built)}",  # one audit directory per runtime (it is locked)
            "budget_ledger": "memory",
            "evaluation_mode": "inline",
        }
        values.update(overrides)
        settings = Settings.load(env_file=None, **values)
        budget = BudgetManager(BudgetPolicy(limits), MemoryLedger(), fail_mode=settings.budget_fail_mode) \
            if limits else None
        runtime = build_runtime(
            settings, tracer_provider=tracer_provider, meter_provider=telemetry.meter_provider,
            logger_provider=telemetry.logger_provider, budget=budget, evaluators=evaluators,
        )
        built.append(runtime)
        return runtime

    yield make
    for runtime in built:
        await runtime.aclose()


async def audit_records(runtime: Runtime) -> list[dict[str, Any]]:
    """Every audit record the runtime's file sink wrote, in order (flushes first)."""
    await runtime.audit.flush()
    records: list[dict[str, Any]] = []
    for path in sorted(Path(runtime.settings.resolved_audit_dir).glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                records.append(json.loads(line)["record"])
    return records


def span_tree(finished: Sequence[ReadableSpan]) -> list[tuple[int, str]]:
    """(depth, name) in parent-first order, children by start time - for exact tree assertions."""
    by_parent: dict[int | None, list[ReadableSpan]] = {}
    ids = {s.context.span_id for s in finished}
    for s in finished:
        parent = s.parent.span_id if s.parent is not None and s.parent.span_id in ids else None
        by_parent.setdefault(parent, []).append(s)
    out: list[tuple[int, str]] = []

    def walk(parent: int | None, depth: int) -> None:
        for child in sorted(by_parent.get(parent, []), key=lambda s: s.start_time or 0):
            out.append((depth, child.name))
            walk(child.context.span_id, depth + 1)

    walk(None, 0)
    return out
