"""MAF benchmark, the inside view: µs spent in the llmops middleware per run, and per component.

Run: ``.venv/bin/python tests/benchmarks/bench_maf_breakdown.py [--runs 3000]``. Not collected by pytest.

``bench_maf.py`` measures what the stack adds to a whole run; on a shared 2-core VM that difference
of two large numbers moves by ±30–50 µs between runs, more than most single changes are worth. This
script measures our own share directly: the time spent inside the agent and chat middleware
*minus* the time inside ``call_next()`` (MAF, the model, the tools), plus the stream hooks that
finish a ``stream=True`` run while the caller consumes it (and the context managers and update
transform that bind the run and time first chunks meanwhile), one run at a time, reported as
the median over many runs (robust to the scheduler and to garbage-collection pauses). Ablations
swap one backend for a trivial one in a runtime of its own, so each component's share is the
difference of two medians measured in the same process:

* ``full``        - embedded defaults, as in ``bench_maf.py``;
* ``-evaluation`` - no evaluators;
* ``-audit``      - an audit sink that stores nothing;
* ``-safety``     - a guard that allows everything without scanning;
* ``bookkeeping`` - all three removed: decisions on ``invoke_agent``, budget, metrics, ``RunResult``.

It does not see MAF's price for running two middleware (pipelines, the garbage their closures
leave), the span exporter thread or the audit writer thread: ``bench_maf.py`` has those.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "src"), str(ROOT / "integrations")]

from agent_framework import Agent  # noqa: E402
from opentelemetry.sdk._logs import LoggerProvider  # noqa: E402
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor  # noqa: E402
from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import Progress  # noqa: E402
from rich.table import Table  # noqa: E402
from tests.benchmarks.bench_maf import DropExporter, SwitchableLogExporter, one_batch  # noqa: E402

from llmops_kit.audit.base import AuditReceipt  # noqa: E402
from llmops_kit.config import Settings  # noqa: E402
from llmops_kit.runtime import Runtime, build_runtime  # noqa: E402
from llmops_kit.safety.base import SafetyVerdict  # noqa: E402
from llmops_kit_agent_framework import llmops_middleware  # noqa: E402
from llmops_kit_agent_framework.agent_middleware import LLMOpsAgentMiddleware, _StreamHooks  # noqa: E402
from llmops_kit_agent_framework.chat_middleware import LLMOpsChatMiddleware, _CallStreamHooks  # noqa: E402
from llmops_kit_agent_framework.state import bind_pull, bind_run  # noqa: E402
from llmops_kit_agent_framework.testing import ScriptedChatClient, get_weather  # noqa: E402


class DiscardingAudit:
    """An audit sink that keeps nothing: what the audit record costs is the difference."""

    name = "discard"

    async def append(self, record: Any) -> AuditReceipt:
        return AuditReceipt(sink=self.name, location="-", sequence=0, record_hash="")

    async def aclose(self) -> None:
        return None


class AllowingGuard:
    """A guard that allows every text without looking at it."""

    name = "allow-all"
    runs_inline = True

    async def check_input(self, text: str, *, documents: Sequence[str] = ()) -> SafetyVerdict:
        return SafetyVerdict(stage="input", allowed=True, analyzer=self.name)

    async def check_output(self, text: str) -> SafetyVerdict:
        return SafetyVerdict(stage="output", allowed=True, analyzer=self.name)

    async def aclose(self) -> None:
        return None


class OwnTime:
    """Accumulates time inside our middleware, excluding the ``call_next()`` they await."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.nested = False

    def wrap(self, cls: type) -> None:
        original = cls.process
        meter = self

        async def process(self: Any, context: Any, call_next: Callable[[], Awaitable[None]]) -> None:
            inside = 0.0

            async def timed_next() -> None:
                nonlocal inside
                start = time.perf_counter()
                try:
                    await call_next()
                finally:
                    inside += time.perf_counter() - start

            start = time.perf_counter()
            try:
                await original(self, context, timed_next)
            finally:
                meter.seconds += time.perf_counter() - start - inside

        cls.process = process  # a benchmark may patch the classes it measures

    def wrap_hook(self, cls: type, name: str) -> None:
        """A stream hook runs wholly ours, outside ``process()``: all of its time counts."""
        original = getattr(cls, name)
        meter = self
        if inspect.iscoroutinefunction(original):
            async def hook(*args: Any) -> Any:
                start = time.perf_counter()
                try:
                    return await original(*args)
                finally:
                    meter.seconds += time.perf_counter() - start
        else:
            def hook(*args: Any) -> Any:  # type: ignore[misc]
                if meter.nested:  # e.g. bind_pull.__exit__ -> bind_run.__exit__: counted once
                    return original(*args)
                meter.nested = True
                start = time.perf_counter()
                try:
                    return original(*args)
                finally:
                    meter.seconds += time.perf_counter() - start
                    meter.nested = False
        setattr(cls, name, hook)


