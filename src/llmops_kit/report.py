"""Summaries of the local telemetry store (``.llmops/telemetry/*.jsonl``).

Runs are the ``invoke_agent`` spans that carry ``llmops.run.status``; their attributes hold
the rolled-up tokens and cost, so the report needs no joins.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmops_kit.telemetry import semconv as sc
from llmops_kit.telemetry.jsonl import LOGS_FILE, SPANS_FILE, read_jsonl

#: Statuses that count as a block (a guardrail or budget said no), not an error.
BLOCK_STATUSES = frozenset({"blocked_input", "blocked_output", "budget_denied"})


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


@dataclass
class GroupStats:
    runs: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)

    def add(self, attrs: dict[str, Any], duration_ms: float) -> None:
        self.runs += 1
        # llmops.usage.* is on every run span; gen_ai.usage.* only where the run span is the GenAI agent span
        self.input_tokens += int(
            attrs.get(sc.LLMOPS_USAGE_INPUT_TOKENS, attrs.get(sc.GEN_AI_USAGE_INPUT_TOKENS, 0)) or 0)
        self.output_tokens += int(
            attrs.get(sc.LLMOPS_USAGE_OUTPUT_TOKENS, attrs.get(sc.GEN_AI_USAGE_OUTPUT_TOKENS, 0)) or 0)
        self.cost_usd += float(attrs.get(sc.LLMOPS_COST_USD, 0.0) or 0.0)
        self.latencies_ms.append(duration_ms)


@dataclass
class TelemetryReport:
    total: GroupStats
    by_agent: dict[str, GroupStats]
    by_model: dict[str, GroupStats]
    by_tenant: dict[str, GroupStats]
    statuses: Counter[str]
    block_reasons: Counter[str]
    eval_scores: dict[str, list[float]]
    run_spans: list[dict[str, Any]]

    def rate(self, *statuses: str) -> float:
        """Share of runs that ended in any of ``statuses``."""
        n = sum(v for k, v in self.statuses.items() if k in statuses)
        return n / self.total.runs if self.total.runs else 0.0

    @property
    def block_rate(self) -> float:
        blocked = sum(v for k, v in self.statuses.items() if k in BLOCK_STATUSES)
        return blocked / self.total.runs if self.total.runs else 0.0


_BUDGET_LIMIT = re.compile(r"^(.*?) limit [\d,]+")


def reason_code(status: str, reason: str) -> str:
    """A low-cardinality key for a block or error reason (free text carries numbers)."""
    if status == "budget_denied":
        m = _BUDGET_LIMIT.match(reason)
        return f"budget: {m.group(1)}" if m else "budget: " + reason.split(":")[0][:40]
    return reason.split(":")[0].strip()[:60]


def build_report(directory: Path) -> TelemetryReport:
    spans = read_jsonl(Path(directory) / SPANS_FILE)
    runs = [s for s in spans if sc.LLMOPS_RUN_STATUS in s.get("attributes", {})]
    total = GroupStats()
    by_agent: dict[str, GroupStats] = defaultdict(GroupStats)
    by_model: dict[str, GroupStats] = defaultdict(GroupStats)
    by_tenant: dict[str, GroupStats] = defaultdict(GroupStats)
    statuses: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    for s in runs:
        a = s["attributes"]
        d = float(s.get("duration_ms", 0.0))
        total.add(a, d)
        by_agent[str(a.get(sc.GEN_AI_AGENT_NAME, "?"))].add(a, d)
        by_model[str(a.get(sc.GEN_AI_REQUEST_MODEL, "?"))].add(a, d)
        by_tenant[str(a.get(sc.LLMOPS_TENANT_ID, "—"))].add(a, d)
        status = str(a[sc.LLMOPS_RUN_STATUS])
        statuses[status] += 1
        if status != "ok" and a.get(sc.LLMOPS_RUN_REASON):
            reasons[reason_code(status, str(a[sc.LLMOPS_RUN_REASON]))] += 1
    scores: dict[str, list[float]] = defaultdict(list)
    for rec in read_jsonl(Path(directory) / LOGS_FILE):
        if rec.get("event_name") == sc.EVENT_EVALUATION_RESULT:
            a = rec.get("attributes", {})
            if sc.GEN_AI_EVALUATION_SCORE_VALUE in a:
                scores[str(a.get(sc.GEN_AI_EVALUATION_NAME))].append(float(a[sc.GEN_AI_EVALUATION_SCORE_VALUE]))
    return TelemetryReport(total, dict(by_agent), dict(by_model), dict(by_tenant), statuses, reasons,
                           dict(scores), runs)


LatencySlice = tuple[int, int, float, float, float]


@dataclass
class SessionStats:
    session_id: str
    runs: int = 0
    cost_usd: float = 0.0
    tokens: int = 0
    agents: set[str] = field(default_factory=set)
    tenant: str = "—"


def top_sessions(report: TelemetryReport, n: int = 10) -> list[SessionStats]:
    """Sessions by total cost (then tokens): where the money went, conversation by conversation."""
    sessions: dict[str, SessionStats] = {}
    for s in report.run_spans:
        a = s.get("attributes", {})
        sid = str(a.get(sc.LLMOPS_SESSION_ID) or "—")
        st = sessions.setdefault(sid, SessionStats(sid))
        st.runs += 1
        st.cost_usd += float(a.get(sc.LLMOPS_COST_USD, 0.0) or 0.0)
        st.tokens += int(a.get(sc.LLMOPS_USAGE_TOTAL_TOKENS, 0) or 0) or (
            int(a.get(sc.GEN_AI_USAGE_INPUT_TOKENS, 0) or 0) + int(a.get(sc.GEN_AI_USAGE_OUTPUT_TOKENS, 0) or 0))
        st.agents.add(str(a.get(sc.GEN_AI_AGENT_NAME, "?")))
        st.tenant = str(a.get(sc.LLMOPS_TENANT_ID, st.tenant))
    return sorted(sessions.values(), key=lambda x: (-x.cost_usd, -x.tokens, x.session_id))[:n]


def latency_over_time(report: TelemetryReport, buckets: int = 12) -> list[LatencySlice]:
    """``(start_ns, runs, p50, p95, p99)`` per equal time slice of the runs (empty slices skipped)."""
    runs = [(int(s.get("start_ns", 0) or 0), float(s.get("duration_ms", 0.0) or 0.0))
            for s in report.run_spans]
    if not runs:
        return []
    lo, hi = min(t for t, _ in runs), max(t for t, _ in runs)
    width = max(1, (hi - lo) // max(1, buckets) + 1)
    slices: dict[int, list[float]] = defaultdict(list)
    for t, d in runs:
        slices[(t - lo) // width].append(d)
    return [(lo + i * width, len(v), percentile(v, 50), percentile(v, 95), percentile(v, 99))
            for i, v in sorted(slices.items())]


def load_traces(directory: Path, trace_ids: set[str] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Every span of the given traces (all traces when ``None``), grouped and ordered by start."""
    traces: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in read_jsonl(Path(directory) / SPANS_FILE):
        tid = s.get("trace_id")
        if tid and (trace_ids is None or tid in trace_ids):
            traces[tid].append(s)
    for spans in traces.values():
        spans.sort(key=lambda x: (int(x.get("start_ns", 0) or 0), -int(x.get("end_ns", 0) or 0)))
    return dict(traces)
