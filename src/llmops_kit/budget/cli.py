"""``llmops-kit budget show | set | policy``: inspect usage and edit limits stored in the ledger.

Edits go into the ledger (SQLite file or Redis) as one overrides document, so every process
and replica using that ledger picks them up (managers re-read it every few seconds) and
they survive restarts; ``.env`` and the policy file stay the defaults underneath.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from llmops_kit.budget.base import BudgetSubject, LedgerExtras, LimitState
from llmops_kit.budget.from_settings import ledger_from_settings, manager_from_settings
from llmops_kit.budget.manager import OVERRIDES_DOCUMENT
from llmops_kit.budget.policy import SCOPES, WINDOWS, BudgetPolicyError, parse_limit

budget_app = typer.Typer(help="Token and cost budgets: show usage, edit limits.", no_args_is_help=True)


def _console() -> Console:
    """A console per command, so the current terminal width (or COLUMNS) is honoured."""
    return Console()


def _settings(env_file: Path | None) -> Any:
    from llmops_kit.config import Settings, SettingsError

    try:
        return Settings.load(env_file=env_file)
    except SettingsError as exc:
        _console().print(f"[red]configuration error:[/] {exc}", soft_wrap=True)
        raise typer.Exit(2) from None


def _amount(unit: str, value: int) -> str:
    # micro-USD precision: a single support answer costs well under a cent
    return f"${value / 1_000_000:,.6f}" if unit == "cost_micro_usd" else f"{value:,}"


def _table(limits: list[LimitState], title: str) -> Table:
    table = Table(title=title)
    for col in ("limit", "scope", "window", "unit", "max", "used", "reserved", "left", "resets"):
        table.add_column(col, justify="right" if col in ("max", "used", "reserved", "left") else "left")
    for lim in limits:
        pct = lim.used * 100 / lim.limit if lim.limit else 100.0
        style = "red" if pct >= 100 else "yellow" if pct >= 80 else ""
        resets = lim.resets_at.strftime("%Y-%m-%d %H:%M %Z") if lim.resets_at else "next request"
        table.add_row(
            lim.label.replace("cost_micro_usd", "cost USD"),
            lim.scope,
            lim.window,
            "USD" if lim.unit == "cost_micro_usd" else lim.unit,
            _amount(lim.unit, lim.limit),
            _amount(lim.unit, lim.used),
            _amount(lim.unit, lim.reserved),
            _amount(lim.unit, lim.remaining),
            resets,
            style=style,
        )
    return table


@budget_app.command("show")
def show(
    tenant: str | None = typer.Option(None, "--tenant", help="tenant id"),
    user: str | None = typer.Option(None, "--user", help="user id"),
    agent: str | None = typer.Option(None, "--agent", help="agent name"),
    session: str | None = typer.Option(None, "--session", help="session id"),
    env_file: Path | None = typer.Option(Path(".env"), "--env-file", help=".env to read"),
) -> None:
    """Every limit that applies to the subject: max, used, reserved, left and reset time."""
    settings = _settings(env_file)
    subject = BudgetSubject(tenant_id=tenant, user_id=user, agent=agent, session_id=session)

    async def run() -> Any:
        mgr = manager_from_settings(settings)
        try:
            return await mgr.state(subject), mgr.ledger.name
        finally:
            await mgr.aclose()

    try:
        state, ledger_name = asyncio.run(run())
    except (BudgetPolicyError, ValueError) as exc:
        _console().print(f"[red]budget error:[/] {exc}", soft_wrap=True)
        raise typer.Exit(2) from None
    if not state.limits:
        _console().print("no budget limits apply (set DAILY_COST_BUDGET_USD, … or `llmops-kit budget set`)")
        return
    who = (
        ", ".join(
            f"{k}={v}"
            for k, v in (("tenant", tenant), ("user", user), ("agent", agent), ("session", session))
            if v
        )
        or "global"
    )
    _console().print(
        _table(state.limits, f"budgets for {who} ({ledger_name} ledger, {settings.budget_timezone})")
    )
    if who == "global":
        _console().print("per-tenant, per-user and per-agent limits show with --tenant / --user / --agent")


@budget_app.command("set")
def set_limit(
    scope: str = typer.Argument(..., help=f"one of {', '.join(SCOPES)}"),
    window: str = typer.Argument(..., help=f"one of {', '.join(WINDOWS)}"),
    limit: float | None = typer.Argument(None, help="the limit (USD for cost_usd, else a whole number)"),
    unit: str = typer.Option(
        "cost_usd", "--unit", help="cost_usd | cost_micro_usd | input_tokens | output_tokens | total_tokens"
    ),
    match: str | None = typer.Option(None, "--id", help="only this scope id (e.g. a tenant id)"),
    soft: str | None = typer.Option(None, "--soft", help="soft thresholds in percent, e.g. 50,80,100"),
    remove: bool = typer.Option(False, "--remove", help="drop this limit (also hides a .env default)"),
    env_file: Path | None = typer.Option(Path(".env"), "--env-file", help=".env to read"),
) -> None:
    """Store a limit override in the ledger; managers pick it up within a few seconds."""
    if (limit is None) != remove:
        _console().print("[red]give a LIMIT, or --remove without a limit[/]")
        raise typer.Exit(2)
    entry: dict[str, Any] = {"scope": scope, "window": window, "unit": unit, "limit": limit, "match": match}
    if soft:
        entry["soft"] = soft
    try:
        parsed = parse_limit(entry, "budget set")
    except BudgetPolicyError as exc:
        _console().print(f"[red]{exc}[/]", soft_wrap=True)
        raise typer.Exit(2) from None
    stored = (
        parsed.to_dict()
        if not isinstance(parsed, tuple)
        else {"scope": parsed[0], "match": parsed[1], "window": parsed[2], "unit": parsed[3], "limit": None}
    )
    settings = _settings(env_file)

    async def run() -> int:
        ledger = ledger_from_settings(settings)
        try:
            if not isinstance(ledger, LedgerExtras):
                raise ValueError(f"the {ledger.name} ledger cannot store overrides")
            doc = await ledger.get_document(OVERRIDES_DOCUMENT) or {"limits": []}
            ident = (stored["scope"], stored.get("match"), stored["window"], stored["unit"])
            kept = [
                e
                for e in doc.get("limits", [])
                if (e.get("scope"), e.get("match"), e.get("window"), e.get("unit")) != ident
            ]
            kept.append(stored)
            await ledger.put_document(OVERRIDES_DOCUMENT, {"limits": kept, "updated_at": time.time()})
            return len(kept)
        finally:
            await ledger.aclose()

    try:
        count = asyncio.run(run())
    except ValueError as exc:
        _console().print(f"[red]budget error:[/] {exc}", soft_wrap=True)
        raise typer.Exit(2) from None
    what = "removed" if remove else "set"
    _console().print(
        f"{what} {stored['scope']}{' ' + stored['match'] if stored.get('match') else ''} "
        f"{stored['window']} {stored['unit']}"
        + ("" if remove else f" = {stored['limit']:,}")
        + f" ({count} stored override(s))"
    )


@budget_app.command("policy")
def show_policy(
    env_file: Path | None = typer.Option(Path(".env"), "--env-file", help=".env to read"),
) -> None:
    """The effective limits: .env, policy file and stored overrides merged."""
    settings = _settings(env_file)

    async def run() -> Any:
        mgr = manager_from_settings(settings)
        try:
            return await mgr.policy()
        finally:
            await mgr.aclose()

    policy = asyncio.run(run())
    table = Table(title=f"budget policy (soft thresholds {', '.join(map(str, policy.soft_thresholds))} %)")
    for col in ("scope", "id", "window", "unit", "limit", "soft"):
        table.add_column(col)
    for lim in policy.limits:
        table.add_row(
            lim.scope,
            lim.match or "*",
            lim.window,
            lim.unit,
            _amount(lim.unit, lim.limit),
            ",".join(map(str, lim.soft)) if lim.soft else "default",
        )
    _console().print(table)
