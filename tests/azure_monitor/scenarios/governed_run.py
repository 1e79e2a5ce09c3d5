"""One process, one ``configure_telemetry``: a governed run exported by the real distro.

Run by the tests with ``sys.executable`` because ``configure_azure_monitor`` installs global
providers that a second call in the same process cannot replace. Settings come from the
environment the test passes (connection string pointing at the local capture server).
Prints one JSON line with what the test needs to find the run's envelopes.

Extra argv flags:
  --maf-style-span   also emit a CLIENT chat span carrying only ``gen_ai.provider.name``
  --credential       pass a TokenCredential (keyless auth) to ``configure_telemetry``
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time

import _netguard  # first, so nothing below can reach beyond loopback
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from llmops_kit.config import Settings
from llmops_kit.demo.agent import ScriptedSupportAgent
from llmops_kit.evaluation.base import EvalContext, EvalResult
from llmops_kit.pipeline import ProductionAgent
from llmops_kit.runtime import build_runtime
from llmops_kit.telemetry import semconv as sc
from llmops_kit.telemetry.setup import configure_telemetry


class CitesSourceEvaluator:
    """Deterministic evaluator: does the answer cite a ``Source:``? (support answers must)."""

    name = "cites_source"

    async def evaluate(self, query: str, response: str, context: EvalContext) -> EvalResult:
        cited = "Source:" in response
        # a library log record written inside the run: App Insights `traces` must join it to the run
        logging.getLogger("llmops_kit.scenario").info("scored run: cited=%s", cited)
        return EvalResult(self.name, score=1.0 if cited else 0.0, label="cited" if cited else "uncited",
                          passed=cited, explanation="answer names its source" if cited else "no source named")


class StaticTokenCredential:
    """A TokenCredential (azure-core protocol) for a token obtained out of band, e.g. by a sidecar."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: object):  # type: ignore[no-untyped-def]
        from azure.core.credentials import AccessToken

        self.scopes.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)


async def main(argv: list[str]) -> dict[str, object]:
    settings = Settings.load(None)
    credential = StaticTokenCredential("scenario-token") if "--credential" in argv else None
    providers = configure_telemetry(settings, credential=credential)
    runtime = build_runtime(settings, evaluators=[CitesSourceEvaluator()])
    agent = ProductionAgent(ScriptedSupportAgent(step_delay_s=0.0), name="support", runtime=runtime,
                            model="gpt-4o-mini")
    started = time.perf_counter()
    result = await agent.run("What is your refund policy for annual plans?", user_id="u-1001",
                             tenant_id="contoso", session_id="s-42")
    run_s = time.perf_counter() - started
    if "--maf-style-span" in argv:
        tracer = trace.get_tracer("maf-like")
        with tracer.start_as_current_span("chat gpt-4.1", kind=SpanKind.CLIENT, attributes={
                sc.GEN_AI_OPERATION_NAME: sc.OP_CHAT, sc.GEN_AI_PROVIDER_NAME: "azure.ai.openai",
                sc.GEN_AI_REQUEST_MODEL: "gpt-4.1", sc.LLMOPS_RUN_ID: "maf-" + result.run_id}):
            pass
    await runtime.aclose()
    flush_started = time.perf_counter()
    providers.shutdown()
    out: dict[str, object] = {
        "run_id": result.run_id, "trace_id": result.trace_id, "status": result.status,
        "run_s": run_s, "shutdown_s": time.perf_counter() - flush_started, "mode": providers.mode,
        "destination": providers.destination, "blocked_network": list(_netguard.BLOCKED),
    }
    if credential is not None:
        out["credential_scopes"] = [list(s) for s in credential.scopes]
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1:]))), flush=True)
