"""Budget exhaustion inside a tool loop, tool deny policy (fail-closed) and safety fail modes."""

from __future__ import annotations

import socket
from typing import Annotated, Any

import pytest
from agent_framework import Agent, tool
from tests.maf.conftest import audit_records
from tests.maf.test_maf_agent_runs import INSTRUCTIONS, run_agent

from llmops_kit.budget.estimate import estimate_amount
from llmops_kit.budget.policy import BudgetLimit
from llmops_kit.results import RunResult
from llmops_kit_agent_framework import ToolDeniedError, ToolPolicy, llmops_middleware
from llmops_kit_agent_framework.testing import ScriptedChatClient, get_weather

MAX_OUT = 16


def first_call_estimate(runtime: Any, query: str) -> int:
    prompt = [{"role": "system", "content": INSTRUCTIONS}, {"role": "user", "content": query}]
    return estimate_amount(runtime.pricing, runtime.tokens, "scripted-model-1", prompt, MAX_OUT).total_tokens


@pytest.mark.parametrize("stream", [False, True], ids=["sync", "stream"])
async def test_budget_exhausted_after_first_model_call_stops_the_loop(
    make_runtime: Any, stream: bool
) -> None:
    query = "What's the weather in Oslo?"
    probe = make_runtime(max_output_tokens=MAX_OUT)
    limit = first_call_estimate(probe, query) + 5  # room for call 1, not for call 1's usage + call 2
    runtime = make_runtime(max_output_tokens=MAX_OUT,
                           limits=[BudgetLimit("run", "run", "total_tokens", limit)])
    results: list[RunResult] = []
    client = ScriptedChatClient()
    agent = Agent(client=client, name="weather", instructions=INSTRUCTIONS, tools=[get_weather],
                  middleware=llmops_middleware(runtime, on_result=results.append))

    response = await run_agent(agent, query, stream)

    assert len(client.calls) == 1  # the second model call was never made
    assert client.calls[0].finish_reason == "tool_calls"
    assert "budget" in response.text  # the run ends cleanly with a result that says why
    result = results[0]
    assert result.status == "budget_denied"
    assert "run total_tokens" in (result.reason or "")
    run_limit = next(lim for lim in result.budget.limits if lim.scope == "run")
    assert run_limit.used == client.calls[0].usage["total_token_count"]  # only what was really used
    records = await audit_records(runtime)
    assert [r["status"] for r in records] == ["budget_denied"]


def make_delete_tool(executed: list[str]) -> Any:
    @tool(approval_mode="never_require")
    def delete_records(table: Annotated[str, "Table to wipe"]) -> str:
        """Delete every record of a table."""
        executed.append(table)
        return f"deleted {table}"

    return delete_records


@pytest.mark.parametrize("stream", [False, True], ids=["sync", "stream"])
async def test_denied_tool_fails_closed(make_runtime: Any, stream: bool) -> None:
    runtime = make_runtime()
    results: list[RunResult] = []
    executed: list[str] = []
    client = ScriptedChatClient()
    agent = Agent(client=client, name="ops", instructions="You run maintenance.",
                  tools=[make_delete_tool(executed), get_weather],
                  middleware=llmops_middleware(runtime, on_result=results.append,
                                               tool_policy=ToolPolicy.of(deny={"delete_records"})))

    with pytest.raises(ToolDeniedError, match="delete_records"):
        await run_agent(agent, "Wipe the Customers table", stream)

    assert executed == []  # the tool body never ran
    assert len(client.calls) == 1  # and the model was not called again with a tool error
    assert results[0].status == "error"
    assert (results[0].reason or "").startswith("tool_denied: delete_records")
    records = await audit_records(runtime)
    assert records[0]["status"] == "error"
    assert records[0]["tool_calls"][0]["name"] == "delete_records"
    assert records[0]["tool_calls"][0]["error"].startswith("denied")


