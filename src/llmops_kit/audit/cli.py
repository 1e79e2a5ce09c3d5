"""``llmops-kit audit verify``: check the hash chains of the audit trail; exit 1 on any break."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from llmops_kit.audit.chain import ChainReport

audit_app = typer.Typer(help="Inspect and verify the tamper-evident audit trail.", no_args_is_help=True)


@audit_app.callback()
def _group() -> None:
    """Inspect and verify the tamper-evident audit trail."""


def render(reports: list[ChainReport], source: str, console: Console) -> bool:
    """Print one row per chain; returns True when every chain verifies."""
    table = Table(title=f"audit chains in {source}")
    for col in ("chain", "records", "first seq", "last seq", "status"):
        table.add_column(col, justify="right" if col in ("records", "first seq", "last seq") else "left")
    for r in sorted(reports, key=lambda r: r.chain_id):
        status = "[green]ok[/green]" if r.ok else f"[red]BROKEN at {r.first_bad}: {r.error}[/red]"
        table.add_row(r.chain_id, str(r.records), str(r.first_seq or "-"), str(r.last_seq or "-"), status)
    console.print(table)
    bad = [r for r in reports if not r.ok]
    if not reports:
        console.print("no audit records found")
    elif bad:
        first = bad[0]
        console.print(f"[red]{len(bad)} chain(s) broken; first bad record: {first.first_bad} "
                      f"(chain {first.chain_id}): {first.error}[/red]")
    else:
        total = sum(r.records for r in reports)
        console.print(f"[green]{total} record(s) in {len(reports)} chain(s) verified[/green]")
    return not bad


@audit_app.command("verify")
def verify(
    dir: Path | None = typer.Option(None, "--dir", help="local audit directory (default: AUDIT_DIR)"),
    blob: bool = typer.Option(False, "--blob", help="verify the Azure Blob container instead"),
    container: str | None = typer.Option(None, "--container", help="container (default: AUDIT_CONTAINER)"),
    prefix: str | None = typer.Option(None, "--prefix", help="only blobs under this prefix, e.g. 2026/11/"),
    allow_empty: bool = typer.Option(False, "--allow-empty", help="exit 0 when no audit records exist yet"),
    min_records: int = typer.Option(
        0, "--min-records", help="fail when fewer records remain (catches records cut off the end)"),
) -> None:
    """Verify every hash chain; exit code 1 names the first bad record."""
    from llmops_kit.audit.verify import verify_blob, verify_dir
    from llmops_kit.config import Settings

    console = Console()
    try:
        if blob:
            settings = Settings.load()
            name = container or settings.audit_container
            conn = settings.audit_storage_connection_string
            reports = asyncio.run(verify_blob(
                container=name, connection_string=conn.get_secret_value() if conn else None,
                account_url=settings.audit_storage_account_url, prefix=prefix))
            source = f"container {name}"
        else:
            path = dir or Settings.load().resolved_audit_dir
            reports = verify_dir(path)
            source = str(path)
    except (FileNotFoundError, ValueError) as exc:
        console.print(f"[red]audit verify: {exc}[/red]", soft_wrap=True)
        raise typer.Exit(2) from None
    except Exception as exc:
        msg = (str(exc).splitlines() or [""])[0][:300]
        console.print(f"[red]audit verify: cannot read the audit trail: {type(exc).__name__}: {msg}[/red]",
                      soft_wrap=True)
        raise typer.Exit(2) from None
    if not render(reports, source, console):
        raise typer.Exit(1)
    total = sum(r.records for r in reports)
    if not reports and not allow_empty:
        console.print("[red]no audit records: if records were written here, the trail was deleted "
                      "(use --allow-empty for a new deployment)[/red]")
        raise typer.Exit(1)
    if total < min_records:
        console.print(f"[red]{total} record(s) found, fewer than --min-records {min_records}: "
                      "records were removed from the end of a chain[/red]")
        raise typer.Exit(1)
