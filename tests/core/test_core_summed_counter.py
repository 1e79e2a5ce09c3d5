"""SummedCounter: in-process sums exported as an ObservableCounter, exact in both temporalities."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.metrics import MeterProvider, ObservableCounter
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader

from llmops_kit.telemetry.summed import SummedCounter, single_delta_reader

DELTA = {ObservableCounter: AggregationTemporality.DELTA}


def points(reader: InMemoryMetricReader, name: str = "runs") -> dict[tuple[tuple[str, Any], ...], float]:
    data = reader.get_metrics_data()
    out: dict[tuple[tuple[str, Any], ...], float] = {}
    for rm in data.resource_metrics if data else ():
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == name:
                    assert metric.data.is_monotonic
                    for p in metric.data.data_points:
                        out[tuple(sorted(p.attributes.items()))] = p.value
    return out


def counter(*readers: InMemoryMetricReader, **kw: Any) -> SummedCounter:
    provider = MeterProvider(metric_readers=list(readers))
    return SummedCounter(provider.get_meter("t"), "runs", unit="{run}",
                         changes_only=single_delta_reader(provider), **kw)


def test_cumulative_reader_sees_running_totals_for_every_series() -> None:
    reader = InMemoryMetricReader()
    runs = counter(reader)
    runs.add(1, {"status": "ok", "agent": "a"})
    runs.add(2, {"agent": "a", "status": "ok"})  # same attribute set, other order: one series
    runs.add(1, {"status": "error", "agent": "a"})
    first = points(reader)
    assert first == {(("agent", "a"), ("status", "ok")): 3, (("agent", "a"), ("status", "error")): 1}
    runs.add(1, {"status": "ok", "agent": "a"})
    assert points(reader) == {(("agent", "a"), ("status", "ok")): 4, (("agent", "a"), ("status", "error")): 1}


def test_single_delta_reader_gets_exact_deltas_and_nothing_for_quiet_series() -> None:
    reader = InMemoryMetricReader(preferred_temporality=DELTA)
    runs = counter(reader)
    runs.add(5, {"status": "ok"})
    runs.add(1, {"status": "error"})
    assert points(reader) == {(("status", "ok"),): 5, (("status", "error"),): 1}
    runs.add(2, {"status": "ok"})
    assert points(reader) == {(("status", "ok"),): 2}  # no zero row for the quiet "error" series
    assert points(reader) == {}
    runs.add(3, {"status": "error"})
    assert points(reader) == {(("status", "error"),): 3}  # the delta from its last total, exactly


def test_two_readers_each_see_every_increment() -> None:
    delta, cumulative = InMemoryMetricReader(preferred_temporality=DELTA), InMemoryMetricReader()
    runs = counter(delta, cumulative)
    runs.add(1, {"status": "ok"})
    assert points(delta) == {(("status", "ok"),): 1}
    runs.add(1, {"status": "ok"})
    assert points(cumulative) == {(("status", "ok"),): 2}
    assert points(delta) == {(("status", "ok"),): 1}


def test_series_beyond_the_limit_fold_into_one_overflow_series_and_negatives_are_ignored() -> None:
    reader = InMemoryMetricReader()
    runs = counter(reader, max_series=2)
    for agent in ("a", "b", "c", "d"):
        runs.add(1, {"agent": agent})
    runs.add(-5, {"agent": "a"})
    assert points(reader) == {(("agent", "a"),): 1, (("agent", "b"),): 1, (("otel.metric.overflow", True),): 2}


def test_single_delta_reader_answers_false_for_anything_it_cannot_read() -> None:
    assert single_delta_reader(MeterProvider(metric_readers=[InMemoryMetricReader(preferred_temporality=DELTA)]))
    assert not single_delta_reader(MeterProvider(metric_readers=[InMemoryMetricReader()]))
    assert not single_delta_reader(MeterProvider(metric_readers=[]))
    assert not single_delta_reader(object())


def test_two_runtimes_on_one_provider_add_to_the_same_series() -> None:
    from llmops_kit.telemetry.instruments import Telemetry

    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    first, second = Telemetry(meter_provider=provider), Telemetry(meter_provider=provider)
    first.record_run(agent="a", status="ok")
    second.record_run(agent="a", status="ok")
    assert first.runs is second.runs
    assert points(reader, "llmops.runs") == {(("gen_ai.agent.name", "a"), ("llmops.run.status", "ok")): 2}


def test_list_valued_attributes_are_counted_not_crashed_on() -> None:
    reader = InMemoryMetricReader()
    runs = counter(reader)
    runs.add(1, {"tags": ["a", "b"]})
    runs.add(1, {"tags": ["a", "b"]})
    assert points(reader) == {(("tags", ("a", "b")),): 2}


def test_telemetry_series_caches_count_exactly_and_stay_bounded() -> None:
    """Guardrail and run series are built once per attribute set; the cache never grows past its bound."""
    from llmops_kit.telemetry import instruments
    from llmops_kit.telemetry import semconv as sc
    from llmops_kit.telemetry.instruments import Telemetry

    reader = InMemoryMetricReader()
    telemetry = Telemetry(meter_provider=MeterProvider(metric_readers=[reader]))
    bound = instruments._SERIES_CACHE_SIZE
    for i in range(bound + 10):  # distinct raw reasons: the cache starts over instead of growing
        telemetry.record_guardrail("input", "block", "safety", f"rule {i}: matched", "agent-a")
    telemetry.record_guardrail("input", "allow", "safety", None, "agent-a")
    telemetry.record_guardrail("input", "allow", "safety", None, "agent-a")
    telemetry.record_run(agent="agent-a", status="ok", duration_s=0.5)
    telemetry.record_run(agent="agent-a", status="ok", duration_s=0.25)
    assert len(telemetry._guardrail_series) <= bound
    decisions = points(reader, sc.METRIC_GUARDRAIL_DECISIONS)
    allowed = {k: v for k, v in decisions.items() if (sc.LLMOPS_GUARDRAIL_ACTION, "allow") in k}
    blocked = sum(v for k, v in decisions.items() if (sc.LLMOPS_GUARDRAIL_ACTION, "block") in k)
    assert list(allowed.values()) == [2] and blocked == bound + 10
    assert points(reader, sc.METRIC_RUNS) == {((sc.GEN_AI_AGENT_NAME, "agent-a"), (sc.LLMOPS_RUN_STATUS, "ok")): 2}
