"""A scripted, offline MAF chat client shared by the tests, the samples, the demo and the benchmark.

It is a real ``BaseChatClient`` composed with the same layers as MAF's provider clients
(function-invocation loop -> chat middleware -> telemetry -> raw client), so everything the
middleware sees - ``ChatContext``, tool loops, ``usage_details``, streaming usage contents,
MAF's own ``chat`` spans - is produced by the framework itself. Only the model is scripted.

Reported usage is derived from the prompt and the reply (whitespace words plus a fixed
per-message overhead), so different prompts report different figures and every call's
numbers are logged in :attr:`ScriptedChatClient.calls` for tests to compare against.

How a stream carries that usage is chosen with ``stream_usage``, after the shapes real
providers send: one usage content at the end (``"final"``, OpenAI with ``include_usage``);
growing cumulative snapshots with ``merge_mode="replace"`` after every chunk and a last
full one (``"snapshots"``, Anthropic-style ``message_delta`` usage) - summing those would
double count; or a ``usage_details=None`` usage content in every chunk before the real one
(``"null_chunks"``, the ``"usage": null`` chunks of OpenAI-compatible streams).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterable, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Annotated, Any, ClassVar

from agent_framework import (
    BaseChatClient,
    ChatMiddlewareLayer,
    ChatResponse,
    ChatResponseUpdate,
    Content,
    FunctionInvocationLayer,
    Message,
    ResponseStream,
    tool,
)
from agent_framework.observability import ChatTelemetryLayer

#: Tokens charged per message on top of its words, like chat formats' role/separator tokens.
MESSAGE_OVERHEAD_TOKENS = 4

#: How a scripted stream reports usage (see the module docstring).
STREAM_USAGE_MODES = ("final", "snapshots", "null_chunks")


@dataclass(slots=True)
class ScriptedTurn:
    """What the scripted model answers on one call: text, or one tool call."""

    text: str | None = None
    tool_name: str | None = None
    tool_arguments: Mapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ScriptedCall:
    """One model call as the client saw and answered it (what tests compare against)."""

    index: int
    stream: bool
    prompt_messages: int
    usage: dict[str, int]
    finish_reason: str
    response_id: str


Responder = Callable[[Sequence[Message], Mapping[str, Any]], ScriptedTurn]


def default_responder(messages: Sequence[Message], options: Mapping[str, Any]) -> ScriptedTurn:
    """Call the first offered tool once per user turn, then answer quoting the tool results.

    Without tools the model sums up the latest text it was given, so the same client also
    drives tool-less agents (e.g. the writer after a researcher in a workflow).
    """
    last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=-1)
    results = [c for m in messages[last_user + 1:] for c in m.contents if c.type == "function_result"]
    tools = list(options.get("tools") or [])
    if results:
        said = "; ".join(str(r.result) for r in results)
        return ScriptedTurn(text=f"Here is what I found. The tool said: {said}")
    if tools:
        name = getattr(tools[0], "name", None) or str(tools[0])
        return ScriptedTurn(tool_name=name, tool_arguments=_arguments_from_prompt(messages))
    latest = next((m.text for m in reversed(messages) if m.text), "")
    return ScriptedTurn(text=f"In short: {latest}".strip())


def _arguments_from_prompt(messages: Sequence[Message]) -> dict[str, Any]:
    """Pick a city from the prompt: the last capitalised word, so the tool call follows the input."""
    text = next((m.text for m in reversed(messages) if m.role == "user" and m.text), "")
    words = [w.strip("?.,!") for w in text.split()]
    caps = [w for w in words if w[:1].isupper() and w.lower() not in {"what", "what's", "how", "is", "the"}]
    return {"city": caps[-1] if caps else "Oslo"}


def count_words(text: str) -> int:
    return len(text.split())


class ScriptedModel(BaseChatClient):
    """The raw client: answers from a :data:`Responder`, reports derived usage, streams in chunks."""

    OTEL_PROVIDER_NAME: ClassVar[str] = "scripted"

    def __init__(
        self,
        *,
        model: str = "scripted-model-1",
        responder: Responder | None = None,
        chunk_delay_s: float = 0.0,
        report_usage: bool = True,
        stream_usage: str = "final",
        text_chunks: int = 2,
        **kwargs: Any,
    ) -> None:
        if stream_usage not in STREAM_USAGE_MODES:
            raise ValueError(f"stream_usage must be one of {STREAM_USAGE_MODES}, got {stream_usage!r}")
        if text_chunks < 1:
            raise ValueError(f"text_chunks must be at least 1, got {text_chunks!r}")
        super().__init__(**kwargs)
        self.text_chunks = text_chunks
        self.model = model
        self.responder = responder or default_responder
        self.chunk_delay_s = chunk_delay_s
        self.report_usage = report_usage
        self.stream_usage = stream_usage
        self.calls: list[ScriptedCall] = []

    def _answer(
        self, messages: Sequence[Message], options: Mapping[str, Any], stream: bool
    ) -> tuple[list[Content], dict[str, int], str, str]:
        turn = self.responder(messages, options)
        index = len(self.calls) + 1
        instructions = str(options.get("instructions") or "")
        prompt_tokens = count_words(instructions) + sum(
            count_words(m.text or "") + count_words(" ".join(str(c.result) for c in m.contents
                                                             if c.type == "function_result"))
            + MESSAGE_OVERHEAD_TOKENS
            for m in messages
        )
        if turn.tool_name:
            args = json.dumps(dict(turn.tool_arguments))
            call = Content.from_function_call(call_id=f"call_{index}", name=turn.tool_name, arguments=args)
            contents = [call]
            output_tokens = count_words(args) + MESSAGE_OVERHEAD_TOKENS
            finish = "tool_calls"
        else:
            text = turn.text or ""
            contents = [Content.from_text(text)]
            output_tokens = count_words(text) + 1
            finish = "stop"
        usage = {
            "input_token_count": prompt_tokens,
            "output_token_count": output_tokens,
            "total_token_count": prompt_tokens + output_tokens,
        }
        rid = f"resp_{index}"
        self.calls.append(ScriptedCall(index, stream, len(messages), usage, finish, rid))
        return contents, usage, finish, rid

    def _inner_get_response(
        self, *, messages: Sequence[Message], stream: bool, options: Mapping[str, Any], **kwargs: Any
    ) -> Awaitable[ChatResponse] | ResponseStream[ChatResponseUpdate, ChatResponse]:
        contents, usage, finish, rid = self._answer(messages, options, stream)
        usage_details = usage if self.report_usage else None
        if not stream:
            async def _one() -> ChatResponse:
                if self.chunk_delay_s:
                    await asyncio.sleep(self.chunk_delay_s)
                return ChatResponse(
                    messages=[Message(role="assistant", contents=contents)], model=self.model,
                    response_id=rid, finish_reason=finish, usage_details=usage_details,
                )
            return _one()

        async def _updates() -> AsyncIterable[ChatResponseUpdate]:
            pieces = [piece for content in contents for piece in _pieces(content, self.text_chunks)]
            for number, piece in enumerate(pieces, start=1):
                if self.chunk_delay_s:
                    await asyncio.sleep(self.chunk_delay_s)
                chunk = [piece]
                if self.stream_usage == "null_chunks":
                    chunk.append(Content("usage", usage_details=None))
                yield ChatResponseUpdate(role="assistant", contents=chunk, model=self.model, response_id=rid)
                if self.stream_usage == "snapshots" and usage_details:
                    snapshot = _partial_usage(usage_details, number, len(pieces) + 1)
                    yield ChatResponseUpdate(role="assistant", contents=[Content.from_usage(
                        snapshot, merge_mode="replace")], model=self.model, response_id=rid)
            tail: list[Content] = []
            if usage_details:
                mode = "replace" if self.stream_usage == "snapshots" else None
                tail.append(Content.from_usage(dict(usage_details), merge_mode=mode))
            yield ChatResponseUpdate(role="assistant", contents=tail, finish_reason=finish, response_id=rid,
                                     model=self.model)

        return self._build_response_stream(_updates())


def _partial_usage(usage: Mapping[str, int], done: int, of: int) -> dict[str, int]:
    """A cumulative snapshot ``done/of`` of the way through the reply: the prompt is known at
    once, output tokens grow. Always below the final figure, so any sum of snapshots is wrong."""
    output = usage["output_token_count"] * done // of
    return {"input_token_count": usage["input_token_count"], "output_token_count": output,
            "total_token_count": usage["input_token_count"] + output}


def _pieces(content: Content, chunks: int = 2) -> list[Content]:
    """Text streams in ``chunks`` pieces (fewer for a shorter text), as a real provider streams
    it in many; other contents arrive whole."""
    text = content.text if content.type == "text" else None
    if not text:
        return [content]
    chunks = min(chunks, len(text))
    cuts = [len(text) * i // chunks for i in range(chunks + 1)]
    return [Content.from_text(text[a:b]) for a, b in pairwise(cuts)]


class ScriptedChatClient(FunctionInvocationLayer, ChatMiddlewareLayer, ChatTelemetryLayer, ScriptedModel):
    """Same layer order as MAF's OpenAI clients: tool loop -> chat middleware -> telemetry -> model."""


