"""The audit trail loses nothing: 1,000 governed runs while Azurite goes down and comes back, then a
process restart; every record lands exactly once and the chains verify. Tampering is caught."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from azure.storage.blob import BlobServiceClient

from llmops_kit.audit.verify import verify_blob
from llmops_kit.config import Settings
from llmops_kit.pipeline import ProductionAgent
from llmops_kit.runtime import build_runtime

ROOT = Path(__file__).resolve().parents[2]


async def answer(question: str) -> str:
    return f"answer to {question}"


def settings_for(tmp_path: Path, conn: str, container: str) -> Settings:
    return Settings.load(
        None, data_dir=tmp_path / ".llmops", telemetry="off", evaluation_mode="off", budget_ledger="memory",
        audit_storage_connection_string=conn, audit_container=container, audit_batch_max_age_seconds=0.05,
        audit_flush_timeout_seconds=1,
    )


def blob_records(conn: str, container: str) -> list[dict]:
    client = BlobServiceClient.from_connection_string(conn).get_container_client(container)
    lines: list[str] = []
    for blob in client.list_blobs():
        lines += client.download_blob(blob.name).readall().decode().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


async def test_thousand_governed_runs_across_outages_and_a_process_restart(tmp_path, azurite_on_disk):
    az = azurite_on_disk
    settings = settings_for(tmp_path, az.connection_string, "faults")
    runtime = build_runtime(settings)
    agent = ProductionAgent(answer, name="faulty", runtime=runtime)
    run_ids: list[str] = []
    for i in range(1000):
        if i in (400, 900):
            az.stop()  # storage goes down mid-way: runs must go on
        if i == 700:
            az.start()  # and comes back while the process still runs
        result = await agent.run(f"q{i}", tenant_id=("contoso", "fabrikam")[i % 2])
        assert result.status == "ok" and result.audit is not None
        run_ids.append(result.run_id)
    await runtime.aclose()  # Azurite is down: the last records stay in the spool
    assert int(getattr(runtime.audit, "spool_depth", 0)) > 0, "the outage should have left records spooled"

    az.start()  # storage is back; a *new process* over the same spool drains it
    env = {**os.environ, "LLMOPS_DATA_DIR": str(tmp_path / ".llmops"), "LLMOPS_TELEMETRY": "off",
           "AUDIT_STORAGE_CONNECTION_STRING": az.connection_string, "AUDIT_CONTAINER": "faults",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "integrations")])}
    proc = subprocess.run([sys.executable, str(Path(__file__).with_name("drain_spool.py"))], env=env,
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    drained = json.loads(proc.stdout.strip().splitlines()[-1])
    assert drained["before"] > 0 and drained["after"] == 0

    records = blob_records(az.connection_string, "faults")
    seen = [r["record"]["run_id"] for r in records]
    assert len(seen) == 1000 and set(seen) == set(run_ids), "every governed run exactly once"
    reports = await verify_blob(container="faults", connection_string=az.connection_string)
    assert reports and all(r.ok for r in reports), reports
    assert sum(r.records for r in reports) == 1000


async def test_verify_blob_catches_edits_and_the_cli_fails(tmp_path, azurite_on_disk):
    az = azurite_on_disk
    runtime = build_runtime(settings_for(tmp_path, az.connection_string, "tamper"))
    agent = ProductionAgent(answer, name="t", runtime=runtime)
    for i in range(6):
        await agent.run(f"q{i}", tenant_id="contoso")
    await runtime.aclose()

    client = BlobServiceClient.from_connection_string(az.connection_string).get_container_client("tamper")
    (name,) = [b.name for b in client.list_blobs()]
    lines = client.download_blob(name).readall().decode().splitlines()
    lines[2] = lines[2].replace("answer to q2", "answer to q-forged")
    client.delete_blob(name)
    blob = client.get_blob_client(name)
    blob.create_append_blob()
    blob.append_block(("\n".join(lines) + "\n").encode())

    reports = await verify_blob(container="tamper", connection_string=az.connection_string)
    assert any(not r.ok for r in reports)

    env = {**os.environ, "LLMOPS_DATA_DIR": str(tmp_path / ".llmops"), "COLUMNS": "200",
           "AUDIT_STORAGE_CONNECTION_STRING": az.connection_string, "AUDIT_CONTAINER": "tamper"}
    cmd = [sys.executable, "-m", "llmops_kit.cli", "audit", "verify", "--blob"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 1 and "BROKEN" in proc.stdout

    empty = subprocess.run([*cmd, "--container", "no-such-trail"], env=env, capture_output=True, text=True,
                           timeout=60, cwd=tmp_path)
    assert empty.returncode != 0
