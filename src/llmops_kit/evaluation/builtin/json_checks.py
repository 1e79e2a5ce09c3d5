"""JSON validity and JSON-Schema validity of a response (for agents that must emit JSON).

Models often wrap JSON in a Markdown fence; that is accepted and stripped, because the
consuming code usually does the same. Anything else around the JSON is a failure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from llmops_kit.evaluation.base import EvalContext, EvalResult
from llmops_kit.evaluation.builtin._base import BaseEvaluator

_FENCE = re.compile(r"^\s*```(?:json|JSON)?\s*\n(.*?)\n?```\s*$", re.DOTALL)

#: Parsing more than this is refused: json.loads on tens of MB blocks the event loop.
MAX_JSON_CHARS = 10_000_000


def parse_json(text: str) -> tuple[Any, str | None]:
    """(value, None) or (None, why-it-failed)."""
    if not text.strip():
        return None, "empty response"
    if len(text) > MAX_JSON_CHARS:
        return None, f"response is {len(text)} characters, over the {MAX_JSON_CHARS} JSON limit"
    m = _FENCE.match(text)
    body = m.group(1) if m else text
    try:
        return json.loads(body), None
    except (json.JSONDecodeError, RecursionError) as exc:
        return None, f"invalid JSON: {exc}"[:300]


class JsonValid(BaseEvaluator):
    """1 when the response parses as JSON (optionally fenced), else 0."""

    def __init__(self, *, threshold: float = 1.0, name: str = "json_valid") -> None:
        self.name = name
        self.threshold = threshold

    runs_inline = True  # pure CPU: no await inside

    async def score(self, query: str, response: str, context: EvalContext) -> EvalResult:
        value, why = parse_json(response)
        if why:
            return self.result(0.0, why)
        return self.result(1.0, f"valid JSON ({type(value).__name__})")


class JsonSchemaValid(BaseEvaluator):
    """1 when the response is JSON that validates against ``schema``; 0 lists the first errors."""

    def __init__(
        self, schema: Mapping[str, Any], *, threshold: float = 1.0, name: str = "json_schema_valid"
    ) -> None:
        import jsonschema  # the `eval` extra; imported here so the core does not need it

        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)  # a broken schema is a configuration error: raise now, not per run
        self._validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
        self.name = name
        self.threshold = threshold

    runs_inline = True  # pure CPU: no await inside

    async def score(self, query: str, response: str, context: EvalContext) -> EvalResult:
        value, why = parse_json(response)
        if why:
            return self.result(0.0, why)
        errors = sorted(self._validator.iter_errors(value), key=lambda e: list(e.absolute_path))
        if not errors:
            return self.result(1.0, "valid against schema")
        shown = "; ".join(
            f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"[:160] for e in errors[:3]
        )
        return self.result(0.0, f"{len(errors)} schema error(s): {shown}")