@tool(approval_mode="never_require")
def get_weather(city: Annotated[str, "City name"]) -> str:
    """Get the current weather for a city."""
    forecasts = {"Oslo": "7C, light rain", "Paris": "14C, cloudy", "Lisbon": "19C, sunny"}
    return f"{city}: {forecasts.get(city, '11C, overcast')}"


@tool(approval_mode="never_require")
def delete_records(table: Annotated[str, "Table to wipe"]) -> str:
    """Delete every record of a table (a tool a policy should keep away from the model)."""
    return f"deleted all rows of {table}"


def make_chat_client(settings: Any = None, **scripted: Any) -> Any:
    """Azure OpenAI (MAF's ``OpenAIChatCompletionClient``) when ``AZURE_OPENAI_*`` is set, else scripted.

    Samples and the demo call this so the same code runs against Azure or offline. The Azure
    client lives in ``agent-framework-openai`` (``azure_endpoint``/``api_version`` keyword
    arguments, per that package's source); it is not a dependency of llmops-kit.
    """
    endpoint = getattr(settings, "azure_openai_endpoint", None)
    deployment = getattr(settings, "azure_openai_deployment", None)
    if not (endpoint and deployment):
        return ScriptedChatClient(**scripted)
    try:
        from agent_framework.openai import OpenAIChatCompletionClient
    except ModuleNotFoundError as exc:
        raise RuntimeError(
            "AZURE_OPENAI_ENDPOINT/AZURE_OPENAI_DEPLOYMENT are set but agent-framework-openai is not "
            "installed: pip install agent-framework-openai"
        ) from exc
    key = getattr(settings, "azure_openai_api_key", None)
    return OpenAIChatCompletionClient(
        model=deployment, azure_endpoint=endpoint, api_version=settings.azure_openai_api_version,
        api_key=key.get_secret_value() if key is not None else None,
    )
