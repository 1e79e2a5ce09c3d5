"""``ProductionAgent``: wrap any agent and run it through the governed lifecycle.

One instance serves many concurrent runs: all per-run state lives in local variables and
the :class:`~llmops_kit.agent.RunContext`, never on ``self``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.trace import SpanKind

from llmops_kit.agent import AgentReply, AgentReturnTypeError, RunContext, adapt, partial_reply
from llmops_kit.evaluation.base import EvalContext, Evaluator
from llmops_kit.ids import new_id
from llmops_kit.lifecycle import Admission, RunGovernor, sanitize_text
from llmops_kit.results import RunResult
from llmops_kit.runtime import Runtime, build_runtime
from llmops_kit.telemetry import semconv as sc
from llmops_kit.telemetry.instruments import identity_attributes
from llmops_kit.telemetry.logs import run_log_context

__all__ = ["ProductionAgent", "RunResult"]


class ProductionAgent:
    """A governed agent: safety, budgets, evaluation, audit and telemetry around every run.

    ``agent`` is an ``async (query) -> str | AgentReply`` callable, a LangChain Runnable, a
    MAF agent or any :class:`~llmops_kit.agent.AgentAdapter`. ``runtime`` defaults to one
    built from ``Settings.load()`` (embedded local backends when ``.env`` is empty).
    """

    def __init__(
        self,
        agent: Any,
        *,
        name: str | None = None,
        runtime: Runtime | None = None,
        model: str | None = None,
        evaluators: Sequence[Evaluator] | None = None,
        raise_on_error: bool = False,
        timeout_s: float | None = None,
    ) -> None:
        self.adapter = adapt(agent, name=name)
        self.name = name or self.adapter.name or "agent"
        self._runtime = runtime
        self._evaluators = evaluators
        self.model = model
        self.raise_on_error = raise_on_error
        self.timeout_s = timeout_s

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            self._runtime = build_runtime(evaluators=self._evaluators)
        return self._runtime

    async def run(
        self,
        query: str,
        *,
        user_id: str | None = None,
        tenant_id: str | None = None,
        session_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        expected_topics: Sequence[str] = (),
        reference: str | None = None,
        documents: Sequence[str] = (),
    ) -> RunResult:
        """Run one governed query. Never raises for agent failures unless ``raise_on_error``."""
        runtime = self.runtime
        governor = RunGovernor(runtime)
        started = time.perf_counter()
        text, sanitized = sanitize_text(query)
        ctx = RunContext(
            run_id=new_id(), agent_name=self.name, user_id=user_id, tenant_id=tenant_id,
            session_id=session_id, max_output_tokens=runtime.settings.max_output_tokens,
            metadata=dict(metadata or {}) | ({"input_sanitized": True} if sanitized else {}),
            runtime=runtime,
        )
        eval_ctx = EvalContext(expected_topics=tuple(expected_topics), reference=reference,
                               documents=tuple(documents), metadata=dict(metadata or {}))
        attrs = _span_attributes(ctx, self.model or runtime.settings.default_model)
        operation = sc.OP_INVOKE_AGENT
        if getattr(self.adapter, "emits_agent_span", False):
            # the framework (MAF) emits its own invoke_agent span inside ours: no duplicate GenAI span
            operation = sc.OP_GOVERNED_RUN
            for key in (sc.GEN_AI_OPERATION_NAME, sc.GEN_AI_SYSTEM, sc.GEN_AI_PROVIDER_NAME):
                attrs.pop(key, None)
        tracer = runtime.telemetry.tracer
        with run_log_context(run_id=ctx.run_id, agent=ctx.agent_name, tenant_id=ctx.tenant_id,
                             session_id=ctx.session_id, user_id=ctx.user_id), tracer.start_as_current_span(
            sc.span_name(operation, self.name), kind=SpanKind.INTERNAL, attributes=attrs,
            record_exception=False, set_status_on_exception=False,
        ) as span:
            content = runtime.telemetry.messages_json("user", text)
            if content is not None:
                span.set_attribute(sc.GEN_AI_INPUT_MESSAGES, content)
            if not isinstance(query, str):
                admission = Admission(False, "error", f"query must be str, got {type(query).__name__}")
                error: BaseException | None = TypeError(admission.reason)
                return await self._finish(governor, ctx, text, admission, None, "error", admission.reason,
                                          error, None, started, eval_ctx)
            admission = await governor.admit(ctx, text, model=self.model, documents=documents)
            if not admission.allowed:
                return await self._finish(governor, ctx, text, admission, None, admission.status or "error",
                                          admission.reason, None, None, started, eval_ctx)
            reply, status, reason, error = await self._invoke(ctx, text)
            output_verdict = None
            if reply is not None and status == "ok" and runtime.settings.safety_check_output:
                output_verdict = await governor.check_output(ctx, reply.text)
                if not output_verdict.allowed:
                    status, reason = "blocked_output", output_verdict.reason or "unsafe_output"
            return await self._finish(governor, ctx, text, admission, reply, status, reason, error,
                                      output_verdict, started, eval_ctx)

    async def _invoke(
        self, ctx: RunContext, text: str
    ) -> tuple[AgentReply | None, str, str | None, BaseException | None]:
        timeout = self.timeout_s or self.runtime.settings.run_timeout_seconds
        try:
            reply = await asyncio.wait_for(self.adapter.invoke(text, ctx), timeout=timeout)
        except asyncio.TimeoutError as exc:
            return None, "error", f"timeout: the agent did not answer within {timeout:g}s", exc
        except AgentReturnTypeError as exc:
            return None, "error", f"bad_reply: {exc}", exc
        except asyncio.CancelledError as exc:  # settle and audit, then let the cancellation through
            return None, "error", "cancelled", exc
        except Exception as exc:
            status = getattr(exc, "status", None)  # a guardrail inside the framework stopped the run
            if status in {"blocked_input", "blocked_output", "budget_denied"}:
                return None, status, str(getattr(exc, "reason", exc))[:300], None
            # usage the agent reported before failing, if it attached it (never a guess)
            return partial_reply(exc), "error", f"agent_error: {type(exc).__name__}: {str(exc)[:300]}", exc
        clean, changed = sanitize_text(reply.text)
        if changed:
            reply.text = clean
            reply.metadata["output_sanitized"] = True
        return reply, "ok", None, None

    async def _finish(
        self, governor: RunGovernor, ctx: RunContext, text: str, admission: Admission,
        reply: AgentReply | None, status: str, reason: str | None, error: BaseException | None,
        output_verdict: Any, started: float, eval_ctx: EvalContext,
    ) -> RunResult:
        result = await asyncio.shield(governor.complete(
            ctx, text, admission, reply=reply, status=status, reason=reason, error=error,
            output_verdict=output_verdict, started_at=started, eval_context=eval_ctx,
        ))
        if isinstance(error, asyncio.CancelledError) or (error is not None and self.raise_on_error):
            raise error
        return result

    async def aclose(self) -> None:
        """Flush audit records and background evaluations of the runtime this agent built."""
        if self._runtime is not None:
            await self._runtime.aclose()


def _span_attributes(ctx: RunContext, model: str) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        sc.GEN_AI_OPERATION_NAME: sc.OP_INVOKE_AGENT,
        sc.GEN_AI_AGENT_NAME: ctx.agent_name,
        sc.GEN_AI_SYSTEM: "llmops_kit",
        sc.GEN_AI_PROVIDER_NAME: "llmops_kit",
        sc.GEN_AI_REQUEST_MODEL: model,
        **identity_attributes(ctx),
    }
    if ctx.session_id:
        attrs[sc.GEN_AI_CONVERSATION_ID] = ctx.session_id
    return attrs
