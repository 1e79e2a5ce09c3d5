"""The hot-path shortcuts behind the MAF/pipeline overhead work give the same results as the
long way round: one JSON encoding per audit line, the to_jsonable fast path, cached and
pre-checked PII scans, evaluators awaited in the caller's task, batched evaluation events,
cached token counts and the budget state taken from the settle."""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import math
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llmops_kit.audit.chain import HashChain, encode_entry, entry_hash, link_encoded
from llmops_kit.audit.encoding import _to_jsonable_general, canonical_bytes, to_jsonable
from llmops_kit.budget.base import BudgetAmount, BudgetSubject
from llmops_kit.budget.ledger_memory import MemoryLedger
from llmops_kit.budget.ledger_sqlite import SQLiteLedger
from llmops_kit.budget.manager import BudgetManager
from llmops_kit.budget.policy import BudgetLimit, BudgetPolicy
from llmops_kit.evaluation.base import EvalContext, EvalResult
from llmops_kit.evaluation.builtin import HasNumbers, HeuristicQuality, MustInclude
from llmops_kit.evaluation.runner import EvaluationRunner
from llmops_kit.pricing.tokens import TiktokenCounter
from llmops_kit.safety import pii
from llmops_kit.telemetry import semconv as sc
from llmops_kit.telemetry.instruments import Telemetry

# --- audit: one encoding ----------------------------------------------------------------


@pytest.mark.parametrize("chain_id", ["file-abc", 'we,"partition":"ird\\', "ünï\u2028code"])
def test_link_encoded_matches_link_then_encode(chain_id: str) -> None:
    records = [
        {"query": "hi", "n": 1, "nested": {"partition": "x", ",\"partition\":": [1, 2.5, None]}},
        {"response": "line\nbreak \"quoted\" \\ back", "emoji": "🙂", "lone": "\ud800"},
        {},
    ]
    fast, slow = HashChain(chain_id), HashChain(chain_id)
    for record in records:
        clean = to_jsonable(record)
        entry, line = link_encoded(fast, clean, partition='p/"1"')
        expected = slow.link(clean, partition='p/"1"', audited_at=entry["audited_at"])
        assert entry == expected
        assert line == encode_entry(expected)
        assert entry["hash"] == entry_hash(expected)
    assert (fast.last_seq, fast.last_hash) == (slow.last_seq, slow.last_hash)


# --- audit: to_jsonable fast path -------------------------------------------------------


class _Color(enum.Enum):
    RED = "red"


class _Str(str):
    pass


class _Int(int):
    pass


class _Dict(dict):  # type: ignore[type-arg]
    pass


def test_to_jsonable_fast_path_equals_general_path() -> None:
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    value = {
        "s": "x", "i": 3, "b": True, "n": None, "f": 1.5, "nan": math.nan, "inf": -math.inf,
        "list": [1, "a", (2, 3), {"k": math.nan}], "tuple": (when, _Color.RED),
        "sub": {_Str("k"): _Int(7), 5: "int key", _Color.RED: "enum key"},
        "dict_sub": _Dict(a=1), "set": {3, 1, 2}, "bytes": b"\x00\xff", "od": OrderedDict(z=1),
    }
    fast = to_jsonable(value)
    assert fast == _to_jsonable_general(value, 0)
    assert fast["nan"] == "nan" and fast["inf"] == "-inf"
    assert fast["sub"] == {"k": 7, "5": "int key", "red": "enum key"}
    assert type(fast["sub"]["k"]) is int  # int subclasses become plain int, as before
    canonical_bytes(fast)  # JSON-safe


def test_to_jsonable_depth_limit_kept() -> None:
    deep: list[object] = []
    cur = deep
    for _ in range(100):
        nxt: list[object] = []
        cur.append(nxt)
        cur = nxt
    out = to_jsonable(deep)
    for _ in range(64):
        out = out[0]
    assert isinstance(out, str) and out.startswith("<nested deeper than 64")


# --- PII: cache and pre-checks ------------------------------------------------------------

_PII_TEXTS = [
    "",
    "plain words only, nothing here",
    "mail me at a.b@example.com or call +1 415-555-0134",
    "card 4111 1111 1111 1111, ssn 123-45-6789, ip 10.0.0.1",
    "IBAN DE89 3704 0044 0532 0130 00 and password=Hunter22x",
    "AccountKey=" + "A" * 40 + "== and AKIAABCDEFGHIJKLMNOP",
    "Authorization: Bearer abcdefghijklmnop1234 sk-" + "a1" * 15,
    "api_key: Zx9!Qw8@Er7#Ty6$Ui5 token",
    "Arabic-Indic digits ٤١١١ ١١١١ ١١١١ ١١١١ and no ascii digit",
]


