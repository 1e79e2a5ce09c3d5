"""``llmops_middleware()``: the one call that governs a MAF agent.

Returns agent and chat middleware sharing one runtime, for
``Agent(client, ..., middleware=llmops_middleware())`` or per run
``agent.run(..., middleware=llmops_middleware())``. With ``runtime=None`` the runtime is built
from ``Settings.load()`` on the first run, not at construction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmops_kit_agent_framework.agent_middleware import LLMOpsAgentMiddleware, ResultCallback
from llmops_kit_agent_framework.chat_middleware import LLMOpsChatMiddleware
from llmops_kit_agent_framework.runtime_ref import RuntimeRef
from llmops_kit_agent_framework.tool_policy import ToolPolicy

if TYPE_CHECKING:
    from llmops_kit.config import Settings
    from llmops_kit.runtime import Runtime


class LLMOpsMiddleware(list):  # type: ignore[type-arg]
    """A plain list of the middleware (MAF accepts any sequence), plus the runtime they share.

    There is no function middleware: tool calls are recorded and the tool policy applied by
    the chat middleware, from the model reply that asks for them, before MAF executes any.
    """

    def __init__(self, items: list[Any], runtime: RuntimeRef) -> None:
        super().__init__(items)
        self.runtime_ref = runtime

    @property
    def runtime(self) -> Runtime:
        return self.runtime_ref.get()


def llmops_middleware(
    runtime: Runtime | RuntimeRef | None = None,
    *,
    tool_policy: ToolPolicy | None = None,
    check_output: bool | None = None,
    on_result: ResultCallback | None = None,
    settings: Settings | None = None,
) -> LLMOpsMiddleware:
    """Governance middleware for a MAF agent.

    ``tool_policy`` enables tool allow/deny (and optional argument safety); ``check_output``
    overrides ``SAFETY_CHECK_OUTPUT``; ``on_result`` receives every run's ``RunResult``.
    """
    if runtime is not None and settings is not None:
        raise ValueError("llmops_middleware: pass either runtime or settings, not both")
    ref = runtime if isinstance(runtime, RuntimeRef) else RuntimeRef(runtime, settings=settings)
    items: list[Any] = [
        LLMOpsAgentMiddleware(ref, check_output=check_output, on_result=on_result),
        LLMOpsChatMiddleware(ref, tool_policy),
    ]
    return LLMOpsMiddleware(items, ref)
