"""The embedded telemetry store: real SDK exporters writing spans, metrics and logs as JSONL lines."""

from __future__ import annotations

from llmops_kit.agent import AgentReply
from llmops_kit.config import Settings
from llmops_kit.pipeline import ProductionAgent
from llmops_kit.runtime import build_runtime
from llmops_kit.telemetry import semconv as sc
from llmops_kit.telemetry.jsonl import LOGS_FILE, METRICS_FILE, SPANS_FILE, read_jsonl
from llmops_kit.telemetry.setup import configure_telemetry
from llmops_kit.usage import TokenUsage


async def answer(query: str) -> AgentReply:
    return AgentReply(text="Refunds within 30 days. Source: policy/refunds-v3.", usage=TokenUsage(40, 12),
                      model="gpt-4o-mini")


async def test_spans_metrics_and_evaluation_events_land_as_jsonl(tmp_path):
    settings = Settings.load(None, data_dir=tmp_path / ".llmops", telemetry="local")
    providers = configure_telemetry(settings, set_global=False)
    assert providers.mode == "local"
    runtime = build_runtime(settings, tracer_provider=providers.tracer_provider,
                            meter_provider=providers.meter_provider, logger_provider=providers.logger_provider)
    result = await ProductionAgent(answer, name="jsonl", runtime=runtime).run("refund?", tenant_id="t1")
    await runtime.aclose()
    providers.shutdown()

    directory = settings.telemetry_dir
    (root,) = [s for s in read_jsonl(directory / SPANS_FILE) if s["name"] == "invoke_agent jsonl"]
    assert root["trace_id"] == result.trace_id and root["status"] == "UNSET"
    assert root["attributes"][sc.GEN_AI_USAGE_INPUT_TOKENS] == 40
    assert root["attributes"][sc.LLMOPS_TENANT_ID] == "t1" and root["duration_ms"] > 0

    metrics = read_jsonl(directory / METRICS_FILE)
    tokens = [m for m in metrics if m["name"] == sc.METRIC_TOKEN_USAGE]
    by_type = {m["attributes"][sc.GEN_AI_TOKEN_TYPE]: m["sum"] for m in tokens}
    assert by_type == {"input": 40, "output": 12}
    runs = [m for m in metrics if m["name"] == sc.METRIC_RUNS]
    assert sum(m["value"] for m in runs) == 1 and runs[0]["attributes"][sc.LLMOPS_RUN_STATUS] == "ok"
    assert any(m["name"] == sc.METRIC_COST and m["value"] > 0 for m in metrics)

    events = [e for e in read_jsonl(directory / LOGS_FILE) if e["event_name"] == sc.EVENT_EVALUATION_RESULT]
    assert events and {e["span_id"] for e in events} == {root["span_id"]}
    assert {e["trace_id"] for e in events} == {result.trace_id}


def test_a_torn_last_line_is_skipped(tmp_path):
    path = tmp_path / "spans.jsonl"
    path.write_text('{"name": "a"}\n{"name": "b"}\n{"name": "tor')
    assert [r["name"] for r in read_jsonl(path)] == ["a", "b"]
