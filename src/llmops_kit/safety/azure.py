"""Azure AI Content Safety as a :class:`~llmops_kit.safety.base.SafetyGuard`.

* Harm categories through the SDK's ``analyze_text`` (``EightSeverityLevels``, so thresholds
  use the same 0-7 scale as the offline analyzer), with optional blocklists.
* Prompt Shields (``text:shieldPrompt``, REST-only in SDK 1.0.0) through the same client's
  ``send_request``: same auth header, same transport, same timeouts. Tool results and
  retrieved passages are sent as ``documents`` (indirect injection).
* Texts over the API limit (10k code points) are split with a small overlap and checked in
  parallel; the verdict takes the worst chunk. Documents are batched (<= 5 per request,
  <= 10k characters in total).
* PII / secrets are found locally (``pii.py``): Content Safety has no PII category, and this
  keeps the verdict identical in shape to the offline analyzer's.

Resilience: each attempt is bounded by ``timeout_seconds``; retries with jittered backoff
honour ``Retry-After``; a circuit breaker stops calling a failing endpoint for a cool-down.
When the service cannot answer, ``fail_mode="closed"`` blocks (reason ``safety_unavailable``)
and ``"open"`` allows with the finding ``fail_open``; either way ``status="unavailable"``.
The key is held only inside the SDK credential object and never logged or repr'd.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from azure.ai.contentsafety.aio import ContentSafetyClient
from azure.ai.contentsafety.models import AnalyzeTextOptions
from azure.core.credentials import AzureKeyCredential
from azure.core.rest import HttpRequest

from llmops_kit.safety.base import HARM_CATEGORIES, SafetyStage, SafetyVerdict
from llmops_kit.safety.chunking import batch_documents, split_text
from llmops_kit.safety.normalize import coerce_text
from llmops_kit.safety.pii import find_pii
from llmops_kit.safety.resilience import BreakerOpenError, CircuitBreaker, RetryPolicy
from llmops_kit.safety.verdicts import build_categories, harm_reason, merge_thresholds, unavailable_verdict

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential
    from pydantic import SecretStr

    from llmops_kit.config import Settings

__all__ = ["ANALYZER_NAME", "AzureContentSafetyGuard", "GuardStats"]

logger = logging.getLogger(__name__)

ANALYZER_NAME = "azure-content-safety"
SHIELD_API_VERSION = "2024-09-01"
MAX_TEXT_CHARS = 10_000  # text:analyze and shieldPrompt userPrompt (code points)
MAX_SHIELD_DOCS = 5
FailMode = Literal["closed", "open"]


@dataclass(slots=True)
class GuardStats:
    """Counters for doctor output and tests; spans/metrics are the pipeline's job."""

    checks: int = 0
    requests: int = 0
    retries: int = 0
    unavailable: int = 0
    fail_open: int = 0
    breaker_rejections: int = 0


