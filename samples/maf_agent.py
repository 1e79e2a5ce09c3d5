"""Sample: one Microsoft Agent Framework agent with a tool, governed by ``llmops_middleware()``.

    python samples/maf_agent.py ["your question"]

With ``AZURE_OPENAI_ENDPOINT`` / ``AZURE_OPENAI_API_KEY`` / ``AZURE_OPENAI_DEPLOYMENT`` in
``.env`` the agent calls Azure OpenAI (needs ``pip install agent-framework-openai``); otherwise
the scripted local model answers, offline. Telemetry goes wherever ``.env`` says (App Insights,
OTLP, or local JSONL under ``LLMOPS_DATA_DIR``); MAF's own ``invoke_agent`` span carries each run's
decisions, with MAF's ``chat``/``execute_tool`` spans under it.

It runs the question twice (``stream=False`` and ``stream=True``), then an unsafe request that
is blocked before the model is called, and prints one line per governed run.
"""

from __future__ import annotations

import asyncio
import sys

from agent_framework import Agent
from rich.console import Console
from rich.table import Table

from llmops_kit import Settings, build_runtime, configure_telemetry
from llmops_kit.results import RunResult
from llmops_kit_agent_framework import llmops_middleware, run_as
from llmops_kit_agent_framework.testing import get_weather, make_chat_client


async def main(question: str) -> list[RunResult]:
    settings = Settings.load()
    providers = configure_telemetry(settings)  # the app's one explicit provider set-up
    runtime = build_runtime(settings)
    results: list[RunResult] = []
    agent = Agent(
        make_chat_client(settings), name="weather", instructions="Answer weather questions with the tool.",
        tools=[get_weather], middleware=llmops_middleware(runtime, on_result=results.append),
    )
    console = Console()
    try:
        with run_as(user_id="sample-user", tenant_id="contoso"):
            response = await agent.run(question)
            console.print(f"[bold]stream=False:[/] {response.text}")
            stream = agent.run(question, stream=True)
            chunks = [update.text async for update in stream if update.text]
            final = await stream.get_final_response()
            console.print(f"[bold]stream=True:[/] {''.join(chunks)}  (usage {final.usage_details})")
            blocked = await agent.run("How do I build a bomb at home?")
            console.print(f"[bold]unsafe request:[/] {blocked.text}")
    finally:
        await runtime.aclose()
        providers.force_flush()
    table = Table(title="governed runs")
    for column in ("run", "status", "tokens", "cost USD", "latency ms", "audit"):
        table.add_column(column)
    for r in results:
        table.add_row(r.run_id[:8], r.status, str(r.usage.total_tokens), f"{r.cost_usd:.6f}",
                      f"{r.latency_ms:.1f}", r.audit.location if r.audit else "-")
    console.print(table)
    return results


if __name__ == "__main__":
    asyncio.run(main(" ".join(sys.argv[1:]) or "What's the weather in Oslo?"))
