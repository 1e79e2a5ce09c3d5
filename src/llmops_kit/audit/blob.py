"""``BlobAuditSink``: hash-chained audit records in Azure append blobs, via a durable spool.

Path of a record: ``append`` (fast: chain + enqueue) → spool thread (fsync'd JSONL group
commit, the durability point) → uploader thread (its own asyncio loop and aio client)
→ one append block per batch → ack in the spool (then the lines are removed).

Blobs: ``{container}/{yyyy}/{mm}/{dd}/{tenant}-{n}.jsonl`` — one chain per tenant
partition and writer (``chain_id = "{tenant}@{writer_id}"``), UTC day of the append, and
``n`` rolled to ``n+1`` before the 50,000-block limit. A batch is one block (≤ 4 MiB); a
single record bigger than that spans several blocks.

Exactly once: every block is appended with ``appendpos_condition`` (the offset we expect
the blob to end at), and the offset is written to the spool *before* the append (the
"intent"). If a confirmation is lost (timeout, crash), the retry gets 412 and the sink
reads the bytes at that offset back: if they are ours, the append counts as done. So
nothing is appended twice and ``audit verify`` treats any repeated seq as an error.

Storage down: runs keep going; records wait in the spool (bounded by ``spool_max_bytes``)
and drain in order when storage returns, including after a restart. Spool full:
``append`` raises :class:`AuditSpoolFullError` — the record is refused loudly (warning
log, ``rejected_total``), never dropped silently.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import re
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmops_kit.audit._common import (
    AuditSinkClosedError,
    AuditSpoolFullError,
    partition_of,
    safe_name,
    utc_day,
)
from llmops_kit.audit.base import AuditReceipt
from llmops_kit.audit.chain import link_encoded
from llmops_kit.audit.encoding import prepare_encoded
from llmops_kit.audit.spool import PartitionSpool, Spool, SpooledEntry

log = logging.getLogger("llmops_kit.audit.blob")

MAX_BLOCK_BYTES = 4 * 1024 * 1024
MAX_BLOCKS_PER_BLOB = 50_000


def blob_name(partition: str, day: str, n: int) -> str:
    y, m, d = day.split("-")
    return f"{y}/{m}/{d}/{safe_name(partition)}-{n}.jsonl"


class _Replan(Exception):
    """The blob moved under us (another writer appended, blob deleted): plan the batch again."""


@dataclass
class _Cursor:
    partition: str
    day: str
    n: int
    name: str
    size: int
    blocks: int


@dataclass
class _Plan:
    part: PartitionSpool
    entries: list[SpooledEntry]
    blob: str
    offset: int
    payload: bytes = field(repr=False)

    def intent(self) -> dict[str, Any]:
        return {"blob": self.blob, "offset": self.offset, "length": len(self.payload),
                "first_seq": self.entries[0].seq, "last_seq": self.entries[-1].seq}


class BlobAuditSink:
    """Azure append-blob audit sink with a local durable spool (see module docstring)."""

    name = "blob"

    def __init__(
        self,
        *,
        container: str,
        spool_dir: str | Path,
        connection_string: str | None = None,
        account_url: str | None = None,
        credential: Any = None,
        redact: Callable[[str], str] | None = None,
        batch_max_records: int = 500,
        batch_max_age_seconds: float = 1.0,
        spool_max_bytes: int = 512 * 1024 * 1024,
        max_block_bytes: int = MAX_BLOCK_BYTES,
        max_blocks_per_blob: int = MAX_BLOCKS_PER_BLOB,
        request_timeout_seconds: float = 10.0,
        retry_max_backoff_seconds: float = 5.0,
        flush_timeout_seconds: float = 10.0,
    ) -> None:
        if not connection_string and not account_url:
            raise ValueError("BlobAuditSink needs connection_string (AUDIT_STORAGE_CONNECTION_STRING) "
                             "or account_url (AUDIT_STORAGE_ACCOUNT_URL)")
        if not 1 <= max_block_bytes <= MAX_BLOCK_BYTES or max_blocks_per_blob < 1:
            raise ValueError(f"max_block_bytes must be 1..{MAX_BLOCK_BYTES}, max_blocks_per_blob >= 1")
        self.container = container
        self._conn = connection_string
        self._account_url = account_url
        self._credential = credential
        self._redact = redact
        self._max_records = batch_max_records
        self._max_age = batch_max_age_seconds
        self.spool_max_bytes = spool_max_bytes
        self._max_block = max_block_bytes
        self._max_blocks = max_blocks_per_blob
        self._timeout = request_timeout_seconds
        self._max_backoff = retry_max_backoff_seconds
        self._flush_timeout = flush_timeout_seconds

        self._spool = Spool(spool_dir)
        self._slock = threading.RLock()  # guards spool files/pending (spool thread vs uploader)
        self._cond = threading.Condition()  # guards the chain heads and _unspooled
        self._unspooled: list[tuple[PartitionSpool, SpooledEntry]] = []
        self._unspooled_bytes = 0
        self._closed = False
        self._stopping = False
        self._flush_requested = False
        self._cursors: dict[tuple[str, str], _Cursor] = {}
        self.rejected_total = 0
        self.storage_ok: bool | None = None
        self.last_error: str | None = None
        self.uploaded_total = 0

        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._loop_ready = threading.Event()
        self._spool_thread = threading.Thread(target=self._spool_run, name="llmops-audit-spool", daemon=True)
        self._upload_thread = threading.Thread(target=self._upload_run, name="llmops-audit-upload",
                                               daemon=True)
        self._spool_thread.start()
        self._upload_thread.start()
        self._loop_ready.wait(5.0)
        ref = weakref.ref(self)
        self._atexit = lambda: (s := ref()) is not None and s.close_sync(timeout=self._flush_timeout)
        atexit.register(self._atexit)
        if self._spool.depth:
            log.info("audit spool holds %d record(s) from an earlier run; replaying them", self._spool.depth)
            self._wake_uploader()

    # --- observability ------------------------------------------------------------------
    @property
    def spool_depth(self) -> int:
        """Records accepted but not yet confirmed by Azure (export as ``llmops.audit.spool.depth``)."""
        # One lock for both halves: the spool thread moves records from memory to disk under _cond,
        # so the sum never counts a batch twice; _slock is not needed (and is held during fsync).
        with self._cond:
            return len(self._unspooled) + self._spool.depth

    @property
    def spool_bytes(self) -> int:
        with self._cond:
            return self._unspooled_bytes + self._spool.bytes

    @property
    def writer_id(self) -> str:
        return self._spool.writer_id

    # --- AuditSink ----------------------------------------------------------------------
    async def append(self, record: Mapping[str, Any]) -> AuditReceipt:
        prepared, record_v2 = prepare_encoded(record, self._redact)  # encoded here, outside the lock
        partition = partition_of(record)
        with self._cond:
            if self._closed:
                raise AuditSinkClosedError("BlobAuditSink is closed; the record was not accepted")
            part = self._spool.partitions.get(partition)  # hot path: no spool lock (it is held during fsync)
            if part is None:
                with self._slock:
                    part = self._spool.partition(partition)
            spooled = self._spool.bytes
            head = (part.chain.last_seq, part.chain.last_hash)
            entry, line = link_encoded(part.chain, prepared, partition=partition, record_v2=record_v2)
            if spooled + self._unspooled_bytes + len(line) > self.spool_max_bytes:
                part.chain.last_seq, part.chain.last_hash = head  # not accepted: the chain stays as it was
                self.rejected_total += 1
                log.warning("audit spool full (%d bytes >= AUDIT_SPOOL_MAX_BYTES=%d, storage %s); record of "
                            "run %s REFUSED (rejected_total=%d)", spooled + self._unspooled_bytes,
                            self.spool_max_bytes, "down" if self.storage_ok is False else "slow",
                            record.get("run_id"), self.rejected_total)
                raise AuditSpoolFullError(
                    f"audit spool is full ({self.spool_max_bytes} bytes) because blob storage is not "
                    f"accepting writes ({self.last_error or 'no error yet'}); record not stored")
            day = max(utc_day(entry["audited_at"]), part.last_day)  # keep blob order if the clock steps back
            part.last_day = day
            spooled_entry = SpooledEntry(entry["seq"], entry["hash"], day, line, time.monotonic())
            self._unspooled.append((part, spooled_entry))
            self._unspooled_bytes += len(line)
            if len(self._unspooled) == 1:
                self._cond.notify_all()
        cur = self._cursors.get((partition, day))
        location = f"{self.container}/{blob_name(partition, day, cur.n if cur else 0)}#seq={entry['seq']}"
        return AuditReceipt(sink=self.name, location=location, sequence=entry["seq"],
                            record_hash=entry["hash"])

    async def flush(self) -> None:
        await asyncio.to_thread(self.flush_sync, self._flush_timeout)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close_sync, self._flush_timeout)

    async def drain(self, timeout: float) -> bool:
        """Wait until every accepted record is confirmed by Azure (tests, shutdown scripts)."""
        return await asyncio.to_thread(self.flush_sync, timeout)

    async def probe(self) -> tuple[bool, str]:
        """For ``llmops-kit doctor``: can we reach the container? Never raises."""
        from azure.core.exceptions import ResourceNotFoundError

        svc, cred = self._make_client()
        try:
            async with svc:
                await svc.get_container_client(self.container).get_container_properties()
            return True, f"container '{self.container}' reachable; spool depth {self.spool_depth}"
        except ResourceNotFoundError:
            return True, f"storage reachable; container '{self.container}' will be created on first write"
        except Exception as exc:
            return False, f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}; " \
                          f"spool depth {self.spool_depth}"
        finally:
            if cred is not None:
                await cred.close()

    # --- sync side (atexit, to_thread) -------------------------------------------------
    def flush_sync(self, timeout: float | None = None) -> bool:
        """Spool everything accepted so far, then wait (up to ``timeout``) for Azure to confirm it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            targets = {p.partition: p.chain.last_seq for p in self._spool.partitions.values()}
            self._flush_requested = True
            self._cond.notify_all()
        self._wake_uploader()
        while True:
            with self._slock:
                done = all(self._spool.partitions[p].acked_seq >= s for p, s in targets.items())
            if done:
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            if not self._upload_thread.is_alive():
                return False
            self._wake_uploader()
            time.sleep(0.01)

    def close_sync(self, timeout: float | None = None) -> None:
        with self._cond:
            if self._closed:
                return
            self._closed = True
        ok = self.flush_sync(timeout)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._spool_thread.join(timeout=10.0)
        self._wake_uploader()
        self._upload_thread.join(timeout=10.0)
        atexit.unregister(self._atexit)
        with self._slock:
            depth = self._spool.depth
            self._spool.close()
        if not ok or depth:
            log.warning("audit sink closed with %d record(s) still in the spool (%s); they are uploaded on "
                        "the next start", depth, self.last_error or "storage slow")

    # --- spool thread -------------------------------------------------------------------
    def _spool_run(self) -> None:
        backoff = 0.05
        while True:
            with self._cond:
                while not self._unspooled and not self._stopping:
                    self._cond.wait()
                if not self._unspooled and self._stopping:
                    return
                batch = list(self._unspooled)
            by_part: dict[str, tuple[PartitionSpool, list[SpooledEntry]]] = {}
            for part, e in batch:
                by_part.setdefault(part.partition, (part, []))[1].append(e)
            try:
                for part, entries in by_part.values():
                    with self._slock:  # lock order: never take _cond while holding _slock
                        self._spool.write(part, entries)
                    with self._cond, self._slock:  # move from "unspooled" to "spooled" in one step
                        self._spool.commit(part, entries)
                        for _ in entries:  # written parts must not be written again if a later one fails
                            self._remove_unspooled(part)
            except OSError as exc:
                self.last_error = f"spool write failed: {type(exc).__name__}: {exc}"
                log.error("%s; %d record(s) held in memory, retrying", self.last_error, len(self._unspooled))
                time.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            backoff = 0.05
            self._wake_uploader()

    def _remove_unspooled(self, part: PartitionSpool) -> None:
        for i, (p, e) in enumerate(self._unspooled):
            if p is part:
                del self._unspooled[i]
                self._unspooled_bytes -= len(e.line)
                return

    # --- uploader thread ------------------------------------------------------------------
    def _wake_uploader(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:
                pass

    def _upload_run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._upload_main())
        finally:
            loop.close()

    def _make_client(self) -> tuple[Any, Any]:
        from azure.storage.blob.aio import BlobServiceClient

        # retry_total=0: the storage SDK's default retry stalls ~80 s per call on a dead endpoint;
        # this sink retries itself, forever, with its own short backoff.
        opts = {"retry_total": 0, "connection_timeout": min(5.0, self._timeout),
                "read_timeout": self._timeout}
        if self._conn:
            return BlobServiceClient.from_connection_string(self._conn, **opts), None
        cred = self._credential
        owned = None
        if cred is None:
            from azure.identity.aio import DefaultAzureCredential

            cred = owned = DefaultAzureCredential()
        return BlobServiceClient(self._account_url, credential=cred, **opts), owned

    async def _upload_main(self) -> None:
        self._wake = asyncio.Event()
        self._loop_ready.set()
        svc, cred = self._make_client()
        backoff = 0.1
        try:
            async with svc:
                cc = svc.get_container_client(self.container)
                container_ready = False
                inflight: dict[str, _Plan] = {}
                while True:
                    part, wait = self._next_ready(inflight)
                    if part is None:
                        if self._stopping:
                            return
                        self._wake.clear()
                        try:
                            await asyncio.wait_for(self._wake.wait(), timeout=wait)
                        except asyncio.TimeoutError:
                            pass
                        continue
                    try:
                        if not container_ready:
                            await self._ensure_container(cc)
                            container_ready = True
                        await self._upload_one(cc, part, inflight)
                        if self.storage_ok is False:
                            log.warning("audit blob storage is back; draining %d spooled record(s)",
                                        self.spool_depth)
                        self.storage_ok, self.last_error, backoff = True, None, 0.1
                    except _Replan:
                        inflight.pop(part.partition, None)
                    except Exception as exc:
                        if _status(exc) == 404:
                            container_ready = False
                            self._cursors.clear()
                            inflight.pop(part.partition, None)
                        err = f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]}"
                        if self.storage_ok is not False:
                            log.warning("audit blob storage unavailable (%s); records stay in the spool "
                                        "(depth %d) and are retried", err, self.spool_depth)
                        self.storage_ok, self.last_error = False, err
                        if self._stopping and self._closed:
                            return
                        self._wake.clear()
                        try:
                            await asyncio.wait_for(self._wake.wait(), timeout=backoff)
                        except asyncio.TimeoutError:
                            pass
                        backoff = min(backoff * 2, self._max_backoff)
        finally:
            if cred is not None:
                await cred.close()

    def _next_ready(self, inflight: dict[str, _Plan]) -> tuple[PartitionSpool | None, float | None]:
        """The partition whose batch should go now, else how long until one is due."""
        now = time.monotonic()
        with self._cond:
            urgent = self._flush_requested or self._closed
        wait: float | None = None
        with self._slock:
            for part in self._spool.partitions.values():
                if part.partition in inflight:
                    return part, None
                if not part.pending:
                    continue
                age = now - part.pending[0].t
                if urgent or len(part.pending) >= self._max_records or age >= self._max_age:
                    return part, None
                left = self._max_age - age
                wait = left if wait is None else min(wait, left)
        if urgent:
            with self._cond:
                if not self._unspooled:
                    self._flush_requested = False
        return None, wait

    async def _ensure_container(self, cc: Any) -> None:
        from azure.core.exceptions import ResourceExistsError

        try:
            await cc.create_container()
        except ResourceExistsError:
            pass

    async def _upload_one(self, cc: Any, part: PartitionSpool, inflight: dict[str, _Plan]) -> None:
        plan = inflight.get(part.partition)
        if plan is None:
            plan = await self._plan(cc, part)
            inflight[part.partition] = plan
            with self._slock:  # blocking fsync on the uploader's own loop: nothing else runs on it
                self._spool.set_intent(part, plan.intent())
        bc = cc.get_blob_client(plan.blob)
        chunks = await self._append(bc, plan)
        with self._slock:
            self._spool.ack(part, plan.entries[-1].seq)
        inflight.pop(part.partition, None)
        self.uploaded_total += len(plan.entries)
        cur = self._cursors.get((part.partition, plan.entries[0].day))
        if cur is not None and cur.name == plan.blob:
            cur.size = max(cur.size, plan.offset + len(plan.payload))
            cur.blocks += chunks

    async def _plan(self, cc: Any, part: PartitionSpool) -> _Plan:
        with self._slock:
            pending = list(part.pending)
            intent = part.intent
        if intent and pending and intent["first_seq"] == pending[0].seq:
            # a batch was in flight when the process stopped: retry it at the same offset, so an
            # append that landed is recognised (412 + same bytes) instead of written twice
            entries = [e for e in pending if e.seq <= intent["last_seq"]]
            payload = b"".join(e.line for e in entries)
            if len(payload) == intent["length"]:
                return _Plan(part, entries, intent["blob"], intent["offset"], payload)
        day = pending[0].day
        entries, size = [], 0
        for e in pending:
            full = len(entries) >= self._max_records or (entries and size + len(e.line) > self._max_block)
            if e.day != day or full:
                break
            entries.append(e)
            size += len(e.line)
        payload = b"".join(e.line for e in entries)
        nchunks = -(-len(payload) // self._max_block)
        cur = await self._cursor(cc, part.partition, day, nchunks)
        return _Plan(part, entries, cur.name, cur.size, payload)

    async def _cursor(self, cc: Any, partition: str, day: str, nchunks: int) -> _Cursor:
        cur = self._cursors.get((partition, day))
        if cur is None:
            prefix = blob_name(partition, day, 0)[: -len("0.jsonl")]
            pat = re.compile(re.escape(prefix) + r"(\d+)\.jsonl")
            ns = [int(m.group(1)) async for b in cc.list_blobs(name_starts_with=prefix)
                  if (m := pat.fullmatch(b.name))]
            cur = await self._open_blob(cc, partition, day, max(ns, default=0))
        while cur.blocks + nchunks > self._max_blocks and cur.blocks > 0:
            cur = await self._open_blob(cc, partition, day, cur.n + 1)
        self._cursors[(partition, day)] = cur
        return cur

    async def _open_blob(self, cc: Any, partition: str, day: str, n: int) -> _Cursor:
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError, ResourceExistsError

        name = blob_name(partition, day, n)
        bc = cc.get_blob_client(name)
        try:
            await bc.create_append_blob(match_condition=MatchConditions.IfMissing)
        except (ResourceExistsError, HttpResponseError) as exc:
            if _status(exc) not in (409, 412):
                raise
        props = await bc.get_blob_properties()
        if props.blob_type != "AppendBlob" and str(props.blob_type) != "BlobType.APPENDBLOB":
            raise RuntimeError(f"blob {name} exists but is not an append blob ({props.blob_type})")
        return _Cursor(partition, day, n, name, props.size, props.append_blob_committed_block_count or 0)

    async def _append(self, bc: Any, plan: _Plan) -> int:
        """Append the payload in ≤ max_block chunks at exact offsets; returns the chunk count."""
        from azure.core.exceptions import HttpResponseError

        pos, chunks = 0, 0
        while pos < len(plan.payload):
            chunk = plan.payload[pos: pos + self._max_block]
            at = plan.offset + pos
            try:
                await bc.append_block(chunk, length=len(chunk), appendpos_condition=at)
            except HttpResponseError as exc:
                if _status(exc) == 404:
                    self._cursors.pop((plan.part.partition, plan.entries[0].day), None)
                    raise _Replan() from exc
                if _status(exc) != 412:
                    raise
                props = await bc.get_blob_properties()
                if props.size >= at + len(chunk):
                    landed = await (await bc.download_blob(offset=at, length=len(chunk))).readall()
                    if landed == chunk:  # our earlier attempt made it; its confirmation was lost
                        log.info("audit append at %s offset %d had already landed; not re-sending",
                                 bc.blob_name, at)
                        pos += len(chunk)
                        chunks += 1
                        continue
                if pos == 0:  # someone else appended first: re-plan at the new end of the blob
                    self._cursors.pop((plan.part.partition, plan.entries[0].day), None)
                    raise _Replan() from exc
                raise RuntimeError(f"blob {bc.blob_name} changed in the middle of a multi-block record at "
                                   f"offset {at}; another writer is appending to it") from exc
            pos += len(chunk)
            chunks += 1
        return chunks


def _status(exc: BaseException) -> int | None:
    return getattr(exc, "status_code", None)
