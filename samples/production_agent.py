"""Sample: any async agent behind ``ProductionAgent`` — the framework-neutral wrapper.

    python samples/production_agent.py ["your question"]

With ``AZURE_OPENAI_ENDPOINT`` / ``AZURE_OPENAI_API_KEY`` / ``AZURE_OPENAI_DEPLOYMENT`` in ``.env``
the agent is one Azure OpenAI chat call (the ``openai`` package); otherwise it is the scripted
support agent from the demo, offline. Safety, budgets, audit, evaluation and telemetry come from
``.env`` exactly as for the framework integrations.
"""

from __future__ import annotations

import asyncio
import sys

from rich.console import Console

from llmops_kit import AgentReply, ProductionAgent, Settings, TokenUsage, build_runtime, configure_telemetry
from llmops_kit.console import result_panel
from llmops_kit.demo.agent import ScriptedSupportAgent
from llmops_kit.results import RunResult


def azure_openai_agent(settings: Settings):  # type: ignore[no-untyped-def]
    """One chat completion per question; usage exactly as Azure OpenAI reports it."""
    try:
        from openai import AsyncAzureOpenAI
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise SystemExit("AZURE_OPENAI_* is set but the 'openai' package is missing: pip install openai") from exc
    assert settings.azure_openai_api_key is not None and settings.azure_openai_deployment
    client = AsyncAzureOpenAI(
        azure_endpoint=settings.azure_openai_endpoint, api_key=settings.azure_openai_api_key.get_secret_value(),
        api_version=settings.azure_openai_api_version,
    )
    deployment = settings.azure_openai_deployment

    async def agent(question: str) -> AgentReply:
        response = await client.chat.completions.create(
            model=deployment, max_tokens=settings.max_output_tokens,
            messages=[{"role": "system", "content": "You are a concise, factual support assistant."},
                      {"role": "user", "content": question}],
        )
        u = response.usage
        usage = None
        if u is not None:
            cached = getattr(getattr(u, "prompt_tokens_details", None), "cached_tokens", 0) or 0
            reasoning = getattr(getattr(u, "completion_tokens_details", None), "reasoning_tokens", 0) or 0
            usage = TokenUsage(u.prompt_tokens, u.completion_tokens, u.total_tokens,
                               cache_read_input_tokens=cached, reasoning_tokens=reasoning)
        return AgentReply(text=response.choices[0].message.content or "", usage=usage,
                          model=settings.azure_openai_model or response.model, provider="azure.ai.openai",
                          response_id=response.id)

    return agent


async def main(question: str) -> RunResult:
    settings = Settings.load()
    providers = configure_telemetry(settings)  # the app's one explicit provider set-up
    runtime = build_runtime(settings)
    if settings.azure_openai_endpoint and settings.azure_openai_api_key and settings.azure_openai_deployment:
        agent = ProductionAgent(azure_openai_agent(settings), name="support", runtime=runtime,
                                model=settings.azure_openai_model or settings.azure_openai_deployment)
    else:
        agent = ProductionAgent(ScriptedSupportAgent(), name="support", runtime=runtime, model="gpt-4o-mini")
    try:
        result = await agent.run(question, user_id="sample-user", tenant_id="contoso", session_id="sample")
    finally:
        await agent.aclose()
        providers.shutdown()
    Console().print(result_panel("ProductionAgent sample", result))
    return result


if __name__ == "__main__":
    asyncio.run(main(" ".join(sys.argv[1:]) or "What is your refund policy for annual plans?"))
