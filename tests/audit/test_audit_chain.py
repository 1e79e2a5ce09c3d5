"""Hash chain and record encoding: tampering is detected, odd input is stored faithfully."""

from __future__ import annotations

import datetime as dt
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmops_kit.audit.chain import (
    GENESIS_HASH,
    HashChain,
    encode_entry,
    entry_hash,
    parse_line,
    verify_located,
)
from llmops_kit.audit.encoding import prepare_record, to_jsonable


def _chain(n: int, chain_id: str = "c1") -> list[bytes]:
    ch = HashChain(chain_id)
    return [encode_entry(ch.link({"run_id": f"r{i}", "status": "ok"}, partition="default")) for i in range(n)]


def _verify(lines: list[bytes]):
    return verify_located(parse_line(raw, f"f:{i + 1}") for i, raw in enumerate(lines))


def test_intact_chain_verifies_and_starts_at_genesis():
    lines = _chain(5)
    first = json.loads(lines[0])
    assert first["seq"] == 1 and first["prev_hash"] == GENESIS_HASH
    assert entry_hash(first) == first["hash"]
    [rep] = _verify(lines)
    assert rep.ok and (rep.records, rep.first_seq, rep.last_seq) == (5, 1, 5)


def test_edit_is_detected_at_the_edited_record():
    lines = _chain(5)
    e = json.loads(lines[2])
    e["record"]["status"] = "blocked"
    lines[2] = encode_entry(e)
    [rep] = _verify(lines)
    assert not rep.ok and rep.first_bad == "f:3" and "edited" in rep.error


def test_removal_is_a_gap():
    lines = _chain(5)
    del lines[1]
    [rep] = _verify(lines)
    assert not rep.ok and rep.first_bad == "f:2" and "seq 2 missing" in rep.error


def test_reorder_is_detected():
    lines = _chain(5)
    lines[1], lines[2] = lines[2], lines[1]
    [rep] = _verify(lines)
    assert not rep.ok and rep.first_bad == "f:2" and "gap" in rep.error  # seq 3 where 2 expected


def test_insert_of_a_self_consistent_forgery_is_detected():
    lines = _chain(4)
    forged = json.loads(lines[1])
    forged["record"]["run_id"] = "forged"
    forged["hash"] = entry_hash(forged)  # attacker recomputes its own hash...
    lines.insert(2, encode_entry(forged))
    [rep] = _verify(lines)
    assert not rep.ok and rep.first_bad == "f:3"  # ...but its seq/prev_hash cannot fit


def test_rehashed_edit_breaks_the_next_link():
    lines = _chain(4)
    e = json.loads(lines[1])
    e["record"]["status"] = "x"
    e["hash"] = entry_hash(e)
    lines[1] = encode_entry(e)
    [rep] = _verify(lines)
    assert not rep.ok and rep.first_bad == "f:3" and "prev_hash" in rep.error


def test_duplicate_is_detected():
    lines = _chain(3)
    lines.insert(2, lines[1])
    [rep] = _verify(lines)
    assert not rep.ok and "twice" in rep.error


def test_chains_are_verified_independently_and_garbage_is_reported():
    a, b = _chain(3, "a"), _chain(2, "b")
    mixed = [a[0], b[0], a[1], b[1], a[2], b"{not json"]
    reps = {r.chain_id: r for r in _verify(mixed)}
    assert reps["a"].ok and reps["b"].ok and reps["a"].records == 3
    assert not reps["?"].ok and reps["?"].first_bad == "f:6"


def test_odd_values_are_sanitised_and_round_trip():
    rec = {
        "run_id": "r", "tenant_id": None, "query": "bad \udc80 surrogate \ud800",
        "when": dt.datetime(2026, 1, 2),
        "tags": {"b", "a"}, "nan": math.nan, "inf": -math.inf, "blob": b"\x00\x01", 7: "int key",
        "obj": object(), "nested": {"t": (1, 2)},
    }
    clean = prepare_record(rec, None)
    ch = HashChain("c")
    line = encode_entry(ch.link(clean, partition="default"))
    back = json.loads(line)
    assert back["record"]["query"] == "bad \udc80 surrogate \ud800"
    assert back["record"]["tags"] == ["a", "b"] and back["record"]["nan"] == "nan"
    assert back["record"]["7"] == "int key" and back["record"]["blob"] == {"$base64": "AAE="}
    assert back["record"]["when"] == "2026-01-02T00:00:00"
    assert entry_hash(back) == back["hash"]
    line.decode("ascii")  # ensure_ascii: storable anywhere


