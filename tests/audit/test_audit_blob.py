"""BlobAuditSink against a real Azurite: placement, exactly-once under faults, spool replay."""

from __future__ import annotations

import json
import uuid
from collections import Counter

import pytest
from azure.storage.blob.aio import BlobServiceClient
from tests.audit.conftest import FaultProxy, proxy_connection_string

from llmops_kit.audit import AuditSpoolFullError
from llmops_kit.audit.blob import BlobAuditSink
from llmops_kit.audit.verify import verify_blob


def _rec(i: int, tenant: str | None = None) -> dict:
    return {"run_id": f"run-{i}", "tenant_id": tenant, "timestamp": "2026-11-23T10:00:00Z", "status": "ok",
            "query": f"q{i} mail jane@example.com", "response": f"a{i}", "usage": {"input_tokens": i},
            "safety": {"input": {"Hate": 0}}}


def _container() -> str:
    return f"audit-{uuid.uuid4().hex[:10]}"


async def _blobs(cs: str, container: str) -> dict[str, list[dict]]:
    out = {}
    async with BlobServiceClient.from_connection_string(cs) as svc:
        cc = svc.get_container_client(container)
        async for b in cc.list_blobs():
            data = await (await cc.download_blob(b.name)).readall()
            out[b.name] = [json.loads(x) for x in data.splitlines()]
    return out


def _sink(cs: str, container: str, spool, **kw) -> BlobAuditSink:
    kw.setdefault("batch_max_age_seconds", 0.05)
    kw.setdefault("retry_max_backoff_seconds", 0.3)
    return BlobAuditSink(container=container, spool_dir=spool, connection_string=cs, **kw)


async def test_records_land_in_tenant_day_blobs_and_verify(azurite, tmp_path):
    c = _container()
    from llmops_kit.safety.pii import redact_pii

    s = _sink(azurite.connection_string, c, tmp_path, redact=redact_pii)
    receipts = [await s.append(_rec(i, ["acme", None, "a/b c"][i % 3])) for i in range(30)]
    assert await s.drain(20)
    assert s.spool_depth == 0 and s.storage_ok
    ok, detail = await s.probe()
    assert ok and "reachable" in detail
    await s.aclose()
    blobs = await _blobs(azurite.connection_string, c)
    day = receipts[0].location.split("/", 1)[1].rsplit("/", 1)[0]
    names = sorted(blobs)
    assert [n.rsplit("/", 1)[1] for n in names] == ["a_b_c~" + names[0].split("~")[1], "acme-0.jsonl",
                                                     "default-0.jsonl"]
    assert all(n.startswith(day + "/") for n in names)
    assert receipts[0].location == f"{c}/{day}/acme-0.jsonl#seq=1"
    acme = blobs[f"{day}/acme-0.jsonl"]
    assert [e["seq"] for e in acme] == list(range(1, 11))
    assert all(e["record"]["tenant_id"] == "acme" for e in acme)
    assert all("jane@example.com" not in json.dumps(e) for es in blobs.values() for e in es)
    reps = await verify_blob(container=c, connection_string=azurite.connection_string)
    assert len(reps) == 3 and all(r.ok for r in reps) and sum(r.records for r in reps) == 30
    assert not any(tmp_path.glob("p-*/*.jsonl"))  # spool emptied once Azure confirmed


async def test_roll_to_next_blob_at_block_limit_and_huge_record(azurite, tmp_path):
    c = _container()
    s = _sink(azurite.connection_string, c, tmp_path, batch_max_records=2, max_blocks_per_blob=3,
              max_block_bytes=1024 * 1024)
    for i in range(8):
        await s.append(_rec(i, "t"))
    big = "€" * (1024 * 1024)  # ~6 MB escaped line: spans several blocks
    await s.append({**_rec(99, "t"), "query": big})
    assert await s.drain(30)
    await s.aclose()
    blobs = await _blobs(azurite.connection_string, c)
    assert len(blobs) >= 3 and all("/t-" in n for n in blobs)
    got = [e for n in sorted(blobs, key=lambda n: int(n.rsplit("-", 1)[1][:-6])) for e in blobs[n]]
    assert [e["seq"] for e in got] == list(range(1, 10))
    assert got[-1]["record"]["query"] == big
    reps = await verify_blob(container=c, connection_string=azurite.connection_string)
    assert [r.ok for r in reps] == [True] and reps[0].records == 9


