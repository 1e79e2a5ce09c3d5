"""Message content is off by default; one switch turns it on; the redaction hook applies; structure stays."""

from __future__ import annotations

import json

from llmops_kit.agent import AgentReply
from llmops_kit.pipeline import ProductionAgent
from llmops_kit.telemetry import semconv as sc
from llmops_kit.usage import TokenUsage

SECRET_MAIL = "jane.doe@example.com"


async def reply(query: str) -> AgentReply:
    return AgentReply(text=f"I will email {SECRET_MAIL} today.", usage=TokenUsage(5, 7), model="gpt-4o-mini")


def root_attrs(captured) -> dict:
    return dict(next(s for s in captured.spans.get_finished_spans() if s.name == "invoke_agent a").attributes)


async def test_content_off_by_default(make_runtime, captured):
    rt = make_runtime()
    await ProductionAgent(reply, name="a", runtime=rt).run(f"Contact {SECRET_MAIL}")
    await rt.aclose()
    attrs = root_attrs(captured)
    assert sc.GEN_AI_INPUT_MESSAGES not in attrs and sc.GEN_AI_OUTPUT_MESSAGES not in attrs
    assert not any(SECRET_MAIL in str(v) for v in attrs.values())
    assert attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 7  # structure and numbers stay


async def test_content_on_in_semconv_shape(make_runtime, captured):
    rt = make_runtime(enable_sensitive_data=True)
    await ProductionAgent(reply, name="a", runtime=rt).run("Hello there")
    await rt.aclose()
    attrs = root_attrs(captured)
    assert json.loads(attrs[sc.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Hello there"}]}
    ]
    out = json.loads(attrs[sc.GEN_AI_OUTPUT_MESSAGES])
    assert out[0]["role"] == "assistant" and SECRET_MAIL in out[0]["parts"][0]["content"]


async def test_content_on_with_redaction_hook(tmp_path, captured):
    from tests.core.conftest import make_settings

    from llmops_kit.runtime import build_runtime
    from llmops_kit.safety.pii import redact_pii

    rt = build_runtime(make_settings(tmp_path, enable_sensitive_data=True), tracer_provider=captured.tracer_provider,
                       meter_provider=captured.meter_provider, logger_provider=captured.logger_provider,
                       redact=redact_pii)
    await ProductionAgent(reply, name="a", runtime=rt).run(f"Contact {SECRET_MAIL}")
    await rt.aclose()
    attrs = root_attrs(captured)
    assert SECRET_MAIL not in attrs[sc.GEN_AI_INPUT_MESSAGES]
    assert "[email]" in attrs[sc.GEN_AI_INPUT_MESSAGES] and "[email]" in attrs[sc.GEN_AI_OUTPUT_MESSAGES]


async def test_evaluation_gate_blocks_in_background_mode_too(make_runtime):
    from llmops_kit.evaluation.builtin import MustInclude

    rt = make_runtime(evaluation_gate=True, evaluation_mode="background", evaluators=[MustInclude()])
    agent = ProductionAgent(reply, name="a", runtime=rt)
    result = await agent.run("hello", metadata={"must_include": ["refund policy"]})
    await rt.aclose()
    assert result.status == "blocked_output" and "evaluation_gate" in (result.reason or "")


async def test_evaluation_explanations_never_carry_response_content(make_runtime, captured):
    card = "4111111111111111"

    async def leaky(query: str) -> AgentReply:
        return AgentReply(text=f"Your card {card} was charged 30 USD. Source: billing.", usage=TokenUsage(5, 9),
                          model="gpt-4o-mini")

    rt = make_runtime()
    result = await ProductionAgent(leaky, name="a", runtime=rt).run("what did you charge?")
    await rt.aclose()
    assert result.evaluations
    assert not any(card in e.explanation for e in result.evaluations)
    exported = [str(r.log_record.attributes) for r in captured.logs.get_finished_logs()]
    assert exported and not any(card in x for x in exported)


async def test_background_scores_are_audited_after_the_run(make_runtime, captured):
    import json

    from llmops_kit.audit.verify import verify_dir

    rt = make_runtime(evaluation_mode="background")
    result = await ProductionAgent(reply, name="a", runtime=rt).run("hello", tenant_id="t1")
    assert result.status == "ok" and result.evaluations == []  # not waited for
    await rt.aclose()  # drains the background scoring, then flushes the audit trail
    lines = [json.loads(x)["record"] for f in sorted(rt.settings.resolved_audit_dir.glob("*.jsonl"))
             for x in f.read_text().splitlines() if x.strip()]
    follow_ups = [r for r in lines if r.get("schema") == "llmops.audit.evaluation/1"]
    assert follow_ups and {r["run_id"] for r in follow_ups} == {result.run_id}
    assert all(r["tenant_id"] == "t1" and r["evaluations"][0]["name"] for r in follow_ups)
    assert all(report.ok for report in verify_dir(rt.settings.resolved_audit_dir))
    events = [r for r in captured.logs.get_finished_logs() if r.log_record.event_name == "gen_ai.evaluation.result"]
    assert len(events) == len(follow_ups)
