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
