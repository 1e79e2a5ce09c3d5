"""FileAuditSink: chain continuity, tamper detection on disk, concurrency, crash tails, CLI."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmops_kit.audit import AuditSinkClosedError
from llmops_kit.audit._fs import DirectoryLockedError
from llmops_kit.audit.chain import encode_entry, entry_hash
from llmops_kit.audit.cli import audit_app
from llmops_kit.audit.file import FileAuditSink
from llmops_kit.audit.verify import verify_dir
from llmops_kit.safety.pii import redact_pii


def _rec(i: int, tenant: str | None = None) -> dict:
    return {"run_id": f"run-{i}", "tenant_id": tenant, "timestamp": "2026-11-23T10:00:00Z", "status": "ok",
            "query": f"question {i}", "response": f"answer {i}", "usage": {"input_tokens": i}}


def _lines(d: Path) -> tuple[Path, list[bytes]]:
    [f] = sorted(d.glob("*.jsonl"))
    return f, f.read_bytes().splitlines(keepends=True)


async def test_chain_continues_across_reopen(tmp_path):
    s = FileAuditSink(tmp_path, batch_max_age_seconds=0.05)
    r = [await s.append(_rec(i)) for i in range(3)]
    await s.aclose()
    assert [x.sequence for x in r] == [1, 2, 3]
    assert r[0].location.endswith(".jsonl#seq=1") and r[0].sink == "file"
    s2 = FileAuditSink(tmp_path)
    r4 = await s2.append(_rec(3))
    await s2.aclose()
    assert r4.sequence == 4
    [rep] = verify_dir(tmp_path)
    assert rep.ok and rep.records == 4 and rep.chain_id == s2.chain_id == s.chain_id
    _, lines = _lines(tmp_path)
    assert json.loads(lines[3])["prev_hash"] == r[2].record_hash


@pytest.mark.parametrize("tamper, where, word", [
    ("edit", 3, "edited"), ("remove", 2, "missing"), ("reorder", 2, "gap"), ("insert", 3, "prev_hash"),
])
async def test_verify_catches_tampering_on_disk(tmp_path, tamper, where, word):
    s = FileAuditSink(tmp_path)
    for i in range(6):
        await s.append(_rec(i))
    await s.aclose()
    f, lines = _lines(tmp_path)
    if tamper == "edit":
        e = json.loads(lines[2])
        e["record"]["response"] = "nothing to see"
        lines[2] = encode_entry(e)
    elif tamper == "remove":
        del lines[1]
    elif tamper == "reorder":
        lines[1], lines[3] = lines[3], lines[1]
    else:  # a forged record with a correct own hash, claiming the next seq
        e = json.loads(lines[1])
        e["record"]["run_id"] = "forged"
        e["seq"] = 3
        e["hash"] = entry_hash(e)
        lines.insert(2, encode_entry(e))
    f.write_bytes(b"".join(lines))
    [rep] = verify_dir(tmp_path)
    assert not rep.ok and rep.first_bad == f"{f.name}:{where}" and word in rep.error
    res = CliRunner().invoke(audit_app, ["verify", "--dir", str(tmp_path)])
    assert res.exit_code == 1 and f"{f.name}:{where}" in " ".join(res.output.split())


async def test_concurrent_appends_from_tasks_and_threads_form_one_chain(tmp_path):
    s = FileAuditSink(tmp_path, batch_max_records=50, batch_max_age_seconds=0.01)
    receipts = list(await asyncio.gather(*(s.append(_rec(i, f"t{i % 3}")) for i in range(300))))

    def worker(base: int) -> None:
        async def go():
            for i in range(100):
                receipts.append(await s.append(_rec(base + i)))
        asyncio.run(go())  # other threads, other event loops: same sink

    threads = [threading.Thread(target=worker, args=(1000 * (k + 1),)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    await s.aclose()
    assert sorted(r.sequence for r in receipts) == list(range(1, 601))
    [rep] = verify_dir(tmp_path)
    assert rep.ok and rep.records == 600
    _, lines = _lines(tmp_path)
    assert len({json.loads(x)["record"]["run_id"] for x in lines}) == 600


async def test_torn_tail_is_moved_aside_and_the_chain_continues(tmp_path):
    s = FileAuditSink(tmp_path)
    for i in range(3):
        await s.append(_rec(i))
    await s.aclose()
    f, _ = _lines(tmp_path)
    with open(f, "ab") as fh:
        fh.write(b'{"audited_at":"2026-11-2')  # crash mid-write
    s = FileAuditSink(tmp_path)
    assert (await s.append(_rec(3))).sequence == 4
    await s.aclose()
    [rep] = verify_dir(tmp_path)
    assert rep.ok and rep.records == 4
    [torn] = list(tmp_path.glob("*.torn-*"))
    assert torn.read_bytes() == b'{"audited_at":"2026-11-2'


async def test_second_writer_on_the_same_directory_is_refused(tmp_path):
    s = FileAuditSink(tmp_path)
    with pytest.raises(DirectoryLockedError, match="in use"):
        FileAuditSink(tmp_path)
    await s.aclose()
    with pytest.raises(AuditSinkClosedError):
        await s.append(_rec(0))
    FileAuditSink(tmp_path).close_sync()  # released on close


async def test_pii_redaction_before_hashing_and_huge_fields(tmp_path):
    s = FileAuditSink(tmp_path, redact=redact_pii)
    await s.append({**_rec(0), "query": "mail jane.doe@example.com please"})
    big = "x" * (5 * 1024 * 1024)
    r = await s.append({**_rec(1), "query": big, "weird": {1: object(), "s": "\ud800"}})
    await s.flush()
    assert s.pending == 0
    await s.aclose()
    _, lines = _lines(tmp_path)
    assert b"jane.doe@example.com" not in lines[0]
    assert json.loads(lines[1])["record"]["query"] == big and r.sequence == 2
    [rep] = verify_dir(tmp_path)
    assert rep.ok


async def test_cli_verify_reports_ok(tmp_path):
    s = FileAuditSink(tmp_path)
    for i in range(4):
        await s.append(_rec(i))
    await s.aclose()
    res = CliRunner().invoke(audit_app, ["verify", "--dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "4 record(s) in 1 chain(s) verified" in res.output
    res = CliRunner().invoke(audit_app, ["verify", "--dir", str(tmp_path / "missing")])
    assert res.exit_code == 2 and "does not exist" in " ".join(res.output.split())  # rich may wrap
