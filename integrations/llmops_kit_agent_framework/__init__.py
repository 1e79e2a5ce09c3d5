"""llmops-kit for Microsoft Agent Framework: governance middleware for agents, chat calls, tools, workflows.

    agent = Agent(client, name="weather", tools=[get_weather], middleware=llmops_middleware())

Every run gets input/output content safety, a per-model-call token/cost budget, optional
tool allow/deny, an audit record, evaluator scores and telemetry that joins MAF's own
``invoke_agent`` / ``chat`` / ``execute_tool`` spans.
"""

from llmops_kit_agent_framework.agent_middleware import RESPONSE_PROPERTY, LLMOpsAgentMiddleware
from llmops_kit_agent_framework.chat_middleware import LLMOpsChatMiddleware
from llmops_kit_agent_framework.middleware import LLMOpsMiddleware, llmops_middleware
from llmops_kit_agent_framework.runtime_ref import RuntimeRef
from llmops_kit_agent_framework.state import run_as
from llmops_kit_agent_framework.tool_policy import ToolDeniedError, ToolPolicy
from llmops_kit_agent_framework.workflow import WorkflowResult, WorkflowRun, workflow_run

__all__ = [
    "RESPONSE_PROPERTY",
    "LLMOpsAgentMiddleware",
    "LLMOpsChatMiddleware",
    "LLMOpsMiddleware",
    "RuntimeRef",
    "ToolDeniedError",
    "ToolPolicy",
    "WorkflowResult",
    "WorkflowRun",
    "llmops_middleware",
    "run_as",
    "workflow_run",
]
