"""``FileAuditSink``: the embedded default — hash-chained JSONL files on local disk.

Layout: ``{dir}/{yyyy-mm-dd}.jsonl`` (UTC day of the append), one entry per line, one
chain per directory that continues across days and process restarts (the tail of the
newest file is read on open). A ``.lock`` file keeps a second *process* out (two writers
would fork the chain); inside a process any number of concurrent runs may append.

Writes happen on a background *thread*, not an asyncio task: the sink then survives
``asyncio.run`` boundaries (a sync wrapper calling the agent repeatedly) and the
``write``+``fsync`` never stalls the event loop. Lines are fsync'd in batches bounded by
``batch_max_records`` and ``batch_max_age_seconds``; ``flush()`` forces one. Records
accepted but not yet fsync'd are written at interpreter exit (atexit); a hard kill can
lose at most that last, un-flushed batch.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import os
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from llmops_kit.audit._common import AuditSinkClosedError, partition_of, utc_day
from llmops_kit.audit._fs import cut_torn_tail, lock_directory, read_last_line, unlock_directory
from llmops_kit.audit.base import AuditReceipt
from llmops_kit.audit.chain import HashChain, link_encoded
from llmops_kit.audit.encoding import prepare_encoded

log = logging.getLogger("llmops_kit.audit.file")


class FileAuditSink:
    """Append-only, hash-chained local JSONL audit trail."""

    name = "file"

    def __init__(
        self,
        directory: str | Path,
        *,
        redact: Callable[[str], str] | None = None,
        batch_max_records: int = 500,
        batch_max_age_seconds: float = 1.0,
    ) -> None:
        if batch_max_records < 1 or batch_max_age_seconds <= 0:
            raise ValueError("batch_max_records must be >= 1 and batch_max_age_seconds > 0")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._redact = redact
        self._max_records = batch_max_records
        self._max_age = batch_max_age_seconds
        self._lock_handle = lock_directory(self.directory)
        # ``append`` takes the lock itself: ``with self._cond`` is two Python-level calls per record
        self._mutex = threading.RLock()
        self._cond = threading.Condition(self._mutex)
        self._pending: list[tuple[str, bytes, int]] = []  # (day, line, seq)
        self._oldest: float | None = None
        self._written_seq = 0
        self._closed = False
        self._flush_requested = False
        self.last_error: str | None = None
        try:
            self._chain = self._recover()
        except BaseException:
            unlock_directory(self._lock_handle)
            raise
        self._written_seq = self._chain.last_seq
        self._last_day = self._recovered_day
        self._day_file_cache: tuple[str, str] = ("", "")
        self._thread = threading.Thread(target=self._run, name="llmops-audit-file", daemon=True)
        self._thread.start()
        ref = weakref.ref(self)
        self._atexit = lambda: (s := ref()) is not None and s.close_sync(timeout=5.0)
        atexit.register(self._atexit)

    # --- recovery ---------------------------------------------------------------------
    def _recover(self) -> HashChain:
        files = sorted(p for p in self.directory.glob("*.jsonl") if p.is_file())
        for path in reversed(files):
            if cut_torn_tail(path) is not None:
                log.warning("audit file %s ended in a partial line (crash mid-write); moved it aside", path)
            line = read_last_line(path).strip()
            if not line:
                continue
            self._recovered_day = path.stem
            try:
                entry = json.loads(line)
                return HashChain.resume(entry)
            except (ValueError, KeyError, TypeError) as exc:
                raise RuntimeError(
                    f"cannot continue the audit chain: last line of {path} is not a chain entry ({exc}); "
                    "run `llmops-kit audit verify --dir` and move the damaged file aside"
                ) from None
        self._recovered_day = ""
        return HashChain(chain_id=f"file-{uuid.uuid4().hex[:16]}")

    # --- AuditSink --------------------------------------------------------------------
    @property
    def chain_id(self) -> str:
        return self._chain.chain_id

    @property
    def pending(self) -> int:
        """Records accepted but not yet fsync'd."""
        with self._cond:
            return len(self._pending)

    async def append(self, record: Mapping[str, Any]) -> AuditReceipt:
        prepared, record_v2 = prepare_encoded(record, self._redact)  # encoded here, outside the lock
        partition = partition_of(record)
        with self._mutex:
            if self._closed:
                raise AuditSinkClosedError("FileAuditSink is closed; the record was not written")
            entry, line = link_encoded(self._chain, prepared, partition=partition, record_v2=record_v2)
            seq = entry["seq"]
            day = utc_day(entry["audited_at"])
            if day < self._last_day:  # a clock stepping back keeps file order
                day = self._last_day
            else:
                self._last_day = day
            pending = self._pending
            pending.append((day, line, seq))
            if self._oldest is None:
                self._oldest = time.monotonic()
            if len(pending) == 1 or len(pending) >= self._max_records:
                self._cond.notify_all()
        # positional: a frozen dataclass's keyword __init__ costs a visible share of an append
        return AuditReceipt(self.name, f"{self._day_file(day)}#seq={seq}", seq, entry["hash"])

    def _day_file(self, day: str) -> str:
        """``<directory>/<day>.jsonl`` as text, built once a day rather than per record (a Path
        join and its ``str`` cost more than the rest of a receipt)."""
        cached = self._day_file_cache
        if cached[0] != day:
            cached = self._day_file_cache = (day, f"{self.directory / day}.jsonl")
        return cached[1]

    async def flush(self) -> None:
        await asyncio.to_thread(self.flush_sync)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close_sync)

    # --- sync side (also used by atexit) ------------------------------------------------
    def flush_sync(self, timeout: float | None = None) -> bool:
        """Block until every record accepted so far is fsync'd; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            target = self._chain.last_seq
            self._flush_requested = True
            self._cond.notify_all()
            while self._written_seq < target:
                if not self._thread.is_alive():
                    return False
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(0.2 if left is None else min(left, 0.2))
        return True

    def close_sync(self, timeout: float | None = None) -> None:
        with self._cond:
            if self._closed:
                return
        ok = self.flush_sync(timeout)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=5.0)
        atexit.unregister(self._atexit)
        unlock_directory(self._lock_handle)
        self._lock_handle = None
        if not ok:
            log.error("audit file sink closed with %d record(s) not written: %s", len(self._pending),
                      self.last_error)

    # --- writer thread ----------------------------------------------------------------
    def _run(self) -> None:
        handles: dict[str, Any] = {}
        backoff = 0.05
        try:
            while True:
                with self._cond:
                    while True:
                        if self._closed and not self._pending:
                            return
                        if self._pending and (
                            self._closed or self._flush_requested or len(self._pending) >= self._max_records
                            or time.monotonic() - (self._oldest or 0) >= self._max_age
                        ):
                            break
                        wait = self._max_age if self._oldest is None else \
                            max(0.0, self._max_age - (time.monotonic() - self._oldest))
                        self._cond.wait(wait if self._pending else None)
                    batch = list(self._pending)
                    self._flush_requested = False
                failed = False
                for day, lines, last_seq in _runs_by_day(batch):
                    try:
                        self._write_run(day, lines, handles)
                    except OSError as exc:  # disk full, permissions: keep the records, retry, say so
                        self.last_error = f"{type(exc).__name__}: {exc}"
                        log.error("audit file write failed (%s); %d record(s) kept in memory, retrying",
                                  self.last_error, len(self._pending))
                        handles.pop(day, None)
                        failed = True
                        break
                    with self._cond:
                        del self._pending[: len(lines)]
                        self._oldest = time.monotonic() if self._pending else None
                        self._written_seq = last_seq
                        self._cond.notify_all()
                if failed:
                    time.sleep(backoff)
                    backoff = min(backoff * 2, 2.0)
                    continue
                backoff = 0.05
                self.last_error = None
        finally:
            for fh in handles.values():
                fh.close()

    def _write_run(self, day: str, lines: list[bytes], handles: dict[str, Any]) -> None:
        fh = handles.get(day)
        if fh is None:
            for old in list(handles):  # one open file at a time; a new day closes the old one
                handles.pop(old).close()
            fh = handles[day] = open(self.directory / f"{day}.jsonl", "ab")  # noqa: SIM115
        start = fh.tell()
        try:
            fh.write(b"".join(lines))
            fh.flush()
            os.fsync(fh.fileno())
        except OSError:
            try:  # never leave half a batch (or half a line) behind: the retry rewrites it whole
                fh.truncate(start)
            finally:
                fh.close()
            raise


def _runs_by_day(batch: list[tuple[str, bytes, int]]) -> list[tuple[str, list[bytes], int]]:
    """Split a batch into consecutive same-day runs, keeping seq order."""
    runs: list[tuple[str, list[bytes], int]] = []
    for day, line, seq in batch:
        if runs and runs[-1][0] == day:
            runs[-1][1].append(line)
            runs[-1] = (day, runs[-1][1], seq)
        else:
            runs.append((day, [line], seq))
    return runs
