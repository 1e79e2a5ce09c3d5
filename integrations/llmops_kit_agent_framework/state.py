"""Per-run state shared by the agent, chat and tool middleware of one MAF run.

MAF gives chat and function middleware no handle on the agent run they belong to, so the
agent middleware publishes a :class:`RunState` in a context variable. For ``stream=False``
it is set and reset around ``call_next()``; for ``stream=True`` the model calls happen
while the stream is pulled: a buffered stream (output check on) is pulled to its end inside
one consumption scope, which binds it once; an unbuffered one is re-bound around every pull
by a ``ResponseStream`` pull context manager. Bind and reset always happen in the same
block, so nothing leaks into the caller's context after a run.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmops_kit.agent import ModelCallRecord, RunContext, ToolCallRecord

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from llmops_kit.budget.base import BudgetReservation
    from llmops_kit.lifecycle import Admission, Evaluated
    from llmops_kit.results import RunResult
    from llmops_kit.safety.base import SafetyVerdict
    from llmops_kit_agent_framework.workflow import WorkflowRun


@dataclass(slots=True)
class Identity:
    """Who a run is for. MAF's ``run()`` has no place for it, so callers bind it with :func:`run_as`."""

    user_id: str | None = None
    tenant_id: str | None = None
    session_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class RunState:
    """Everything one agent run accumulates between admission and completion."""

    ctx: RunContext
    query: str
    started_at: float
    #: our own ``llmops.governed_run`` span - only for a run with no MAF span to write on (refused
    #: before MAF ran, or MAF's span not recording); ``INVALID_SPAN`` while MAF's span is the run's
    span: Span
    #: wall-clock start (ns), the start time of that span when it is opened late
    started_ns: int = 0
    admission: Admission | None = None
    workflow: WorkflowRun | None = None
    model_calls: list[ModelCallRecord] = field(default_factory=list)
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    budget_denied_reason: str | None = None
    tool_denied_reason: str | None = None
    ttft_s: float | None = None
    #: the last model call's reservation that settled, for the run's closing budget state
    last_settled: BudgetReservation | None = None
    completed: bool = False
    span_ended: bool = False
    result: RunResult | None = None
    #: MAF's ``invoke_agent`` span, captured by the first model call (see ``invoke_span``)
    maf_span: Span | None = None
    #: priced cost of the model calls so far, and "granted"/"denied" over their reservations
    cost_micro: int = 0
    budget_decision: str | None = None
    #: each model call's reply text, joined the way ``AgentResponse.text`` joins its messages
    reply_texts: list[str] = field(default_factory=list)
    #: ``stream=False`` only: awaited by the chat middleware after the run's last model call,
    #: while MAF's ``invoke_agent`` is still open (it ends before ``call_next()`` returns).
    #: Called with this state rather than closing over it: a closure would make a reference
    #: cycle that keeps the whole run alive until the cyclic GC runs.
    on_last_call: Callable[[RunState], Awaitable[None]] | None = None
    #: the output verdict taken at the last model call and the text it judged
    early_output: tuple[str, SafetyVerdict] | None = None
    #: the evaluation taken at the last model call (``stream=False``) and the text it scored
    early_evaluation: tuple[str, Evaluated] | None = None
    #: the last model reply's ``response_id`` (what MAF's ``AgentResponse`` carries)
    last_response_id: str | None = None
    #: ``stream=True``: the model call in flight, whose first chunk the run's pull (``bind_pull``) times
    current_call: Any = None

    @property
    def budget_run_id(self) -> str:
        """The run id budgets are charged to: the workflow's, so one budget spans a whole workflow."""
        return self.workflow.run_id if self.workflow is not None else self.ctx.run_id

    def mark_first_token(self) -> None:
        if self.ttft_s is None:
            self.ttft_s = time.perf_counter() - self.started_at


_CURRENT_RUN: ContextVar[RunState | None] = ContextVar("llmops_maf_run", default=None)
_IDENTITY: ContextVar[Identity | None] = ContextVar("llmops_maf_identity", default=None)


def current_run() -> RunState | None:
    return _CURRENT_RUN.get()


def current_identity() -> Identity | None:
    return _IDENTITY.get()


class bind_run:  # lower case: used like the function it replaced, ``with bind_run(state):``
    """Publish ``state`` as the current run for the block. A plain class, not a
    ``@contextmanager`` generator: with ``stream=True`` it wraps every pull of the stream."""

    __slots__ = ("_state", "_token")

    def __init__(self, state: RunState) -> None:
        self._state = state

    def __enter__(self) -> RunState:
        self._token = _CURRENT_RUN.set(self._state)
        return self._state

    def __exit__(self, *exc: object) -> None:
        _CURRENT_RUN.reset(self._token)


class bind_pull(bind_run):
    """:class:`bind_run` for the pulls of an unbuffered ``stream=True`` run (one instance, reused
    by every pull): the pull that brings a model call's first chunk also times it, so no
    per-update transform is needed for the ``time_to_first_chunk`` of each call there."""

    __slots__ = ()

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        if exc[0] is None:
            call = self._state.current_call
            if call is not None and call.ttft_s is None:
                call.mark_first_chunk()


@contextlib.contextmanager
def run_as(
    *, user_id: str | None = None, tenant_id: str | None = None, session_id: str | None = None,
    **metadata: Any,
) -> Iterator[Identity]:
    """Attribute every governed run started inside the block (agents and workflows) to a user/tenant.

    ``with run_as(user_id="u1", tenant_id="contoso"): await agent.run("...")`` - budgets per
    user/tenant and audit records use these ids.
    """
    identity = Identity(user_id=user_id, tenant_id=tenant_id, session_id=session_id, metadata=dict(metadata))
    token = _IDENTITY.set(identity)
    try:
        yield identity
    finally:
        _IDENTITY.reset(token)
