"""Run an evaluation suite through ``ProductionAgent``: the CI quality gate.

Every case runs the full governed lifecycle (safety, budget, telemetry, audit) and is then
scored *inline, at 100 %*, by the suite's own :class:`EvaluationRunner`, whatever the
production sampling settings say: a gate that samples would let regressions through.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import json
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from llmops_kit.agent import ToolCallRecord
from llmops_kit.evaluation.base import EvalContext, EvalResult, Evaluator
from llmops_kit.evaluation.cases import Case, Suite
from llmops_kit.evaluation.runner import EvaluationRunner

RESULTS_FORMAT = "llmops-kit.eval-results/1"


@dataclass
class CaseResult:
    id: str
    tags: list[str]
    input: str
    status: str
    expected_status: str
    passed: bool
    failures: list[str]
    scores: dict[str, float | None]
    evaluations: list[dict[str, Any]]
    response: str
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    run_id: str | None = None
    reason: str | None = None


@dataclass
class SuiteResults:
    suite: str
    source: str
    started_at: float
    cases: list[CaseResult]
    min_pass_rate: float = 0.0
    summary: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": RESULTS_FORMAT,
            "suite": self.suite,
            "source": self.source,
            "started_at": self.started_at,
            "min_pass_rate": self.min_pass_rate,
            "summary": self.summary,
            "cases": [asdict(c) for c in self.cases],
        }

    def write_json(self, path: str | Path) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(p.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False), encoding="utf-8")
        tmp.replace(p)  # never leave a half-written results file for the next diff
        return p

    @property
    def gate_passed(self) -> bool:
        return self.summary.get("pass_rate", 0.0) >= self.min_pass_rate


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summarize(cases: Sequence[CaseResult]) -> dict[str, Any]:
    n = len(cases)
    passed = sum(c.passed for c in cases)
    by_eval: dict[str, list[float]] = {}
    for c in cases:
        for name, score in c.scores.items():
            if score is not None:
                by_eval.setdefault(name, []).append(score)
    latencies = [c.latency_ms for c in cases]
    return {
        "cases": n,
        "passed": passed,
        "failed": n - passed,
        "pass_rate": passed / n if n else 0.0,
        "mean_scores": {k: round(statistics.fmean(v), 4) for k, v in sorted(by_eval.items())},
        "input_tokens": sum(c.input_tokens for c in cases),
        "output_tokens": sum(c.output_tokens for c in cases),
        "total_tokens": sum(c.total_tokens for c in cases),
        "cost_usd": round(sum(c.cost_usd for c in cases), 8),
        "latency_ms_p50": percentile(latencies, 50),
        "latency_ms_p95": percentile(latencies, 95),
        "statuses": {s: sum(c.status == s for c in cases) for s in sorted({c.status for c in cases})},
    }


def judge_case(case: Case, status: str, results: Sequence[EvalResult]) -> list[str]:
    """Why the case failed (empty list = passed).

    With ``pass_criteria`` each named evaluator must reach its minimum (a missing or
    errored score fails); without, every evaluator that gave a verdict must pass.
    """
    failures: list[str] = []
    if status != case.expected_status:
        failures.append(f"status {status} != expected {case.expected_status}")
    by = {r.name: r for r in results}
    if case.pass_criteria:
        for name, minimum in case.pass_criteria.items():
            r = by.get(name)
            if r is None or r.score is None:
                failures.append(f"{name}: no score ({r.status if r else 'not run'})")
            elif r.score < minimum:
                failures.append(f"{name}: {r.score:.3g} < {minimum:g}")
    else:
        failures.extend(
            f"{r.name}: {r.score if r.score is not None else '-'} failed ({r.explanation[:80]})"
            for r in results
            if r.passed is False
        )
    return failures


def load_factory(spec: str) -> Callable[[], Any]:
    """``package.module:factory`` or ``path/to/file.py:factory`` → the factory callable."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"--agent must look like 'module:factory' or 'file.py:factory', got {spec!r}")
    if module_name.endswith(".py") or "/" in module_name:
        path = Path(module_name).resolve()
        if not path.is_file():
            raise ValueError(f"--agent file not found: {path}")
        mod_spec = importlib.util.spec_from_file_location(f"llmops_eval_agent_{path.stem}", path)
        if mod_spec is None or mod_spec.loader is None:
            raise ValueError(f"cannot import {path}")
        module = importlib.util.module_from_spec(mod_spec)
        sys.modules[mod_spec.name] = module
        mod_spec.loader.exec_module(module)
    else:
        if "" not in sys.path and str(Path.cwd()) not in sys.path:
            sys.path.insert(0, str(Path.cwd()))  # like `python -m`: the project's own modules resolve
        module = importlib.import_module(module_name)
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ValueError(f"{module_name} has no callable {attr!r}")
    return factory