async def test_lost_confirmation_is_not_appended_twice(azurite, tmp_path):
    c = _container()
    proxy = FaultProxy(azurite.port)
    try:
        s = _sink(proxy_connection_string(proxy.port), c, tmp_path, batch_max_records=5)
        proxy.drop_append_responses = 2  # Azurite applies the append, the client never hears back
        for i in range(20):
            await s.append(_rec(i))
        assert await s.drain(30)
        await s.aclose()
        assert proxy.dropped == 2
    finally:
        proxy.close()
    reps = await verify_blob(container=c, connection_string=azurite.connection_string)
    assert [(r.ok, r.records) for r in reps] == [(True, 20)], reps


async def test_crash_after_append_before_ack_is_recognised_on_restart(azurite, tmp_path):
    c = _container()
    proxy = FaultProxy(azurite.port)
    try:
        s = _sink(proxy_connection_string(proxy.port), c, tmp_path, batch_max_records=100)
        proxy.drop_append_responses, proxy.down_after_drop = 1, True  # append lands, then storage "dies"
        for i in range(10):
            await s.append(_rec(i))
        s.close_sync(timeout=1.0)  # the process stops with the batch unacknowledged
        assert proxy.dropped == 1
    finally:
        proxy.close()
    assert json.loads((next(tmp_path.glob("p-*")) / "state.json").read_text())["intent"] is not None
    s2 = _sink(azurite.connection_string, c, tmp_path)
    assert s2.spool_depth == 10
    await s2.append(_rec(10))
    assert await s2.drain(20)
    await s2.aclose()
    reps = await verify_blob(container=c, connection_string=azurite.connection_string)
    assert [(r.ok, r.records, r.last_seq) for r in reps] == [(True, 11, 11)], reps


async def test_spool_full_refuses_loudly_and_recovers(azurite, tmp_path, caplog):
    c = _container()
    proxy = FaultProxy(azurite.port)
    proxy.set_down(True)
    try:
        s = _sink(proxy_connection_string(proxy.port), c, tmp_path, spool_max_bytes=4000)
        accepted = 0
        with pytest.raises(AuditSpoolFullError, match="spool is full"):
            for i in range(100):
                await s.append(_rec(i))
                accepted += 1
        assert 0 < accepted < 100 and s.rejected_total == 1
        assert "REFUSED" in caplog.text
        assert s.spool_depth == accepted
        proxy.set_down(False)
        assert await s.drain(20)
        r = await s.append(_rec(1000))
        assert r.sequence == accepted + 1  # the refused record left no hole in the chain
        assert await s.drain(20)
        await s.aclose()
    finally:
        proxy.close()
    reps = await verify_blob(container=c, connection_string=azurite.connection_string)
    assert [(r.ok, r.records) for r in reps] == [(True, accepted + 1)]


async def test_probe_reports_a_dead_endpoint_quickly(tmp_path):
    import socket

    from tests.fixtures.azurite import connection_string
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        port = sk.getsockname()[1]
    s = _sink(connection_string(port), "x", tmp_path, flush_timeout_seconds=0.5)
    ok, detail = await s.probe()
    assert not ok and "spool depth 0" in detail
    await s.append(_rec(0))
    await s.flush()  # storage dead: returns after flush_timeout, the record stays spooled
    s.close_sync(timeout=0.5)
    assert s.spool_depth == 1 and s.storage_ok is False and s.last_error