def test_non_mapping_record_is_a_clear_error():
    with pytest.raises(TypeError, match="must be a mapping"):
        prepare_record(["not", "a", "dict"], None)  # type: ignore[arg-type]


def test_redaction_hook_applies_to_text_fields_and_a_broken_hook_never_leaks():
    rec = {"query": "mail a@b.com", "response": "ok", "messages": [{"role": "user", "content": "a@b.com"}],
           "other": "a@b.com"}
    red = prepare_record(rec, lambda s: s.replace("a@b.com", "[EMAIL]"))
    assert red["query"] == "mail [EMAIL]" and red["messages"][0]["content"] == "[EMAIL]"
    assert red["other"] == "a@b.com"  # only the configured free-text fields

    def boom(_s: str) -> str:
        raise RuntimeError("hook bug")

    red = prepare_record(rec, boom)
    assert red["query"] == "[REDACTION FAILED]" and "hook bug" in red["_redaction_error"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=5), kids, max_size=4),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.text(max_size=8), json_values, max_size=6))
def test_any_jsonish_record_round_trips_to_the_same_hash(record):
    clean = to_jsonable(record)
    entry = HashChain("p").link(clean, partition="default")
    back = json.loads(encode_entry(entry))
    assert entry_hash(back) == entry["hash"] == back["hash"]


def test_new_entries_are_version_2_utf8_and_verify():
    ch = HashChain("v2")
    lines = [encode_entry(ch.link({"query": "Grüße, 東京 🌧", "n": i, "score": 0.1 + i}, partition="p"))
             for i in range(3)]
    first = json.loads(lines[0])
    assert first["v"] == 2 and "Grüße, 東京 🌧".encode() in lines[0]  # stored as UTF-8, not \\u escapes
    [rep] = _verify(lines)
    assert rep.ok and rep.records == 3


def test_records_orjson_cannot_carry_exactly_fall_back_to_version_1_in_the_same_chain():
    ch = HashChain("mixed")
    lines = [
        encode_entry(ch.link({"run_id": "a"}, partition="p")),
        encode_entry(ch.link({"big": 2**70}, partition="p")),  # beyond 64-bit integers
        encode_entry(ch.link({"q": "lone \udc80"}, partition="p")),  # lone surrogate
        encode_entry(ch.link({"run_id": "d"}, partition="p")),
    ]
    assert [json.loads(raw)["v"] for raw in lines] == [2, 1, 1, 2]
    assert json.loads(lines[1])["record"]["big"] == 2**70
    [rep] = _verify(lines)
    assert rep.ok and rep.records == 4


def test_version_1_lines_from_earlier_releases_still_verify():
    from llmops_kit.audit.encoding import canonical_bytes

    entry = {"v": 1, "chain_id": "old", "seq": 1, "prev_hash": GENESIS_HASH,
             "audited_at": "2026-01-01T00:00:00.000000Z", "partition": "p", "record": {"q": "café"}}
    import hashlib

    entry["hash"] = hashlib.sha256(canonical_bytes(entry)).hexdigest()
    line = canonical_bytes(entry) + b"\n"
    assert b"caf\\u00e9" in line  # the old ASCII-only form
    [rep] = _verify([line])
    assert rep.ok


def test_an_unknown_entry_version_is_named_not_crashed_on():
    line = _chain(1, "vv")[0]
    doctored = line.replace(b'"v":2', b'"v":99')
    [rep] = _verify([doctored])
    assert not rep.ok and "unknown audit entry version 99" in rep.error and rep.first_bad == "f:1"
