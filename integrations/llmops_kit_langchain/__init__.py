"""llmops-kit for LangChain: an OpenTelemetry GenAI callback handler (observe), a guard handler and
``create_agent`` middleware (enforce), and the ``ProductionAgent`` adapter for any Runnable.

The middleware needs ``langchain`` and is imported from ``llmops_kit_langchain.middleware``.
"""

from llmops_kit_langchain.adapter import RunnableAdapter, adapt_runnable
from llmops_kit_langchain.errors import (
    BudgetExceededError,
    GuardrailTriggered,
    InputBlockedError,
    OutputBlockedError,
)
from llmops_kit_langchain.guard import LLMOpsGuardHandler
from llmops_kit_langchain.handler import LLMOpsCallbackHandler, RunSummary

__all__ = [
    "BudgetExceededError",
    "GuardrailTriggered",
    "InputBlockedError",
    "LLMOpsCallbackHandler",
    "LLMOpsGuardHandler",
    "OutputBlockedError",
    "RunSummary",
    "RunnableAdapter",
    "adapt_runnable",
]