def _find_without_prechecks(text: str) -> list[pii.PiiMatch]:
    candidates = []
    for order, rule in enumerate(pii._RULES):
        for start, end in pii._spans(rule, text):
            candidates.append((start, end, order, rule.kind))
    candidates.sort(key=lambda c: (c[0], -(c[1] - c[0]), c[2]))
    kept: list[pii.PiiMatch] = []
    for start, end, _o, kind in candidates:
        if kept and start < kept[-1].end:
            if end - start > kept[-1].end - kept[-1].start:
                kept[-1] = pii.PiiMatch(kind, start, end)
            continue
        kept.append(pii.PiiMatch(kind, start, end))
    return kept


@pytest.mark.parametrize("text", _PII_TEXTS)
def test_pii_prechecks_and_cache_change_no_result(text: str) -> None:
    expected = _find_without_prechecks(text)
    assert pii.find_pii(text) == expected
    first = pii.find_pii(text)
    first.append(pii.PiiMatch("x", 0, 0))  # a caller mutating its list must not touch the cache
    assert pii.find_pii(text) == expected


def test_pii_digit_count_gate_changes_no_result() -> None:
    """A rule whose matches hold at least N digits is skipped on an ASCII text with fewer: checked
    against the reference without any pre-check on texts built around those thresholds."""
    import random

    rng = random.Random(20261124)
    pieces = ["10.0.0.1", "1.2.3.4", "+1 415 555 0134", "+44 20 7946", "(415) 555-0134", "555-0134",
              "123-45-6789", "123 45 678", "4111 1111 1111 1111", "4222222222222", "4111-1111-111",
              "DE89 3704 0044 0532 0130 00",
              "11C", "7", "42", "2026-11-24", "v1.2.3", "+", "-", ".", "(", ")", " ", "word", "Kakaka:", "x1"]
    for _ in range(3000):
        text = " ".join(rng.choice(pieces) for _ in range(rng.randint(1, 8)))
        if rng.random() < 0.3:  # digits glued to separators and letters, across piece boundaries
            text = text.replace(" ", rng.choice(["", "-", ".", " "]))
        assert pii._find(text) == _find_without_prechecks(text), text


def test_pii_large_text_is_not_cached() -> None:
    text = "x " * pii._CACHE_MAX_CHARS + " a.b@example.com"
    pii._find_cached.cache_clear()
    assert [m.kind for m in pii.find_pii(text)] == ["email"]
    assert pii._find_cached.cache_info().currsize == 0


# --- evaluation runner --------------------------------------------------------------------


class _Suspends(HasNumbers):
    runs_inline = True  # declared inline, yet awaits: must still work, in order

    async def score(self, query: str, response: str, context: EvalContext) -> EvalResult:
        await asyncio.sleep(0.01)
        return self.result(0.5, "slept", passed=True)


class _Hangs(HasNumbers):
    runs_inline = True

    async def score(self, query: str, response: str, context: EvalContext) -> EvalResult:
        await asyncio.sleep(30)
        raise AssertionError("unreachable")


class _Concurrent(MustInclude):  # overrides score: not assumed inline
    async def score(self, query: str, response: str, context: EvalContext) -> EvalResult:
        await asyncio.sleep(0.01)
        return self.result(1.0, "io", passed=True)


def test_inline_flag_is_not_inherited_by_overriding_subclasses() -> None:
    assert HasNumbers.runs_inline is True and MustInclude.runs_inline is True
    assert _Concurrent.runs_inline is False
    assert HeuristicQuality().runs_inline is True
    assert HeuristicQuality([HasNumbers(), _Concurrent(name="io")], weights={"has_numbers": 1, "io": 1}).runs_inline \
        is False


async def test_runner_mixes_inline_and_task_evaluators_in_order() -> None:
    runner = EvaluationRunner([
        _Concurrent(name="first"), HasNumbers(), _Suspends(name="suspends"), HeuristicQuality(),
    ])
    results = await runner.evaluate("q", "Refunds take 30 days. Source: policy 12.", EvalContext())
    names = [r.name for r in results]
    assert names[:3] == ["first", "has_numbers", "suspends"]
    assert names[-1] == "heuristic_quality"
    assert all(r.status == "completed" for r in results)


async def test_inline_evaluator_that_hangs_still_times_out() -> None:
    runner = EvaluationRunner([_Hangs(name="hangs"), HasNumbers()], timeout_s=0.05)
    results = await runner.evaluate("q", "42", EvalContext())
    by_name = {r.name: r for r in results}
    assert by_name["hangs"].status == "error" and by_name["hangs"].error_type == "TimeoutError"
    assert by_name["has_numbers"].score == 1.0


