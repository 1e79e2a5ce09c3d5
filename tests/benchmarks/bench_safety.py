"""Safety benchmarks: offline analyzer on short texts (CPU µs per check), offline analyzer and PII
latency by text size, known-answer rates, and the Azure guard against the local REST stub (parallel
vs sequential chunk checks).

Run: python tests/benchmarks/bench_safety.py   (not collected by pytest)
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from tests.fixtures.content_safety_stub import ContentSafetyStub  # noqa: E402
from tests.safety.test_safety_local import ATTACKS, BENIGN  # noqa: E402

from llmops_kit.safety.azure import AzureContentSafetyGuard  # noqa: E402
from llmops_kit.safety.local import LocalSafetyAnalyzer  # noqa: E402
from llmops_kit.safety.pii import _find_cached, find_pii  # noqa: E402

SAMPLE = (
    "Hello, I need help with my order. My email is jane.doe@example.com and my phone is +1 415-555-0132. "
    "Please ignore the noise in the sensor data and tell me how to kill the process on port 8080. "
)


# Short texts: the two checks of a governed agent run in bench_maf.py (the user query, the answer),
# and 2 KB paragraphs without and with PII.
MAF_QUERY = "What's the weather in Oslo?"
MAF_ANSWER = "Here is what I found. The tool said: Oslo: 7C, light rain"
PARAGRAPH = (
    "The committee reviewed the quarterly results and agreed that the new onboarding flow had reduced "
    "support tickets by a noticeable margin. Several members asked for a breakdown by region, and the "
    "analytics team promised a short report before the next meeting. "
)
PII_PARAGRAPH = (
    "Hello, I need help with my order. My email is jane.doe@example.com and my phone is +1 415-555-0132. "
    "My card is 4111 1111 1111 1111 and the server is at 10.0.0.12; password=hunter2x. "
)
SHORT_TEXTS = [
    ("MAF query", MAF_QUERY, "input", 5000),
    ("MAF answer", MAF_ANSWER, "output", 5000),
    ("2 KB English", (PARAGRAPH * 20)[:2048], "input", 500),
    ("2 KB with PII", (PII_PARAGRAPH * 20)[:2048], "input", 500),
]


def _cpu_us(fn, calls: int, batches: int = 15) -> float:
    """µs of process CPU time per call, best of ``batches`` batches: steady on a shared machine."""
    best = float("inf")
    for _ in range(batches):
        t0 = time.process_time()
        for _ in range(calls):
            fn()
        best = min(best, (time.process_time() - t0) / calls)
    return best * 1e6


def bench_short(console: Console) -> None:
    analyzer = LocalSafetyAnalyzer()
    table = Table(title="Offline analyzer on short texts, µs of CPU per analyze() (best of 15 batches)")
    for col in ("text", "chars", "stage", "PII cache warm", "PII cache cold"):
        table.add_column(col, justify="right")
    for label, text, stage, calls in SHORT_TEXTS:
        warm = _cpu_us(lambda t=text, s=stage: analyzer.analyze(t, stage=s), calls)

        def cold(t: str = text, s: str = stage) -> None:
            _find_cached.cache_clear()  # a text seen for the first time, as in production
            analyzer.analyze(t, stage=s)

        cold_us = _cpu_us(cold, calls) - _cpu_us(_find_cached.cache_clear, calls)
        table.add_row(label, f"{len(text):,}", stage, f"{warm:.1f}", f"{cold_us:.1f}")
    console.print(table)
    console.print("Warm: the same text again (bench_maf.py repeats one query; the audit redaction scans it too). "
                  "Cold: PII matches not cached yet, the cost for a new text.")


def _time(fn, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs) * 1000.0


def bench_local(console: Console) -> None:
    analyzer = LocalSafetyAnalyzer()
    table = Table(title="Offline analyzer and PII scan, median ms")
    for col in ("text", "chars", "analyzer ms", "find_pii ms", "µs per 1k chars (analyzer)", "vs 200-char"):
        table.add_column(col, justify="right")
    base = None
    for label, text, repeat in [
        ("200 chars", SAMPLE[:200], 200),
        ("10k chars", SAMPLE * 50, 20),
        ("100k chars", SAMPLE * 500, 5),
        ("1 MB", SAMPLE * 5000, 2),
        ("5 MB (capped window)", SAMPLE * 25000, 1),
        ("5 MB adversarial '1 1 1'", "1 " * 2_500_000, 1),
    ]:
        a_ms = _time(lambda t=text: analyzer.analyze(t), repeat)
        p_ms = _time(lambda t=text: find_pii(t), repeat)
        base = base or a_ms
        table.add_row(label, f"{len(text):,}", f"{a_ms:.2f}", f"{p_ms:.2f}",
                      f"{a_ms / (len(text) / 1000) * 1000:.1f}", f"{a_ms / base:.1f}x")
    console.print(table)

    fp = sum(not analyzer.analyze(t).allowed for t in BENIGN)
    caught = sum(not analyzer.analyze(t).allowed for t, _r, _m in ATTACKS)
    rates = Table(title="Known-answer sets (tests/safety/test_safety_local.py)")
    for col in ("set", "size", "blocked", "rate"):
        rates.add_column(col, justify="right")
    fp_rate = f"{fp / len(BENIGN):.0%} false positives"
    rates.add_row("benign (hard negatives)", str(len(BENIGN)), str(fp), fp_rate)
    rates.add_row("attacks / harm", str(len(ATTACKS)), str(caught), f"{caught / len(ATTACKS):.0%} caught")
    console.print(rates)


async def bench_azure(console: Console) -> None:
    stub = ContentSafetyStub(key="bench-key").start()
    table = Table(title="Azure guard vs local REST stub (real SDK client), median ms")
    for col in ("case", "requests", "ms", "ratio"):
        table.add_column(col, justify="right")
    try:
        text = "lorem ipsum dolor sit amet " * 4000  # ~108k chars -> 11 analyze + 11 shield requests
        stub.delay_s = 0.02  # a little service latency makes parallelism visible
        rows = []
        for label, conc in (("108k chars, sequential", 1), ("108k chars, 8 in parallel", 8)):
            guard = AzureContentSafetyGuard(stub.endpoint, key="bench-key", max_concurrency=conc)
            await guard.check_input("warm up")
            runs = []
            for _ in range(3):
                before = len(stub.calls)
                t0 = time.perf_counter()
                await guard.check_input(text)
                runs.append((time.perf_counter() - t0) * 1000.0)
                n = len(stub.calls) - before
            await guard.aclose()
            rows.append((label, n, statistics.median(runs)))
        seq = rows[0][2]
        for label, n, ms in rows:
            table.add_row(label, str(n), f"{ms:.1f}", f"{seq / ms:.1f}x faster" if ms != seq else "1.0x")
        stub.delay_s = 0.0
        guard = AzureContentSafetyGuard(stub.endpoint, key="bench-key")
        runs = []
        for _ in range(50):
            t0 = time.perf_counter()
            await guard.check_input("short prompt about invoices")
            runs.append((time.perf_counter() - t0) * 1000.0)
        await guard.aclose()
        table.add_row("short prompt (analyze + shield)", "2", f"{statistics.median(runs):.1f}", "")
    finally:
        stub.stop()
    console.print(table)


def main() -> None:
    console = Console()
    bench_short(console)
    bench_local(console)
    asyncio.run(bench_azure(console))


if __name__ == "__main__":
    main()
