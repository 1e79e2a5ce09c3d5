"""Read an audit trail back (local directory or blob container) and verify every chain."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from llmops_kit.audit.chain import ChainReport, Located, parse_line, verify_located

_BLOB = re.compile(r"(\d{4})/(\d{2})/(\d{2})/(.+)-(\d+)\.jsonl")


def _lines(data: bytes, where: str) -> Iterator[Located]:
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    elif lines:  # last line has no newline: a partial write or a truncation
        last = len(lines)
        for i, raw in enumerate(lines[:-1], start=1):
            yield parse_line(raw, f"{where}:{i}")
        yield Located(f"{where}:{last}", None, "last line is incomplete (no newline; truncated write?)")
        return
    for i, raw in enumerate(lines, start=1):
        yield parse_line(raw, f"{where}:{i}")


def verify_dir(directory: str | Path) -> list[ChainReport]:
    """Verify the ``*.jsonl`` files of a :class:`FileAuditSink` directory, oldest day first."""
    root = Path(directory)
    if not root.is_dir():
        raise FileNotFoundError(f"audit directory {root} does not exist")
    items: list[Located] = []
    for path in sorted(root.glob("*.jsonl")):
        items.extend(_lines(path.read_bytes(), path.name))
    return verify_located(items)


def blob_sort_key(name: str) -> tuple[Any, ...]:
    """Chain order of blobs: day, tenant, roll index (numeric, so ``-10`` sorts after ``-9``)."""
    m = _BLOB.fullmatch(name)
    if not m:
        return (1, name)
    y, mo, d, tenant, n = m.groups()
    return (0, y, mo, d, tenant, int(n))


async def verify_container(container_client: Any, prefix: str | None = None) -> list[ChainReport]:
    """Verify every chain in an audit container (an ``azure.storage.blob.aio.ContainerClient``)."""
    names = [b.name async for b in container_client.list_blobs(name_starts_with=prefix)]
    items: list[Located] = []
    for name in sorted(names, key=blob_sort_key):
        data = await (await container_client.download_blob(name)).readall()
        items.extend(_lines(data, name))
    return verify_located(items)


async def verify_blob(*, container: str, connection_string: str | None = None, account_url: str | None = None,
                      credential: Any = None, prefix: str | None = None) -> list[ChainReport]:
    """Connect (connection string, or account URL + DefaultAzureCredential) and verify a container."""
    from azure.storage.blob.aio import BlobServiceClient

    opts = {"retry_total": 1, "connection_timeout": 5, "read_timeout": 60}
    owned = None
    if connection_string:
        svc = BlobServiceClient.from_connection_string(connection_string, **opts)
    elif account_url:
        if credential is None:
            from azure.identity.aio import DefaultAzureCredential

            credential = owned = DefaultAzureCredential()
        svc = BlobServiceClient(account_url, credential=credential, **opts)
    else:
        raise ValueError("set AUDIT_STORAGE_CONNECTION_STRING or AUDIT_STORAGE_ACCOUNT_URL to verify blobs")
    try:
        async with svc:
            return await verify_container(svc.get_container_client(container), prefix)
    finally:
        if owned is not None:
            await owned.close()