async def test_inline_evaluator_is_cancelled_with_its_caller() -> None:
    runner = EvaluationRunner([_Hangs(name="hangs")], timeout_s=30)
    task = asyncio.ensure_future(runner.evaluate("q", "r", EvalContext()))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


# --- telemetry: batched evaluation events -------------------------------------------------


def test_emit_evaluations_equals_one_by_one() -> None:
    results = [
        EvalResult(name="a", score=0.5, label="pass", passed=True, explanation="x" * 2000),
        EvalResult(name="b", score=None, label="error", passed=None, status="error", error_type="ValueError"),
    ]
    seen = []
    for batched in (False, True):
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tel = Telemetry(tracer_provider=provider)
        span = tel.tracer.start_span("run")
        if batched:
            tel.emit_evaluations(results, span, "resp-1", "agent")
        else:
            for r in results:
                tel.emit_evaluation(r, span, "resp-1", "agent")
        span.end()
        (done,) = exporter.get_finished_spans()
        seen.append([(e.name, dict(e.attributes or {})) for e in done.events])
    assert seen[0] == seen[1] and len(seen[0]) == 2


def test_parts_ride_on_their_evaluators_event_and_orphans_are_kept() -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    results = [
        EvalResult(name="tone", score=0.9, part_of="quality"),
        EvalResult(name="length", score=None, status="skipped", part_of="quality"),
        EvalResult(name="quality", score=0.8, passed=True),
        EvalResult(name="lonely", score=0.3, part_of="absent"),  # its evaluator is not in the list
    ]
    exporter, reader = InMemorySpanExporter(), InMemoryMetricReader()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tel = Telemetry(tracer_provider=provider, meter_provider=MeterProvider(metric_readers=[reader]))
    span = tel.tracer.start_span("run")
    tel.emit_evaluations(results, span, None, "agent")
    span.end()
    (done,) = exporter.get_finished_spans()
    events = {e.attributes[sc.GEN_AI_EVALUATION_NAME]: dict(e.attributes) for e in done.events}
    assert set(events) == {"quality", "lonely"}
    assert events["quality"][sc.LLMOPS_EVAL_PART_PREFIX + "tone"] == 0.9
    assert sc.LLMOPS_EVAL_PART_PREFIX + "length" not in events["quality"]  # no score, nothing to carry
    points = [p for rm in reader.get_metrics_data().resource_metrics for sm in rm.scope_metrics
              for m in sm.metrics if m.name == sc.METRIC_EVALUATION_SCORE for p in m.data.data_points]
    assert sorted(p.attributes[sc.GEN_AI_EVALUATION_NAME] for p in points) == ["lonely", "quality"]


# --- tokens ---------------------------------------------------------------------------------


def test_token_count_cache_is_keyed_by_encoding() -> None:
    counter, fresh = TiktokenCounter(), TiktokenCounter()
    text = "The quick brown fox jumps over the lazy dog. 1234567890 " * 3
    for model in ("gpt-4o", "gpt-4", "gpt-4o", "gpt-4"):
        assert counter.count_text(text, model) == len(fresh._cache.get(
            "o200k_base" if model == "gpt-4o" else "cl100k_base").encode_ordinary(text))


# --- budget: state from the settle ------------------------------------------------------------


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
async def test_state_after_settle_equals_a_ledger_read(kind: str, tmp_path: Path) -> None:
    ledger = MemoryLedger() if kind == "memory" else SQLiteLedger(tmp_path / "b.sqlite3")
    policy = BudgetPolicy([
        BudgetLimit("tenant", "day", "total_tokens", 100_000),
        BudgetLimit("user", "day", "cost_micro_usd", 5_000_000),
    ])
    mgr = BudgetManager(policy, ledger)
    subject = BudgetSubject(tenant_id="t1", user_id="u1", run_id="r1")
    try:
        estimate = BudgetAmount(10, 100, 110, 900)
        other = await mgr.reserve(subject, estimate)  # a second hold still open: reserved > 0
        res = await mgr.reserve(subject, estimate)
        await mgr.settle(res, BudgetAmount(8, 20, 28, 300))
        fast = await mgr.state_after_settle(subject, res.reservation_id)
        assert fast == await mgr.state(subject)
        assert [lim.reserved for lim in fast.limits] == [110, 900]
        # no snapshot (already used, or never settled here): a plain read
        assert await mgr.state_after_settle(subject, res.reservation_id) == await mgr.state(subject)
        # a subject with another scope than the settle touched: read, not the snapshot
        res2 = await mgr.reserve(subject, estimate)
        await mgr.settle(res2, None)
        elsewhere = BudgetSubject(tenant_id="t1", user_id="u2")
        assert await mgr.state_after_settle(elsewhere, res2.reservation_id) == await mgr.state(elsewhere)
        await mgr.settle(other, None)
    finally:
        await mgr.aclose()


