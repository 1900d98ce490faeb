"""``socflow alerts``: what the bridge's outbox holds — list, show, export as TheHive JSON, push."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import click
from rich.markdown import Markdown
from rich.table import Table

from ...emit.outbox import STATES, Outbox
from ...errors import ConfigError, UnavailableError
from ..thehive import bridge
from ..thehive.config import BridgeConfig, apply_overrides, load_config
from .common import console, delivery_notices, err_console, thehive_options, write_json

SEVERITY = {1: "LOW", 2: "MEDIUM", 3: "HIGH", 4: "CRITICAL"}


def _config(config_path: str | None, state_dir: str | None, **flags: Any) -> BridgeConfig:
    return apply_overrides(load_config(config_path), state_dir=state_dir, **flags)


def _open(config: BridgeConfig) -> Outbox:
    path = bridge.state_dir(config) / bridge.OUTBOX_FILE
    if not path.exists():
        raise ConfigError(f"no outbox at {path} (run `socflow ingest` first, or pass --state-dir)")
    return Outbox(path)


def _state_options(f: Any) -> Any:
    f = click.option(
        "--state-dir",
        envvar="SOCFLOW_STATE_DIR",
        type=click.Path(file_okay=False),
        help="Where the outbox lives [env SOCFLOW_STATE_DIR].",
    )(f)
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        help="Bridge config file (YAML).",
    )(f)


@click.group("alerts")
def alerts() -> None:
    """Alerts in the bridge's outbox: pending, delivered, dead-lettered."""


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S") if ts else ""


@alerts.command("list")
@_state_options
@click.option("--state", type=click.Choice(STATES), help="Only alerts in this state.")
@click.option("--rule", help="Only alerts of this rule id.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many.")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
def list_alerts(
    config_path: str | None,
    state_dir: str | None,
    state: str | None,
    rule: str | None,
    limit: int | None,
    as_json: bool,
) -> int:
    """List the alerts in the outbox (oldest first)."""
    with _open(_config(config_path, state_dir)) as outbox:
        rows = outbox.list(state, rule, limit)
        counts = outbox.counts()
    if as_json:
        write_json([r.summary() for r in rows], None)
        return 0
    table = Table(
        title=f"Outbox: {counts['pending']} pending, {counts['delivered']} delivered, "
        f"{counts['dead']} dead",
        title_justify="left",
    )
    for col in ("id", "state", "severity", "rule", "title", "observables", "created (UTC)", "note"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(
            str(r.id),
            r.state,
            SEVERITY.get(r.severity, str(r.severity)),
            r.rule,
            r.title,
            str(len(r.payload.get("observables", []))),
            _when(r.created_at),
            r.last_error or (r.thehive_id or ""),
        )
    console.print(table)
    return 0


@alerts.command("show")
@_state_options
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True, help="The stored TheHive alert JSON.")
def show(config_path: str | None, state_dir: str | None, ref: str, as_json: bool) -> int:
    """Show one alert (REF: outbox id or sourceRef)."""
    with _open(_config(config_path, state_dir)) as outbox:
        alert = outbox.get(ref)
    if as_json:
        write_json({**alert.summary(), "alert": alert.payload}, None)
        return 0
    p = alert.payload
    console.print(f"[bold]{p['title']}[/bold]", highlight=False)
    console.print(
        f"state {alert.state} · severity {SEVERITY.get(p['severity'])} · TLP {p.get('tlp')} · "
        f"PAP {p.get('pap')} · sourceRef {p['sourceRef']}",
        highlight=False,
    )
    if alert.last_error:
        console.print(f"last error: {alert.last_error}", highlight=False)
    console.print("tags: " + ", ".join(p.get("tags", [])), highlight=False)
    console.print(Markdown(p["description"]))
    table = Table(title="Observables", title_justify="left")
    for col in ("dataType", "data", "ioc", "ignoreSimilarity", "tags"):
        table.add_column(col, overflow="fold")
    for o in p.get("observables", []):
        table.add_row(
            o["dataType"],
            o["data"],
            str(o.get("ioc", False)),
            str(o.get("ignoreSimilarity", False)),
            ", ".join(o.get("tags", [])),
        )
    console.print(table)
    return 0


@alerts.command("export")
@_state_options
@click.option(
    "--state", type=click.Choice(STATES), help="Only alerts in this state (default: all)."
)
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False), help="File to write (default: stdout)."
)
def export(
    config_path: str | None, state_dir: str | None, state: str | None, output: str | None
) -> int:
    """Export alerts as TheHive 5 alert JSON (a list of POST /api/v1/alert bodies)."""
    with _open(_config(config_path, state_dir)) as outbox:
        payloads = list(outbox.iter_payloads(state))
    write_json(payloads, output)
    if output and output != "-":
        err_console.print(f"{len(payloads)} alert(s) written to {output}", highlight=False)
    return 0


@alerts.command("push")
@_state_options
@thehive_options
@click.option("--retry-dead", is_flag=True, help="Also re-send dead-lettered alerts.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="Seconds to keep retrying while TheHive is unavailable.",
)
@click.option("--json", "as_json", is_flag=True, help="Result as JSON.")
def push(
    config_path: str | None,
    state_dir: str | None,
    thehive_url: str | None,
    thehive_key: str | None,
    organisation: str | None,
    ca_bundle: str | None,
    retry_dead: bool,
    timeout: float,
    as_json: bool,
) -> int:
    """Deliver pending alerts to TheHive now."""
    config = _config(
        config_path,
        state_dir,
        thehive_url=thehive_url,
        thehive_key=thehive_key,
        organisation=organisation,
        ca_bundle=ca_bundle,
    )
    sender = bridge.build_sender(config)
    if sender is None:
        raise ConfigError(
            "no TheHive URL (use --thehive-url, SOCFLOW_THEHIVE_URL or thehive.url in the config)"
        )
    with _open(config) as outbox:
        requeued = outbox.requeue() if retry_dead else 0
        outbox.make_due()  # the back-off is for unattended runs; a person asked for now
        deadline = time.time() + timeout
        deliverer = bridge.build_deliverer(
            outbox, sender, backoff_cap=10.0, on_event=delivery_notices(deadline)
        )
        report = deliverer.run_until(deadline)
        counts = outbox.counts()
    result = {
        "delivered": report.delivered,
        "duplicates": report.duplicates,
        "dead_lettered": report.dead,
        "requeued": requeued,
        "outbox": counts,
        "unavailable": report.unavailable or None,
    }
    if as_json:
        write_json(result, None)
    else:
        console.print(
            f"delivered {report.delivered} ({report.duplicates} already in TheHive), "
            f"dead-lettered {report.dead}; outbox: {counts['pending']} pending, "
            f"{counts['delivered']} delivered, {counts['dead']} dead",
            highlight=False,
        )
    if report.unavailable and counts["pending"]:
        raise UnavailableError(f"{report.unavailable}; {counts['pending']} alert(s) still pending")
    return 0
