"""Audit throughput and hot-path latency: Blob sink into a real Azurite, and the file sink.

Run: ``python tests/benchmarks/bench_audit.py`` (needs ``make peers`` for Azurite).
Targets: ≥ 5,000 records/s end-to-end into Azurite with batching; ``append`` p99 < 1 ms.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from tests.fixtures.azurite import Azurite  # noqa: E402

from llmops_kit.audit.blob import BlobAuditSink  # noqa: E402
from llmops_kit.audit.file import FileAuditSink  # noqa: E402

N = 20_000
TARGET_RPS, TARGET_P99_MS = 5_000, 1.0


def record(i: int) -> dict:
    return {"run_id": f"run-{i:08d}", "tenant_id": ("acme", "globex", None)[i % 3],
            "timestamp": "2026-11-23T10:00:00Z", "status": "ok", "agent": "support-bot",
            "query": "How do I reset my password? " * 8, "response": "Open settings, choose security. " * 12,
            "usage": {"input_tokens": 312, "output_tokens": 188, "cost_usd": 0.00214},
            "safety": {"input": {"Hate": 0, "Violence": 0}, "output": {"Hate": 0}}}


async def run(sink, n: int) -> tuple[float, list[float], float]:
    lat: list[float] = []
    t0 = time.perf_counter()
    for i in range(n):
        a = time.perf_counter()
        await sink.append(record(i))
        lat.append((time.perf_counter() - a) * 1000)
        if i % 200 == 199:
            await asyncio.sleep(0)  # a real run yields to the loop between records
    enq = time.perf_counter() - t0
    if hasattr(sink, "drain"):
        assert await sink.drain(120), "blob sink did not drain"
    else:
        await sink.flush()
    total = time.perf_counter() - t0
    await sink.aclose()
    return enq, lat, total


def pct(xs: list[float], p: float) -> float:
    return statistics.quantiles(xs, n=1000)[int(p * 10) - 1]


async def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as d:
        rows.append(("file sink (fsync'd JSONL)", *await run(FileAuditSink(Path(d) / "f"), N)))
        for mem in (True, False):
            loc = None if mem else Path(d) / "az"
            if loc is not None:
                loc.mkdir()
            az = Azurite(loc).start()
            try:
                sink = BlobAuditSink(container="bench", spool_dir=Path(d) / f"spool{mem}",
                                     connection_string=az.connection_string, batch_max_records=500,
                                     batch_max_age_seconds=0.2)
                label = f"blob sink → Azurite ({'in-memory' if mem else 'disk'})"
                rows.append((label, *await run(sink, N)))
            finally:
                az.stop()
    t = Table(title=f"audit: {N:,} governed-run-like records (~{len(str(record(0)))} B each)")
    for c in ("sink", "records/s end-to-end", "vs target", "append p50 ms", "append p99 ms", "p99 vs target",
              "max ms"):
        t.add_column(c, justify="left" if c == "sink" else "right")
    for label, _enq, lat, total in rows:
        rps = N / total
        p99 = pct(lat, 99)
        t.add_row(label, f"{rps:,.0f}", f"{rps / TARGET_RPS:.1f}x", f"{pct(lat, 50):.3f}", f"{p99:.3f}",
                  f"{TARGET_P99_MS / p99:.1f}x headroom" if p99 else "-", f"{max(lat):.2f}")
    Console(width=140).print(t)


if __name__ == "__main__":
    asyncio.run(main())
