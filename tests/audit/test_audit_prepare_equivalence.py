"""``prepare_encoded`` (the file sink's route) is ``prepare_record`` + v2 bytes, for any record.

The fast route skips ``to_jsonable``'s checks when a record is plain and lets orjson refuse
what it cannot carry; whatever the record holds, the prepared record and its bytes must be
exactly what the checked route produces, or existing trails would stop verifying.
"""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from llmops_kit.audit.encoding import canonical_bytes_v2, prepare_encoded, prepare_record, to_jsonable

# leaves include non-finite floats, integers beyond 64 bits and lone surrogates: the v1 cases
_leaves = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0xDFFF, blacklist_categories=()), max_size=12),
)
_keys = st.one_of(st.text(max_size=8), st.integers(-5, 5), st.booleans())
_values = st.recursive(
    _leaves,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.tuples(inner, inner),
                            st.dictionaries(_keys, inner, max_size=4)),
    max_leaves=20,
)
_records = st.dictionaries(st.sampled_from(["query", "response", "status", "usage", "metadata", "x"]), _values,
                           max_size=6)


def _redact(text: str) -> str:
    return text.replace("secret", "[REDACTED]")


def _v2(prepared: dict) -> bytes | None:
    try:
        return canonical_bytes_v2(prepared)
    except TypeError:
        return None


@settings(max_examples=400, deadline=None)
@given(_records, st.booleans())
def test_fast_route_equals_the_checked_route(record: dict, redacting: bool) -> None:
    redact = _redact if redacting else None
    prepared, v2 = prepare_encoded(record, redact)
    expected = prepare_record(record, redact)
    assert prepared == expected
    assert v2 == _v2(expected)


@settings(max_examples=200, deadline=None)
@given(_values)
def test_plain_values_come_back_as_the_same_object(value: object) -> None:
    converted = to_jsonable(value)
    if _plain(value):
        assert converted is value
    else:
        assert _plain(converted)


def _plain(value: object) -> bool:
    if value is None or type(value) in (bool, int, str):
        return True
    if type(value) is float:
        return math.isfinite(value)
    if type(value) is list:
        return all(_plain(v) for v in value)
    if type(value) is dict:
        return all(type(k) is str and _plain(v) for k, v in value.items())
    return False


def test_a_record_with_personal_data_is_copied_not_modified() -> None:
    record = {"query": "my secret", "response": "ok", "usage": {"input_tokens": 3}}
    prepared, _ = prepare_encoded(record, _redact)
    assert prepared["query"] == "my [REDACTED]" and record["query"] == "my secret"