async def test_allow_list_lets_listed_tools_run(make_runtime: Any) -> None:
    runtime = make_runtime()
    results: list[RunResult] = []
    agent = Agent(client=ScriptedChatClient(), name="weather", instructions=INSTRUCTIONS, tools=[get_weather],
                  middleware=llmops_middleware(runtime, on_result=results.append,
                                               tool_policy=ToolPolicy.of(allow={"get_weather"})))
    response = await agent.run("What's the weather in Paris?")
    assert "Paris: 14C" in response.text
    assert results[0].status == "ok"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens here once the socket closes


@pytest.mark.parametrize(("fail_mode", "status", "model_calls"),
                         [("closed", "blocked_input", 0), ("open", "ok", 2)])
async def test_safety_backend_down_follows_fail_mode(make_runtime: Any, fail_mode: str, status: str,
                                                      model_calls: int) -> None:
    runtime = make_runtime(
        content_safety_endpoint=f"http://127.0.0.1:{closed_port()}", content_safety_key="k" * 32,
        content_safety_fail_mode=fail_mode, content_safety_max_retries=0, content_safety_timeout_seconds=1.0,
    )
    results: list[RunResult] = []
    client = ScriptedChatClient()
    agent = Agent(client=client, name="weather", instructions=INSTRUCTIONS, tools=[get_weather],
                  middleware=llmops_middleware(runtime, on_result=results.append))

    await agent.run("What's the weather in Paris?")

    assert len(client.calls) == model_calls
    assert results[0].status == status
    assert results[0].safety[0].status == "unavailable"  # the decision is recorded, not hidden
    records = await audit_records(runtime)
    assert records[0]["safety"][0]["status"] == "unavailable"


@pytest.mark.parametrize(("fail_mode", "status", "model_calls"),
                         [("closed", "budget_denied", 0), ("open", "ok", 2)])
async def test_budget_ledger_down_follows_fail_mode(make_runtime: Any, fail_mode: str, status: str,
                                                    model_calls: int) -> None:
    """A Redis ledger nobody listens for (a real client, a refused connection) and both fail modes."""
    from llmops_kit.budget.factory import build_ledger
    from llmops_kit.budget.manager import BudgetManager
    from llmops_kit.budget.policy import BudgetPolicy

    ledger = build_ledger("redis", redis_url=f"redis://127.0.0.1:{closed_port()}/0")
    budget = BudgetManager(BudgetPolicy([BudgetLimit("global", "day", "total_tokens", 1_000_000)]), ledger,
                           fail_mode=fail_mode)  # type: ignore[arg-type]
    runtime = make_runtime(budget_fail_mode=fail_mode)
    runtime.budget = budget
    results: list[RunResult] = []
    client = ScriptedChatClient()
    agent = Agent(client=client, name="weather", instructions=INSTRUCTIONS, tools=[get_weather],
                  middleware=llmops_middleware(runtime, on_result=results.append))
    try:
        await agent.run("What's the weather in Paris?")
    finally:
        await budget.aclose()

    assert len(client.calls) == model_calls
    assert results[0].status == status
    if fail_mode == "closed":
        assert "unavailable" in (results[0].reason or "")


async def test_unsafe_tool_arguments_fail_closed(make_runtime: Any) -> None:
    from collections.abc import Mapping, Sequence

    from agent_framework import Message

    from llmops_kit_agent_framework.testing import ScriptedTurn

    sent: list[str] = []

    @tool(approval_mode="never_require")
    def send_message(text: Annotated[str, "Message body"]) -> str:
        """Send a message to the customer."""
        sent.append(text)
        return "sent"

    def threatening(messages: Sequence[Message], options: Mapping[str, Any]) -> ScriptedTurn:
        return ScriptedTurn(tool_name="send_message", tool_arguments={"text": "I will kill you tomorrow"})

    runtime = make_runtime()
    results: list[RunResult] = []
    agent = Agent(client=ScriptedChatClient(responder=threatening), name="notifier", tools=[send_message],
                  middleware=llmops_middleware(runtime, on_result=results.append,
                                               tool_policy=ToolPolicy.of(check_arguments=True)))

    with pytest.raises(ToolDeniedError, match="unsafe arguments"):
        await agent.run("Tell the customer their parcel is late")

    assert sent == []
    assert results[0].status == "error" and "send_message" in (results[0].reason or "")