async def run_case(production_agent: Any, runner: EvaluationRunner, case: Case) -> CaseResult:
    result = await production_agent.run(
        case.input,
        metadata=case.eval_metadata(),
        expected_topics=case.expected_topics,
        reference=case.reference,
        documents=case.documents,
    )
    ctx = EvalContext(
        run_id=result.run_id,
        agent_name=getattr(production_agent, "name", None),
        tool_calls=[
            ToolCallRecord(name=t["name"], call_id=t.get("call_id"), error=t.get("error"))
            for t in (result.tool_calls or [])
        ],
        documents=case.documents,
        expected_topics=case.expected_topics,
        reference=case.reference,
        metadata=case.eval_metadata(),
    )
    evals: list[EvalResult] = []
    if result.status == "ok":
        evals = await runner.evaluate(case.input, result.response, ctx)
    failures = judge_case(case, result.status, evals)
    usage = result.usage
    return CaseResult(
        id=case.id,
        tags=list(case.tags),
        input=case.input,
        status=result.status,
        expected_status=case.expected_status,
        passed=not failures,
        failures=failures,
        scores={r.name: r.score for r in evals},
        evaluations=[r.to_dict() for r in evals],
        response=result.response[:4000],
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        total_tokens=usage.total_tokens,
        cost_usd=result.cost_usd,
        latency_ms=round(result.latency_ms, 3),
        run_id=result.run_id,
        reason=result.reason,
    )


async def run_suite(
    suite: Suite,
    production_agent: Any,
    *,
    evaluators: Sequence[Evaluator] | None = None,
    concurrency: int = 4,
    min_pass_rate: float = 0.0,
    timeout_s: float = 60.0,
    on_case_done: Callable[[CaseResult], None] | None = None,
) -> SuiteResults:
    """Run every case (at most ``concurrency`` at once); results keep the file's case order."""
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    if evaluators is None:
        from llmops_kit.evaluation.defaults import default_evaluators

        evaluators = default_evaluators()
    runner = EvaluationRunner(list(evaluators), mode="inline", default_sample_rate=1.0, timeout_s=timeout_s)
    gate = asyncio.Semaphore(concurrency)
    started = time.time()

    async def one(case: Case) -> CaseResult:
        async with gate:
            try:
                res = await run_case(production_agent, runner, case)
            except Exception as exc:  # one broken case must not sink the report
                res = CaseResult(
                    id=case.id,
                    tags=list(case.tags),
                    input=case.input,
                    status="error",
                    expected_status=case.expected_status,
                    passed=False,
                    failures=[f"suite error: {type(exc).__name__}: {str(exc)[:200]}"],
                    scores={},
                    evaluations=[],
                    response="",
                    reason=type(exc).__name__,
                )
        if on_case_done is not None:
            on_case_done(res)
        return res

    cases = list(await asyncio.gather(*(one(c) for c in suite.cases)))
    out = SuiteResults(
        suite=suite.name, source=suite.source, started_at=started, cases=cases, min_pass_rate=min_pass_rate
    )
    out.summary = summarize(cases)
    return out


# --------------------------------------------------------------------------- diff
@dataclass
class CaseDiff:
    id: str
    change: str  # "regressed" | "fixed" | "same" | "added" | "removed"
    old_passed: bool | None
    new_passed: bool | None
    score_deltas: dict[str, float]


def load_results(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{p}: cannot read results ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != RESULTS_FORMAT:
        raise ValueError(f"{p}: not an llmops-kit results file (expected format {RESULTS_FORMAT})")
    return data


def diff_results(old: dict[str, Any], new: dict[str, Any]) -> list[CaseDiff]:
    """Per-case pass/fail changes and score deltas (new − old), in the new file's order."""
    old_cases = {c["id"]: c for c in old.get("cases", [])}
    new_cases = {c["id"]: c for c in new.get("cases", [])}
    rows: list[CaseDiff] = []
    for cid in [*new_cases, *(k for k in old_cases if k not in new_cases)]:
        o, n = old_cases.get(cid), new_cases.get(cid)
        if o is None or n is None:
            rows.append(
                CaseDiff(cid, "added" if o is None else "removed", o and o["passed"], n and n["passed"], {})
            )
            continue
        deltas = {
            k: round(n["scores"][k] - o["scores"][k], 4)
            for k in n.get("scores", {})
            if n["scores"].get(k) is not None and o.get("scores", {}).get(k) is not None
        }
        change = (
            "regressed"
            if o["passed"] and not n["passed"]
            else "fixed"
            if n["passed"] and not o["passed"]
            else "same"
        )
        rows.append(CaseDiff(cid, change, o["passed"], n["passed"], deltas))
    return rows
