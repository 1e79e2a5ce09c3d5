"""``llmops-kit safety check | redact``: try the configured guard or the PII redactor on a text.

Useful to tune thresholds and to see what a verdict looks like before wiring an agent."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from llmops_kit.safety.base import SafetyVerdict

safety_app = typer.Typer(help="Content safety: check a text with the configured guard, redact PII.",
                         no_args_is_help=True)


def _read(text: str | None) -> str:
    if text is None or text == "-":
        return sys.stdin.read()
    return text


def _guard(env_file: Path | None, offline: bool) -> Any:
    from llmops_kit.config import Settings, SettingsError
    from llmops_kit.safety.factory import guard_from_settings
    from llmops_kit.safety.local import LocalSafetyAnalyzer

    try:
        settings = Settings.load(env_file=env_file)
    except SettingsError as exc:
        Console(stderr=True).print(f"[red]configuration error:[/] {exc}", soft_wrap=True)
        raise typer.Exit(2) from None
    if offline:
        return LocalSafetyAnalyzer(thresholds=settings.safety_thresholds,
                                   block_pii_in_output=settings.safety_block_pii_in_output)
    return guard_from_settings(settings)


async def _check(guard: Any, text: str, output: bool, documents: list[str]) -> SafetyVerdict:
    try:
        if output:
            return await guard.check_output(text)
        return await guard.check_input(text, documents=documents)
    finally:
        await guard.aclose()


@safety_app.command("check")
def check(
    text: str = typer.Argument(None, help="Text to check; '-' or omitted reads stdin."),
    output: bool = typer.Option(False, "--output", help="Check as model output instead of user input."),
    document: list[str] = typer.Option([], "--doc", help="A retrieved document / tool result (repeatable)."),
    offline: bool = typer.Option(False, "--offline", help="Use the offline analyzer even if Azure is set."),
    as_json: bool = typer.Option(False, "--json", help="Print the verdict as JSON."),
    env_file: Path | None = typer.Option(Path(".env"), "--env-file", help="Settings file."),
) -> None:
    """Exit code 0 when allowed, 1 when blocked."""
    verdict = asyncio.run(_check(_guard(env_file, offline), _read(text), output, list(document)))
    console = Console()
    if as_json:
        console.print_json(json.dumps(verdict.to_dict()))
    else:
        colour = "green" if verdict.allowed else "red"
        console.print(f"[{colour}]{verdict.action}[/] ({verdict.analyzer}, {verdict.status}, "
                      f"{verdict.latency_ms:.1f} ms) reason={verdict.reason}")
        if verdict.categories:
            table = Table("category", "severity", "threshold", "blocked")
            for c in verdict.categories:
                table.add_row(c.category, str(c.severity), str(c.threshold), "yes" if c.blocked else "")
            console.print(table)
        if verdict.findings:
            console.print("findings: " + ", ".join(verdict.findings))
    raise typer.Exit(0 if verdict.allowed else 1)


@safety_app.command("redact")
def redact(text: str = typer.Argument(None, help="Text; '-' or omitted reads stdin.")) -> None:
    """Print the text with emails, phones, cards, SSNs, IBANs, IPs and secrets replaced."""
    from llmops_kit.safety.pii import redact_pii

    typer.echo(redact_pii(_read(text)))
