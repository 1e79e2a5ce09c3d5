"""The blob sink's local durable spool: records live here until Azure confirms them.

Layout under the spool directory::

    writer_id                   random id of this writer, part of every chain id
    p-<safe-partition>/
        state.json              chain head as confirmed by Azure (acked seq/hash) + the
                                in-flight append "intent" (blob, offset, seq range)
        <first-seq>.jsonl       append-only segments of chain entries, fsync'd per group

A record counts as removed once ``acked_seq`` passes it; whole segments are deleted once
every line in them is acked. On start, unacked lines are loaded again and replayed in order,
and the intent lets the uploader recognise an append that landed before a crash (no duplicate).
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmops_kit.audit._common import safe_name
from llmops_kit.audit._fs import cut_torn_tail, fsync_dir, lock_directory, unlock_directory, write_json_atomic
from llmops_kit.audit.chain import GENESIS_HASH, HashChain

log = logging.getLogger("llmops_kit.audit.spool")

SEGMENT_MAX_BYTES = 16 * 1024 * 1024


@dataclass
class SpooledEntry:
    seq: int
    hash: str
    day: str  # YYYY-MM-DD the entry's blob belongs to
    line: bytes
    t: float = 0.0  # monotonic enqueue time (0 for entries recovered at start: due at once)


@dataclass
class PartitionSpool:
    """One partition's chain head, its unacked entries and its files."""

    partition: str
    directory: Path
    chain: HashChain
    acked_seq: int = 0
    acked_hash: str = GENESIS_HASH
    intent: dict[str, Any] | None = None
    pending: deque[SpooledEntry] = field(default_factory=deque)  # spooled, not yet acked
    segments: list[tuple[int, Path]] = field(default_factory=list)  # (first seq, path)
    segment_bytes: int = 0
    last_day: str = ""

    def state(self) -> dict[str, Any]:
        return {"partition": self.partition, "chain_id": self.chain.chain_id, "acked_seq": self.acked_seq,
                "acked_hash": self.acked_hash, "intent": self.intent}


class Spool:
    """Durable, ordered, per-partition queue of encoded chain entries (blocking IO: call off-loop)."""

    def __init__(self, directory: str | Path, *, segment_max_bytes: int = SEGMENT_MAX_BYTES) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock_handle = lock_directory(self.directory)
        self.segment_max_bytes = segment_max_bytes
        self.partitions: dict[str, PartitionSpool] = {}
        self.bytes = 0  # unacked bytes on disk
        try:
            self.writer_id = self._writer_id()
            self._recover()
        except BaseException:
            unlock_directory(self._lock_handle)
            raise

    def close(self) -> None:
        unlock_directory(self._lock_handle)
        self._lock_handle = None

    # --- recovery ---------------------------------------------------------------------
    def _writer_id(self) -> str:
        path = self.directory / "writer_id"
        if path.exists():
            wid = path.read_text().strip()
            if wid:
                return wid
        wid = uuid.uuid4().hex[:12]
        tmp = path.with_suffix(".tmp")
        tmp.write_text(wid)
        os.replace(tmp, path)
        fsync_dir(self.directory)
        return wid

    def _recover(self) -> None:
        for pdir in sorted(self.directory.glob("p-*")):
            state_path = pdir / "state.json"
            if not state_path.exists():
                continue
            state = json.loads(state_path.read_text())
            part = PartitionSpool(
                partition=state["partition"], directory=pdir,
                chain=HashChain(chain_id=state["chain_id"], last_seq=state["acked_seq"],
                                last_hash=state["acked_hash"]),
                acked_seq=state["acked_seq"], acked_hash=state["acked_hash"], intent=state.get("intent"),
            )
            segs = sorted((int(p.stem), p) for p in pdir.glob("*.jsonl") if p.stem.isdigit())
            for i, (_, path) in enumerate(segs):
                if i == len(segs) - 1 and cut_torn_tail(path) is not None:
                    log.warning("audit spool segment %s ended in a partial line; moved it aside", path)
                with open(path, "rb") as fh:
                    for raw in fh:
                        entry = json.loads(raw)
                        if entry["seq"] <= part.acked_seq:
                            continue
                        part.pending.append(SpooledEntry(entry["seq"], entry["hash"],
                                                         entry["audited_at"][:10], raw))
                        self.bytes += len(raw)
                        part.chain = HashChain.resume(entry)
                        part.last_day = max(part.last_day, entry["audited_at"][:10])
            part.segments = segs
            part.segment_bytes = segs[-1][1].stat().st_size if segs else 0
            self.partitions[part.partition] = part

    # --- partitions ---------------------------------------------------------------------
    def partition(self, name: str) -> PartitionSpool:
        part = self.partitions.get(name)
        if part is None:
            pdir = self.directory / f"p-{safe_name(name)}"
            pdir.mkdir(exist_ok=True)
            part = PartitionSpool(partition=name, directory=pdir,
                                  chain=HashChain(chain_id=f"{name}@{self.writer_id}"))
            write_json_atomic(pdir / "state.json", part.state())
            self.partitions[name] = part
        return part

    @property
    def depth(self) -> int:
        return sum(len(p.pending) for p in self.partitions.values())

    # --- writes -----------------------------------------------------------------------
    def write(self, part: PartitionSpool, entries: list[SpooledEntry]) -> None:
        """Append ``entries`` (already chained, in seq order) and fsync; then call :meth:`commit`."""
        if not part.segments or part.segment_bytes >= self.segment_max_bytes:
            path = part.directory / f"{entries[0].seq:020d}.jsonl"
            part.segments.append((entries[0].seq, path))
            part.segment_bytes = 0
            new = True
        else:
            path = part.segments[-1][1]
            new = False
        data = b"".join(e.line for e in entries)
        with open(path, "ab") as fh:
            start = fh.tell()
            try:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            except OSError:
                fh.truncate(start)
                raise
        if new:
            fsync_dir(part.directory)
        part.segment_bytes += len(data)

    def commit(self, part: PartitionSpool, entries: list[SpooledEntry]) -> None:
        """Entries just made durable by :meth:`write` now wait for upload (counted in depth/bytes)."""
        part.pending.extend(entries)
        self.bytes += sum(len(e.line) for e in entries)

    def set_intent(self, part: PartitionSpool, intent: dict[str, Any] | None) -> None:
        part.intent = intent
        write_json_atomic(part.directory / "state.json", part.state())

    def ack(self, part: PartitionSpool, upto_seq: int) -> None:
        """Azure confirmed every entry up to ``upto_seq``: drop them and the segments they fill."""
        last = None
        while part.pending and part.pending[0].seq <= upto_seq:
            last = part.pending.popleft()
            self.bytes -= len(last.line)
        if last is None:
            return
        part.acked_seq, part.acked_hash, part.intent = last.seq, last.hash, None
        write_json_atomic(part.directory / "state.json", part.state())
        next_unacked = part.pending[0].seq if part.pending else None
        keep: list[tuple[int, Path]] = []
        for i, (first, path) in enumerate(part.segments):
            nxt = part.segments[i + 1][0] if i + 1 < len(part.segments) else None
            fully_acked = next_unacked is None or (nxt is not None and nxt <= next_unacked)
            if fully_acked and (nxt is not None or next_unacked is None):
                try:
                    path.unlink()
                except FileNotFoundError:
                    pass
            else:
                keep.append((first, path))
        if len(keep) != len(part.segments):
            part.segments = keep
            part.segment_bytes = keep[-1][1].stat().st_size if keep else 0
            fsync_dir(part.directory)
