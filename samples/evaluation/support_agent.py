"""A scripted customer-support agent for the sample evaluation suite (offline, deterministic).

It answers from a tiny knowledge base the way a retrieval agent would: look up the
order, pick the matching policy, cite it. Token usage is counted with the same offline
tokenizer the kit uses for estimates, so cost and token figures in the report are real
measurements of this text, not constants. One intent ("warranty") is deliberately weak
so the sample suite shows a failing case.

Run it:  llmops-kit eval samples/evaluation/cases.json --agent samples.evaluation.support_agent:make_agent
"""

from __future__ import annotations

import asyncio
import re

from llmops_kit import AgentReply, ModelCallRecord, TokenUsage, ToolCallRecord
from llmops_kit.pricing.tokens import default_token_counter

MODEL = "gpt-4o-mini"

KNOWLEDGE = {
    "refund": (
        "I'm sorry your order arrived damaged. You can request a refund within 30 days of delivery: "
        "open Orders, select the damaged item and choose 'Request refund'. Refunds go back to the "
        "original payment method "
        "within 5-7 business days after the return is received. Source: https://support.example.com/returns "
        "(Refund policy section 4.2)."
    ),
    "shipping": (
        "Standard shipping takes 3-5 business days and express delivery takes 1-2 business days. "
        "You can follow the courier with the tracking link in your confirmation email; orders placed "
        "before 2 pm ship the same day. "
        "Source: https://support.example.com/shipping (Delivery policy section 2.1)."
    ),
    "password": (
        "To reset your password, open the sign-in page, choose 'Forgot password' and enter the email on your "
        "account. The reset link is valid for 60 minutes; if it does not arrive within 10 minutes, check the "
        "spam folder. Source: https://support.example.com/account (Account help section 1.3)."
    ),
    "cancel": (
        "You can cancel an order free of charge until it ships: open Orders, choose the order and select "
        "'Cancel order'. The cancellation is confirmed by email within 15 minutes and any charge is "
        "refunded in full within 5 business days. "
        "Source: https://support.example.com/orders (Order policy section 3.4)."
    ),
    "warranty": "Maybe it's covered, I guess? Probably best to just try again later.",
}

_INTENTS = (
    ("refund", re.compile(r"refund|damaged|broken|money back", re.I)),
    ("cancel", re.compile(r"cancel", re.I)),
    ("shipping", re.compile(r"ship|deliver|tracking|courier", re.I)),
    ("password", re.compile(r"password|log ?in|sign ?in", re.I)),
    ("warranty", re.compile(r"warrant|guarantee", re.I)),
)


def make_agent():
    """Factory for ``--agent``: returns an ``async (query) -> AgentReply`` callable."""
    counter = default_token_counter()

    async def support_agent(query: str) -> AgentReply:
        await asyncio.sleep(0)  # a real agent awaits its model here
        intent = next((name for name, pattern in _INTENTS if pattern.search(query)), None)
        tools = (
            [
                ToolCallRecord(
                    name="lookup_order",
                    call_id="call_1",
                    arguments='{"query": "latest"}',
                    result='{"status": "delivered"}',
                )
            ]
            if intent in ("refund", "cancel")
            else []
        )
        text = KNOWLEDGE.get(intent or "", "I can help with refunds, shipping, passwords and cancellations.")
        usage = TokenUsage(
            input_tokens=counter.count_text(query, MODEL), output_tokens=counter.count_text(text, MODEL)
        )
        return AgentReply(
            text=text,
            usage=usage,
            model=MODEL,
            provider="scripted",
            model_calls=[ModelCallRecord(model=MODEL, usage=usage, provider="scripted")],
            tool_calls=tools,
        )

    return support_agent
