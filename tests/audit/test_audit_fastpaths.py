"""The audit hot-path shortcuts give the long way's results exactly.

``link_encoded`` splices the hash into the entry's encoding (odd heads, seq across 2**63 and
2**64); ``prepare_encoded``'s plain walk is one walker per container type (up to the depth
limit); ``utc_now_isoformat`` is ``datetime.now(utc).isoformat()``.
"""

from __future__ import annotations

import datetime as dt
import math

import pytest

from llmops_kit.audit import chain as chain_mod
from llmops_kit.audit.chain import HashChain, encode_entry, entry_hash, link_encoded
from llmops_kit.audit.encoding import canonical_bytes_v2, prepare_encoded, prepare_record, to_jsonable

_RECORDS = [
    {"query": "hi", "n": 1, "nested": {"partition": "x", ',"partition":': [1, 2.5, None]}},
    {"q": "lone \udc80"},  # only version 1 carries it
    {"big": 2**70},  # beyond 64-bit integers: version 1
    {},
]


@pytest.mark.parametrize("chain_id", ["file-abc", 'we,"partition":"ird\\', "lone \ud800", 12345])
@pytest.mark.parametrize("partition", ["default", 'p/"1"', "東京", "bad \udfff"])
@pytest.mark.parametrize("start", [(0, chain_mod.GENESIS_HASH), (2**63 - 3, "not hex \u2028"), (2**64 - 2, "x")])
def test_link_encoded_equals_link_then_encode_for_odd_heads(chain_id: object, partition: str,
                                                            start: tuple[int, str]) -> None:
    fast = HashChain(chain_id, *start)  # type: ignore[arg-type]
    slow = HashChain(chain_id, *start)  # type: ignore[arg-type]
    for i in range(8):  # seq crosses 2**63 and 2**64 (version 1 from there)
        clean = to_jsonable(_RECORDS[i % len(_RECORDS)])
        entry, line = link_encoded(fast, clean, partition=partition)
        expected = slow.link(clean, partition=partition, audited_at=entry["audited_at"])
        assert entry == expected and list(entry) == list(expected)
        assert line == encode_entry(expected)
        assert entry["hash"] == entry_hash(expected)
        assert (fast.last_seq, fast.last_hash) == (slow.last_seq, slow.last_hash)


def test_link_encoded_after_a_rollback_links_to_the_restored_head() -> None:
    """The blob sink puts a refused entry's head back; the next entry must link to that head,
    not to the encoding kept from the refused one."""
    fast = HashChain("c")
    link_encoded(fast, {"n": 1}, partition="p")
    head = (fast.last_seq, fast.last_hash)
    link_encoded(fast, {"n": 2}, partition="p")
    fast.last_seq, fast.last_hash = head
    other = HashChain("other")
    link_encoded(other, {"n": 3}, partition="p")  # another chain links in between
    slow = HashChain("c", *head)
    entry, line = link_encoded(fast, {"n": 4}, partition="p")
    expected = slow.link({"n": 4}, partition="p", audited_at=entry["audited_at"])
    assert line == encode_entry(expected) and entry["prev_hash"] == head[1]


def test_link_encoded_with_the_records_own_bytes() -> None:
    ch, ref = HashChain("c"), HashChain("c")
    record = {"query": "Grüße", "score": 0.25}
    entry, line = link_encoded(ch, record, partition="default", record_v2=canonical_bytes_v2(record))
    assert line == encode_entry(ref.link(record, partition="default", audited_at=entry["audited_at"]))


def _nested(depth: int, leaf: object) -> object:
    value = leaf
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


@pytest.mark.parametrize("depth", [61, 62, 63, 64, 65])
@pytest.mark.parametrize("leaf", [1, 2.5, math.nan, (1, 2), "s"])
def test_fast_route_equals_checked_route_at_the_depth_limit(depth: int, leaf: object) -> None:
    record = {"deep": _nested(depth, leaf), "tail": [{"x": math.inf}] if depth == 61 else [1]}
    prepared, v2 = prepare_encoded(record, None)
    expected = prepare_record(record, None)
    assert repr(prepared) == repr(expected)  # repr: a NaN never equals itself
    try:
        want = canonical_bytes_v2(expected)
    except TypeError:
        want = None
    assert v2 == want


@pytest.mark.parametrize("ns", [
    0, 999, 1_000, 1_700_000_000_000_000_000, 1_700_000_000_123_456_789, 1_700_000_001_000_000_999,
    4_102_444_800_000_000_000, 253_402_300_799_999_999_000,
])
def test_utc_now_isoformat_is_datetime_isoformat(monkeypatch: pytest.MonkeyPatch, ns: int) -> None:
    monkeypatch.setattr(chain_mod.time, "time_ns", lambda: ns)
    second, micro = divmod(ns // 1000, 1_000_000)
    expected = dt.datetime.fromtimestamp(second, dt.timezone.utc).replace(microsecond=micro).isoformat()
    assert chain_mod.utc_now_isoformat() == expected
    if micro:  # utc_now_iso always writes the fraction
        assert chain_mod.utc_now_iso() == expected.replace("+00:00", "Z")


def test_utc_now_isoformat_reads_the_same_clock_as_datetime() -> None:
    before = dt.datetime.now(dt.timezone.utc)
    stamp = dt.datetime.fromisoformat(chain_mod.utc_now_isoformat())
    after = dt.datetime.now(dt.timezone.utc)
    assert before <= stamp <= after and stamp.tzinfo == dt.timezone.utc
