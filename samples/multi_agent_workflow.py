"""Sample: a two-agent MAF ``SequentialBuilder`` workflow governed as one workflow run.

    python samples/multi_agent_workflow.py ["your question"]

A researcher (with a weather tool) and a writer run in sequence; both carry
``llmops_middleware()``. ``workflow_run`` charges every model call of both agents to one budget
(the workflow's run id), attributes tokens and cost per agent, and writes one audit record per
agent run plus one for the workflow. Azure OpenAI when ``AZURE_OPENAI_*`` is set (needs
``pip install agent-framework-openai``), the scripted local model otherwise.
"""

from __future__ import annotations

import asyncio
import sys

from agent_framework import Agent
from agent_framework.orchestrations import SequentialBuilder
from rich.console import Console
from rich.table import Table

from llmops_kit import Settings, build_runtime, configure_telemetry
from llmops_kit_agent_framework import WorkflowResult, llmops_middleware, workflow_run
from llmops_kit_agent_framework.testing import get_weather, make_chat_client


async def main(question: str) -> WorkflowResult:
    settings = Settings.load()
    providers = configure_telemetry(settings)
    runtime = build_runtime(settings)
    middleware = llmops_middleware(runtime)
    researcher = Agent(make_chat_client(settings), name="researcher",
                       instructions="Find the facts with the tool.", tools=[get_weather],
                       middleware=middleware)
    writer = Agent(make_chat_client(settings, model="scripted-writer-1"), name="writer",
                   instructions="Write one friendly sentence from the research.", middleware=middleware)
    console = Console()
    try:
        async with workflow_run("weather-report", runtime=runtime, user_id="sample-user") as wf:
            # a Workflow keeps its agents' conversations between runs: build one per request
            workflow = SequentialBuilder(participants=[researcher, writer]).build()
            chunks: list[str] = []
            async for event in workflow.run(question, stream=True):  # agents run with stream=True
                if event.type == "output":
                    chunks.append(_text(event.data))
            console.print(f"[bold]workflow output:[/] {''.join(chunks)}")
    finally:
        await runtime.aclose()
        providers.force_flush()
    result = wf.result
    assert result is not None
    table = Table(title=f"workflow {result.name} ({result.status}) - run {result.run_id[:8]}")
    for column in ("agent", "model calls", "tokens", "cost USD", "statuses"):
        table.add_column(column)
    for name, totals in result.per_agent.items():
        table.add_row(name, str(totals.model_calls), str(totals.usage.total_tokens), f"{totals.cost_usd:.6f}",
                      ",".join(totals.statuses))
    table.add_row("[bold]total", "", str(result.usage.total_tokens), f"{result.cost_usd:.6f}", result.status)
    console.print(table)
    console.print(f"workflow audit record: {result.audit.location if result.audit else '-'}")
    return result


def _text(data: object) -> str:
    if isinstance(data, list):
        return " ".join(str(getattr(m, "text", "") or "") for m in data)
    return str(getattr(data, "text", "") or "")


if __name__ == "__main__":
    asyncio.run(main(" ".join(sys.argv[1:]) or "What's the weather in Lisbon?"))
