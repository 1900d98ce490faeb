"""Entry point of the ``socflow`` command.

Each sub-command lives in its own module and is listed in ``COMMANDS`` as
``(module, attribute)``; modules are imported only when the command line needs them, so
``socflow --help`` and small commands start fast. Errors: a :class:`SocflowError` prints one line
``socflow: error: …`` and exits 1; usage errors exit 2 (click's convention); no tracebacks unless
``SOCFLOW_DEBUG=1``. Ctrl-C prints what the command gathered so far (``common.on_interrupt``) and
exits 130; a reader that closed our stdout (``socflow … | head``) ends the command quietly with 0.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
from typing import Any

import click

from ... import __version__
from ...errors import SocflowError

# name -> (module under socflow.adapters.cli, attribute, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "extract": ("extract", "extract", "Extract indicators (IPs, domains, URLs, …) from logs or text."),
    "enrich": ("enrich", "enrich", "Verdicts from VirusTotal, AbuseIPDB and OTX for values or logs (cached, quota-safe)."),
    "catalog": ("catalog", "catalog", "Write Cortex catalogs (analyzers/responders.json) for the image."),
    "doctor": ("doctor", "doctor", "Preflight checks for a Cortex/TheHive deployment of socflow."),
    "blocklist": ("blocklist", "blocklist", "Block-list service firewalls poll, fed by the Block responder."),
    "ingest": ("ingest", "ingest", "Logs → detections → TheHive alerts, exactly once (outbox, follow)."),
    "alerts": ("alerts", "alerts", "Alerts in the bridge's outbox: list, show, export, push."),
    "mail": ("mail", "mail", "Analyse e-mail messages for phishing: verdicts with their reasons."),
    "export": ("export", "export", "A TheHive case's indicators as a MISP event or a STIX 2.1 bundle (file or MISP)."),
    "playbook": ("playbook", "playbook", "YAML playbooks: check, run, watch, history, case templates."),
}


class _Interrupted(Exception):
    """Ctrl-C, carried past click (which turns KeyboardInterrupt into Abort and exit code 1)."""


class _ReaderGone(Exception):
    """stdout's reader went away, carried past click (which exits 1 on EPIPE)."""


class LazyGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise _Interrupted from None
        except BrokenPipeError:
            raise _ReaderGone from None

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[cmd_name]
        mod = importlib.import_module(f"{__package__}.{module}")
        return getattr(mod, attr)  # type: ignore[no-any-return]

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="socflow")
def cli() -> None:
    """socflow: logs to enriched TheHive alerts, plus Cortex analyzers and responders."""


def main(argv: list[str] | None = None) -> None:
    try:
        rv = cli.main(args=argv, prog_name="socflow", standalone_mode=False)
    except (_Interrupted, KeyboardInterrupt, click.exceptions.Abort):  # Abort: Ctrl-C at a prompt
        _interrupted()
    except (_ReaderGone, BrokenPipeError):
        _reader_gone()
    except click.exceptions.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except SocflowError as exc:
        click.echo(f"socflow: error: {exc}", err=True)
        sys.exit(1)
    except Exception as exc:  # noqa: BLE001 - one line for users, the trace on request
        if os.environ.get("SOCFLOW_DEBUG"):
            raise
        click.echo(f"socflow: unexpected error: {type(exc).__name__}: {exc}", err=True)
        sys.exit(1)
    sys.exit(rv if isinstance(rv, int) else 0)


def _interrupted() -> None:
    """Ctrl-C: the results gathered so far where a command has any, then exit 130 at once."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the report short
    try:
        common = sys.modules.get(f"{__package__}.common")  # not imported: nothing registered
        for show in common.interrupt_handlers() if common else ():
            show()
        click.echo("socflow: interrupted", err=True)
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        _reader_gone()
    except Exception as exc:  # noqa: BLE001 - the report is best effort; the exit code is not
        click.echo(f"socflow: interrupted (partial results unavailable: {exc})", err=True)
    # os._exit: worker threads still waiting on the network (delivery, lookups) must not delay
    # the exit; everything socflow keeps is committed to SQLite transaction by transaction.
    os._exit(130)


def _reader_gone() -> None:
    """stdout's reader closed the pipe: nothing more to say. fd 1 goes to /dev/null so the
    interpreter's last flush cannot raise again (Python's own advice for SIGPIPE)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
