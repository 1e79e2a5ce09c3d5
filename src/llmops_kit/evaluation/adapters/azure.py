"""azure-ai-evaluation evaluators behind our :class:`Evaluator` protocol.

* F1 and ROUGE run offline and need ``context.reference`` (the expected answer).
* Relevance, Groundedness, Coherence and Fluency are LLM judges (scale 1–5, default
  threshold 3) and talk to an Azure OpenAI deployment or any OpenAI-compatible endpoint.

Their output dict (``<name>``, ``<name>_result``, ``<name>_threshold``, ``<name>_reason``)
becomes one :class:`EvalResult`. The judges' own retry loop waits up to 60 s between up
to 10 attempts on a 5xx (``_legacy/prompty/_prompty.py``), so each judgement runs on the
evaluator's async path under ``asyncio.wait_for``: a timeout cancels the sleep instead of
leaving a thread retrying for minutes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlparse

from llmops_kit.evaluation._text import window
from llmops_kit.evaluation.base import EvalContext, EvalResult
from llmops_kit.evaluation.builtin._base import BaseEvaluator

JudgeMetric = Literal["relevance", "groundedness", "coherence", "fluency"]
JUDGE_METRICS: tuple[str, ...] = ("relevance", "groundedness", "coherence", "fluency")

#: Inputs longer than this are cut before they reach a judge prompt or the NLP tokenizers.
MAX_EVAL_CHARS = 100_000


def map_azure_output(name: str, key: str, output: Mapping[str, Any], *, scale: str) -> EvalResult:
    """``{key, key_result, key_threshold, key_reason}`` → :class:`EvalResult` named ``name``."""
    raw = output.get(key, output.get(f"{key}_score"))
    try:
        score = None if raw is None else float(raw)
    except (TypeError, ValueError):
        score = None
    if score is not None and score != score:  # NaN: the judge's answer could not be parsed
        score = None
    verdict = output.get(f"{key}_result")
    passed = {"pass": True, "fail": False}.get(str(verdict).lower()) if verdict is not None else None
    threshold = output.get(f"{key}_threshold")
    reason = output.get(f"{key}_reason") or ""
    if score is None:
        return EvalResult(
            name=name,
            score=None,
            label="error",
            explanation=str(reason) or f"no '{key}' in output",
            threshold=_num(threshold),
            scale=scale,
            status="error",
            error_type="InvalidJudgement",
        )
    return EvalResult(
        name=name,
        score=score,
        label=str(verdict) if verdict is not None else None,
        passed=passed,
        explanation=str(reason),
        threshold=_num(threshold),
        scale=scale,
    )


def _num(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


class AzureNLPEvaluator(BaseEvaluator):
    """Token F1 or ROUGE against ``context.reference`` (offline, no model)."""

    def __init__(
        self,
        metric: Literal["f1", "rouge"] = "f1",
        *,
        threshold: float = 0.5,
        rouge_type: str = "rougeL",
        name: str | None = None,
    ) -> None:
        from azure.ai.evaluation import F1ScoreEvaluator, RougeScoreEvaluator, RougeType

        self.scale = "0-1"
        self.threshold = threshold
        if metric == "f1":
            self._impl: Any = F1ScoreEvaluator(threshold=threshold)
            self._key = "f1_score"
        elif metric == "rouge":
            types = {t.value: t for t in RougeType}
            if rouge_type not in types:
                raise ValueError(f"rouge_type must be one of {sorted(types)}, got {rouge_type!r}")
            self._impl = RougeScoreEvaluator(
                rouge_type=types[rouge_type],
                precision_threshold=threshold,
                recall_threshold=threshold,
                f1_score_threshold=threshold,
            )
            self._key = "rouge"
        else:
            raise ValueError(f"metric must be 'f1' or 'rouge', got {metric!r}")
        self.name = name or (self._key if metric == "f1" else rouge_type.lower())

    async def score(self, query: str, response: str, context: EvalContext) -> EvalResult:
        if not context.reference:
            return self.skipped("no reference answer in the context")
        resp, _ = window(response, MAX_EVAL_CHARS)
        ref, _ = window(context.reference, MAX_EVAL_CHARS)
        # CPU-bound tokenisation: keep it off the event loop.
        out = await asyncio.to_thread(self._impl, response=resp, ground_truth=ref)
        return map_azure_output(self.name, self._key, out, scale=self.scale)


def judge_model_config(
    endpoint: str,
    api_key: str,
    deployment: str,
    *,
    api_version: str = "2024-10-21",
    kind: Literal["auto", "azure_openai", "openai"] = "auto",
) -> dict[str, Any]:
    """Model configuration for the judges.

    ``auto``: an endpoint whose path ends in ``/v1`` (or ``/openai/v1``) is treated as
    OpenAI-compatible (``base_url``, ``Authorization: Bearer``), anything else as an Azure
    OpenAI resource (``/openai/deployments/{deployment}/…``, ``api-key`` header).
    """
    from azure.ai.evaluation import AzureOpenAIModelConfiguration, OpenAIModelConfiguration

    if not endpoint or not deployment:
        raise ValueError("a judge needs EVALUATION_JUDGE_ENDPOINT and EVALUATION_JUDGE_DEPLOYMENT")
    if kind == "auto":
        kind = "openai" if urlparse(endpoint).path.rstrip("/").endswith("/v1") else "azure_openai"
    if kind == "openai":
        return dict(
            OpenAIModelConfiguration(
                type="openai", base_url=endpoint.rstrip("/"), api_key=api_key, model=deployment
            )
        )
    return dict(
        AzureOpenAIModelConfiguration(
            type="azure_openai",
            azure_endpoint=endpoint.rstrip("/"),
            azure_deployment=deployment,
            api_key=api_key,
            api_version=api_version,
        )
    )


class AzureJudgeEvaluator(BaseEvaluator):
    """One azure-ai-evaluation LLM judge (relevance, groundedness, coherence, fluency), scale 1–5."""

    def __init__(
        self,
        metric: JudgeMetric,
        model_config: Mapping[str, Any],
        *,
        threshold: float = 3,
        timeout_s: float = 30.0,
        name: str | None = None,
    ) -> None:
        from azure.ai.evaluation import (
            CoherenceEvaluator,
            FluencyEvaluator,
            GroundednessEvaluator,
            RelevanceEvaluator,
        )

        classes = {
            "relevance": RelevanceEvaluator,
            "groundedness": GroundednessEvaluator,
            "coherence": CoherenceEvaluator,
            "fluency": FluencyEvaluator,
        }
        if metric not in classes:
            raise ValueError(f"metric must be one of {', '.join(JUDGE_METRICS)}, got {metric!r}")
        self.metric = metric
        self.name = name or metric
        self.threshold = threshold
        self.scale = "1-5"
        self.timeout_s = timeout_s
        self._impl: Any = classes[metric](dict(model_config), threshold=threshold)

    @classmethod
    def from_settings(cls, settings: Any, metric: JudgeMetric, **kwargs: Any) -> AzureJudgeEvaluator:
        """Build from ``Settings.evaluation_judge_{endpoint,api_key,deployment}``."""
        key = settings.evaluation_judge_api_key
        config = judge_model_config(
            settings.evaluation_judge_endpoint or "",
            key.get_secret_value() if key is not None else "",
            settings.evaluation_judge_deployment or "",
            api_version=getattr(settings, "evaluation_judge_api_version", "2024-10-21"),
            kind=getattr(settings, "evaluation_judge_kind", "auto"),
        )
        return cls(metric, config, **kwargs)

    def _inputs(self, query: str, response: str, context: EvalContext) -> dict[str, str] | None:
        resp, _ = window(response, MAX_EVAL_CHARS)
        if self.metric == "fluency":
            return {"response": resp}
        inputs = {"query": window(query, MAX_EVAL_CHARS)[0], "response": resp}
        if self.metric == "groundedness":
            docs = "\n\n".join(d for d in context.documents or () if d)
            if not docs:
                return None
            inputs["context"] = window(docs, MAX_EVAL_CHARS)[0]
        return inputs

    async def score(self, query: str, response: str, context: EvalContext) -> EvalResult:
        if not response.strip():
            return EvalResult(
                name=self.name,
                score=float(1),
                label="empty",
                passed=self.threshold <= 1,
                explanation="empty response: lowest score without asking the judge",
                threshold=self.threshold,
                scale=self.scale,
            )
        inputs = self._inputs(query, response, context)
        if inputs is None:
            return self.skipped("groundedness needs context.documents")
        call = self._impl._to_async() if hasattr(self._impl, "_to_async") else None
        if call is not None:
            out = await asyncio.wait_for(call(**inputs), timeout=self.timeout_s)
        else:  # older SDKs: sync only
            out = await asyncio.wait_for(asyncio.to_thread(self._impl, **inputs), timeout=self.timeout_s)
        return map_azure_output(self.name, self.metric, out, scale=self.scale)


def judges_from_settings(
    settings: Any, metrics: tuple[str, ...] = JUDGE_METRICS, **kwargs: Any
) -> list[AzureJudgeEvaluator]:
    """All configured judges, or ``[]`` when no judge endpoint is set (the offline default)."""
    if not getattr(settings, "evaluation_judge_endpoint", None):
        return []
    return [AzureJudgeEvaluator.from_settings(settings, m, **kwargs) for m in metrics]  # type: ignore[arg-type]
