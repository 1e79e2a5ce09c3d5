"""Turn whatever the pipeline hands us into plain, hashable JSON — without ever raising.

An audit sink sits on every run's hot path, so a record holding a ``datetime``, a pydantic
model, a set, a NaN, a lone surrogate from a broken decoder or a 5 MB query must still be
written (and hashed the same way on every machine), never crash the run. Everything
non-JSON is converted once, here, so the stored line re-parses to exactly what was hashed.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as _dt
import enum
import json
import math
from collections.abc import Callable, Mapping
from pathlib import PurePath
from typing import Any

import orjson

#: Record fields whose free text is passed through the redaction hook before hashing.
REDACTED_FIELDS = ("query", "response", "messages")

_MAX_DEPTH = 64


_PLAIN = frozenset({str, int, bool, type(None)})  # exact types that are already JSON


def to_jsonable(value: Any, _depth: int = 0) -> Any:
    """Convert ``value`` to dict/list/str/int/float/bool/None; unknown objects become strings.

    What is already JSON comes back as the *same object*: a plain dict or list is copied only
    when something inside it changes. A governed run's record is almost entirely plain, so it
    is checked, not rebuilt - no new containers per record. The result may therefore share
    objects with ``value``; treat it as read-only.
    """
    # Exact type checks, no ABC isinstance chain; anything else - subclasses included -
    # takes the general path below unchanged.
    t = type(value)
    if t in _PLAIN:
        return value
    if t is float and value - value == 0.0:  # finite: inf - inf and nan - nan are nan
        return value
    if _depth < _MAX_DEPTH:
        if t is dict:
            return _dict_jsonable(value, _depth + 1)
        if t is list:
            return _list_jsonable(value, _depth + 1)
        if t is tuple:
            d = _depth + 1
            return [to_jsonable(v, d) for v in value]
    return _to_jsonable_general(value, _depth)


def _dict_jsonable(value: dict[Any, Any], depth: int) -> dict[Any, Any]:
    """``value`` itself when every key is a ``str`` and every value comes back unchanged;
    otherwise a copy, made from the first member that changes (``depth`` is the members')."""
    items = iter(value.items())
    for k, v in items:
        t = type(v)
        if t in _PLAIN or (t is float and v - v == 0.0):  # finite: inf - inf and nan - nan are nan
            if type(k) is str:
                continue
            new = v
        else:
            new = _member_jsonable(v, t, depth)
            if new is v and type(k) is str:
                continue
        # The first change: keep what came before, convert the rest. Converted results are
        # reused, never recomputed, so a change deep down costs one pass, not one per level.
        out: dict[str, Any] = {}
        for k0, v0 in value.items():
            if k0 is k:
                break
            out[k0] = v0
        out[k if type(k) is str else _key(k)] = new
        for k1, v1 in items:  # the rest of the same iteration
            out[k1 if type(k1) is str else _key(k1)] = to_jsonable(v1, depth)
        return out
    return value


def _member_jsonable(value: Any, t: type, depth: int) -> Any:
    """A non-plain member of a container at ``depth``: plain containers straight to their
    converters (no second type dispatch in ``to_jsonable``), anything else through it."""
    if t is dict and depth < _MAX_DEPTH:
        return _dict_jsonable(value, depth + 1)
    if t is list and depth < _MAX_DEPTH:
        return _list_jsonable(value, depth + 1)
    return to_jsonable(value, depth)


def _list_jsonable(value: list[Any], depth: int) -> list[Any]:
    """``value`` itself when every item comes back unchanged; otherwise a copy (see above)."""
    for v in value:
        t = type(v)
        if t in _PLAIN or (t is float and v - v == 0.0):
            continue
        new = _member_jsonable(v, t, depth)
        if new is v:
            continue
        out = []
        for v0 in value:  # the unchanged prefix: an earlier item that is ``v`` would have changed too
            if v0 is v:
                break
            out.append(v0)
        out.append(new)
        out.extend([to_jsonable(x, depth) for x in value[len(out) :]])
        return out
    return value


def _to_jsonable_general(value: Any, _depth: int) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        # NaN/inf are not JSON; keep them readable rather than dropping them
        return value if math.isfinite(value) else repr(value)
    if _depth >= _MAX_DEPTH:
        return f"<nested deeper than {_MAX_DEPTH} levels: {type(value).__name__}>"
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out[k if isinstance(k, str) else _key(k)] = to_jsonable(v, _depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v, _depth + 1) for v in value]
    if isinstance(value, (set, frozenset)):
        items = [to_jsonable(v, _depth + 1) for v in value]
        return sorted(items, key=lambda x: json.dumps(x, sort_keys=True, default=str))
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value, _depth + 1)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$base64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, PurePath):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        try:
            return to_jsonable(dataclasses.asdict(value), _depth + 1)
        except Exception:  # a dataclass holding something asdict cannot deep-copy
            pass
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return to_jsonable(dump(mode="json"), _depth + 1)
        except Exception:
            pass
    try:
        return f"<{type(value).__name__}: {value!s}>"
    except Exception:
        return f"<{type(value).__name__}: unprintable>"


