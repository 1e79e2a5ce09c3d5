"""A scripted customer-support agent that behaves like an instrumented LLM agent, offline.

It plans a tool call, runs the tool, then "answers"; each model step emits a real
``chat {model}`` CLIENT span with usage counted by the real tokenizer over the prompt it
would have sent and the text it returns — deterministic figures, not invented ones.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass

from opentelemetry.trace import SpanKind, Status, StatusCode

from llmops_kit.agent import AgentReply, ModelCallRecord, RunContext, ToolCallRecord, attach_partial_reply
from llmops_kit.telemetry import semconv as sc
from llmops_kit.usage import TokenUsage

SYSTEM_PROMPT = (
    "You are Contoso's support assistant. Answer briefly and factually, cite the policy you used, "
    "and call a tool when you need account or order data."
)

POLICIES = {
    "refund": ("Refunds: annual plans can be refunded within 30 days of purchase; monthly plans are not "
               "refunded but can be cancelled at any time. Source: policy/refunds-v3."),
    "shipping": ("Shipping: standard delivery takes 3-5 business days, express 1-2 days for $12.99. "
                 "Source: policy/shipping-v2."),
}

ORDERS = {"10042": {"status": "shipped", "carrier": "DHL", "eta_days": 2}}


class ToolError(RuntimeError):
    """A tool failed; the agent does not recover (the demo's error scenario)."""


@dataclass
class ScriptedSupportAgent:
    """``async (query, ctx) -> AgentReply`` with a tool loop of two model calls."""

    model: str = "gpt-4o-mini"
    provider: str = "openai"
    step_delay_s: float = 0.02
    name: str = "support"

    async def __call__(self, query: str, ctx: RunContext) -> AgentReply:
        runtime = ctx.runtime
        assert runtime is not None, "ProductionAgent passes the runtime in the RunContext"
        tracer = runtime.telemetry.tracer
        counter = runtime.tokens
        calls: list[ModelCallRecord] = []
        tools: list[ToolCallRecord] = []
        messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": query}]

        tool_name, tool_args = self._plan(query)
        plan_text = json.dumps({"tool": tool_name, "arguments": tool_args})
        calls.append(await self._chat(tracer, counter, messages, plan_text, ctx, first=True))

        call_id = f"call_{ctx.run_id[:8]}"
        with tracer.start_as_current_span(
            sc.span_name(sc.OP_EXECUTE_TOOL, tool_name), kind=SpanKind.INTERNAL,
            attributes={sc.GEN_AI_OPERATION_NAME: sc.OP_EXECUTE_TOOL, sc.GEN_AI_TOOL_NAME: tool_name,
                        sc.GEN_AI_TOOL_CALL_ID: call_id, sc.GEN_AI_TOOL_TYPE: "function"},
            record_exception=False, set_status_on_exception=False,
        ) as span:
            await asyncio.sleep(self.step_delay_s / 2)
            try:
                observation = self._run_tool(tool_name, tool_args)
            except ToolError as exc:
                span.set_status(Status(StatusCode.ERROR, str(exc)))
                span.set_attribute(sc.ERROR_TYPE, type(exc).__name__)
                span.record_exception(exc)
                tools.append(ToolCallRecord(tool_name, call_id, json.dumps(tool_args), error=str(exc)))
                # what was already spent before the failure, so the run is charged exactly that
                raise attach_partial_reply(exc, AgentReply(
                    text="", usage=calls[0].usage, model=self.model, provider=self.provider, model_calls=calls,
                    tool_calls=tools, metadata={"llmops.model_calls_recorded": True})) from None
        tools.append(ToolCallRecord(tool_name, call_id, json.dumps(tool_args), observation))
        messages += [{"role": "assistant", "content": plan_text}, {"role": "tool", "content": observation}]

        answer = self._answer(query, observation)
        calls.append(await self._chat(tracer, counter, messages, answer, ctx, first=False))
        usage = calls[0].usage + calls[1].usage
        return AgentReply(
            text=answer, usage=usage, model=self.model, provider=self.provider, model_calls=calls,
            tool_calls=tools, ttft_s=calls[-1].ttft_s, response_id=f"resp_{ctx.run_id[:12]}",
            documents=[observation], metadata={"llmops.model_calls_recorded": True},
        )

    async def _chat(self, tracer, counter, messages, output: str, ctx: RunContext, *, first: bool) -> ModelCallRecord:
        runtime = ctx.runtime
        assert runtime is not None
        start = time.perf_counter()
        with tracer.start_as_current_span(
            sc.span_name(sc.OP_CHAT, self.model), kind=SpanKind.CLIENT,
            attributes={sc.GEN_AI_OPERATION_NAME: sc.OP_CHAT, sc.GEN_AI_SYSTEM: self.provider,
                        sc.GEN_AI_PROVIDER_NAME: self.provider, sc.GEN_AI_REQUEST_MODEL: self.model,
                        sc.GEN_AI_REQUEST_MAX_TOKENS: ctx.max_output_tokens or 1024},
        ) as span:
            await asyncio.sleep(self.step_delay_s)
            ttft = time.perf_counter() - start
            await asyncio.sleep(self.step_delay_s / 2)
            usage = TokenUsage(
                input_tokens=counter.count_messages(messages, self.model),
                output_tokens=counter.count_text(output, self.model),
                cache_read_input_tokens=0 if first else counter.count_messages(messages[:1], self.model),
            )
            cost = runtime.pricing.cost_micro_usd(self.model, usage) / 1e6
            span.set_attribute(sc.GEN_AI_RESPONSE_MODEL, self.model)
            span.set_attribute(sc.GEN_AI_USAGE_INPUT_TOKENS, usage.input_tokens)
            span.set_attribute(sc.GEN_AI_USAGE_OUTPUT_TOKENS, usage.output_tokens)
            if usage.cache_read_input_tokens:
                span.set_attribute(sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, usage.cache_read_input_tokens)
            span.set_attribute(sc.GEN_AI_RESPONSE_TTFC, ttft)
            span.set_attribute(sc.LLMOPS_COST_USD, round(cost, 6))
            span.set_attribute(sc.GEN_AI_RESPONSE_FINISH_REASONS, ["tool_calls" if first else "stop"])
        duration = time.perf_counter() - start
        runtime.telemetry.record_model_call(model=self.model, provider=self.provider, usage=usage,
                                            duration_s=duration, cost_usd=cost, ttft_s=ttft, agent=ctx.agent_name)
        return ModelCallRecord(self.model, usage, self.provider, duration, ttft, ctx.agent_name)

    @staticmethod
    def _plan(query: str) -> tuple[str, dict[str, str]]:
        order = re.search(r"#?(\d{5})", query)
        if order:
            return "track_order", {"order_id": order.group(1)}
        topic = "shipping" if re.search(r"ship|deliver", query, re.I) else "refund"
        return "lookup_policy", {"topic": topic}

    @staticmethod
    def _run_tool(name: str, args: dict[str, str]) -> str:
        if name == "track_order":
            order = ORDERS.get(args["order_id"])
            if order is None:
                raise ToolError(f"order service returned 404 for order {args['order_id']}")
            return json.dumps(order)
        return POLICIES[args["topic"]]

    @staticmethod
    def _answer(query: str, observation: str) -> str:
        if observation.startswith("{"):
            order = json.loads(observation)
            return (f"Your order has {order['status']} with {order['carrier']} and should arrive in "
                    f"{order['eta_days']} days. Source: order-service.")
        return f"Here is what our policy says. {observation}"
