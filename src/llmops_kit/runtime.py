"""The one place that turns :class:`Settings` into backends.

Each backend is chosen by its own setting alone: App Insights / OTLP / local JSONL for
telemetry, Azure Content Safety or the offline analyzer, Blob or file audit, Redis or
SQLite budgets. Everything else in llmops-kit receives the objects built here, so tests
inject real local peers by passing them in.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from llmops_kit.audit.base import AuditSink
from llmops_kit.budget.base import BudgetGate
from llmops_kit.config import Settings
from llmops_kit.evaluation.base import Evaluator
from llmops_kit.pricing.base import Pricing, TokenCounter
from llmops_kit.safety.base import SafetyGuard
from llmops_kit.telemetry.instruments import Telemetry

log = logging.getLogger("llmops_kit.runtime")


@dataclass
class Runtime:
    """Backends for governed runs; share one per process (it is concurrency-safe)."""

    settings: Settings
    telemetry: Telemetry
    safety: SafetyGuard
    audit: AuditSink
    budget: BudgetGate
    pricing: Pricing
    tokens: TokenCounter
    evaluation: Any = None  # llmops_kit.evaluation.runner.EvaluationRunner
    backends: dict[str, str] = field(default_factory=dict)

    async def aclose(self) -> None:
        """Drain background evaluations, flush the audit trail, close clients. Idempotent."""
        if self.evaluation is not None:
            drain = getattr(self.evaluation, "drain", None)
            if drain is not None:
                await drain()
        for closer in (self.audit.aclose, self.safety.aclose, self.budget.aclose):
            try:
                await closer()
            except Exception:
                log.warning("closing a backend failed", exc_info=True)


def build_runtime(
    settings: Settings | None = None,
    *,
    tracer_provider: Any = None,
    meter_provider: Any = None,
    logger_provider: Any = None,
    safety: SafetyGuard | None = None,
    audit: AuditSink | None = None,
    budget: BudgetGate | None = None,
    pricing: Pricing | None = None,
    tokens: TokenCounter | None = None,
    evaluators: Sequence[Evaluator] | None = None,
    redact: Any = None,
) -> Runtime:
    """Build every backend from settings; any argument given is used instead.

    Telemetry providers default to the OTel globals (set by ``configure_telemetry`` or by
    the application); nothing here installs a global provider.
    """
    settings = settings or Settings.load()
    backends: dict[str, str] = {}
    telemetry = Telemetry(
        tracer_provider, meter_provider, logger_provider,
        capture_content=settings.enable_sensitive_data, redact=redact,
    )
    pricing = pricing or _build_pricing(settings)
    tokens = tokens or _build_tokens()
    safety = safety or _build_safety(settings, backends)
    audit = audit or _build_audit(settings, backends)
    budget = budget or _build_budget(settings, telemetry, backends)
    runtime = Runtime(settings, telemetry, safety, audit, budget, pricing, tokens, backends=backends)
    _observe_audit_spool(telemetry, audit)
    runtime.evaluation = _build_evaluation(settings, evaluators, telemetry, audit)
    backends.setdefault("safety", getattr(safety, "name", type(safety).__name__))
    backends.setdefault("audit", getattr(audit, "name", type(audit).__name__))
    backends.setdefault("budget", getattr(budget, "name", type(budget).__name__))
    return runtime


def _build_pricing(settings: Settings) -> Pricing:
    from llmops_kit.pricing.base import ModelPrice
    from llmops_kit.pricing.table import PriceTable

    default = None
    if settings.unknown_model_price == "default":
        default = ModelPrice("default", settings.default_input_usd_per_mtok, settings.default_output_usd_per_mtok,
                             source="settings")
    return PriceTable.load(overrides_file=settings.pricing_file, unknown=settings.unknown_model_price,
                           default_price=default)


def _build_tokens() -> TokenCounter:
    from llmops_kit.pricing.tokens import default_token_counter

    return default_token_counter()


def _build_safety(settings: Settings, backends: dict[str, str]) -> SafetyGuard:
    from llmops_kit.safety.factory import guard_from_settings

    if settings.content_safety_endpoint:
        backends["safety"] = f"azure-content-safety ({settings.content_safety_endpoint})"
    else:
        backends["safety"] = "local-heuristic (offline)"
    return guard_from_settings(settings)


def _build_audit(settings: Settings, backends: dict[str, str]) -> AuditSink:
    redact = None
    if settings.audit_redact_pii:
        from llmops_kit.safety.pii import redact_pii

        redact = redact_pii
    if settings.audit_storage_connection_string is not None or settings.audit_storage_account_url:
        from llmops_kit.audit.blob import BlobAuditSink

        backends["audit"] = f"azure-blob (container {settings.audit_container})"
        conn = settings.audit_storage_connection_string
        return BlobAuditSink(
            container=settings.audit_container,
            spool_dir=settings.audit_spool_dir or (settings.data_dir / "audit-spool"),
            connection_string=conn.get_secret_value() if conn is not None else None,
            account_url=settings.audit_storage_account_url,
            redact=redact,
            batch_max_records=settings.audit_batch_max_records,
            batch_max_age_seconds=settings.audit_batch_max_age_seconds,
            spool_max_bytes=settings.audit_spool_max_bytes,
            flush_timeout_seconds=settings.audit_flush_timeout_seconds,
        )
    from llmops_kit.audit.file import FileAuditSink

    backends["audit"] = f"local JSONL ({settings.resolved_audit_dir})"
    return FileAuditSink(settings.resolved_audit_dir, redact=redact,
                         batch_max_records=settings.audit_batch_max_records,
                         batch_max_age_seconds=settings.audit_batch_max_age_seconds)


def _build_budget(settings: Settings, telemetry: Telemetry, backends: dict[str, str]) -> BudgetGate:
    from llmops_kit.budget.from_settings import manager_from_settings

    kind = settings.budget_ledger
    if kind == "auto":
        kind = "redis" if settings.redis_url is not None else "sqlite"
    backends["budget"] = {
        "sqlite": f"sqlite ({settings.resolved_budget_db_path})",
        "redis": "redis",
        "memory": "in-memory (this process only)",
    }[kind]
    return manager_from_settings(settings, on_threshold=_threshold_emitter(telemetry))


def _observe_audit_spool(telemetry: Telemetry, audit: AuditSink) -> None:
    """Export the blob sink's spool depth so a storage outage shows up on dashboards."""
    if not hasattr(audit, "spool_depth"):
        return
    from opentelemetry.metrics import Observation

    from llmops_kit.telemetry import semconv as sc

    def observe(_options: Any) -> list[Observation]:
        return [Observation(int(getattr(audit, "spool_depth", 0)), {"llmops.audit.sink": audit.name})]

    telemetry.meter.create_observable_gauge(sc.METRIC_AUDIT_SPOOL_DEPTH, callbacks=[observe], unit="{record}",
                                            description="Audit records waiting in the local spool")


