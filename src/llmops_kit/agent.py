"""The protocol every agent plugs into: ``async (query, ctx) -> AgentReply``.

The core never imports LangChain or MAF. Framework adapters live in the integration
packages and are found by :func:`adapt`, which looks at the object's module and imports
the matching integration lazily.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from llmops_kit.usage import TokenUsage, is_count_report

if TYPE_CHECKING:
    from llmops_kit.runtime import Runtime

_log = logging.getLogger("llmops_kit.agent")


@dataclass(slots=True)
class ToolCallRecord:
    """One tool call the agent made, for audit records and tool-called evaluators."""

    name: str
    call_id: str | None = None
    arguments: str | None = None
    result: str | None = None
    error: str | None = None


@dataclass(slots=True)
class ModelCallRecord:
    """One model call inside a run: per-model attribution of tokens and cost."""

    model: str
    usage: TokenUsage
    provider: str = "openai"
    duration_s: float | None = None
    ttft_s: float | None = None
    agent_name: str | None = None
    #: what the reported usage was priced at when the call was recorded (``None``: not priced -
    #: no usage reported, or the model has no price); the run's cost sums these, not a re-pricing
    cost_micro_usd: int | None = None


@dataclass(slots=True)
class AgentReply:
    """What an agent returns. Plain ``str`` replies are wrapped into this.

    ``usage`` is ``None`` when the framework reported none; the pipeline then settles the
    budget at the reserved amount (never at $0) and marks the run ``usage_missing``. A usage
    (of the run or of a ``model_calls`` record) holding anything but non-negative ``int``
    counts is treated the same way, with a warning.
    """

    text: str
    usage: TokenUsage | None = None
    model: str | None = None
    provider: str | None = None
    model_calls: list[ModelCallRecord] = field(default_factory=list)
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    ttft_s: float | None = None
    response_id: str | None = None
    documents: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class RunContext:
    """Who and what a run is for; handed to adapters so they can tag their own telemetry."""

    run_id: str
    agent_name: str
    user_id: str | None = None
    tenant_id: str | None = None
    session_id: str | None = None
    max_output_tokens: int | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    runtime: Runtime | None = None


@runtime_checkable
class AgentAdapter(Protocol):
    """Runs one agent invocation and reports usage exactly as the framework measured it."""

    name: str

    async def invoke(self, query: str, ctx: RunContext) -> AgentReply: ...


AgentCallable = Callable[[str], Awaitable["str | AgentReply"]]


class CallableAdapter:
    """Adapter for a plain ``async (query) -> str | AgentReply`` callable (or one taking ``ctx``)."""

    def __init__(self, fn: Callable[..., Any], name: str | None = None) -> None:
        self._fn = fn
        self.name = name or getattr(fn, "__name__", None) or type(fn).__name__
        try:
            params = inspect.signature(fn).parameters
            self._wants_ctx = "ctx" in params
        except (TypeError, ValueError):
            self._wants_ctx = False

    async def invoke(self, query: str, ctx: RunContext) -> AgentReply:
        out = self._fn(query, ctx=ctx) if self._wants_ctx else self._fn(query)
        if inspect.isawaitable(out):
            out = await out
        return coerce_reply(out)


PARTIAL_REPLY_ATTR = "__llmops_partial_reply__"


def attach_partial_reply(exc: BaseException, reply: AgentReply) -> BaseException:
    """Record on a failure what the agent had already used (model calls, tools) before it failed.

    The pipeline then settles the budget and reports cost with those provider-reported figures
    instead of charging the whole reservation. Raise the returned exception as usual.
    """
    setattr(exc, PARTIAL_REPLY_ATTR, reply)
    return exc


def partial_reply(exc: BaseException) -> AgentReply | None:
    reply = getattr(exc, PARTIAL_REPLY_ATTR, None)
    return reply if isinstance(reply, AgentReply) else None


class AgentReturnTypeError(TypeError):
    """The agent returned something that is neither ``str`` nor ``AgentReply``."""


def coerce_reply(value: object) -> AgentReply:
    if isinstance(value, AgentReply):
        if not isinstance(value.text, str):
            raise AgentReturnTypeError(
                f"AgentReply.text must be str, got {type(value.text).__name__}"
            )
        return _with_checked_usage(value)
    if isinstance(value, str):
        return AgentReply(text=value)
    raise AgentReturnTypeError(
        f"agent returned {type(value).__name__}; expected str or llmops_kit.AgentReply"
    )


def _with_checked_usage(reply: AgentReply) -> AgentReply:
    """``reply``, or a copy whose usage counts as unreported when any of it is not a count report.

    The run was already paid for: a negative or non-integer count must not price it at $0 or
    refund the budget, and raising here would lose the run's record. Unreported usage is
    flagged ``usage_missing`` and charged the reservation instead - the whole run's, also when
    only one model call's record is bad, since the run's cost is the sum of its calls.
    """
    bad_run = reply.usage is not None and not is_count_report(reply.usage)
    bad_call = next((c for c in reply.model_calls if not is_count_report(c.usage)), None)
    if not bad_run and bad_call is None:
        return reply
    _log.warning("AgentReply usage holds values that are not token counts (%.60r); it counts as unreported",
                 reply.usage if bad_run else bad_call.usage)  # type: ignore[union-attr]
    calls = [c if is_count_report(c.usage) else
             dataclasses.replace(c, usage=TokenUsage(reported=False), cost_micro_usd=None)
             for c in reply.model_calls]
    return dataclasses.replace(reply, usage=None, model_calls=calls)


_FRAMEWORK_ADAPTERS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("langchain", "langgraph", "langchain_core"), "llmops_kit_langchain.adapter:adapt_runnable"),
    (("agent_framework",), "llmops_kit_agent_framework.adapter:adapt_agent"),
)


def adapt(agent: object, name: str | None = None) -> AgentAdapter:
    """Turn anything runnable into an :class:`AgentAdapter`.

    Order: an object that already is an adapter; a LangChain Runnable or MAF agent (by the
    module its class comes from, so the core imports neither framework); any callable.
    """
    if isinstance(agent, (CallableAdapter,)):
        return agent
    for cls in type(agent).__mro__:
        root = (cls.__module__ or "").split(".")[0]
        for prefixes, target in _FRAMEWORK_ADAPTERS:
            if root in prefixes:
                module_name, factory_name = target.split(":")
                import importlib

                module = importlib.import_module(module_name)
                return getattr(module, factory_name)(agent, name=name)
    if hasattr(agent, "name") and inspect.iscoroutinefunction(getattr(agent, "invoke", None)):
        try:
            takes_ctx = "ctx" in inspect.signature(agent.invoke).parameters
        except (TypeError, ValueError):
            takes_ctx = False
        if takes_ctx:
            return agent  # type: ignore[return-value]
    if callable(agent):
        return CallableAdapter(agent, name=name)
    raise TypeError(
        f"cannot run {type(agent).__name__}: pass an async callable (str) -> str | AgentReply, "
        "a LangChain Runnable, a MAF agent, or an AgentAdapter"
    )