async def test_settle_without_limits_needs_no_ledger() -> None:
    mgr = BudgetManager(BudgetPolicy([]), MemoryLedger())
    res = await mgr.reserve(BudgetSubject(user_id="u"), BudgetAmount(1, 2, 3, 4))
    assert res.granted and not res.charges
    settled = await mgr.settle(res, BudgetAmount(1, 5, 6, 9))
    assert settled.over_reservation and settled.actual.cost_micro_usd == 9
    assert mgr.stats.over_reservations == 1


# --- MAF: the run's closing budget state comes from the last call's settle ------------------


@pytest.mark.parametrize("stream", [False, True], ids=["sync", "stream"])
async def test_maf_run_budget_state_equals_a_fresh_read(make_runtime: Any, stream: bool) -> None:
    from agent_framework import Agent
    from tests.maf.test_maf_agent_runs import INSTRUCTIONS, run_agent

    from llmops_kit.results import RunResult
    from llmops_kit_agent_framework import llmops_middleware, run_as
    from llmops_kit_agent_framework.testing import ScriptedChatClient, get_weather

    runtime = make_runtime(limits=[BudgetLimit("tenant", "day", "total_tokens", 1_000_000),
                                   BudgetLimit("user", "day", "cost_micro_usd", 50_000_000)])
    results: list[RunResult] = []
    agent = Agent(client=ScriptedChatClient(), name="weather", instructions=INSTRUCTIONS, tools=[get_weather],
                  middleware=llmops_middleware(runtime, on_result=results.append))
    reads: list[object] = []
    ledger = runtime.budget.ledger
    real_counters = ledger.counters

    async def counting(keys: Any) -> Any:
        reads.append(keys)
        return await real_counters(keys)

    ledger.counters = counting  # type: ignore[method-assign]
    with run_as(user_id="u1", tenant_id="t1"):
        for _ in range(2):
            await run_agent(agent, "What's the weather in Oslo?", stream)
    assert [r.status for r in results] == ["ok", "ok"]
    assert reads == []  # both closing states came from the settles, no extra ledger read
    subject = BudgetSubject(tenant_id="t1", user_id="u1", agent="weather", run_id=results[-1].run_id,
                            model=results[-1].model)
    assert results[-1].budget == await runtime.budget.state(subject)
    assert all(lim.used > 0 and lim.reserved == 0 for lim in results[-1].budget.limits)


@pytest.mark.parametrize("check_output", [None, False], ids=["buffered", "unbuffered"])
async def test_a_buffered_stream_binds_its_run_once_however_many_chunks(make_runtime: Any,
                                                                        monkeypatch: pytest.MonkeyPatch,
                                                                        check_output: bool | None) -> None:
    """The run is bound once for MAF's buffered consumption, not around each pull (a per-pull context
    manager cost ~4 µs a chunk); an unbuffered stream, pulled by the caller chunk by chunk, needs a
    binding per pull. Both time every model call's first chunk."""
    from agent_framework import Agent
    from tests.maf.test_maf_agent_runs import INSTRUCTIONS

    from llmops_kit.results import RunResult
    from llmops_kit_agent_framework import llmops_middleware, state
    from llmops_kit_agent_framework.testing import ScriptedChatClient, get_weather

    binds: list[object] = []
    real_enter = state.bind_run.__enter__

    def counting_enter(self: Any) -> Any:
        binds.append(self)
        return real_enter(self)

    monkeypatch.setattr(state.bind_run, "__enter__", counting_enter)
    results: list[RunResult] = []
    client = ScriptedChatClient(text_chunks=24)
    agent = Agent(client=client, name="weather", instructions=INSTRUCTIONS, tools=[get_weather],
                  middleware=llmops_middleware(make_runtime(), check_output=check_output,
                                               on_result=results.append))
    stream = agent.run("What's the weather in Oslo?", stream=True)
    chunks = [update async for update in stream]
    await stream.get_final_response()

    assert len(chunks) > 24 and results[0].status == "ok"
    if check_output is None:  # around call_next(), then once around MAF's buffered consumption
        assert len(binds) == 2
    else:  # and around every pull
        assert len(binds) > 24
    assert results[0].ttft_ms is not None