async def test_bad_input_records(azurite, tmp_path):
    c = _container()
    s = _sink(azurite.connection_string, c, tmp_path)
    with pytest.raises(TypeError):
        await s.append("not a mapping")  # type: ignore[arg-type]
    await s.append({"run_id": object(), "tenant_id": 42, "query": "\udcff" * 3, "nan": float("nan"),
                    "when": {1, 2}, "bytes": b"\xff"})
    await s.append({"tenant_id": "", "status": None})
    assert await s.drain(20)
    await s.aclose()
    blobs = await _blobs(azurite.connection_string, c)
    assert sorted(n.rsplit("/", 1)[1] for n in blobs) == ["42-0.jsonl", "default-0.jsonl"]
    reps = await verify_blob(container=c, connection_string=azurite.connection_string)
    assert all(r.ok for r in reps) and sum(r.records for r in reps) == 2


async def test_outage_restart_and_process_restart_lose_nothing(azurite_on_disk, tmp_path):
    """The issue's fault test: 1,000 run-like appends across two storage outages and a restart."""
    az = azurite_on_disk
    c = _container()
    spool = tmp_path / "spool"
    s = _sink(az.connection_string, c, spool, batch_max_records=100, flush_timeout_seconds=2.0)
    tenants = ["acme", "globex", None]
    for i in range(300):
        await s.append(_rec(i, tenants[i % 3]))
    assert await s.drain(20)
    az.stop()  # storage down: runs keep going, the spool grows
    for i in range(300, 600):
        await s.append(_rec(i, tenants[i % 3]))
    az.start()  # storage back, same port and data
    for i in range(600, 700):
        await s.append(_rec(i, tenants[i % 3]))
    assert await s.drain(30)
    az.stop()
    for i in range(700, 800):
        await s.append(_rec(i, tenants[i % 3]))
    s.close_sync(timeout=0.5)  # "process exits" with 100 records only in the spool
    assert s.spool_depth == 100
    az.start()
    s2 = _sink(az.connection_string, c, spool, batch_max_records=100)  # new process, same spool dir
    for i in range(800, 1000):
        await s2.append(_rec(i, tenants[i % 3]))
    assert await s2.drain(30)
    await s2.aclose()
    blobs = await _blobs(az.connection_string, c)
    runs = Counter(e["record"]["run_id"] for es in blobs.values() for e in es)
    assert len(runs) == 1000 and set(runs.values()) == {1}  # every record exactly once
    reps = await verify_blob(container=c, connection_string=az.connection_string)
    assert len(reps) == 3 and all(r.ok for r in reps), reps
    assert sorted(r.last_seq for r in reps) == [333, 333, 334]


async def test_spool_depth_never_counts_a_record_twice(azurite, tmp_path):
    """The depth gauge reads the in-memory queue and the disk spool in one step.

    The spool thread moves a batch from one to the other right after its fsync; a reader that
    looked at them one after the other, waiting out the fsync in between, counted that batch in
    both places (CI once saw a depth of 16 for 8 records). Here the fsync is held open while the
    gauge is read from another thread.
    """
    import threading

    c = _container()
    proxy = FaultProxy(azurite.port)
    proxy.set_down(True)  # nothing is uploaded, so the depth is exactly what was accepted
    s = _sink(proxy_connection_string(proxy.port), c, tmp_path)
    writing, release = threading.Event(), threading.Event()
    real_write = s._spool.write

    def slow_write(part, entries):
        writing.set()
        release.wait(5.0)
        real_write(part, entries)

    s._spool.write = slow_write
    seen: list[int] = []
    try:
        for i in range(8):
            await s.append(_rec(i))
        assert writing.wait(5.0)
        reader = threading.Thread(target=lambda: seen.append(s.spool_depth))
        reader.start()
        reader.join(0.1)  # the reader is now inside spool_depth (or done)
        release.set()
        reader.join(5.0)
        assert s.flush_sync(0.2) is False  # storage is down; this only waits for the spool thread
        assert seen and seen[0] <= 8
        assert s.spool_depth == 8
    finally:
        release.set()
        s.close_sync(timeout=0.2)
        proxy.close()