def _key(k: Any) -> str:
    if isinstance(k, enum.Enum):
        k = k.value
    return k if isinstance(k, str) else str(k)


def canonical_bytes(obj: Any) -> bytes:
    """Entry version 1's encoding: sorted keys, compact, ASCII only.

    ``ensure_ascii`` escapes lone surrogates as ``\\udXXX`` so they survive UTF-8 files
    and re-parse to the same string; the input must already be :func:`to_jsonable` output.
    """
    return _CANONICAL.encode(obj).encode("ascii")


def canonical_bytes_v2(obj: Any) -> bytes:
    """Entry version 2's encoding: sorted keys, compact, UTF-8 (orjson).

    Eight to ten times faster than the standard library encoder on an audit record, which
    is on every run's hot path. orjson refuses what UTF-8 JSON cannot carry exactly (lone
    surrogates, integers beyond 64 bits) with a ``TypeError``; :func:`encode_versioned`
    then writes that entry as version 1. Input must already be :func:`to_jsonable` output,
    so there is no NaN or non-JSON type left for orjson to reinterpret.
    """
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)


#: Entry version written for new records when its encoder accepts them.
CURRENT_VERSION = 2
_ENCODERS: dict[int, Callable[[Any], bytes]] = {1: canonical_bytes, 2: canonical_bytes_v2}


def encoder_for(version: Any) -> Callable[[Any], bytes]:
    """The canonical encoder of a stored entry's ``v``; ``ValueError`` for a version we never wrote."""
    try:
        return _ENCODERS[version]
    except (KeyError, TypeError):
        raise ValueError(f"unknown audit entry version {version!r}") from None


def encode_versioned(build: Callable[[int], dict[str, Any]]) -> tuple[dict[str, Any], bytes]:
    """Build an entry for the current version and encode it, falling back to version 1
    when the current encoder cannot represent the record exactly."""
    entry = build(CURRENT_VERSION)
    try:
        return entry, canonical_bytes_v2(entry)
    except TypeError:
        entry = build(1)
        return entry, canonical_bytes(entry)


# json.dumps with these options builds a new JSONEncoder per call; this one is immutable config.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def redact_record(record: dict[str, Any], redact: Callable[[str], str]) -> dict[str, Any]:
    """Apply ``redact`` to the free-text fields (``query``, ``response``, ``messages``).

    Returns ``record`` itself when no field changes (most runs carry no personal data), else a
    copy: the record is never modified in place.
    """
    out = record
    for field in REDACTED_FIELDS:
        if field in record:
            value = record[field]
            new = redact(value) if type(value) is str else _redact_value(value, redact)  # query/response: text
            if new is not value:
                if out is record:
                    out = dict(record)
                out[field] = new
    return out