def variants(tmp: Path, tracer_provider: Any, meter_provider: Any) -> dict[str, Runtime]:
    def runtime(name: str, **swap: Any) -> Runtime:
        built = build_runtime(Settings.load(env_file=None, data_dir=tmp / name), tracer_provider=tracer_provider,
                              meter_provider=meter_provider)
        for attribute, value in swap.items():
            setattr(built, attribute, value)
        return built

    return {
        "full": runtime("full"),
        "-evaluation": runtime("eval", evaluation=None),
        "-audit": runtime("audit", audit=DiscardingAudit()),
        "-safety": runtime("safety", safety=AllowingGuard()),
        "bookkeeping": runtime("bookkeeping", evaluation=None, audit=DiscardingAudit(), safety=AllowingGuard()),
    }


async def main(runs: int) -> None:
    meter = OwnTime()
    meter.wrap(LLMOpsAgentMiddleware)
    meter.wrap(LLMOpsChatMiddleware)
    for cls, names in ((_StreamHooks, ("on_final", "on_cleanup", "bind", "bind_consumption", "on_update")),
                       (bind_run, ("__enter__", "__exit__")), (bind_pull, ("__exit__",)),
                       (_CallStreamHooks, ("on_final", "on_cleanup"))):
        for name in names:
            meter.wrap_hook(cls, name)
    tmp = Path(tempfile.mkdtemp(prefix="bench-maf-own-"))
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(DropExporter(), max_queue_size=100_000))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    # an SDK logger provider, as any application with telemetry on has: the evaluation event is a log record
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(SwitchableLogExporter(tmp / "telemetry"),
                                                                     max_queue_size=100_000))
    from opentelemetry import _logs, metrics, trace

    trace.set_tracer_provider(tracer_provider)  # a benchmark is an application: it may install providers
    metrics.set_meter_provider(meter_provider)
    _logs.set_logger_provider(logger_provider)
    runtimes = variants(tmp, tracer_provider, meter_provider)
    agents = {name: Agent(client=ScriptedChatClient(), name="w", tools=[get_weather],
                          middleware=llmops_middleware(rt)) for name, rt in runtimes.items()}
    medians: dict[tuple[str, bool], float] = {}
    try:
        with Progress(transient=True) as progress:
            task = progress.add_task("runs", total=2 * len(agents) * runs)
            for stream in (False, True):
                samples: dict[str, list[float]] = {name: [] for name in agents}
                for agent in agents.values():  # warm-up: imports and first-call caches
                    for _ in range(50):
                        await one_batch(agent, 1, stream, True)
                for _ in range(runs):  # interleaved run by run, so machine noise hits every variant alike
                    for name, agent in agents.items():
                        meter.seconds = 0.0
                        await one_batch(agent, 1, stream, True)
                        samples[name].append(meter.seconds * 1e6)
                    progress.advance(task, len(agents))
                for name, values in samples.items():
                    medians[(name, stream)] = statistics.median(values)
    finally:
        for rt in runtimes.values():
            await rt.aclose()
        tracer_provider.shutdown()
        logger_provider.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    table = Table(title=f"µs per run inside the llmops middleware (median of {runs} runs, wall clock)")
    for column in ("mode", "full", "evaluation", "audit record", "safety checks", "bookkeeping"):
        table.add_column(column, justify="right")
    for stream in (False, True):
        full = medians[("full", stream)]
        table.add_row("stream" if stream else "sync", f"{full:.0f}",
                      f"{full - medians[('-evaluation', stream)]:.0f}", f"{full - medians[('-audit', stream)]:.0f}",
                      f"{full - medians[('-safety', stream)]:.0f}", f"{medians[('bookkeeping', stream)]:.0f}")
    Console(width=120).print(table)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3000)
    args = parser.parse_args()
    asyncio.run(main(args.runs))
