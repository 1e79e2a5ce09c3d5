"""Tool calls of a run, read from the conversation instead of from function middleware.

Every tool call MAF makes is first a ``function_call`` in a model reply and then a
``function_result`` in the next model call's prompt (or in the run's final response when the
loop ends on tools). The chat middleware sees both, so it records tool calls itself: no
function middleware layer is needed, which saves MAF's per-tool-call middleware pipeline
(about 35 µs a call, measured on agent-framework-core 1.23) on every run. The records are the
ones function middleware would have made: name, call id, arguments and result (with content
capture on), and the error a tool raised.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from llmops_kit.agent import ToolCallRecord

if TYPE_CHECKING:
    from llmops_kit.telemetry.instruments import Telemetry
    from llmops_kit_agent_framework.state import RunState


def note_requests(
    state: RunState | None, response: Any, telemetry: Telemetry | None
) -> list[tuple[ToolCallRecord, Any]]:
    """Record the tool calls a model reply asks for on the run (if one is bound); returns each
    new record with its raw arguments, so the tool policy applies with or without a run."""
    requested: list[tuple[ToolCallRecord, Any]] = []
    for message in getattr(response, "messages", None) or ():
        for content in message.contents:
            if content.type != "function_call" or getattr(content, "informational_only", False) \
                    or getattr(content, "hosted", False):
                continue  # only calls MAF executes locally are tool calls of this run
            record = ToolCallRecord(name=content.name or "unknown", call_id=content.call_id or None)
            if telemetry is not None and telemetry.capture_content:
                record.arguments = telemetry.content(arguments_text(content.arguments))
            if state is not None:
                state.tool_calls.append(record)
            requested.append((record, content.arguments))
    return requested


def note_results(state: RunState, messages: Iterable[Any], telemetry: Telemetry | None) -> None:
    """Attach results (content capture on; none without telemetry) and errors to the recorded
    calls they answer."""
    pending = {r.call_id: r for r in state.tool_calls if r.call_id and not r.error and r.result is None}
    if not pending:
        return
    for message in messages:
        for content in getattr(message, "contents", None) or ():
            if content.type != "function_result":
                continue
            record = pending.pop(content.call_id, None)
            if record is None:
                continue
            exception = getattr(content, "exception", None)
            if exception:
                record.error = str(exception)[:200]
            elif telemetry is not None and telemetry.capture_content:
                record.result = telemetry.content(_result_text(content.result))
            if not pending:
                return


def arguments_text(arguments: Any) -> str:
    """A tool call's arguments as JSON text (models send a JSON string or MAF a parsed mapping)."""
    if isinstance(arguments, str):
        return arguments
    if hasattr(arguments, "model_dump"):
        arguments = arguments.model_dump()
    if isinstance(arguments, Mapping):
        arguments = dict(arguments)
    try:
        return json.dumps(arguments, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(arguments)


def _result_text(result: Any) -> str:
    if isinstance(result, list):
        return " ".join(str(getattr(c, "text", None) or getattr(c, "result", None) or c) for c in result)
    return str(result)
