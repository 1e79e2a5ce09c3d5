"""How much an App Insights outage costs a governed run (it should cost nothing: export is async).

Runs the real exporters (local providers, tests/azure_monitor/exporting.py) against the local
capture server in each failure mode, 50 sequential governed runs each, batch processors on a
20 ms schedule so exports overlap the runs. Prints median/p95 run time, the ratio to healthy
ingestion, and how long the final flush (the exporter thread's work) took.

    python tests/benchmarks/bench_appinsights.py
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "src"), str(ROOT / "integrations")]
HERMETIC = {
    "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true", "APPLICATIONINSIGHTS_SDKSTATS_DISABLED": "true",
    "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true", "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "otel",
}
for k, v in HERMETIC.items():
    os.environ.setdefault(k, v)

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from tests.azure_monitor.exporting import build_exporting  # noqa: E402
from tests.fixtures.appinsights_capture import CaptureServer  # noqa: E402

RUNS = 50
MODES = ("healthy", "stuck (never answers)", "500 always", "429 Retry-After 1", "down (refused)")


async def measure(mode: str) -> tuple[list[float], float]:
    server = CaptureServer().start()
    with tempfile.TemporaryDirectory() as tmp:
        ex = build_exporting(server.connection_string, Path(tmp), schedule_delay_ms=20)
        await ex.run()  # warm-up: imports, tokenizer, sqlite
        if mode.startswith("stuck"):
            server.hold()
        elif mode.startswith("500"):
            server.set_mode(500)
        elif mode.startswith("429"):
            server.set_mode(429, retry_after_s=1)
        elif mode.startswith("down"):
            server.go_down()
        times = []
        for _ in range(RUNS):
            t0 = time.perf_counter()
            result = await ex.run()
            times.append(time.perf_counter() - t0)
            assert result.status == "ok", result.reason
        server.release()
        t0 = time.perf_counter()
        ex.flush()
        flush_s = time.perf_counter() - t0
        await ex.close()
    server.stop()
    return times, flush_s


def main() -> None:
    rows = {mode: asyncio.run(measure(mode)) for mode in MODES}
    base = statistics.median(rows["healthy"][0])
    table = Table(title=f"Governed run time while App Insights ingestion misbehaves ({RUNS} runs each)")
    for col in ("ingestion", "median run ms", "p95 run ms", "median ratio vs healthy", "final flush s"):
        table.add_column(col, justify="right" if col != "ingestion" else "left")
    for mode, (times, flush_s) in rows.items():
        mean = statistics.median(times)
        p95 = sorted(times)[int(0.95 * (len(times) - 1))]
        table.add_row(mode, f"{mean * 1e3:.1f}", f"{p95 * 1e3:.1f}", f"{mean / base:.2f}x", f"{flush_s:.2f}")
    Console().print(table)


if __name__ == "__main__":
    main()
