"""The OTLP alternative: ``configure_telemetry`` with OTEL_EXPORTER_OTLP_ENDPOINT, into a local receiver."""

from __future__ import annotations

from tests.azure_monitor.exporting import CitesSourceEvaluator
from tests.fixtures.otlp_receiver import OtlpReceiver, attributes, otlp_receiver  # noqa: F401 - fixture

from llmops_kit.config import Settings
from llmops_kit.runtime import build_runtime
from llmops_kit.telemetry.setup import configure_telemetry, resolve_mode


async def test_governed_run_over_otlp(otlp_receiver: OtlpReceiver, tmp_path) -> None:  # noqa: F811
    from llmops_kit.demo.agent import ScriptedSupportAgent
    from llmops_kit.pipeline import ProductionAgent

    settings = Settings.load(None, data_dir=tmp_path / ".llmops", budget_ledger="sqlite",
                             otel_exporter_otlp_endpoint=otlp_receiver.endpoint)
    assert resolve_mode(settings) == "otlp"
    providers = configure_telemetry(settings, set_global=False)
    assert (providers.mode, providers.destination) == ("otlp", otlp_receiver.endpoint)
    runtime = build_runtime(
        settings, tracer_provider=providers.tracer_provider, meter_provider=providers.meter_provider,
        logger_provider=providers.logger_provider, evaluators=[CitesSourceEvaluator()],
    )
    agent = ProductionAgent(ScriptedSupportAgent(step_delay_s=0.0), name="support", runtime=runtime,
                            model="gpt-4o-mini")
    result = await agent.run("What is your refund policy for annual plans?", tenant_id="contoso",
                             user_id="u-1")
    await runtime.aclose()
    providers.shutdown()
    assert result.status == "ok"

    spans = [s for s in otlp_receiver.spans() if s.trace_id.hex() == result.trace_id]
    by_name = {s.name: s for s in spans}
    assert sorted(s.name for s in spans) == [
        "chat gpt-4o-mini", "chat gpt-4o-mini", "execute_tool lookup_policy", "invoke_agent support"]
    root = by_name["invoke_agent support"]
    assert root.parent_span_id == b""
    assert all(s.parent_span_id == root.span_id for s in spans if s is not root)
    assert attributes(root)["llmops.run.id"] == result.run_id
    chat_attrs = attributes(by_name["chat gpt-4o-mini"])
    assert chat_attrs["gen_ai.system"] == chat_attrs["gen_ai.provider.name"] == "openai"

    names = {m.name for m in otlp_receiver.metrics()}
    assert {"gen_ai.client.token.usage", "llmops.cost.usd", "gen_ai.client.operation.duration"} <= names

    events = [lr for lr in otlp_receiver.log_records() if lr.event_name == "gen_ai.evaluation.result"]
    assert len(events) == 1
    (event,) = events
    assert (event.trace_id.hex(), event.span_id) == (result.trace_id, root.span_id)
    assert attributes(event)["gen_ai.evaluation.name"] == "cites_source"