def _threshold_emitter(telemetry: Telemetry) -> Any:
    from llmops_kit.telemetry import semconv as sc

    def emit(event: Any) -> None:
        attrs = {
            sc.LLMOPS_BUDGET_LIMIT: str(getattr(event, "label", "?")),
            sc.LLMOPS_BUDGET_PERCENT: int(getattr(event, "percent", 0)),
        }
        telemetry.budget_thresholds.add(1, attrs)
        telemetry.event_logger.emit(event_name=sc.EVENT_BUDGET_THRESHOLD, attributes=attrs)

    return emit


def _build_evaluation(
    settings: Settings, evaluators: Sequence[Evaluator] | None, telemetry: Telemetry, audit: AuditSink | None = None
) -> Any:
    if settings.evaluation_mode == "off":
        return None
    from llmops_kit.evaluation.runner import EvaluationRunner

    if evaluators is None:
        from llmops_kit.evaluation.adapters.azure import judges_from_settings
        from llmops_kit.evaluation.defaults import default_evaluators

        evaluators = [*default_evaluators(), *judges_from_settings(settings)]
        if settings.evaluation_embeddings:
            from llmops_kit.evaluation.builtin import EmbeddingRelevance, SentenceEncoder

            evaluators.append(EmbeddingRelevance(SentenceEncoder()))

    async def on_result(result: Any, context: Any) -> None:
        """Background mode: a score arrives after the run's audit record was written, so it is
        emitted now and audited as a follow-up record in the same hash chain."""
        meta = context.metadata if context is not None else {}
        telemetry.emit_evaluation(result, meta.get("_span"), meta.get("response_id"),
                                  getattr(context, "agent_name", None))
        if audit is not None:
            from datetime import datetime, timezone

            await audit.append({
                "schema": "llmops.audit.evaluation/1",
                "timestamp": datetime.now(timezone.utc).isoformat(),
                "run_id": getattr(context, "run_id", None),
                "agent": getattr(context, "agent_name", None),
                "tenant_id": meta.get("_tenant_id"),
                "evaluations": [result.to_dict()],
            })

    if settings.evaluation_gate:
        # EVALUATION_GATE: every evaluator gates; gated evaluators run inline even in background mode,
        # so a failing answer is replaced before the caller sees it
        from llmops_kit.evaluation.runner import Scored

        evaluators = [e if isinstance(e, Scored) else Scored(e, gate=True) for e in evaluators]
    return EvaluationRunner(list(evaluators), mode=settings.evaluation_mode,
                            default_sample_rate=settings.evaluation_sample_rate, on_result=on_result,
                            timeout_s=settings.evaluation_timeout_seconds)
