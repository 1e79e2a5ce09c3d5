"""One governed workflow run: a shared budget, per-agent attribution and a workflow audit record.

MAF workflows (``SequentialBuilder``, ``ConcurrentBuilder``, handoff) run each participant
agent through its own middleware, so every agent run is governed and audited on its own.
:func:`workflow_run` adds what no single agent can see: the model calls of every agent are
charged to the workflow's run id (so a ``run``-scoped limit is one budget for the whole
workflow), usage and cost are attributed per agent, and one more audit record describes the
workflow run as a whole. The context variable it sets is inherited by the tasks the
workflow runner creates, which is how the agents find it.

    async with workflow_run("research", runtime=runtime, user_id="u1") as wf:
        await SequentialBuilder(participants=[researcher, writer]).build().run("...")
    wf.result.per_agent["writer"].usage
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from llmops_kit.audit.base import AuditReceipt
from llmops_kit.ids import new_id
from llmops_kit.usage import TokenUsage
from llmops_kit_agent_framework.runtime_ref import RuntimeRef
from llmops_kit_agent_framework.state import Identity, current_identity

if TYPE_CHECKING:
    from llmops_kit.agent import ModelCallRecord
    from llmops_kit.results import RunResult
    from llmops_kit.runtime import Runtime

log = logging.getLogger("llmops_kit_agent_framework.workflow")


@dataclass(slots=True)
class AgentTotals:
    """What one participant used across the workflow run."""

    usage: TokenUsage = field(default_factory=lambda: TokenUsage())
    cost_micro_usd: int = 0
    model_calls: int = 0
    runs: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)

    @property
    def cost_usd(self) -> float:
        return self.cost_micro_usd / 1_000_000

    def to_dict(self) -> dict[str, Any]:
        return {"usage": self.usage.to_dict(), "cost_usd": self.cost_usd, "model_calls": self.model_calls,
                "runs": list(self.runs), "statuses": list(self.statuses)}


@dataclass(slots=True)
class WorkflowResult:
    run_id: str
    name: str
    status: str
    reason: str | None
    usage: TokenUsage
    cost_usd: float
    latency_ms: float
    per_agent: dict[str, AgentTotals]
    agent_runs: list[RunResult]
    audit: AuditReceipt | None = None


@dataclass(slots=True)
class WorkflowRun:
    """Live accounting of one workflow run; agents report into it from their middleware."""

    run_id: str
    name: str
    identity: Identity | None
    started_at: float
    per_agent: dict[str, AgentTotals] = field(default_factory=dict)
    agent_runs: list[RunResult] = field(default_factory=list)
    result: WorkflowResult | None = None

    def _totals(self, agent: str | None) -> AgentTotals:
        key = agent or "unknown"
        totals = self.per_agent.get(key)
        if totals is None:
            totals = self.per_agent[key] = AgentTotals()
        return totals

    def record_call(self, record: ModelCallRecord, cost_micro_usd: int) -> None:
        totals = self._totals(record.agent_name)
        if record.usage.reported:
            totals.usage = totals.usage + record.usage
        totals.model_calls += 1
        totals.cost_micro_usd += int(cost_micro_usd)

    def record_run(self, result: RunResult) -> None:
        self.agent_runs.append(result)
        totals = self._totals(result.agent)
        totals.runs.append(result.run_id)
        totals.statuses.append(result.status)

    @property
    def usage(self) -> TokenUsage:
        total = TokenUsage()
        for totals in self.per_agent.values():
            total = total + totals.usage
        return total

    @property
    def cost_micro_usd(self) -> int:
        return sum(t.cost_micro_usd for t in self.per_agent.values())


_CURRENT_WORKFLOW: ContextVar[WorkflowRun | None] = ContextVar("llmops_maf_workflow", default=None)


def current_workflow() -> WorkflowRun | None:
    return _CURRENT_WORKFLOW.get()


@contextlib.asynccontextmanager
async def workflow_run(
    name: str, *, runtime: Runtime | RuntimeRef | None = None, user_id: str | None = None,
    tenant_id: str | None = None, session_id: str | None = None,
) -> AsyncIterator[WorkflowRun]:
    """Govern every agent run inside the block as one workflow run (see module docstring)."""
    ref = runtime if isinstance(runtime, RuntimeRef) else RuntimeRef(runtime)
    outer = current_identity()
    identity = Identity(user_id=user_id or (outer.user_id if outer else None),
                        tenant_id=tenant_id or (outer.tenant_id if outer else None),
                        session_id=session_id or (outer.session_id if outer else None),
                        metadata=dict(outer.metadata) if outer else {})
    wf = WorkflowRun(run_id=new_id(), name=name, identity=identity, started_at=time.perf_counter())
    token = _CURRENT_WORKFLOW.set(wf)
    error: BaseException | None = None
    try:
        yield wf
    except BaseException as exc:
        error = exc
        raise
    finally:
        _CURRENT_WORKFLOW.reset(token)
        wf.result = await _finish(ref, wf, error)


async def _finish(ref: RuntimeRef, wf: WorkflowRun, error: BaseException | None) -> WorkflowResult:
    statuses = [r.status for r in wf.agent_runs]
    if error is not None:
        status, reason = "error", f"workflow_error: {type(error).__name__}: {str(error)[:300]}"
    else:
        failed = next((r for r in wf.agent_runs if r.status != "ok"), None)
        status = failed.status if failed is not None else "ok"
        reason = f"{failed.agent}: {failed.reason}" if failed is not None else None
    result = WorkflowResult(
        run_id=wf.run_id, name=wf.name, status=status, reason=reason, usage=wf.usage,
        cost_usd=wf.cost_micro_usd / 1_000_000, latency_ms=(time.perf_counter() - wf.started_at) * 1000,
        per_agent=dict(wf.per_agent), agent_runs=list(wf.agent_runs),
    )
    runtime = ref.get()
    record = {
        "schema": "llmops.audit/1",
        "kind": "workflow",
        "timestamp": datetime.now(timezone.utc).isoformat(),
        "run_id": wf.run_id,
        "workflow": wf.name,
        "trace_id": next((r.trace_id for r in wf.agent_runs if r.trace_id), ""),
        "tenant_id": wf.identity.tenant_id if wf.identity else None,
        "user_id": wf.identity.user_id if wf.identity else None,
        "session_id": wf.identity.session_id if wf.identity else None,
        "status": status,
        "reason": reason,
        "error_type": type(error).__name__ if error is not None else None,
        "usage": result.usage.to_dict(),
        "cost_usd": result.cost_usd,
        "latency_ms": round(result.latency_ms, 3),
        "agents": {name: totals.to_dict() for name, totals in wf.per_agent.items()},
        "agent_runs": [{"run_id": r.run_id, "agent": r.agent, "status": r.status} for r in wf.agent_runs],
        "agent_statuses": statuses,
    }
    try:
        result.audit = await runtime.audit.append(record)
    except Exception:
        log.error("audit append failed for workflow run %s", wf.run_id, exc_info=True)
    runtime.telemetry.record_run(agent=f"workflow:{wf.name}", status=status,
                                 tenant=wf.identity.tenant_id if wf.identity else None)
    return result
