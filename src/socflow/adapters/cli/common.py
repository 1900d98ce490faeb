"""Helpers shared by CLI commands: consoles, JSON output, progress bars."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

# Wide enough for indicator tables when piped (rich would otherwise assume 80 columns).
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True)


def write_json(data: Any, output: str | None) -> None:
    """JSON to ``--output`` (or stdout), UTF-8, stable key order."""
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"
    if output and output != "-":
        Path(output).write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)


def warn(message: str) -> None:
    """One line on stderr, never wrapped (scripts grep these)."""
    click.echo(f"socflow: warning: {message}", err=True)


@contextmanager
def byte_progress(total: int | None, enabled: bool) -> Iterator[Any]:
    """A transfer-style progress bar on stderr; a no-op callback when disabled or not a TTY."""
    if not enabled or not sys.stderr.isatty():
        yield lambda n: None
        return
    with Progress(
        TextColumn("[bold]reading"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
        console=err_console, transient=True,
    ) as progress:
        task = progress.add_task("read", total=total)
        yield lambda n: progress.advance(task, n)


def thehive_options(func: Any) -> Any:
    """``--thehive-url/--thehive-key/--organisation/--ca-bundle`` (flags or ``SOCFLOW_*`` env),
    shared by every command that talks to TheHive."""
    for option in reversed((
        click.option("--thehive-url", envvar="SOCFLOW_THEHIVE_URL",
                     help="TheHive base URL [env SOCFLOW_THEHIVE_URL]."),
        click.option("--thehive-key", envvar="SOCFLOW_THEHIVE_KEY",
                     help="TheHive API key [env SOCFLOW_THEHIVE_KEY]."),
        click.option("--organisation", envvar="SOCFLOW_THEHIVE_ORG",
                     help="TheHive organisation (X-Organisation) [env SOCFLOW_THEHIVE_ORG]."),
        click.option("--ca-bundle", type=click.Path(dir_okay=False),
                     help="CA certificate(s) to verify TheHive's TLS."),
    )):
        func = option(func)
    return func

