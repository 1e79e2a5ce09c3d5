"""Replacement results for terminated or blocked runs, in the shape MAF expects for the mode.

Non-streaming middleware must leave an ``AgentResponse``/``ChatResponse``; streaming
middleware must leave a ``ResponseStream`` (an ``AgentResponse`` there raises
``Expected ResponseStream for streaming``, MAF issue #4237). A replacement keeps the
original's usage, response id and finish reason, so nobody loses what was already spent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from agent_framework import (
    AgentResponse,
    AgentResponseUpdate,
    ChatResponse,
    ChatResponseUpdate,
    Message,
    ResponseStream,
)


def agent_reply(
    text: str, *, like: AgentResponse | None = None, finish_reason: str | None = None
) -> AgentResponse:
    """An ``AgentResponse`` saying ``text`` that keeps ``like``'s usage, ids and finish reason."""
    return AgentResponse(
        messages=[Message(role="assistant", contents=[text])],
        response_id=like.response_id if like is not None else None,
        agent_id=like.agent_id if like is not None else None,
        finish_reason=(like.finish_reason if like is not None else None) or finish_reason,
        usage_details=like.usage_details if like is not None else None,
        continuation_token=like.continuation_token if like is not None else None,
        additional_properties=dict(like.additional_properties or {}) if like is not None else None,
    )


def chat_reply(text: str, *, model: str | None, finish_reason: str = "length") -> ChatResponse:
    """A model-call result that ends a tool loop: text and no tool calls."""
    return ChatResponse(messages=[Message(role="assistant", contents=[text])], model=model,
                        finish_reason=finish_reason)


def agent_stream(response: AgentResponse) -> ResponseStream[AgentResponseUpdate, AgentResponse]:
    return ResponseStream(_iterate(response.to_updates()), finalizer=AgentResponse.from_updates)


def chat_stream(response: ChatResponse) -> ResponseStream[ChatResponseUpdate, ChatResponse]:
    return ResponseStream(_iterate(response.to_updates()), finalizer=ChatResponse.from_updates)


async def _iterate(updates: Sequence[Any]) -> AsyncIterator[Any]:
    for update in updates:
        yield update


def stream_error(stream: object) -> BaseException | None:
    """The error that ended a ``ResponseStream``, seen from a cleanup hook.

    MAF offers no public error hook for streams; its own telemetry layer reads the same
    ``_stream_error`` attribute in its cleanup hook (observability.py, 1.23), so we follow it
    and fall back to "no error" if a future version renames it.
    """
    error = getattr(stream, "_stream_error", None)
    return error if isinstance(error, BaseException) else None


def response_text(response: object) -> str:
    text = getattr(response, "text", None)
    return text if isinstance(text, str) else ""


def messages_text(messages: Sequence[Message]) -> str:
    """The user-visible text of new input messages (what input safety checks)."""
    parts = [m.text for m in messages if getattr(m, "text", None)]
    return "\n".join(parts)
