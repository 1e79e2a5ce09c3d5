"""Keyless blob audit in one process: a rejected token, then a valid one, on one spool.

Run by the tests in a fresh interpreter with ``SSL_CERT_FILE`` naming the test CA: aiohttp
builds its default TLS context when it is imported, so trust has to be set before that.
argv: ACCOUNT_URL CONTAINER SPOOL_DIR. Prints one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import sys

import _netguard  # loopback only, before any client exists
from _credentials import StaticAsyncCredential, storage_jwt

from llmops_kit.audit.blob import BlobAuditSink
from llmops_kit.audit.verify import verify_blob


def record(i: int) -> dict[str, object]:
    return {"run_id": f"run-{i}", "tenant_id": "contoso", "timestamp": "2026-11-23T10:00:00Z",
            "status": "ok", "query": f"q{i}", "response": f"a{i}"}


async def main(account_url: str, container: str, spool: str) -> dict[str, object]:
    out: dict[str, object] = {}
    # 1) a token for the wrong audience (Key Vault): storage refuses it; records must stay spooled
    wrong = StaticAsyncCredential(storage_jwt(audience="https://vault.azure.net"))
    sink = BlobAuditSink(container=container, spool_dir=spool, account_url=account_url, credential=wrong,
                         retry_max_backoff_seconds=0.2, flush_timeout_seconds=2.0)
    for i in range(3):
        await sink.append(record(i))
    out["rejected_drained"] = await sink.drain(2.0)
    out["rejected_storage_ok"] = sink.storage_ok
    out["rejected_last_error"] = sink.last_error
    out["rejected_spool_depth"] = sink.spool_depth
    out["rejected_uploaded"] = sink.uploaded_total
    out["rejected_scopes"] = wrong.scopes
    sink.close_sync(timeout=0.5)

    # 2) a valid storage token, same spool: the 3 waiting records go first, then 2 new ones
    good = StaticAsyncCredential(storage_jwt())
    sink = BlobAuditSink(container=container, spool_dir=spool, account_url=account_url, credential=good)
    for i in range(3, 5):
        await sink.append(record(i))
    out["drained"] = await sink.drain(10.0)
    out["storage_ok"] = sink.storage_ok
    out["spool_depth"] = sink.spool_depth
    out["uploaded"] = sink.uploaded_total
    await sink.aclose()
    out["scopes"] = good.scopes

    reader = StaticAsyncCredential(storage_jwt())
    reports = await verify_blob(container=container, account_url=account_url, credential=reader)
    out["reports"] = [{"chain_id": r.chain_id, "records": r.records, "first_seq": r.first_seq,
                       "last_seq": r.last_seq, "error": r.error} for r in reports]
    out["blocked_network"] = list(_netguard.BLOCKED)
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(*sys.argv[1:4]))), flush=True)
