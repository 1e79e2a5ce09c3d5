"""Tool calls are recorded from the conversation by the chat middleware: no function middleware.

The records must be what the evaluators and the audit trail saw before (name, call id,
arguments and result with content capture on, the error a tool raised), streamed or not.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import pytest
from agent_framework import Agent, FunctionMiddleware, tool
from tests.maf.conftest import audit_records
from tests.maf.test_maf_agent_runs import INSTRUCTIONS, run_agent

from llmops_kit.agent import ToolCallRecord
from llmops_kit.evaluation.base import EvalContext, EvalResult
from llmops_kit.results import RunResult
from llmops_kit_agent_framework import llmops_middleware
from llmops_kit_agent_framework.testing import ScriptedChatClient, get_weather


class SeenTools:
    """An evaluator that keeps the tool calls it was shown (what ToolCalled-style evaluators get)."""

    name = "seen_tools"

    def __init__(self) -> None:
        self.seen: list[list[ToolCallRecord]] = []

    async def evaluate(self, query: str, response: str, context: EvalContext) -> EvalResult:
        self.seen.append([ToolCallRecord(t.name, t.call_id, t.arguments, t.result, t.error)
                          for t in context.tool_calls])
        return EvalResult(self.name, 1.0, passed=True)


def test_the_stack_has_no_function_middleware(make_runtime: Any) -> None:
    stack = llmops_middleware(make_runtime())
    assert stack and not any(isinstance(m, FunctionMiddleware) for m in stack)


@pytest.mark.parametrize("capture", [True, False], ids=["capture", "no-capture"])
@pytest.mark.parametrize("stream", [False, True], ids=["sync", "stream"])
async def test_tool_calls_reach_evaluators_with_arguments_and_results(
    make_runtime: Any, stream: bool, capture: bool
) -> None:
    seen = SeenTools()
    runtime = make_runtime(evaluators=[seen], enable_sensitive_data=capture)
    agent = Agent(client=ScriptedChatClient(), name="weather", instructions=INSTRUCTIONS, tools=[get_weather],
                  middleware=llmops_middleware(runtime))

    await run_agent(agent, "What's the weather in Oslo?", stream)

    [[call]] = seen.seen
    assert call.name == "get_weather" and call.call_id and call.error is None
    if capture:
        assert json.loads(call.arguments or "") == {"city": "Oslo"}
        assert call.result is not None and call.result.startswith("Oslo:")
    else:
        assert call.arguments is None and call.result is None  # content stays out unless captured
    [record] = await audit_records(runtime)
    assert record["tool_calls"] == [{"name": "get_weather", "call_id": call.call_id, "error": None}]


@pytest.mark.parametrize("stream", [False, True], ids=["sync", "stream"])
async def test_a_failing_tool_is_recorded_with_its_error(make_runtime: Any, stream: bool) -> None:
    @tool(approval_mode="never_require")
    def lookup_order(city: Annotated[str, "Order id (the scripted model sends it as city)"]) -> str:
        """Look an order up."""
        raise RuntimeError("orders backend is down")

    runtime = make_runtime()
    results: list[RunResult] = []
    agent = Agent(client=ScriptedChatClient(), name="orders", instructions="You track orders.",
                  tools=[lookup_order], middleware=llmops_middleware(runtime, on_result=results.append))

    await run_agent(agent, "Where is order A17?", stream)

    # MAF hands the tool's error back to the model, which answers: the run itself is fine
    assert results[0].status == "ok"
    [call] = results[0].tool_calls
    assert call["name"] == "lookup_order" and "orders backend is down" in (call["error"] or "")
    [record] = await audit_records(runtime)
    assert "orders backend is down" in record["tool_calls"][0]["error"]


async def test_the_tool_policy_holds_on_a_bare_chat_client_without_an_agent(make_runtime: Any) -> None:
    """The chat middleware alone (no agent middleware, so no run is bound) still refuses the call."""
    from agent_framework import Message
    from tests.maf.test_maf_guardrails import make_delete_tool

    from llmops_kit_agent_framework import LLMOpsChatMiddleware, RuntimeRef, ToolDeniedError, ToolPolicy

    executed: list[str] = []
    guard = LLMOpsChatMiddleware(RuntimeRef(make_runtime()), ToolPolicy.of(deny={"delete_records"}))
    client = ScriptedChatClient(middleware=[guard])

    with pytest.raises(ToolDeniedError, match="delete_records"):
        await client.get_response([Message(role="user", contents=["Wipe the Customers table"])],
                                  options={"tools": [make_delete_tool(executed)]})
    assert executed == [] and len(client.calls) == 1


async def test_a_bare_chat_client_gets_its_call_cost_as_an_event(make_runtime: Any, spans: Any) -> None:
    """Without an agent run there is no ``invoke_agent`` to total the cost on, so each call leaves
    an ``llmops.model_call`` event (tokens, priced cost) on the caller's span."""
    from agent_framework import Message

    from llmops_kit.telemetry import semconv as sc
    from llmops_kit_agent_framework import LLMOpsChatMiddleware, RuntimeRef

    runtime = make_runtime()
    client = ScriptedChatClient(middleware=[LLMOpsChatMiddleware(RuntimeRef(runtime))])

    with runtime.telemetry.tracer.start_as_current_span("caller"):
        response = await client.get_response([Message(role="user", contents=["Say hello"])])

    caller = next(s for s in spans.get_finished_spans() if s.name == "caller")
    (event,) = [e for e in caller.events if e.name == sc.EVENT_MODEL_CALL]
    usage = client.calls[0].usage
    assert event.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == usage["input_token_count"]
    assert event.attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == usage["output_token_count"]
    assert event.attributes[sc.LLMOPS_COST_MICRO_USD] > 0
    assert event.attributes[sc.GEN_AI_RESPONSE_ID] == str(response.response_id)