class AzureContentSafetyGuard:
    """Content Safety guard on the async SDK client. Create once, share, ``await aclose()``."""

    name = ANALYZER_NAME

    def __init__(
        self,
        endpoint: str,
        *,
        key: str | SecretStr | None = None,
        credential: AsyncTokenCredential | None = None,
        thresholds: Mapping[str, int] | None = None,
        blocklists: Sequence[str] = (),
        halt_on_blocklist_hit: bool = False,
        prompt_shields: bool = True,
        fail_mode: FailMode = "closed",
        timeout_seconds: float = 5.0,
        max_retries: int = 2,
        breaker_failures: int = 5,
        breaker_cooldown_seconds: float = 30.0,
        block_pii_in_output: bool = False,
        max_concurrency: int = 8,
        max_chunks: int = 50,
        retry_policy: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        if not endpoint or not endpoint.startswith(("https://", "http://")):
            raise ValueError("endpoint must be an http(s) URL, e.g. https://<resource>.cognitiveservices.azure.com")
        if fail_mode not in ("closed", "open"):
            raise ValueError(f"fail_mode must be 'closed' or 'open', got {fail_mode!r}")
        if timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be > 0")
        self.endpoint = endpoint.rstrip("/")
        self.thresholds = merge_thresholds(thresholds)
        self.blocklists = list(blocklists)
        self.halt_on_blocklist_hit = halt_on_blocklist_hit
        self.prompt_shields = prompt_shields
        self.fail_mode: FailMode = fail_mode
        self.timeout_seconds = timeout_seconds
        self.block_pii_in_output = block_pii_in_output
        self.max_chunks = max(2, max_chunks)
        self.retry = retry_policy or RetryPolicy(max_retries=max_retries, attempt_timeout=timeout_seconds)
        self.breaker = breaker or CircuitBreaker(breaker_failures, breaker_cooldown_seconds)
        self.stats = GuardStats()
        self._semaphore = asyncio.Semaphore(max(1, max_concurrency))
        self._owned_credential: Any = None
        secret = key.get_secret_value() if hasattr(key, "get_secret_value") else key
        if secret:
            cred: Any = AzureKeyCredential(str(secret))
            self.auth = "key"
        elif credential is not None:
            cred = credential
            self.auth = "token"
        else:
            from azure.identity.aio import DefaultAzureCredential

            cred = self._owned_credential = DefaultAzureCredential()
            self.auth = "default_azure_credential"
        # retry_total=0: RetryPolicy above owns retries so the breaker sees every failure.
        self._client = ContentSafetyClient(
            self.endpoint,
            cred,
            retry_total=0,
            connection_timeout=timeout_seconds,
            read_timeout=timeout_seconds,
        )

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> AzureContentSafetyGuard:
        if not settings.content_safety_endpoint:
            raise ValueError("CONTENT_SAFETY_ENDPOINT is not set")
        kwargs: dict[str, Any] = {
            "key": settings.content_safety_key,
            "thresholds": settings.safety_thresholds,
            "blocklists": settings.content_safety_blocklists,
            "prompt_shields": settings.content_safety_prompt_shields,
            "fail_mode": settings.content_safety_fail_mode,
            "timeout_seconds": settings.content_safety_timeout_seconds,
            "max_retries": settings.content_safety_max_retries,
            "breaker_failures": settings.content_safety_breaker_failures,
            "breaker_cooldown_seconds": settings.content_safety_breaker_cooldown_seconds,
            "block_pii_in_output": settings.safety_block_pii_in_output,
        }
        kwargs.update(overrides)
        return cls(settings.content_safety_endpoint, **kwargs)

    def __repr__(self) -> str:  # never the key
        return (
            f"AzureContentSafetyGuard(endpoint={self.endpoint!r}, auth={self.auth!r}, "
            f"fail_mode={self.fail_mode!r}, breaker={self.breaker.state!r})"
        )

    # -- SafetyGuard ----------------------------------------------------------------------

    async def check_input(self, text: str, *, documents: Sequence[str] = ()) -> SafetyVerdict:
        return await self._check("input", text, documents)

    async def check_output(self, text: str) -> SafetyVerdict:
        return await self._check("output", text, ())

    async def aclose(self) -> None:
        await self._client.close()
        if self._owned_credential is not None:
            await self._owned_credential.close()

    async def probe(self) -> tuple[bool, str]:
        """For ``llmops-kit doctor``: see :func:`llmops_kit.safety.probe.probe`."""
        from llmops_kit.safety.probe import probe

        return await probe(self)

    # -- raw calls (also used by the doctor probe) ---------------------------------------

    async def analyze(self, text: str) -> dict[str, Any]:
        """One ``text:analyze`` call (<= 10k chars) with retry and breaker; wire-shaped result."""
        options = AnalyzeTextOptions(
            text=text,
            categories=list(HARM_CATEGORIES),
            blocklist_names=self.blocklists or None,
            halt_on_blocklist_hit=self.halt_on_blocklist_hit if self.blocklists else None,
            output_type="EightSeverityLevels",
        )

        async def attempt() -> Any:
            self.stats.requests += 1
            return await self._client.analyze_text(
                options, read_timeout=self.timeout_seconds, connection_timeout=self.timeout_seconds
            )

        result = await self._call(attempt)
        return {
            "categories": {c.category: int(c.severity or 0) for c in result.categories_analysis or []},
            "blocklists": sorted({m.blocklist_name for m in result.blocklists_match or []}),
        }

    async def shield(self, prompt: str, documents: Sequence[str]) -> dict[str, Any]:
        """One ``text:shieldPrompt`` call through the SDK pipeline."""
        body: dict[str, Any] = {"userPrompt": prompt, "documents": list(documents)}

        async def attempt() -> Any:
            self.stats.requests += 1
            request = HttpRequest(
                "POST", "/text:shieldPrompt", params={"api-version": SHIELD_API_VERSION}, json=body
            )
            response = await self._client.send_request(
                request, read_timeout=self.timeout_seconds, connection_timeout=self.timeout_seconds
            )
            response.raise_for_status()  # HttpResponseError / ClientAuthenticationError, like the SDK's
            return response.json()

        data = await self._call(attempt)
        prompt_hit = bool((data.get("userPromptAnalysis") or {}).get("attackDetected"))
        docs = [bool((d or {}).get("attackDetected")) for d in data.get("documentsAnalysis") or []]
        return {"prompt": prompt_hit, "documents": docs}

    async def _call(self, attempt: Any) -> Any:
        def on_retry(n: int, exc: BaseException, delay: float) -> None:
            self.stats.retries += 1
            logger.info("content safety retry %d after %s (waiting %.2fs)", n, describe_error(exc), delay)

        async with self._semaphore:
            return await self.retry.run(attempt, breaker=self.breaker, on_retry=on_retry)

    # -- the check ------------------------------------------------------------------------

    async def _check(self, stage: SafetyStage, text: object, documents: Sequence[object]) -> SafetyVerdict:
        started = time.perf_counter()
        self.stats.checks += 1
        try:
            docs = [coerce_text(d) for d in documents or ()]
            verdict = await self._evaluate(stage, coerce_text(text), docs)
        except Exception as exc:
            verdict = self._unavailable(stage, exc)
        verdict.latency_ms = (time.perf_counter() - started) * 1000.0
        return verdict

    def _unavailable(self, stage: SafetyStage, exc: BaseException) -> SafetyVerdict:
        self.stats.unavailable += 1
        if isinstance(exc, BreakerOpenError):
            self.stats.breaker_rejections += 1
        if self.fail_mode == "open":
            self.stats.fail_open += 1
        detail = describe_error(exc)
        logger.warning("content safety unavailable (%s); fail mode %s", detail, self.fail_mode)
        return unavailable_verdict(
            stage, ANALYZER_NAME, self.thresholds, fail_mode=self.fail_mode, detail=detail
        )

    def _windows(self, text: str, findings: list[str]) -> list[str]:
        pieces = split_text(text, MAX_TEXT_CHARS)
        if len(pieces) > self.max_chunks:
            findings.append("scan_truncated")
            half = self.max_chunks // 2
            pieces = pieces[:half] + pieces[-half:]
        return pieces

    async def _evaluate(self, stage: SafetyStage, text: str, documents: list[str]) -> SafetyVerdict:
        findings: list[str] = []
        has_text = bool(text.strip())
        analyze_jobs = [self.analyze(piece) for piece in self._windows(text, findings)] if has_text else []

        shield_jobs: list[Any] = []
        shield_batches: list[list[tuple[int, str]]] = []
        if stage == "input" and self.prompt_shields and (has_text or any(d.strip() for d in documents)):
            prompts = self._windows(text, findings) if has_text else [""]
            shield_batches = batch_documents(documents, max_chars=MAX_TEXT_CHARS, max_docs=MAX_SHIELD_DOCS)
            for i in range(max(len(prompts), len(shield_batches))):
                batch = shield_batches[i] if i < len(shield_batches) else []
                shield_jobs.append(self.shield(prompts[i % len(prompts)], [piece for _, piece in batch]))

        results = await asyncio.gather(*analyze_jobs, *shield_jobs, return_exceptions=True)
        for res in results:
            if isinstance(res, BaseException):
                raise res
        analyses = results[: len(analyze_jobs)]
        shields = results[len(analyze_jobs) :]

        blocks: list[str] = []
        severities: dict[str, int] = {}
        blocklist_hits: list[str] = []
        for a in analyses:
            for cat, sev in a["categories"].items():
                severities[cat] = max(sev, severities.get(cat, 0))
            blocklist_hits += [b for b in a["blocklists"] if b not in blocklist_hits]
        if not has_text:
            severities = dict.fromkeys(HARM_CATEGORIES, 0)  # nothing to analyze is trivially clean
        categories = build_categories(severities, self.thresholds)
        findings.extend(f"blocklist:{b}" for b in blocklist_hits)

        for i, s in enumerate(shields):
            if s["prompt"] and "jailbreak:prompt_shield" not in findings:
                findings.append("jailbreak:prompt_shield")
                blocks.append("prompt_injection")
            batch = shield_batches[i] if i < len(shield_batches) else []
            for (doc_index, _piece), hit in zip(batch, s["documents"], strict=False):
                tag = f"indirect_injection:doc{doc_index}:prompt_shield"
                if hit and tag not in findings:
                    findings.append(tag)
                    blocks.append("indirect_prompt_injection")

        pii_kinds = list(dict.fromkeys(m.kind for m in find_pii(text)))
        findings.extend(f"pii:{k}" for k in pii_kinds)

        reason: str | None = None
        if "prompt_injection" in blocks:
            reason = "prompt_injection"
        elif "indirect_prompt_injection" in blocks:
            reason = "indirect_prompt_injection"
        elif blocklist_hits:
            reason = f"blocklist:{blocklist_hits[0]}"
        elif any(c.blocked for c in categories):
            reason = harm_reason(categories)
        elif pii_kinds and stage == "output" and self.block_pii_in_output:
            reason = "pii"
        allowed = reason is None
        return SafetyVerdict(
            stage=stage,
            allowed=allowed,
            action="block" if not allowed else ("flag" if findings else "allow"),
            reason=reason,
            categories=categories,
            findings=findings,
            analyzer=ANALYZER_NAME,
            status="evaluated",
        )


def describe_error(exc: BaseException) -> str:
    """Short, secret-free description: exception type and HTTP status/code, never headers."""
    if isinstance(exc, BreakerOpenError):
        return "circuit_open"
    if isinstance(exc, asyncio.TimeoutError) or "Timeout" in type(exc).__name__:
        return "timeout"
    status = getattr(exc, "status_code", None)
    if status:
        return f"http_{status}"
    return type(exc).__name__
