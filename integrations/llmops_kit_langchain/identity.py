"""Who one LangChain invocation is for: the per-invocation :class:`RunContext` of the guards.

Why per invocation: run-scoped budget limits (``MAX_TOKENS_PER_REQUEST``) must add up over
every model call of one top-level ``invoke`` and start again at the next one. So the run id is
always the invocation's root run id (fixed by ``config={"run_id": ...}`` when the caller wants
to correlate), never a per-call id and never an id shared by every invocation.
Tenant, user and session come from a given ``RunContext`` first, then from
``config["metadata"]`` (``tenant_id``, ``user_id``, ``session_id`` or ``thread_id``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from llmops_kit.agent import RunContext

if TYPE_CHECKING:
    from llmops_kit.runtime import Runtime

DEFAULT_AGENT_NAME = "langchain"
_EMPTY: Mapping[str, Any] = {}


def _meta_id(meta: Mapping[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = meta.get(key)
        if value is not None and value != "":
            return str(value)
    return None


def invocation_context(
    run_id: str,
    *,
    template: RunContext | None,
    agent_name: str | None,
    metadata: Mapping[str, Any] | None,
    runtime: Runtime,
) -> RunContext:
    """The context of one invocation: ``template``'s identity (gaps filled from ``metadata``), ``run_id``."""
    meta = metadata if metadata is not None else _EMPTY
    tenant = _meta_id(meta, "tenant_id")
    user = _meta_id(meta, "user_id")
    session = _meta_id(meta, "session_id", "thread_id")
    if template is not None:
        return replace(
            template,
            run_id=run_id,
            tenant_id=template.tenant_id or tenant,
            user_id=template.user_id or user,
            session_id=template.session_id or session,
            runtime=template.runtime or runtime,
        )
    return RunContext(
        run_id=run_id,
        agent_name=agent_name or _meta_id(meta, "lc_agent_name") or DEFAULT_AGENT_NAME,
        tenant_id=tenant,
        user_id=user,
        session_id=session,
        runtime=runtime,
    )
