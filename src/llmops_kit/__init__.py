"""llmops-kit: production guardrails and telemetry for LangChain and Microsoft Agent Framework agents."""

from __future__ import annotations

__version__ = "0.1.0"

from llmops_kit.agent import AgentAdapter, AgentReply, ModelCallRecord, RunContext, ToolCallRecord
from llmops_kit.config import Settings, SettingsError
from llmops_kit.usage import TokenUsage

__all__ = [
    "AgentAdapter",
    "AgentReply",
    "ModelCallRecord",
    "ProductionAgent",
    "RunContext",
    "RunResult",
    "Settings",
    "SettingsError",
    "TokenUsage",
    "ToolCallRecord",
    "__version__",
    "build_runtime",
    "configure_telemetry",
]


def __getattr__(name: str):  # lazy: importing the package must stay cheap (no SDK set-up)
    if name in {"ProductionAgent", "RunResult"}:
        from llmops_kit import pipeline

        return getattr(pipeline, name)
    if name == "build_runtime":
        from llmops_kit.runtime import build_runtime

        return build_runtime
    if name == "configure_telemetry":
        from llmops_kit.telemetry.setup import configure_telemetry

        return configure_telemetry
    raise AttributeError(name)
