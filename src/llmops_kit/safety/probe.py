"""``llmops-kit doctor`` probe for a safety guard: does it answer, and if not, what to fix.

The detail line names the endpoint and auth mode, never the key."""

from __future__ import annotations

import time
from typing import Any

__all__ = ["probe"]

_PROBE_TEXT = "llmops-kit doctor probe: hello"

_HINTS = {
    "http_401": "key or identity rejected: check CONTENT_SAFETY_KEY or the identity's role",
    "http_403": "access denied: check the resource's network rules and the identity's role",
    "http_404": "not found: check CONTENT_SAFETY_ENDPOINT and CONTENT_SAFETY_BLOCKLISTS",
    "http_429": "throttled: the resource's rate limit is exhausted",
    "timeout": "no answer within CONTENT_SAFETY_TIMEOUT_SECONDS",
    "circuit_open": "circuit breaker open after repeated failures; it retries after the cool-down",
    "ServiceRequestError": "cannot connect: check CONTENT_SAFETY_ENDPOINT and the network",
}


async def probe(guard: Any) -> tuple[bool, str]:
    """(ok, one-line detail). Calls the service directly (not through the fail mode), so a
    fail-open guard cannot make a broken endpoint look healthy."""
    from llmops_kit.safety.azure import AzureContentSafetyGuard, describe_error

    started = time.perf_counter()
    if isinstance(guard, AzureContentSafetyGuard):
        where = f"{guard.endpoint} (auth: {guard.auth})"
        try:
            await guard.analyze(_PROBE_TEXT)
            parts = ["analyze ok"]
            if guard.prompt_shields:
                await guard.shield(_PROBE_TEXT, [])
                parts.append("prompt shields ok")
        except Exception as exc:
            code = describe_error(exc)
            return False, f"{where}: {code}: {_HINTS.get(code, type(exc).__name__)}"
        ms = (time.perf_counter() - started) * 1000.0
        return True, f"{where}: {', '.join(parts)} in {ms:.0f} ms; fail mode {guard.fail_mode}"
    verdict = await guard.check_input(_PROBE_TEXT)
    name = getattr(guard, "name", type(guard).__name__)
    if verdict.status != "evaluated":
        return False, f"{name}: status {verdict.status} ({verdict.reason})"
    return True, f"{name}: offline heuristics ready (no network)"
