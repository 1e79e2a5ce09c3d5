"""Tool allow/deny policy, applied to the tool calls a model asks for before MAF runs them.

A denied or unsafe tool call raises ``ToolDeniedError`` (a ``MiddlewareFailure``: MAF's
explicit fail-closed escape) from the chat middleware, which ends the tool loop and reaches
the caller of ``agent.run()`` before any call of the batch executes. Every tool call, allowed
or not, is recorded on the run for the audit record and for tool-called evaluators.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from agent_framework import MiddlewareFailure
from opentelemetry import trace

from llmops_kit.agent import ToolCallRecord
from llmops_kit.telemetry import semconv as sc
from llmops_kit_agent_framework import invoke_span, tool_calls
from llmops_kit_agent_framework.runtime_ref import RuntimeRef

if TYPE_CHECKING:
    from llmops_kit_agent_framework.state import RunState

log = logging.getLogger("llmops_kit_agent_framework.tools")


class ToolDeniedError(MiddlewareFailure):
    """A tool call was refused by policy or by the safety check of its arguments."""

    def __init__(self, tool: str, reason: str) -> None:
        self.tool = tool
        self.reason = reason
        super().__init__(f"tool '{tool}' denied: {reason}")


@dataclass(frozen=True, slots=True)
class ToolPolicy:
    """Which tools may run, and whether their arguments go through content safety first.

    ``allow=None`` allows every tool not in ``deny``; a non-empty ``allow`` allows only
    those names. ``check_arguments`` runs the runtime's safety guard on the JSON arguments;
    ``fail_mode`` decides what happens when that check cannot run (closed = deny).
    """

    allow: frozenset[str] | None = None
    deny: frozenset[str] = field(default_factory=frozenset)
    check_arguments: bool = False
    fail_mode: Literal["closed", "open"] = "closed"

    @classmethod
    def of(cls, *, allow: Collection[str] | None = None, deny: Collection[str] = (),
           check_arguments: bool = False, fail_mode: Literal["closed", "open"] = "closed") -> ToolPolicy:
        if fail_mode not in ("closed", "open"):
            raise ValueError(f"ToolPolicy fail_mode: {fail_mode!r}; expected 'closed' or 'open'")
        allowed = frozenset(allow) if allow is not None else None
        return cls(allowed, frozenset(deny), check_arguments, fail_mode)

    @classmethod
    def from_settings(cls, settings: Any) -> ToolPolicy | None:
        """``TOOL_ALLOW_LIST`` / ``TOOL_DENY_LIST`` / ``TOOL_CHECK_ARGUMENTS`` / ``TOOL_POLICY_FAIL_MODE``.

        ``None`` when none is set. Read with ``getattr`` so it works on any Settings version.
        """
        allow = getattr(settings, "tool_allow_list", None)
        deny = getattr(settings, "tool_deny_list", None) or ()
        check = bool(getattr(settings, "tool_check_arguments", False))
        if allow is None and not deny and not check:
            return None
        return cls.of(allow=allow, deny=deny, check_arguments=check,
                      fail_mode=getattr(settings, "tool_policy_fail_mode", "closed"))

    def decide(self, tool: str) -> str | None:
        """The reason a tool is refused, or ``None`` when policy allows it."""
        if tool in self.deny:
            return "on the deny list"
        if self.allow is not None and tool not in self.allow:
            return "not on the allow list"
        return None


class ToolGate:
    """Applies a :class:`ToolPolicy` (optional) to the tool calls a model reply asks for.

    Runs in the chat middleware right after the model call, *before* MAF executes any call
    of the batch: a denied call raises :class:`ToolDeniedError` there, so neither it nor the
    other calls of the same batch run, and the model is not called again. Every requested
    call is recorded on the run (see ``tool_calls``), allowed or not.
    """

    def __init__(self, runtime: RuntimeRef, policy: ToolPolicy | None = None) -> None:
        self._ref = runtime
        self._explicit = policy
        self._from_settings: ToolPolicy | None = None
        self._settings_read = False

    @property
    def policy(self) -> ToolPolicy | None:
        """The explicit policy, else one from the runtime's settings (read once, on first use)."""
        if self._explicit is not None:
            return self._explicit
        if not self._settings_read:
            self._from_settings = ToolPolicy.from_settings(self._ref.get().settings)
            self._settings_read = True
        return self._from_settings

    async def admit(self, state: RunState | None, response: Any) -> None:
        """Record the reply's tool calls and refuse the batch if policy denies one of them.

        Without a bound run (the chat middleware on a bare chat client) nothing is recorded,
        but the policy applies all the same."""
        runtime = self._ref.get()
        requested = tool_calls.note_requests(state, response, runtime.telemetry)
        policy = self.policy
        if not requested or policy is None:
            return
        agent = state.ctx.agent_name if state is not None else None
        for record, arguments in requested:
            name = record.name
            reason = policy.decide(name) or await self._check_arguments(policy, arguments, name)
            runtime.telemetry.record_guardrail("tool", "block" if reason else "allow", "tool_policy",
                                               reason, agent)
            if reason:
                self._deny(state, record, reason)
                raise ToolDeniedError(name, reason)

    def _deny(self, state: RunState | None, record: ToolCallRecord, reason: str) -> None:
        record.error = f"denied: {reason}"
        if state is not None and state.tool_denied_reason is None:
            state.tool_denied_reason = f"tool_denied: {record.name} {reason}"
            invoke_span.publish_outcome(state, "error", state.tool_denied_reason)  # MAF ends it next
        span = trace.get_current_span()
        if span.is_recording():
            span.add_event(sc.EVENT_GUARDRAIL_DECISION, {
                sc.LLMOPS_GUARDRAIL_STAGE: "tool", sc.LLMOPS_GUARDRAIL_ACTION: "block",
                sc.LLMOPS_GUARDRAIL_KIND: "tool_policy", sc.GEN_AI_TOOL_NAME: record.name,
                sc.LLMOPS_RUN_REASON: reason,
            })

    async def _check_arguments(self, policy: ToolPolicy, arguments: Any, name: str) -> str | None:
        if not policy.check_arguments:
            return None
        runtime = self._ref.get()
        try:
            verdict = await runtime.safety.check_input(tool_calls.arguments_text(arguments))
        except Exception as exc:
            log.warning("tool argument safety check failed for %s: %s", name, type(exc).__name__)
            runtime.telemetry.safety_unavailable.add(1, {sc.LLMOPS_GUARDRAIL_STAGE: "tool"})
            if policy.fail_mode == "open":
                return None
            return "argument safety check unavailable (fail closed)"
        if verdict.status == "unavailable" and policy.fail_mode == "open":
            return None
        if not verdict.allowed:
            return f"unsafe arguments ({verdict.reason or 'blocked'})"
        return None
