"""``socflow blocklist``: run the block-list service and manage its entries locally.

``serve`` is what firewalls poll and what the ``Socflow_Block`` responder calls; ``list``, ``add``,
``remove`` and ``audit`` work on the same SQLite file directly (same policy, same audit trail), for
an administrator on the host.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError
from .common import Console, secret_option
from rich.table import Table

from ...errors import ConfigError, validation_summary
from ...state import default_dir
from ..blocklist.settings import ServiceSettings, parse_duration, read_allowlist
from ..blocklist.store import BlockStore, Entry, iso

DB_NAME = "blocklist.sqlite3"


def _db_path(db: Path | None, state_dir: Path | None) -> Path:
    if db is not None:
        return db
    return (state_dir or default_dir()) / DB_NAME


def storage_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option(
        "--db",
        type=click.Path(dir_okay=False, path_type=Path),
        help=f"SQLite file (default: <state-dir>/{DB_NAME}).",
    )(fn)
    fn = click.option(
        "--state-dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="Folder for the database (default: $SOCFLOW_STATE_DIR, else "
        "$XDG_STATE_HOME/socflow or ~/.local/state/socflow).",
    )(fn)
    return fn


def policy_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option(
            "--allow",
            "allow",
            multiple=True,
            metavar="VALUE",
            help="Never block this IP, CIDR or domain (and its sub-domains). Repeatable.",
        ),
        click.option(
            "--allowlist",
            "allowlist_file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="File with one allowlisted IP, CIDR or domain per line (# comments).",
        ),
        click.option(
            "--widest-v4",
            type=click.IntRange(0, 32),
            default=24,
            show_default=True,
            help="Shortest IPv4 prefix accepted (/16 is refused when this is 24).",
        ),
        click.option(
            "--widest-v6",
            type=click.IntRange(0, 128),
            default=48,
            show_default=True,
            help="Shortest IPv6 prefix accepted.",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _allowlist(allow: tuple[str, ...], allowlist_file: Path | None) -> tuple[str, ...]:
    return tuple(allow) + tuple(read_allowlist(allowlist_file) if allowlist_file else ())


def _settings_error(exc: ValidationError) -> ConfigError:
    return ConfigError(validation_summary(exc))


@click.group()
def blocklist() -> None:
    """Block-list service for firewalls (Palo Alto EDL, FortiGate feeds, OPNsense/pfSense tables)."""


@blocklist.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="Port to listen on (0: any free port, printed at start-up).",
)
@storage_options
@secret_option(
    "--token", "SOCFLOW_BLOCKLIST_TOKEN", "bearer token the JSON API requires (16+ characters)"
)
@policy_options
@click.option(
    "--default-ttl",
    default="7d",
    show_default=True,
    help="Expiry when a request gives none: 3600, 90m, 12h, 7d or never.",
)
@click.option("--max-ttl", default="never", show_default=True, help="Cap on any requested expiry.")
@click.option(
    "--max-entries",
    type=click.IntRange(1, None),
    help="Refuse new values once a list holds this many (your firewall's EDL limit).",
)
@click.option("--edl-user", help="Require HTTP basic auth on /edl/* with this user name.")
@secret_option("--edl-password", "SOCFLOW_BLOCKLIST_EDL_PASSWORD", "password for --edl-user")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
)
def serve(
    host: str,
    port: int,
    db: Path | None,
    state_dir: Path | None,
    token: str | None,
    allow: tuple[str, ...],
    allowlist_file: Path | None,
    widest_v4: int,
    widest_v6: int,
    default_ttl: str,
    max_ttl: str,
    max_entries: int | None,
    edl_user: str | None,
    edl_password: str | None,
    log_level: str,
) -> None:
    """Serve /edl/{ip,domain,url} and the JSON API (OpenAPI at /docs and /openapi.json)."""
    import uvicorn

    from ..blocklist.app import create_app

    if not token:
        raise click.UsageError("a token is required: --token or SOCFLOW_BLOCKLIST_TOKEN")
    if edl_user and not edl_password:
        raise click.UsageError(
            "--edl-user needs --edl-password (or SOCFLOW_BLOCKLIST_EDL_PASSWORD)"
        )
    try:
        settings = ServiceSettings(
            db_path=_db_path(db, state_dir),
            token=token,
            allowlist=_allowlist(allow, allowlist_file),
            widest_v4=widest_v4,
            widest_v6=widest_v6,
            default_ttl_seconds=parse_duration(default_ttl),
            max_ttl_seconds=parse_duration(max_ttl),
            max_entries=max_entries,
            edl_user=edl_user,
            edl_password=edl_password,
        )
    except ValidationError as exc:
        raise _settings_error(exc) from None
    settings.policy()  # a bad allowlist entry fails here, before the port is opened
    app = create_app(settings)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=log_level,
        server_header=False,
        timeout_graceful_shutdown=5,
    )


def _entry_row(entry: Entry) -> list[str]:
    return [
        entry.type,
        entry.value,
        iso(entry.expires_at) or "never",
        entry.requested_by,
        entry.case_ref or entry.alert_ref or "",
        entry.reason,
    ]


@blocklist.command(name="list")
@storage_options
@click.option(
    "--type", "list_type", type=click.Choice(["ip", "domain", "url"]), help="Only this list."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_entries(
    db: Path | None, state_dir: Path | None, list_type: str | None, as_json: bool
) -> None:
    """Show active (unexpired) entries."""
    entries = _store(db, state_dir, must_exist=True).active(list_type)
    if as_json:
        click.echo(json.dumps([e.to_dict() for e in entries], indent=2))
        return
    table = Table("type", "value", "expires", "requested by", "case/alert", "reason")
    for entry in entries:
        table.add_row(*_entry_row(entry))
    Console().print(table)


def _store(db: Path | None, state_dir: Path | None, *, must_exist: bool = False) -> BlockStore:
    path = _db_path(db, state_dir)
    if must_exist and not path.exists():
        raise ConfigError(f"no block-list database at {path}; pass --db or --state-dir")
    return BlockStore(path)


@blocklist.command()
@click.argument("value")
@storage_options
@click.option(
    "--type",
    "type_hint",
    type=click.Choice(["ip", "domain", "fqdn", "url"]),
    help="List type (guessed when absent).",
)
@click.option(
    "--ttl",
    default=None,
    help="Expiry: 3600, 90m, 12h, 7d or never (default: the service's --default-ttl).",
)
@click.option("--reason", default="", help="Why (stored and audited).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def add(
    value: str,
    db: Path | None,
    state_dir: Path | None,
    type_hint: str | None,
    ttl: str | None,
    reason: str,
    as_json: bool,
) -> None:
    """Block VALUE with the service's own rules.

    The allowlist, widest prefixes, --max-entries and TTL limits are the ones `blocklist serve`
    stored in the database when it last started; refusals are audited like additions.
    """
    from ..blocklist.settings import StoredPolicy
    from ..blocklist.store import ListFull

    store = _store(db, state_dir)
    stored = store.load_policy()  # None before the service's first start: its defaults
    try:
        rules = StoredPolicy.model_validate(stored or {})
    except ValidationError as exc:
        raise ConfigError(f"the stored block policy is invalid: {validation_summary(exc)}") from None
    decision = rules.policy().check(value, type_hint)
    actor = f"cli:{os.environ.get('USER', '?')}"
    if not decision.allowed:
        store.refuse(
            decision.type.value if decision.type else "",
            decision.value,
            actor=actor,
            refusal=decision.refusal.value,  # type: ignore[union-attr]
            reason=decision.reason,
        )
        raise ConfigError(f"refused ({decision.refusal.value}): {decision.reason}")  # type: ignore[union-attr]
    assert decision.type is not None
    expiry = rules.ttl(parse_duration(ttl), use_default=ttl is None)
    try:
        status, entry = store.add(
            Entry(decision.type.value, decision.value, reason, actor),
            expiry,
            max_entries=rules.max_entries,
        )
    except ListFull as exc:
        store.refuse(
            decision.type.value, decision.value, actor=actor, refusal="list-full", reason=str(exc)
        )
        raise ConfigError(f"refused (list-full): {exc}") from None
    click.echo(
        json.dumps({"status": status, "entry": entry.to_dict()})
        if as_json
        else f"{status}: {entry.type} {entry.value} (expires {iso(entry.expires_at) or 'never'})"
    )


@blocklist.command()
@click.argument("value")
@storage_options
@click.option(
    "--type",
    "type_hint",
    type=click.Choice(["ip", "domain", "fqdn", "url"]),
    help="List type (guessed when absent).",
)
@click.option("--reason", default="", help="Why (audited).")
def remove(
    value: str, db: Path | None, state_dir: Path | None, type_hint: str | None, reason: str
) -> None:
    """Unblock VALUE."""
    from ...policy.block import MalformedValue, normalise

    try:
        kind, norm = normalise(value, type_hint)
    except MalformedValue as exc:
        raise ConfigError(str(exc)) from None
    actor = f"cli:{os.environ.get('USER', '?')}"
    from ..blocklist.formats import same_line

    store = _store(db, state_dir, must_exist=True)
    gone = store.remove(kind.value, norm, actor=actor, reason=reason)
    click.echo(f"{'removed' if gone else 'absent'}: {kind.value} {norm}")
    others = same_line(norm, store.values(kind.value)) if kind.value == "url" else []
    if others:
        click.echo(
            f"note: the /edl/url line stays: {', '.join(others)} is still blocked "
            "(firewall URL lists match host and path, not the scheme)",
            err=True,
        )


@blocklist.command()
@storage_options
@click.option("--limit", type=click.IntRange(1, 100000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def audit(db: Path | None, state_dir: Path | None, limit: int, as_json: bool) -> None:
    """Show the audit trail (add, extend, remove, expire, refuse, policy)."""
    events = _store(db, state_dir, must_exist=True).audit(limit=limit)
    if as_json:
        click.echo(json.dumps([e.to_dict() for e in events], indent=2))
        return
    table = Table("id", "at", "action", "type", "value", "actor")
    for event in events:
        table.add_row(
            str(event.id), iso(event.at) or "", event.action, event.type, event.value, event.actor
        )
    Console().print(table)


__all__ = ["blocklist"]
