"""The SHA-256 hash chain that makes an audit trail tamper-evident.

Each stored line is an *entry*: the (sanitised) pipeline record nested under ``record``,
plus ``chain_id``, ``seq`` (1, 2, 3, … per chain), ``prev_hash`` (the previous entry's
hash; 64 zeros for the first) and ``hash`` = SHA-256 over the canonical JSON of all
other fields. The record is nested rather than merged so a record that happens to have
a ``seq`` or ``hash`` key cannot collide with the chain's own fields.

Editing an entry breaks its hash; removing one leaves a seq gap; inserting or reordering
breaks ``prev_hash``/``seq`` continuity. Chopping entries off the *end* of a chain is not
visible from the chain alone — compare the last seq with a receipt or the sink's state.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from llmops_kit.audit.encoding import CURRENT_VERSION, canonical_bytes_v2, encode_versioned, encoder_for

GENESIS_HASH = "0" * 64
#: Version written for new entries (``v``): 2 = UTF-8 orjson encoding, 1 = ASCII stdlib JSON
#: (still written for the rare record orjson cannot encode exactly, and always verifiable).
ENTRY_VERSION = CURRENT_VERSION
_HASHED_FIELDS = ("v", "chain_id", "seq", "prev_hash", "audited_at", "partition", "record")


def entry_hash(entry: dict[str, Any]) -> str:
    """SHA-256 hex of the canonical encoding (the entry's own version) of every field but ``hash``.

    ``ValueError`` when the entry names a version no release of this library wrote.
    """
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(encoder_for(entry.get("v"))(body)).hexdigest()


def utc_now_iso() -> str:
    """``datetime.now(timezone.utc).isoformat(timespec="microseconds")`` with ``Z`` for ``+00:00``.

    Stamped on every entry, so built from ``time.time_ns()`` (the same system clock, floored to
    the microsecond exactly as ``datetime.now`` does) and a ``YYYY-MM-DDTHH:MM:SS`` prefix made
    by ``datetime`` once per second: a third of the cost, the same text.
    """
    second, micro = divmod(time.time_ns() // 1000, 1_000_000)
    cached = _second_prefix
    if cached[0] != second:
        cached = _cache_second_prefix(second)
    return f"{cached[1]}.{micro:06d}Z"


def utc_now_isoformat() -> str:
    """``datetime.now(timezone.utc).isoformat()`` exactly (``+00:00``; no fraction at a whole
    second), from the same clock and second prefix as :func:`utc_now_iso`, for a record's ``timestamp``."""
    second, micro = divmod(time.time_ns() // 1000, 1_000_000)
    cached = _second_prefix
    if cached[0] != second:
        cached = _cache_second_prefix(second)
    return f"{cached[1]}.{micro:06d}+00:00" if micro else f"{cached[1]}+00:00"


def _cache_second_prefix(second: int) -> tuple[int, str]:
    """``datetime`` itself formats the second, so the prefix is its text exactly (a tuple: one atomic swap)."""
    global _second_prefix
    stamp = _dt.datetime.fromtimestamp(second, _dt.timezone.utc).isoformat(timespec="seconds")
    _second_prefix = (second, stamp.removesuffix("+00:00"))
    return _second_prefix


_second_prefix: tuple[int, str] = (-1, "")


@dataclass
class HashChain:
    """The head of one chain; ``link`` is the only way to add to it (callers hold a lock)."""

    chain_id: str
    last_seq: int = 0
    last_hash: str = GENESIS_HASH

    def link(
        self, record: dict[str, Any], *, partition: str, audited_at: str | None = None
    ) -> dict[str, Any]:
        return self.link_with_body(record, partition=partition, audited_at=audited_at)[0]

    def link_with_body(
        self, record: dict[str, Any], *, partition: str, audited_at: str | None = None,
        record_v2: bytes | None = None,
    ) -> tuple[dict[str, Any], bytes]:
        """:meth:`link`, also returning the canonical bytes the hash is over (the entry without
        ``hash``), so a writer can splice the hash in instead of encoding the entry again.

        ``record_v2`` is ``canonical_bytes_v2(record)`` when the caller has it already
        (:func:`~llmops_kit.audit.encoding.prepare_encoded`): the entry is then built around
        it rather than encoding the record a second time.
        """
        head = {"v": CURRENT_VERSION, "chain_id": self.chain_id, "seq": self.last_seq + 1,
                "prev_hash": self.last_hash, "audited_at": audited_at or utc_now_iso(), "partition": partition}
        body = None if record_v2 is None else _body_around(head, record_v2)
        if body is None:  # encode the entry whole, as version 1 if version 2 cannot carry it
            entry, body = encode_versioned(lambda version: {**head, "v": version, "record": record})
        else:
            entry = head
            entry["record"] = record
        entry["hash"] = hashlib.sha256(body).hexdigest()
        self.last_seq = entry["seq"]
        self.last_hash = entry["hash"]
        return entry, body

    @classmethod
    def resume(cls, last_entry: dict[str, Any]) -> HashChain:
        """Continue after an entry read back from storage."""
        return cls(chain_id=str(last_entry["chain_id"]), last_seq=int(last_entry["seq"]),
                   last_hash=str(last_entry["hash"]))


def _body_around(head: dict[str, Any], record_v2: bytes) -> bytes | None:
    """``canonical_bytes_v2`` of the entry ``head`` + ``record``, from the record's own bytes.

    orjson writes a nested value exactly as it writes it alone (compact, keys sorted at every
    level), and ``record`` sorts between ``prev_hash`` and ``seq``: so the entry is the head's
    encoding with ``,"record":<bytes>`` put in front of ``,"seq":`` - a structural key, as
    inside a JSON string every ``"`` is escaped. ``None`` when a head member is not version-2
    text (a lone surrogate in a tenant id): the caller then encodes the entry whole, as before.
    """
    try:
        rest = canonical_bytes_v2(head)
    except TypeError:
        return None
    cut = rest.index(b',"seq":')
    return b"".join((rest[:cut], b',"record":', record_v2, rest[cut:]))


def encode_entry(entry: dict[str, Any]) -> bytes:
    """One JSONL line (with trailing newline) exactly as stored in files, spool and blobs."""
    return encoder_for(entry.get("v"))(entry) + b"\n"


@dataclass
class ChainReport:
    """Outcome of verifying one chain, shown as one row by ``llmops-kit audit verify``."""

    chain_id: str
    records: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    error: str | None = None
    first_bad: str | None = None  # where: "file.jsonl:12" or "blob-name:3"
    sources: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Located:
    """An entry (or an unparseable line) and where it was read from."""

    where: str
    entry: dict[str, Any] | None
    problem: str | None = None


def parse_line(line: bytes | str, where: str) -> Located:
    """Parse one stored line; a bad line becomes a ``Located`` with a problem, never an exception."""
    try:
        obj = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        return Located(where, None, f"line is not valid JSON ({exc.__class__.__name__})")
    if not isinstance(obj, dict):
        return Located(where, None, "line is not a JSON object")
    missing = [k for k in (*_HASHED_FIELDS, "hash") if k not in obj]
    if missing:
        return Located(where, None, f"entry lacks field(s) {', '.join(missing)}")
    if not isinstance(obj["seq"], int) or isinstance(obj["seq"], bool):
        return Located(where, None, "entry seq is not an integer")
    return Located(where, obj)


def verify_entries(chain_id: str, items: Iterable[Located]) -> ChainReport:
    """Walk one chain's entries in stored order; stop at the first break and say what it is."""
    rep = ChainReport(chain_id=chain_id)
    expected_seq = None
    prev_hash = None
    seen: set[int] = set()
    for item in items:
        if item.entry is None:
            rep.error, rep.first_bad = f"unreadable line: {item.problem}", item.where
            return rep
        e = item.entry
        seq = e["seq"]
        rep.records += 1
        if rep.first_seq is None:
            rep.first_seq = seq
            if seq == 1 and e["prev_hash"] != GENESIS_HASH:
                rep.error = "first record (seq 1) does not start from the genesis hash"
                rep.first_bad = item.where
                return rep
            expected_seq, prev_hash = seq, e["prev_hash"]
        try:
            intact = entry_hash(e) == e["hash"]
        except ValueError as exc:  # a version we never wrote: edited, or from a newer release
            rep.error, rep.first_bad = f"seq {seq}: {exc}", item.where
            return rep
        if not intact:
            rep.error = f"seq {seq}: content does not match its hash (record edited)"
            rep.first_bad = item.where
            return rep
        if seq in seen:
            rep.error, rep.first_bad = f"seq {seq} appears twice (duplicate or replayed record)", item.where
            return rep
        if seq != expected_seq:
            if seq > expected_seq:
                missing = f"{expected_seq}" if seq == expected_seq + 1 else f"{expected_seq}..{seq - 1}"
                rep.error = f"gap before seq {seq}: seq {missing} missing (record removed)"
            else:
                rep.error = f"seq {seq} found where seq {expected_seq} was expected (records reordered)"
            rep.first_bad = item.where
            return rep
        if e["prev_hash"] != prev_hash:
            rep.error = f"seq {seq}: prev_hash does not link to the previous record (inserted or replaced)"
            rep.first_bad = item.where
            return rep
        seen.add(seq)
        rep.last_seq = seq
        expected_seq = seq + 1
        prev_hash = e["hash"]
    return rep


def verify_located(items: Iterable[Located]) -> list[ChainReport]:
    """Group entries by ``chain_id`` (stored order kept) and verify each chain.

    An unparseable line cannot be attributed to a chain, so it is reported as its own
    failing pseudo-chain ``"?"``.
    """
    groups: dict[str, list[Located]] = {}
    sources: dict[str, list[str]] = {}
    bad: list[Located] = []
    for item in items:
        if item.entry is None:
            bad.append(item)
            continue
        cid = str(item.entry["chain_id"])
        groups.setdefault(cid, []).append(item)
        src = item.where.rsplit(":", 1)[0]
        lst = sources.setdefault(cid, [])
        if not lst or lst[-1] != src:
            lst.append(src)
    reports = []
    for cid, lst in groups.items():
        rep = verify_entries(cid, lst)
        rep.sources = sources[cid]
        reports.append(rep)
    if bad:
        rep = ChainReport(chain_id="?", records=len(bad), error=f"unreadable line: {bad[0].problem}",
                          first_bad=bad[0].where)
        reports.append(rep)
    return reports


_HASH_BEFORE = b',"partition":'  # "hash" sorts between "chain_id" and "partition"


def link_encoded(
    chain: HashChain, record: dict[str, Any], *, partition: str, record_v2: bytes | None = None
) -> tuple[dict[str, Any], bytes]:
    """``chain.link`` + ``encode_entry`` with one JSON encoding instead of two.

    The stored line is the canonical encoding of the entry *with* its hash, the hash is over
    the same encoding *without* it; with sorted keys the two differ only by the
    ``"hash":"..."`` member, which is spliced into the hashed bytes. The first
    ``,"partition":`` is the real key: only the ``audited_at`` and ``chain_id`` strings come
    before it, and inside a JSON string every ``"`` is escaped. Both encodings are compact
    with sorted keys, so this holds for every entry version. Equality with the two-step form
    is tested (``tests/maf/test_maf_hotpath.py``).

    ``record_v2``: the record's ``canonical_bytes_v2`` if known (see ``prepare_encoded``);
    without it the record is encoded here, so the entry is always built around its bytes.
    """
    if record_v2 is None:
        try:
            record_v2 = canonical_bytes_v2(record)
        except TypeError:  # only version 1 can carry it: the chain encodes that entry whole
            pass
    entry, body = chain.link_with_body(record, partition=partition, record_v2=record_v2)
    digest = entry["hash"]
    cut = body.index(_HASH_BEFORE)
    line = b"".join((body[:cut], b',"hash":"', digest.encode("ascii"), b'"', body[cut:], b"\n"))
    return entry, line
