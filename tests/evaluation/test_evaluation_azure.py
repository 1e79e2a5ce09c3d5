"""azure-ai-evaluation adapters: offline NLP metrics, and real judge clients against a local stub."""

from __future__ import annotations

import json

import pytest
from tests.evaluation.conftest import SUPPORT_ANSWER, SUPPORT_QUERY
from tests.fixtures.openai_stub import judge_reply, openai_stub

from llmops_kit.config import Settings
from llmops_kit.evaluation.adapters.azure import (
    AzureJudgeEvaluator,
    AzureNLPEvaluator,
    judge_model_config,
    judges_from_settings,
    map_azure_output,
)
from llmops_kit.evaluation.base import EvalContext


async def test_f1_and_rouge_offline() -> None:
    ctx = EvalContext(reference="Refunds are issued within 5-7 business days after we receive the return.")
    f1 = await AzureNLPEvaluator("f1").evaluate("q", SUPPORT_ANSWER, ctx)
    rouge = await AzureNLPEvaluator("rouge").evaluate("q", SUPPORT_ANSWER, ctx)
    assert f1.name == "f1_score" and f1.status == "completed" and 0 < f1.score < 1
    assert rouge.name == "rougel" and rouge.status == "completed" and 0 < rouge.score < 1
    same = await AzureNLPEvaluator("f1").evaluate("q", ctx.reference, ctx)
    assert same.score == pytest.approx(1.0) and same.passed is True
    assert (await AzureNLPEvaluator("f1").evaluate("q", "x", EvalContext())).status == "skipped"
    with pytest.raises(ValueError, match="rouge_type"):
        AzureNLPEvaluator("rouge", rouge_type="rouge9")


async def test_judges_against_openai_compatible_stub() -> None:
    scores = {"relevance": 4, "groundedness": 2, "coherence": 5, "fluency": 3}

    def reply(body: dict) -> str:
        prompt = json.dumps(body["messages"]).lower()
        metric = max(scores, key=prompt.count)  # each prompty names its own metric most often
        return judge_reply(scores[metric], f"scripted {metric}")

    with openai_stub(reply) as stub:
        config = judge_model_config(f"{stub.url}/v1", "sk-test", "judge-model")
        ctx = EvalContext(documents=["Refunds take 5-7 business days."])
        results = {
            m: await AzureJudgeEvaluator(m, config).evaluate(SUPPORT_QUERY, SUPPORT_ANSWER, ctx)
            for m in scores
        }
        assert stub.calls and stub.calls[0][0] == "/v1/chat/completions"
        assert stub.calls[0][1]["authorization"] == "Bearer sk-test"
        assert stub.calls[0][2]["model"] == "judge-model"
    for metric, expected in scores.items():
        r = results[metric]
        assert r.status == "completed", r
        assert r.score == expected and r.scale == "1-5" and r.threshold == 3
        assert r.passed is (expected >= 3) and r.label == ("pass" if expected >= 3 else "fail")
        assert r.explanation == f"scripted {metric}"


async def test_judge_against_azure_openai_url_shape_from_settings() -> None:
    with openai_stub(lambda body: judge_reply(5)) as stub:
        settings = Settings(
            _env_file=None,
            evaluation_judge_endpoint=stub.url,
            evaluation_judge_api_key="k-1",
            evaluation_judge_deployment="judge",
        )
        judges = judges_from_settings(settings, ("relevance",))
        r = await judges[0].evaluate(SUPPORT_QUERY, SUPPORT_ANSWER, EvalContext())
        path, headers, _ = stub.calls[-1]
    assert path.startswith("/openai/deployments/judge/chat/completions?api-version=")
    assert headers["api-key"] == "k-1"
    assert r.score == 5 and r.passed is True
    assert judges_from_settings(Settings(_env_file=None)) == []


async def test_unparseable_judgement_and_dead_judge_are_error_results() -> None:
    with openai_stub(lambda body: "I refuse to answer in JSON") as stub:
        config = judge_model_config(f"{stub.url}/v1", "sk", "m")
        r = await AzureJudgeEvaluator("relevance", config).evaluate("q", "a", EvalContext())
    assert r.status == "error" and r.score is None
    with openai_stub(lambda body: 503) as stub:  # the SDK would retry for minutes; our timeout stops it
        config = judge_model_config(f"{stub.url}/v1", "sk", "m")
        r = await AzureJudgeEvaluator("coherence", config, timeout_s=1.0).evaluate("q", "a", EvalContext())
    assert r.status == "error" and r.error_type == "TimeoutError"


async def test_judge_edge_cases_need_no_call() -> None:
    with openai_stub(lambda body: judge_reply(4)) as stub:
        config = judge_model_config(f"{stub.url}/v1", "sk", "m")
        empty = await AzureJudgeEvaluator("fluency", config).evaluate("q", "", EvalContext())
        ungrounded = await AzureJudgeEvaluator("groundedness", config).evaluate("q", "a", EvalContext())
        odd = await AzureJudgeEvaluator("fluency", config).evaluate("q", "fine \ud800 text", EvalContext())
        assert len(stub.calls) == 1  # only the surrogate case reached the judge
    assert empty.score == 1 and empty.passed is False
    assert ungrounded.status == "skipped"
    assert odd.status == "completed" and odd.score == 4


def test_mapping_and_config_errors() -> None:
    r = map_azure_output("x", "x", {"x": float("nan"), "x_reason": "parse failed"}, scale="1-5")
    assert r.status == "error" and r.error_type == "InvalidJudgement"
    with pytest.raises(ValueError, match="EVALUATION_JUDGE"):
        judge_model_config("", "k", "")
    with pytest.raises(ValueError, match="metric"):
        AzureJudgeEvaluator(
            "toxicity",
            {
                "type": "openai",
                "base_url": "http://127.0.0.1:1/v1",  # type: ignore[arg-type]
                "api_key": "k",
                "model": "m",
            },
        )
