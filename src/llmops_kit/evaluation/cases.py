"""Versioned evaluation cases (``cases.json``): loading and validation.

A malformed file must stop a CI run with one precise message (file, case, field), never a
traceback or a silently skipped case.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SUPPORTED_VERSIONS = (1,)
_STATUSES = ("ok", "blocked_input", "blocked_output", "budget_denied", "error")


class CasesError(ValueError):
    """The cases file is unreadable or invalid; the message names where."""


@dataclass(frozen=True)
class Case:
    id: str
    input: str
    expected_topics: tuple[str, ...] = ()
    must_include: tuple[str, ...] = ()
    must_not_include: tuple[str, ...] = ()
    expected_tools: tuple[str, ...] = ()
    reference: str | None = None
    documents: tuple[str, ...] = ()
    expected_status: str = "ok"
    pass_criteria: Mapping[str, float] = field(default_factory=dict)
    tags: tuple[str, ...] = ()

    def eval_metadata(self) -> dict[str, Any]:
        return {
            "case_id": self.id,
            "must_include": list(self.must_include),
            "must_not_include": list(self.must_not_include),
            "expected_tools": list(self.expected_tools),
        }


@dataclass(frozen=True)
class Suite:
    name: str
    version: int
    cases: tuple[Case, ...]
    source: str = ""


def _strs(raw: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = raw.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise CasesError(f"{where}: '{key}' must be a list of non-empty strings")
    return tuple(value)


def parse_case(raw: Any, where: str) -> Case:
    if not isinstance(raw, Mapping):
        raise CasesError(f"{where}: a case must be an object")
    cid, text = raw.get("id"), raw.get("input")
    if not isinstance(cid, str) or not cid.strip():
        raise CasesError(f"{where}: 'id' must be a non-empty string")
    where = f"{where} ({cid})"
    if not isinstance(text, str) or not text:
        raise CasesError(f"{where}: 'input' must be a non-empty string")
    unknown = set(raw) - {
        "id",
        "input",
        "expected_topics",
        "must_include",
        "must_not_include",
        "expected_tools",
        "reference",
        "documents",
        "expected_status",
        "pass_criteria",
        "tags",
        "notes",
    }
    if unknown:
        raise CasesError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    status = raw.get("expected_status", "ok")
    if status not in _STATUSES:
        raise CasesError(f"{where}: 'expected_status' must be one of {', '.join(_STATUSES)}")
    criteria = raw.get("pass_criteria", {})
    if not isinstance(criteria, Mapping) or not all(
        isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool)
        for k, v in criteria.items()
    ):
        raise CasesError(f"{where}: 'pass_criteria' must map evaluator names to minimum scores")
    reference = raw.get("reference")
    if reference is not None and not isinstance(reference, str):
        raise CasesError(f"{where}: 'reference' must be a string")
    return Case(
        id=cid,
        input=text,
        expected_topics=_strs(raw, "expected_topics", where),
        must_include=_strs(raw, "must_include", where),
        must_not_include=_strs(raw, "must_not_include", where),
        expected_tools=_strs(raw, "expected_tools", where),
        reference=reference,
        documents=_strs(raw, "documents", where),
        expected_status=status,
        pass_criteria={k: float(v) for k, v in criteria.items()},
        tags=_strs(raw, "tags", where),
    )


def load_cases(path: str | Path) -> Suite:
    """Read and validate a cases file: ``{"version": 1, "suite": name, "cases": [...]}``."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CasesError(f"{p}: file not found") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CasesError(f"{p}: not valid UTF-8 JSON ({exc})") from exc
    if isinstance(data, list):  # a bare list of cases is accepted as version 1
        data = {"version": 1, "cases": data}
    if not isinstance(data, Mapping):
        raise CasesError(f"{p}: top level must be an object with 'version' and 'cases'")
    version = data.get("version")
    if version not in SUPPORTED_VERSIONS:
        raise CasesError(f"{p}: unsupported 'version' {version!r}; supported: {SUPPORTED_VERSIONS}")
    raw_cases = data.get("cases")
    if not isinstance(raw_cases, list) or not raw_cases:
        raise CasesError(f"{p}: 'cases' must be a non-empty list")
    cases = tuple(parse_case(c, f"{p} case #{i}") for i, c in enumerate(raw_cases))
    ids = [c.id for c in cases]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise CasesError(f"{p}: duplicate case id(s): {', '.join(dupes)}")
    return Suite(name=str(data.get("suite") or p.stem), version=int(version), cases=cases, source=str(p))
