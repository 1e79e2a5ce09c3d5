"""Overhead of LLMOpsCallbackHandler against the anchors, via the shared benchmark script.

    PYTHONPATH=src:integrations .venv/bin/python tests/benchmarks/bench_langchain.py [--script PATH] [args...]

Runs ``lc_overhead.py`` with our factory (content on, like the anchors; and content off) and
the span-floor measuring stick (our 4 spans and parenting, minimal attributes, no bookkeeping;
see ``llmops_kit_langchain.bench``), then prints a rich table: added µs per invocation, spans
per invocation, µs per emitted span and the two target ratios (vs half the best anchor, vs
1.5x the otel-minimal floor per span).
Anchors not installed in the interpreter are skipped by the script; install them in a
throwaway venv (see the script's docstring) to get the comparison.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SCRIPT = Path(os.environ.get("LC_OVERHEAD_SCRIPT", "/work/shared/bench/lc_overhead.py"))
ROW = re.compile(r"^(\S+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([+-][\d.]+)\s+([\d.]+)\s+(\S+)$")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--script", type=Path, default=DEFAULT_SCRIPT)
    args, rest = ap.parse_known_args(argv)
    if not args.script.exists():
        print(f"benchmark script not found: {args.script} (set LC_OVERHEAD_SCRIPT)", file=sys.stderr)
        return 2
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "integrations")])}
    cmd = [
        sys.executable,
        str(args.script),
        "--handler",
        "llmops_kit_langchain.bench:bench_factory=llmops",
        "--handler",
        "llmops_kit_langchain.bench:bench_factory_no_content=llmops-nocontent",
        "--handler",
        "llmops_kit_langchain.bench:bench_factory_span_floor=llmops-span-floor",
        *rest,
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    print(proc.stdout)
    if proc.returncode != 0:
        print(proc.stderr, file=sys.stderr)
        return proc.returncode
    rows = {}
    for line in proc.stdout.splitlines():
        m = ROW.match(line.strip())
        if m:
            spans = float(m.group(7)) if m.group(7) != "-" else None
            rows[m.group(1)] = (float(m.group(5)), spans)
    table = Table(title="LangChain handler overhead (added µs per invocation vs no callbacks)")
    for col in ("variant", "added µs", "spans/inv", "µs/span", "vs best anchor", "vs floor per span"):
        table.add_column(col, justify="right" if col != "variant" else "left")
    floor = rows.get("otel-minimal/simple")
    best = min(
        (
            v
            for k, v in rows.items()
            if k.startswith(("azure/", "openinference", "openllmetry", "langfuse", "otel-genai"))
        ),
        default=None,
        key=lambda v: v[0],
    )
    for name, (added, spans) in rows.items():
        per_span = added / spans if spans else None
        vs_best = f"{added / best[0]:.2f}x" if best and name.startswith("llmops") else ""
        vs_floor = (
            f"{per_span / (floor[0] / floor[1]):.2f}x"
            if floor and per_span and name.startswith("llmops")
            else ""
        )
        table.add_row(
            name,
            f"{added:+.0f}",
            f"{spans:.1f}" if spans else "-",
            f"{per_span:.0f}" if per_span else "-",
            vs_best,
            vs_floor,
        )
    Console(width=110).print(table)
    print("targets: added <= 0.5x best anchor; us/span <= 1.5x otel-minimal us/span")
    return 0


if __name__ == "__main__":
    sys.exit(main())
