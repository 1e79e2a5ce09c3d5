"""Built-in offline evaluators (no network, no model unless the ``embeddings`` extra is used)."""

from __future__ import annotations

from llmops_kit.evaluation.builtin._base import BaseEvaluator, error_result
from llmops_kit.evaluation.builtin.embedding import EmbeddingRelevance, EmbeddingsUnavailable, SentenceEncoder
from llmops_kit.evaluation.builtin.heuristic import (
    HasCitations,
    HasNumbers,
    HeuristicQuality,
    LengthWithinBounds,
    NeutralTone,
    TopicCoverage,
)
from llmops_kit.evaluation.builtin.json_checks import JsonSchemaValid, JsonValid
from llmops_kit.evaluation.builtin.keywords import MustInclude, MustNotInclude
from llmops_kit.evaluation.builtin.tools import ToolCalled, ToolNotCalled

__all__ = [
    "BaseEvaluator",
    "EmbeddingRelevance",
    "EmbeddingsUnavailable",
    "HasCitations",
    "HasNumbers",
    "HeuristicQuality",
    "JsonSchemaValid",
    "JsonValid",
    "LengthWithinBounds",
    "MustInclude",
    "MustNotInclude",
    "NeutralTone",
    "SentenceEncoder",
    "ToolCalled",
    "ToolNotCalled",
    "TopicCoverage",
    "error_result",
]
