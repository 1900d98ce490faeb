"""Entry point of the ``socflow`` command.

Each sub-command lives in its own module and is listed in ``COMMANDS`` as
``(module, attribute)``; modules are imported only when the command line needs them, so
``socflow --help`` and small commands start fast. Errors: a :class:`SocflowError` prints one line
``socflow: error: …`` and exits 1; usage errors exit 2 (click's convention); no tracebacks unless
``SOCFLOW_DEBUG=1``.
"""

from __future__ import annotations

import importlib
import os
import sys

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
}


class LazyGroup(click.Group):
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
    except click.exceptions.Abort:
        click.echo("socflow: aborted", err=True)
        sys.exit(1)
    except click.exceptions.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except SocflowError as exc:
        click.echo(f"socflow: error: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("socflow: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(0)
    except Exception as exc:  # noqa: BLE001 - one line for users, the trace on request
        if os.environ.get("SOCFLOW_DEBUG"):
            raise
        click.echo(f"socflow: unexpected error: {type(exc).__name__}: {exc}", err=True)
        sys.exit(1)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()
