"""Reading what LangChain reports: token usage, model and provider names.

Usage is taken only from what the provider reported (``AIMessage.usage_metadata``, then the
provider-specific ``LLMResult.llm_output``); when neither carries it, or the counts it carries
are not counts, the answer is ``None`` and callers flag ``llmops.usage_missing`` (the budget
charges such a call its reservation, never $0).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmops_kit.usage import TokenUsage, usage_from_counts

#: LangChain ``ls_provider`` values -> OTel GenAI ``gen_ai.provider.name`` well-known values
#: (semantic-conventions-genai, gen-ai-spans "gen_ai.provider.name").
PROVIDER_NAMES: dict[str, str] = {
    "openai": "openai",
    "azure": "azure.ai.openai",
    "azure_openai": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",
    "anthropic": "anthropic",
    "bedrock": "aws.bedrock",
    "amazon_bedrock": "aws.bedrock",
    "google_genai": "gcp.gen_ai",
    "google_vertexai": "gcp.vertex_ai",
    "vertexai": "gcp.vertex_ai",
    "mistralai": "mistral_ai",
    "groq": "groq",
    "cohere": "cohere",
    "deepseek": "deepseek",
    "xai": "x_ai",
    "perplexity": "perplexity",
    "ibm": "ibm.watsonx.ai",
}


def provider_name(ls_provider: str | None) -> str:
    """The semconv provider name; unknown providers keep LangChain's own spelling."""
    if not ls_provider:
        return "langchain"
    return PROVIDER_NAMES.get(ls_provider, ls_provider)


def usage_from_metadata(meta: Mapping[str, Any] | None) -> TokenUsage | None:
    """``UsageMetadata`` (input/output/total + cache and reasoning details) as ``TokenUsage``;
    ``None`` when it is empty or its counts are malformed (``usage_from_counts``)."""
    if not meta or not isinstance(meta, Mapping):
        return None
    in_det = _mapping(meta.get("input_token_details"))
    out_det = _mapping(meta.get("output_token_details"))
    return usage_from_counts(
        meta.get("input_tokens"),
        meta.get("output_tokens"),
        total_tokens=meta.get("total_tokens"),
        cache_read_input_tokens=in_det.get("cache_read"),
        cache_creation_input_tokens=in_det.get("cache_creation"),
        reasoning_tokens=out_det.get("reasoning"),
    )


def usage_from_llm_output(llm_output: Mapping[str, Any] | None) -> TokenUsage | None:
    """Provider-specific fallback: OpenAI ``token_usage`` or Anthropic-style ``usage``."""
    if not llm_output or not isinstance(llm_output, Mapping):
        return None
    raw = llm_output.get("token_usage") or llm_output.get("usage")
    if not isinstance(raw, Mapping) or not raw:
        return None
    p_det = _mapping(raw.get("prompt_tokens_details"))
    c_det = _mapping(raw.get("completion_tokens_details"))
    return usage_from_counts(
        raw.get("prompt_tokens", raw.get("input_tokens")),
        raw.get("completion_tokens", raw.get("output_tokens")),
        total_tokens=raw.get("total_tokens"),
        cache_read_input_tokens=p_det.get("cached_tokens") or raw.get("cache_read_input_tokens"),
        cache_creation_input_tokens=raw.get("cache_creation_input_tokens"),
        reasoning_tokens=c_det.get("reasoning_tokens"),
    )


def _mapping(value: Any) -> Mapping[str, Any]:
    """A details sub-map, or an empty one for anything else (``None``, a malformed value)."""
    return value if isinstance(value, Mapping) else {}


def first_message(response: Any) -> Any:
    """The first generated message of an ``LLMResult`` (or ``None`` for text LLMs)."""
    try:
        return response.generations[0][0].message
    except (IndexError, AttributeError, TypeError):
        return None


def usage_from_result(response: Any) -> TokenUsage | None:
    """Usage of one ``LLMResult``: the first message carrying ``usage_metadata``, else ``llm_output``.

    Providers put the same per-request usage on every choice's message, so summing over
    generations would double-count ``n > 1`` requests.
    """
    for gens in getattr(response, "generations", None) or ():
        for gen in gens:
            msg = getattr(gen, "message", None)
            meta = getattr(msg, "usage_metadata", None) if msg is not None else None
            if meta:
                return usage_from_metadata(meta)
    return usage_from_llm_output(getattr(response, "llm_output", None))


def response_model(response: Any, message: Any) -> str | None:
    """The model the provider says answered (may differ from the requested deployment)."""
    if message is not None:
        meta = getattr(message, "response_metadata", None) or {}
        name = meta.get("model_name") or meta.get("model")
        if name:
            return str(name)
    out = getattr(response, "llm_output", None) or {}
    name = out.get("model_name") or out.get("model")
    return str(name) if name else None


def finish_reason(response: Any, message: Any) -> str | None:
    try:
        info = response.generations[0][0].generation_info or {}
    except (IndexError, AttributeError, TypeError):
        info = {}
    reason = info.get("finish_reason")
    if reason is None and message is not None:
        meta = getattr(message, "response_metadata", None) or {}
        reason = meta.get("finish_reason") or meta.get("stop_reason")
    return str(reason) if reason else None


def error_type(error: BaseException) -> str:
    """``error.type``: the exception's qualified class name (low cardinality, no message)."""
    cls = type(error)
    mod = cls.__module__
    return cls.__qualname__ if mod in ("builtins", "__main__") else f"{mod}.{cls.__qualname__}"


def is_control_flow(error: BaseException) -> bool:
    """LangGraph interrupts and ``Command`` bubbles are control flow, not failures."""
    names = ("GraphBubbleUp", "GraphInterrupt", "ParentCommand")
    return any(c.__name__ in names for c in type(error).__mro__)


#: Ids LangChain generates itself when the provider sent none (``lc_run-<run id>``, formerly
#: ``run-<run id>``): not a provider response id, so not ``gen_ai.response.id``.
_GENERATED_ID_PREFIXES = ("lc_run-", "run-")


class ResultView:
    """What a span needs from one ``LLMResult``, read in a single pass over its first generation.

    ``message`` is the first generated message (``None`` for text LLMs); ``usage`` follows
    :func:`usage_from_result`; ``model``/``finish_reason`` follow :func:`response_model` and
    :func:`finish_reason`; ``response_id`` is the provider's id, never LangChain's own.
    """

    __slots__ = ("finish_reason", "message", "model", "response_id", "usage")

    def __init__(self, response: Any) -> None:
        try:
            gen = response.generations[0][0]
        except (IndexError, AttributeError, TypeError):
            gen = None
        message = getattr(gen, "message", None) if gen is not None else None
        self.message = message
        meta = getattr(message, "usage_metadata", None) if message is not None else None
        self.usage = usage_from_metadata(meta) if meta else usage_from_result(response)
        resp_meta = (getattr(message, "response_metadata", None) or _NO_META) if message is not None else _NO_META
        name = resp_meta.get("model_name") or resp_meta.get("model")
        if not name:
            out = getattr(response, "llm_output", None) or _NO_META
            name = out.get("model_name") or out.get("model")
        self.model = str(name) if name else None
        info = (getattr(gen, "generation_info", None) or _NO_META) if gen is not None else _NO_META
        reason = info.get("finish_reason")
        if reason is None:
            reason = resp_meta.get("finish_reason") or resp_meta.get("stop_reason")
        self.finish_reason = str(reason) if reason else None
        rid = getattr(message, "id", None) if message is not None else None
        self.response_id = rid if rid and not str(rid).startswith(_GENERATED_ID_PREFIXES) else None


_NO_META: Mapping[str, Any] = {}
