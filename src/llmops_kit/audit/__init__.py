"""Tamper-evident audit trail: hash chain, local JSONL sink, Azure append-blob sink."""

from llmops_kit.audit._common import AuditSinkClosedError, AuditSpoolFullError
from llmops_kit.audit.base import AuditReceipt, AuditSink

__all__ = ["AuditReceipt", "AuditSink", "AuditSinkClosedError", "AuditSpoolFullError"]
