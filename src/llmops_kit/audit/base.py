"""The contract every audit sink meets (local JSONL file, Azure append blobs).

``append`` must return quickly: it assigns the record its place in the hash chain and
hands it to a background writer. A sink never drops a record because its storage is
down; it spools it and writes it later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class AuditReceipt:
    """Where a record went; shown to users in ``RunResult.audit``."""

    sink: str
    location: str
    sequence: int
    record_hash: str


@runtime_checkable
class AuditSink(Protocol):
    name: str

    async def append(self, record: Mapping[str, Any]) -> AuditReceipt: ...

    async def flush(self) -> None: ...

    async def aclose(self) -> None: ...
