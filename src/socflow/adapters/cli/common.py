"""Helpers shared by CLI commands: consoles, JSON output, progress bars, secret options, and
what Ctrl-C prints."""

from __future__ import annotations

import functools
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource
from rich.console import Console as _RichConsole
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from ...errors import ConfigError

MAX_SECRET_FILE = 64 * 1024


class Console(_RichConsole):
    """rich's console, except that a reader who went away (``| head``) is not an error: rich
    exits 1 there; this raises ``BrokenPipeError`` for ``main`` to end quietly with 0."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError


# Wide enough for indicator tables when piped (rich would otherwise assume 80 columns).
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True)

# ---- Ctrl-C: what a command has gathered so far (main prints it, then exits 130)
_on_interrupt: list[Callable[[], None]] = []


@contextmanager
def on_interrupt(show: Callable[[], None]) -> Iterator[None]:
    """While the block runs, Ctrl-C makes ``main`` call ``show`` (print the results so far).

    On Ctrl-C the callback stays registered as the interrupt travels up to ``main``."""
    _on_interrupt.append(show)
    try:
        yield
    except KeyboardInterrupt:
        raise
    except BaseException:
        _on_interrupt.remove(show)
        raise
    _on_interrupt.remove(show)


def interrupt_handlers() -> list[Callable[[], None]]:
    """The registered ``show`` callbacks, innermost first."""
    return list(reversed(_on_interrupt))


# ---- waits the user should see
def delivery_notices(deadline: float | None) -> Callable[[str, dict[str, Any]], None]:
    """A ``Deliverer`` event callback: one stderr line per failed attempt while TheHive is down,
    with the attempt number and when the next one comes (or that none will before giving up)."""

    def notice(kind: str, data: dict[str, Any]) -> None:
        if kind != "unavailable":
            return
        retry_in = float(data.get("retry_in") or 0)
        left = None if deadline is None else deadline - time.time()
        if left is None:
            then = f"next retry in {retry_in:.0f} s"
        elif retry_in < left:
            then = f"next retry in {retry_in:.0f} s (giving up in {left:.0f} s)"
        else:
            then = "no retry before giving up; the alerts stay in the outbox"
        warn(f"TheHive unreachable, attempt {data.get('attempt', '?')}: {data.get('error')}; {then}")

    return notice


# ---- secrets: environment or file preferred; a flag works but is visible in ps and history
def read_secret_file(path: str, option: str) -> str:
    """The one line of a secret file (``--x-file``, ``SOCFLOW_X_FILE``: Docker/Kubernetes
    secrets). Errors name the file, never its contents."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_SECRET_FILE + 1)
    except OSError as exc:
        raise ConfigError(f"{option} {path}: cannot read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ConfigError(f"{option} {path}: not UTF-8 text (contents not shown)") from None
    if len(data) > MAX_SECRET_FILE or "\n" in text:
        raise ConfigError(f"{option} {path}: a secret file holds one line (contents not shown)")
    if not text:
        raise ConfigError(f"{option} {path}: the file is empty")
    return text


def secret_option(flag: str, envvar: str, what: str) -> Callable[[Any], Any]:
    """``--flag`` (env ``ENVVAR``) plus ``--flag-file`` (env ``ENVVAR_FILE``) for one secret.

    The command receives the secret under the flag's name. Precedence: the flag, the file, the
    environment variable. A flag on the command line works but is visible to every local user
    in ``ps`` and lands in shell history, so it prints a one-line warning naming the safer ways.
    """
    name = flag.lstrip("-").replace("-", "_")
    file_flag, file_name, file_env = f"{flag}-file", f"{name}_file", f"{envvar}_FILE"

    def decorate(fn: Any) -> Any:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            path = kwargs.pop(file_name, None)
            ctx = click.get_current_context()
            source = ctx.get_parameter_source(name)
            if source is ParameterSource.COMMANDLINE and kwargs.get(name):
                warn(
                    f"{flag} on the command line is visible to other users (ps, shell history); "
                    f"prefer {envvar} or {file_flag}"
                )
            elif path:
                kwargs[name] = read_secret_file(path, file_flag)
            return fn(*args, **kwargs)

        run = click.option(
            file_flag, file_name, envvar=file_env, metavar="FILE",
            help=f"File holding the {what} (one line) [env {file_env}].",
        )(run)
        return click.option(
            flag, name, envvar=envvar,
            help=f"{what[0].upper()}{what[1:]} [env {envvar}; prefer it or {file_flag}: "
            "a flag is visible in ps].",
        )(run)

    return decorate


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
    """``--thehive-url/--thehive-key(-file)/--organisation/--ca-bundle`` (flags or ``SOCFLOW_*``
    env), shared by every command that talks to TheHive."""
    for option in reversed((
        click.option("--thehive-url", envvar="SOCFLOW_THEHIVE_URL",
                     help="TheHive base URL [env SOCFLOW_THEHIVE_URL]."),
        secret_option("--thehive-key", "SOCFLOW_THEHIVE_KEY", "TheHive API key"),
        click.option("--organisation", envvar="SOCFLOW_THEHIVE_ORG",
                     help="TheHive organisation (X-Organisation) [env SOCFLOW_THEHIVE_ORG]."),
        click.option("--ca-bundle", type=click.Path(dir_okay=False),
                     help="CA certificate(s) to verify TheHive's TLS."),
    )):
        func = option(func)
    return func



def warninglist_options(func: Any) -> Any:
    """``--warninglist/--no-warninglist/--no-warninglists``: which MISP warning lists tag indicators
    (socflow.warninglists; the defaults are top domains, public resolvers, cloud/CDN ranges and
    documentation/RFC ranges)."""
    for option in reversed((
        click.option("--warninglist", "warninglists_add", multiple=True, metavar="NAME",
                     help="Also check this MISP warning list, e.g. url-shortener (repeatable)."),
        click.option("--no-warninglist", "warninglists_disable", multiple=True, metavar="NAME",
                     help="Do not check this default warning list (repeatable)."),
        click.option("--no-warninglists", "warninglists_off", is_flag=True,
                     help="Check no MISP warning list."),
    )):
        func = option(func)
    return func


def warninglists_from(add: tuple[str, ...], disable: tuple[str, ...], off: bool) -> Any:
    """The lists the options ask for; an unknown name is a usage error (exit 2)."""
    from ...errors import ConfigError
    from ...warninglists import WarningLists, WarningListSettings

    settings = WarningListSettings(enabled=not off, add=add, disable=disable)
    try:
        return WarningLists.from_settings(settings)
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--warninglist / --no-warninglist") from None


# ---- services: JSON log lines on stderr, and a stop on SIGTERM/SIGINT ----------------------
class JsonLogFormatter(logging.Formatter):
    """One JSON object per log line: ts, level, event and the record's ``data``."""

    def format(self, record: logging.LogRecord) -> str:
        data = {"ts": round(record.created, 3), "level": record.levelname.lower(),
                "event": record.getMessage()}
        data.update(getattr(record, "data", {}))
        return json.dumps(data, ensure_ascii=False, default=str)


def json_logs(log: logging.Logger) -> None:
    """Make ``log`` write JSON lines to stderr, and only there (a service's event stream)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False


class ServiceStop:
    """Set on SIGTERM or SIGINT (the handlers are installed by the constructor).
    ``exit_code`` is 130 after Ctrl-C, else 0 (SIGTERM is a service stop)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signals: list[int] = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._stop)

    def _stop(self, signum: int, _frame: Any) -> None:
        self.signals.append(signum)
        self.event.set()

    @property
    def exit_code(self) -> int:
        return 130 if signal.SIGINT in self.signals else 0


def deliver_forever(config: Any, sender: Any, stop: threading.Event,
                    emit: Callable[..., None]) -> None:
    """A service's delivery thread: the outbox to TheHive until ``stop`` is set, through its own
    outbox connection (SQLite objects stay in their thread), waking when the next alert is due.
    A refused key or a wrong config is logged (``emit(event, level, **data)``) and retried in a
    minute: the service keeps taking input meanwhile."""
    from ...errors import AuthError
    from ..thehive import bridge

    with bridge.open_outbox(config) as outbox:
        deliverer = bridge.build_deliverer(
            outbox, sender, backoff_cap=60.0,
            on_event=lambda kind, data: emit(
                kind, logging.INFO if kind == "delivered" else logging.WARNING, **data))
        while not stop.is_set():
            try:
                deliverer.run_once()
            except (AuthError, ConfigError) as exc:
                emit("delivery-stopped", logging.ERROR, error=str(exc), retry_in=60)
                stop.wait(60)
                continue
            next_due = outbox.next_due_at()
            stop.wait(1.0 if next_due is None else min(max(next_due - time.time(), 0.2), 60.0))
