"""``llmops-kit doctor``: which backend each part uses, is it reachable, what to fix.

Details name hosts and paths, never keys or connection strings.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from urllib.parse import urlparse

from llmops_kit.config import Settings
from llmops_kit.telemetry.setup import _ingestion_endpoint, resolve_mode

Row = tuple[str, str, bool, str]


async def _tcp_reachable(url: str, timeout: float = 2.0) -> tuple[bool, str]:
    parsed = urlparse(url)
    host = parsed.hostname or ""
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, asyncio.TimeoutError) as exc:
        return False, f"{host}:{port} not reachable ({type(exc).__name__}) — check the endpoint and network"
    writer.close()
    return True, f"{host}:{port} reachable"


def _writable(path: Path) -> tuple[bool, str]:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".doctor"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        return False, f"{path} not writable ({exc.strerror}) — set LLMOPS_DATA_DIR to a writable folder"
    return True, f"{path} writable"


async def _probe_ledger(ledger: object) -> tuple[bool, str]:
    """A read of one counter: proves the ledger answers, without touching any balance."""
    try:
        await asyncio.wait_for(ledger.counters(["doctor-probe"]), 5)  # type: ignore[attr-defined]
    except Exception as exc:
        return False, f"ledger not reachable ({type(exc).__name__}) — check REDIS_URL / BUDGET_DB_PATH"
    return True, f"{getattr(ledger, 'name', 'ledger')} answers"


async def _probe(obj: object) -> tuple[bool, str] | None:
    probe = getattr(obj, "probe", None)
    if probe is None and hasattr(obj, "ledger"):
        return await _probe_ledger(obj.ledger)  # type: ignore[attr-defined]
    if probe is None:
        return None
    try:
        return await asyncio.wait_for(probe(), 10)
    except Exception as exc:  # a probe failing is a finding, not a crash
        return False, f"probe failed: {type(exc).__name__}"


async def run_doctor(settings: Settings) -> list[Row]:
    from llmops_kit.runtime import _build_audit, _build_budget, _build_safety
    from llmops_kit.telemetry.instruments import Telemetry

    rows: list[Row] = []
    mode = resolve_mode(settings)
    if mode == "azure":
        assert settings.applicationinsights_connection_string is not None
        endpoint = _ingestion_endpoint(settings.applicationinsights_connection_string.get_secret_value())
        ok, detail = await _tcp_reachable(endpoint) if endpoint.startswith("http") else (True, endpoint)
        rows.append(("telemetry", "azure-monitor (App Insights)", ok, detail))
    elif mode == "otlp":
        ok, detail = await _tcp_reachable(settings.otel_exporter_otlp_endpoint or "")
        rows.append(("telemetry", f"otlp ({settings.otel_exporter_otlp_endpoint})", ok, detail))
    elif mode == "local":
        ok, detail = _writable(settings.telemetry_dir)
        rows.append(("telemetry", "local JSONL", ok, detail))
    else:
        rows.append(("telemetry", mode, True, "no export" if mode == "off" else "stdout"))
    rows.append(("sensitive data", "ENABLE_SENSITIVE_DATA", True,
                 "message content recorded" if settings.enable_sensitive_data else "content off (default)"))

    backends: dict[str, str] = {}
    for part, build in (("safety", lambda: _build_safety(settings, backends)),
                        ("audit", lambda: _build_audit(settings, backends)),
                        ("budget", lambda: _build_budget(settings, Telemetry(), backends))):
        try:
            backend = build()
        except Exception as exc:
            rows.append((part, backends.get(part, "?"), False, f"cannot start: {type(exc).__name__}: {exc}"))
            continue
        probed = await _probe(backend)
        if probed is None:
            if part == "audit" and not (settings.audit_storage_connection_string or settings.audit_storage_account_url):
                probed = _writable(settings.resolved_audit_dir)
            else:
                probed = (True, "embedded, nothing to reach")
        rows.append((part, backends.get(part, type(backend).__name__), probed[0], probed[1]))
        close = getattr(backend, "aclose", None)
        if close is not None:
            try:
                await close()
            except Exception:
                pass
    try:
        from llmops_kit.runtime import _build_pricing

        table = _build_pricing(settings)
        version = getattr(table, "table_version", "?")
        rows.append(("pricing", "packaged price table", True,
                     f"{version}; unknown models: {settings.unknown_model_price}"))
    except Exception as exc:
        rows.append(("pricing", "packaged price table", False, f"{type(exc).__name__}: {exc}"))
    gating = ", gating" if settings.evaluation_gate else ""
    rows.append(("evaluation", settings.evaluation_mode, True,
                 f"sample rate {settings.evaluation_sample_rate:.0%}{gating}"))
    if settings.evaluation_judge_endpoint:
        ok, detail = await _tcp_reachable(settings.evaluation_judge_endpoint)
        rows.append(("evaluation judge", f"LLM judge ({settings.evaluation_judge_deployment or '?'})", ok,
                     detail if ok else detail + "; set EVALUATION_JUDGE_ENDPOINT to a reachable judge"))
    if settings.azure_openai_endpoint:
        ok, detail = await _tcp_reachable(settings.azure_openai_endpoint)
        rows.append(("samples model", f"Azure OpenAI ({settings.azure_openai_deployment or '?'})", ok, detail))
    else:
        rows.append(("samples model", "scripted (offline)", True, "set AZURE_OPENAI_* to use Azure OpenAI"))
    if os.environ.get("CI"):
        rows.append(("environment", "CI", True, "running under CI"))
    return rows
