"""Bits both sinks share: partition naming, the UTC day, error types."""

from __future__ import annotations

import datetime as _dt
import hashlib
import re
from collections.abc import Mapping
from typing import Any

_SAFE = re.compile(r"[^A-Za-z0-9._-]")


class AuditSinkClosedError(RuntimeError):
    """``append`` after ``aclose``: the record was not accepted (the caller must know)."""


class AuditSpoolFullError(RuntimeError):
    """The durable spool reached ``audit_spool_max_bytes``; the record was *not* accepted.

    Raised instead of silently dropping: the pipeline surfaces it on the run result and the
    sink logs a warning and counts it in ``rejected_total``.
    """


def partition_of(record: Mapping[str, Any]) -> str:
    tenant = record.get("tenant_id")
    return "default" if tenant is None or tenant == "" else str(tenant)


def safe_name(partition: str) -> str:
    """A blob/file-name-safe form of a tenant id; altered names get a hash so they stay unique."""
    safe = _SAFE.sub("_", partition)[:64]
    if safe != partition or not safe:
        safe = f"{safe[:55]}~{hashlib.sha256(partition.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"
    return safe


def utc_day(audited_at: str) -> str:
    """``YYYY-MM-DD`` of an ``audited_at`` stamp written by the chain (always UTC, ISO)."""
    return audited_at[:10]


def today_utc() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d")
