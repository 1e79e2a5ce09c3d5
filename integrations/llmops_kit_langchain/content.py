"""LangChain messages in the GenAI semconv JSON shape, with content or structure only.

The shape is ``[{"role", "parts": [{"type": "text", "content"} | {"type": "tool_call", "id",
"name", "arguments"} | {"type": "tool_call_response", "id", "response"}]}]``. With capture off,
roles, part types, tool names and tool-call ids stay (they are structure, and what you need
to follow a tool loop); text, arguments and results are dropped. With capture on, every
string passes through the redaction hook first.
"""

from __future__ import annotations

import json
import json.encoder
from collections.abc import Callable, Iterable, Sequence
from typing import Any

Redactor = Callable[[str], str]


def _make_encoder() -> Callable[[Any], str]:
    """A compact JSON encoder without the circular-reference check, built once.

    ``JSONEncoder.encode`` builds a fresh C encoder and a marker dict per call; for the small
    message lists encoded on every model call that is 2-3x the encoding itself. The values
    encoded here are message parts and tool arguments (trees, never cyclic); a cyclic value
    raises ``RecursionError``/``ValueError`` and :func:`text_value` falls back to ``str``.
    """
    fallback = json.JSONEncoder(
        ensure_ascii=False, separators=(",", ":"), default=str, check_circular=False
    ).encode
    c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
    if c_make_encoder is None:  # no C accelerator (e.g. PyPy)
        return fallback
    try:
        # the arguments JSONEncoder.iterencode passes (CPython 3.11-3.13): markers, default,
        # encoder, indent, key_separator, item_separator, sort_keys, skipkeys, allow_nan
        iterencode = c_make_encoder(
            None, str, json.encoder.encode_basestring, None, ":", ",", False, False, True
        )
        join = "".join

        def encode(value: Any) -> str:
            return join(iterencode(value, 0))

        probe = [{"a": "é\n", "b": (1, 2.5, None, True)}, "x", object]
        if encode(probe) != fallback(probe):
            return fallback
    except Exception:  # a future CPython changed the private signature: stay correct
        return fallback
    return encode


_encode = _make_encoder()

_AI_TYPES = frozenset(("ai", "AIMessageChunk"))
_ROLES = {
    "human": "user",
    "ai": "assistant",
    "system": "system",
    "tool": "tool",
    "function": "tool",
    "AIMessageChunk": "assistant",
    "developer": "system",
}


def _redact_value(value: Any, redact: Redactor | None) -> Any:
    if redact is None:
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_value(v, redact) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact_value(v, redact) for v in value]
    return value


def message_parts(msg: Any, capture: bool, redact: Redactor | None) -> dict[str, Any]:
    """One message as ``{"role", "parts"}``."""
    mtype = getattr(msg, "type", "user")
    role = _ROLES.get(mtype, mtype)
    parts: list[dict[str, Any]] = []
    if mtype == "tool":
        part: dict[str, Any] = {"type": "tool_call_response", "id": getattr(msg, "tool_call_id", None)}
        if capture:
            part["response"] = _redact_value(msg.text, redact)
        parts.append(part)
    else:
        text = msg.text if capture else None
        if text or (not capture and msg.content):
            parts.append(
                {"type": "text", "content": _redact_value(text, redact)} if capture else {"type": "text"}
            )
        tool_calls = getattr(msg, "tool_calls", None) if mtype in _AI_TYPES else None
        for tc in tool_calls or ():
            part = {"type": "tool_call", "id": tc.get("id"), "name": tc.get("name")}
            if capture:
                part["arguments"] = _redact_value(tc.get("args"), redact)
            parts.append(part)
    return {"role": role, "parts": parts}


def input_messages(messages: Sequence[Any], capture: bool, redact: Redactor | None) -> tuple[str | None, str]:
    """``(system_instructions_json | None, input_messages_json)`` for a chat request."""
    system: list[dict[str, Any]] = []
    rest: list[dict[str, Any]] = []
    for msg in messages:
        if getattr(msg, "type", None) == "system":
            system.append(
                {"type": "text", "content": _redact_value(msg.text, redact)} if capture else {"type": "text"}
            )
        else:
            rest.append(message_parts(msg, capture, redact))
    return (_encode(system) if system else None), _encode(rest)


def output_messages(
    messages: Iterable[Any], finish_reason: str | None, capture: bool, redact: Redactor | None
) -> str:
    out = []
    for msg in messages:
        entry = message_parts(msg, capture, redact)
        entry["role"] = "assistant"
        if finish_reason:
            entry["finish_reason"] = finish_reason
        out.append(entry)
    return _encode(out)


def to_json(value: Any) -> str:
    return _encode(value)


def text_value(value: Any, redact: Redactor | None) -> str:
    """A tool argument/result or retrieval query as a string, redacted."""
    if isinstance(value, str):
        text = value
    else:
        content = getattr(value, "content", None)
        if isinstance(content, str):
            text = content
        else:
            try:
                text = _encode(value)
            except (TypeError, ValueError, RecursionError):
                text = str(value)
    return redact(text) if redact is not None else text


def retrieval_documents(documents: Iterable[Any], redact: Redactor | None) -> str:
    """``gen_ai.retrieval.documents``: ``[{"id", "content"}]`` with each content redacted."""
    return _encode(
        [
            {
                "id": (getattr(d, "metadata", None) or {}).get("id") or getattr(d, "id", None),
                "content": text_value(getattr(d, "page_content", ""), redact),
            }
            for d in documents
        ]
    )