def _redact_value(value: Any, redact: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [_redact_value(v, redact) for v in value]
    if isinstance(value, dict):
        # chat messages: {"role": ..., "content": "..."} — redact text, keep structure
        return {k: (_redact_value(v, redact) if k in ("content", "text") else v) for k, v in value.items()}
    return value


def prepare_record(record: Mapping[str, Any], redact: Callable[[str], str] | None) -> dict[str, Any]:
    """Sanitise then redact: the hashed form of a pipeline record. Never raises for odd data."""
    if type(record) is not dict and not isinstance(record, Mapping):  # exact dict first: an ABC check costs more
        raise TypeError(f"audit record must be a mapping, got {type(record).__name__}")
    return _redacted(to_jsonable(record), redact)


def prepare_encoded(
    record: Mapping[str, Any], redact: Callable[[str], str] | None
) -> tuple[dict[str, Any], bytes | None]:
    """:func:`prepare_record` and the result's :func:`canonical_bytes_v2` (``None`` when only
    version 1 can carry it), for a sink that builds the entry around the record's bytes.

    A record whose values are all plain JSON (str, int, bool, None, finite float, plain dicts
    and lists of them) is used as it is, without :func:`to_jsonable`'s key check - about a
    third of its cost: orjson refuses every dict key that is not exactly a ``str`` with a
    ``TypeError``, and for such keys the check changes nothing. Whatever orjson refuses
    (keys, lone surrogates, integers beyond 64 bits) takes the checked way, so the result is
    :func:`prepare_record`'s, byte for byte.
    """
    if type(record) is dict and _plain_dict(record, 1):
        prepared = _redacted(record, redact)
        try:
            return prepared, canonical_bytes_v2(prepared)
        except TypeError:
            pass
    prepared = prepare_record(record, redact)
    try:
        return prepared, canonical_bytes_v2(prepared)
    except TypeError:
        return prepared, None


def _plain_dict(container: dict[Any, Any], depth: int, _plain: frozenset[type] = _PLAIN) -> bool:
    """True when every value under ``container`` (keys aside) is one :func:`to_jsonable` keeps
    as it is; ``depth`` is that of the container's members, as in :func:`to_jsonable`.

    One walker per container type (no per-call dispatch) and ``_plain`` as a local: this walk
    visits every leaf of every record, about 170 in a MAF run's.
    """
    for v in container.values():
        if type(v) in _plain:
            continue
        t = type(v)
        if t is float:
            if v - v == 0.0:  # finite: inf - inf and nan - nan are nan
                continue
            return False
        if depth < _MAX_DEPTH and (_plain_dict(v, depth + 1) if t is dict else t is list and _plain_list(v, depth + 1)):
            continue
        return False
    return True


def _plain_list(container: list[Any], depth: int, _plain: frozenset[type] = _PLAIN) -> bool:
    """:func:`_plain_dict` for a list; dicts first, as a record's lists mostly hold dicts."""
    for v in container:
        t = type(v)
        if t is dict:
            if depth < _MAX_DEPTH and _plain_dict(v, depth + 1):
                continue
            return False
        if t in _plain or (t is float and v - v == 0.0):
            continue
        if t is list and depth < _MAX_DEPTH and _plain_list(v, depth + 1):
            continue
        return False
    return True


def _redacted(clean: dict[str, Any], redact: Callable[[str], str] | None) -> dict[str, Any]:
    """``clean`` with ``redact`` applied; one place for both ways in, so a failing hook is
    handled the same whichever way the record came."""
    if redact is None:
        return clean
    try:
        return redact_record(clean, redact)
    except Exception as exc:  # a broken hook must not lose the record — but never store raw text either
        failed = dict(redact_record(clean, lambda _s: "[REDACTION FAILED]"))  # a copy: a key is added
        failed["_redaction_error"] = f"{type(exc).__name__}: {exc}"[:500]
        return failed
