"""``socflow ingest``: logs → detections → (enriched) TheHive alerts, exactly once.

Alerts always land in the durable outbox first (``<state dir>/outbox.sqlite``); with a TheHive URL
and key they are then delivered. Without them they wait there for ``socflow alerts push``.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from typing import Any

import click
from rich.table import Table

from ...emit.delivery import DeliveryReport
from ...emit.ingest import IngestReport
from ...errors import AuthError, ConfigError, SocflowError, UnavailableError
from ...read import expand_paths, skipped_note
from ...read.follow import Follower, source_key
from ...read.listen import (
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_MESSAGE_BYTES,
    Listener,
    TlsSettings,
    parse_listen,
)
from ..thehive import bridge
from ..thehive.config import BridgeConfig, apply_overrides, load_config
from .common import (
    byte_progress,
    console,
    delivery_notices,
    deliver_forever,
    ServiceStop,
    err_console,
    json_logs,
    on_interrupt,
    thehive_options,
    write_json,
)

log = logging.getLogger("socflow.ingest")


@click.command("ingest")
@click.argument("paths", nargs=-1)
@click.option(
    "--config", "config_path", type=click.Path(dir_okay=False), help="Bridge config file (YAML)."
)
@thehive_options
@click.option(
    "--state-dir",
    envvar="SOCFLOW_STATE_DIR",
    type=click.Path(file_okay=False),
    help="Outbox and checkpoints [env SOCFLOW_STATE_DIR; default ~/.local/state/socflow].",
)
@click.option(
    "--state-url",
    envvar="SOCFLOW_STATE_URL",
    help="Share rule windows and alert claims with other workers: redis://[user@]host:port/db, "
    "rediss:// for TLS, or sqlite:///path for workers of one host; the password only in "
    "SOCFLOW_STATE_PASSWORD [env SOCFLOW_STATE_URL; default: windows in this state dir only].",
)
@click.option(
    "--rules",
    "rule_files",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Extra rule file (repeatable), after the default rules.",
)
@click.option(
    "--follow",
    "-f",
    is_flag=True,
    help="Keep reading appended lines (rotation and truncation aware).",
)
@click.option(
    "--listen",
    "listen_urls",
    multiple=True,
    metavar="URL",
    help="Receive syslog on udp://, tcp://, tls:// or relp://HOST:PORT (repeatable; port 0 picks "
    "a free one); files given too are followed.",
)
@click.option("--tls-cert", type=click.Path(dir_okay=False), help="PEM certificate (chain) of a tls:// listener.")
@click.option("--tls-key", type=click.Path(dir_okay=False), help="PEM private key of a tls:// listener.")
@click.option(
    "--tls-client-ca",
    type=click.Path(dir_okay=False),
    help="PEM CA bundle: tls:// clients must present a certificate it signed.",
)
@click.option(
    "--max-connections",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_CONNECTIONS,
    show_default=True,
    help="Open TCP/TLS/RELP connections at most; more are closed and counted.",
)
@click.option(
    "--max-message-bytes",
    type=click.IntRange(min=480),
    default=DEFAULT_MAX_MESSAGE_BYTES,
    show_default=True,
    help="Longer syslog messages are cut (and counted).",
)
@click.option(
    "--stats-every",
    type=click.FloatRange(min=0.1),
    default=60.0,
    show_default=True,
    help="Seconds between per-peer statistics lines of the listeners.",
)
@click.option(
    "--dry-run", is_flag=True, help="Print the alerts that would be sent; store and send nothing."
)
@click.option(
    "--deliver-timeout",
    type=click.FloatRange(min=0),
    default=None,
    help="Seconds a file run keeps retrying delivery at its end [default 60].",
)
@click.option("--json", "as_json", is_flag=True, help="Summary as JSON on stdout.")
@click.option("--progress/--no-progress", default=True, help="Progress bar on a terminal.")
def ingest(
    paths: tuple[str, ...],
    config_path: str | None,
    thehive_url: str | None,
    thehive_key: str | None,
    organisation: str | None,
    ca_bundle: str | None,
    state_dir: str | None,
    state_url: str | None,
    rule_files: tuple[str, ...],
    follow: bool,
    dry_run: bool,
    deliver_timeout: float | None,
    as_json: bool,
    progress: bool,
    listen_urls: tuple[str, ...] = (),
    tls_cert: str | None = None,
    tls_key: str | None = None,
    tls_client_ca: str | None = None,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    stats_every: float = 60.0,
) -> int:
    """Detect attacks in PATHS (files, globs, directories, .gz/.bz2, - for stdin) and turn them into
    TheHive alerts: brute force, web attacks, scanners, suspicious domains, intel hits, error bursts.
    With --listen, syslog received over the network too (and PATHS are followed)."""
    config = apply_overrides(
        load_config(config_path),
        thehive_url=thehive_url,
        thehive_key=thehive_key,
        organisation=organisation,
        ca_bundle=ca_bundle,
        state_dir=state_dir,
        state_url=state_url,
    )
    config.rules += list(rule_files)
    if deliver_timeout is not None:
        config.deliver_timeout = deliver_timeout
    if not paths and not listen_urls:
        raise click.UsageError("Missing argument 'PATHS...' (files to read), or --listen URL")
    specs = [parse_listen(u) for u in listen_urls]
    tls = None
    if tls_cert or tls_key or tls_client_ca:
        if not (tls_cert and tls_key):
            raise click.UsageError("--tls-cert and --tls-key go together")
        if not any(s.scheme == "tls" for s in specs):
            raise click.UsageError("--tls-cert/--tls-key/--tls-client-ca need a --listen tls://HOST:PORT")
        tls = TlsSettings(tls_cert, tls_key, tls_client_ca)
    if specs and dry_run:
        raise click.UsageError("--dry-run reads files once; it cannot be combined with --listen")
    skipped: list[str] = []
    files = expand_paths(paths, skipped) if paths else []
    if skipped:
        _note(skipped_note(skipped))
    if not files and not specs:
        raise ConfigError("no file to read in " + " ".join(paths))
    if specs:
        listener = Listener(
            specs,
            tls=tls,
            max_message_bytes=max_message_bytes,
            max_connections=max_connections,
            on_error=lambda peer, message: _emit(
                "peer-error", logging.WARNING, listener=peer.listener, peer=peer.peer, error=message
            ),
        )
    if dry_run:
        return _dry_run(config, files, as_json)
    lock = bridge.lock_state(config)
    try:
        sender = bridge.build_sender(config)
        if sender is not None and not config.thehive.verify and not config.thehive.ca_bundle:
            _note(f"TLS verification of {config.thehive.url} is off (thehive.verify: false)")
        enricher = bridge.build_enricher(config)
        if specs:
            return _listen(config, files, listener, sender, enricher, as_json, stats_every)
        if follow:
            return _follow(config, files, sender, enricher)
        return _once(config, files, sender, enricher, as_json, progress)
    finally:
        lock.close()


def _dry_run(config: BridgeConfig, files: list[str], as_json: bool) -> int:
    config.state_url = None  # a dry run claims nothing and counts nothing in shared windows
    alerts: list[dict[str, Any]] = []
    with bridge.open_outbox(config, memory=True) as outbox:
        ingestor = bridge.build_ingestor(
            config,
            outbox,
            enricher=bridge.build_enricher(config),
            on_alert=lambda alert, new: alerts.append(alert) if new else None,
        )
        # Ctrl-C: the alerts found so far, as the finished run would print them
        with on_interrupt(lambda: click.echo(json.dumps(alerts, indent=2, ensure_ascii=False))):
            report = ingestor.run_files(files)
    if as_json:
        write_json({"alerts": alerts, "summary": _summary_dict(report, None, None)}, None)
        return 0
    click.echo(json.dumps(alerts, indent=2, ensure_ascii=False))
    _print_summary(report, None, None, to_stderr=True)
    return 0


def _once(
    config: BridgeConfig,
    files: list[str],
    sender: Any,
    enricher: Any,
    as_json: bool,
    progress: bool,
) -> int:
    with on_interrupt(lambda: _outbox_so_far(config)):
        return _once_run(config, files, sender, enricher, as_json, progress)


def _outbox_so_far(config: BridgeConfig) -> None:
    """Ctrl-C: every committed alert is in the outbox, and the checkpoints with them."""
    with bridge.open_outbox(config) as outbox:
        counts = outbox.counts()
    _note(
        f"interrupted: the outbox {outbox.path} holds {counts['pending']} pending, "
        f"{counts['delivered']} delivered and {counts['dead']} dead alert(s); the next "
        "`socflow ingest` of the same files goes on where this one stopped"
    )


def _once_run(
    config: BridgeConfig,
    files: list[str],
    sender: Any,
    enricher: Any,
    as_json: bool,
    progress: bool,
) -> int:
    total = sum(os.path.getsize(p) for p in files if p != "-")
    with bridge.open_outbox(config) as outbox:
        # delivery starts while reading goes on: network waits overlap with parsing
        background = (
            _BackgroundDelivery(config, sender, delivery_notices(None))
            if sender is not None
            else None
        )
        try:
            with byte_progress(total or None, progress and not as_json) as advance:
                ingestor = bridge.build_ingestor(
                    config, outbox, enricher=enricher, on_progress=advance
                )
                report = ingestor.run_files(files)
        finally:
            delivery = background.stop() if background else None
        problem: SocflowError | None = None
        if sender is not None:
            deadline = time.time() + config.deliver_timeout
            deliverer = bridge.build_deliverer(
                outbox, sender, backoff_cap=10.0, on_event=delivery_notices(deadline)
            )
            deliverer.down_streak = background.down_streak if background else 0
            try:
                rest = deliverer.run_until(deadline)
                delivery = delivery or DeliveryReport()
                delivery.add(rest)
            except (AuthError, ConfigError) as exc:
                problem = exc
        counts = outbox.counts()
        if as_json:
            write_json(_summary_dict(report, delivery, counts), None)
        else:
            _print_summary(report, delivery, counts)
        _warn_read_errors(report)
        if problem is not None:
            raise problem
        if sender is None and counts["pending"]:
            _note(
                f"{counts['pending']} alert(s) wait in {outbox.path} (no TheHive configured; "
                "`socflow alerts list` shows them, `socflow alerts push` delivers them)"
            )
        elif delivery and delivery.unavailable and counts["pending"]:
            raise UnavailableError(
                f"{delivery.unavailable}; {counts['pending']} alert(s) kept in the outbox "
                "(the next `socflow ingest` or `socflow alerts push` delivers them)"
            )
        if delivery and delivery.dead:
            _note(
                f"{delivery.dead} alert(s) refused by TheHive: `socflow alerts list --state dead` shows why"
            )
    return 0


def _note(message: str) -> None:
    """One unwrapped warning line on stderr (scripts grep for them)."""
    click.echo(f"socflow: warning: {message}", err=True)


class _BackgroundDelivery:
    """Sends what the ingestion commits while it reads; stops at the first setup error."""

    def __init__(self, config: BridgeConfig, sender: Any, on_event: Any = None) -> None:
        self.report = DeliveryReport()
        self.on_event = on_event
        self.down_streak = 0  # failed attempts in a row, for the final delivery to go on from
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(config, sender), daemon=True)
        self._thread.start()

    def _run(self, config: BridgeConfig, sender: Any) -> None:
        with bridge.open_outbox(config) as outbox:  # a connection of its own, in its thread
            deliverer = bridge.build_deliverer(
                outbox, sender, backoff_cap=10.0, on_event=self.on_event
            )
            while not self._stop.is_set():
                try:
                    self.report.add(deliverer.run_once())
                except (AuthError, ConfigError):
                    return  # the final delivery in the main thread raises it for the user
                self.down_streak = deliverer.down_streak
                next_due = outbox.next_due_at()
                wait = 0.5 if next_due is None else min(max(next_due - time.time(), 0.05), 0.5)
                self._stop.wait(wait)

    def stop(self) -> DeliveryReport:
        self._stop.set()
        self._thread.join()
        return self.report


def _warn_read_errors(report: IngestReport) -> None:
    for src in report.sources:
        for error in src.errors:
            _note(error)
        if src.truncated:
            _note(f"{src.source}: {src.truncated} over-long line(s) were cut")


# ---- follow mode: structured logs, a sender thread, clean stop on SIGTERM/SIGINT
def _emit(event: str, level: int = logging.INFO, **data: Any) -> None:
    log.log(level, event, extra={"data": data})


def _follow(config: BridgeConfig, files: list[str], sender: Any, enricher: Any) -> int:
    json_logs(log)
    service = ServiceStop()
    stop = service.event
    with bridge.open_outbox(config) as outbox:
        follower = Follower(
            files,
            {source_key(f): outbox.checkpoint(source_key(f)) for f in files},
            max_line_bytes=config.max_line_bytes,
        )
        ingestor = bridge.build_ingestor(
            config,
            outbox,
            enricher=enricher,
            on_alert=lambda a, new: _emit(
                "alert", sourceRef=a["sourceRef"], title=a["title"], new=new
            ),
            on_state_down=lambda error, retry_in: _emit(
                "state-unavailable", logging.WARNING, error=error, retry_in=retry_in
            ),
        )
        thread = None
        if sender is not None:
            thread = threading.Thread(
                target=deliver_forever, args=(config, sender, stop, _emit), daemon=True
            )
            thread.start()
        _emit(
            "following",
            files=files,
            state_dir=str(bridge.state_dir(config)),
            thehive=config.thehive.url,
        )
        try:
            ingestor.follow(follower, stop=stop.is_set)
        finally:
            follower.close()
            stop.set()
            if thread:
                thread.join(timeout=config.thehive.timeout + 5)
        _emit(
            "stopped",
            counts=outbox.counts(),
            rotations=follower.rotations,
            truncations=follower.truncations,
        )
    return service.exit_code  # 130 after Ctrl-C; SIGTERM is a service stop


def _listen(
    config: BridgeConfig,
    files: list[str],
    listener: Listener,
    sender: Any,
    enricher: Any,
    as_json: bool,
    stats_every: float,
) -> int:
    """Syslog listeners (and followed files) until SIGTERM/SIGINT; JSON log lines on stderr."""
    json_logs(log)
    service = ServiceStop()
    stop = service.event
    with bridge.open_outbox(config) as outbox:
        follower = (
            Follower(
                files,
                {source_key(f): outbox.checkpoint(source_key(f)) for f in files},
                max_line_bytes=config.max_line_bytes,
            )
            if files
            else None
        )
        ingestor = bridge.build_ingestor(
            config,
            outbox,
            enricher=enricher,
            on_alert=lambda a, new: _emit(
                "alert", sourceRef=a["sourceRef"], title=a["title"], new=new
            ),
            on_state_down=lambda error, retry_in: _emit(
                "state-unavailable", logging.WARNING, error=error, retry_in=retry_in
            ),
        )
        urls = listener.start()
        thread = None
        if sender is not None:
            thread = threading.Thread(
                target=deliver_forever, args=(config, sender, stop, _emit), daemon=True
            )
            thread.start()
        _emit(
            "listening",
            listeners=urls,
            files=files,
            state_dir=str(bridge.state_dir(config)),
            thehive=config.thehive.url,
        )
        try:
            ingestor.listen(
                listener,
                follower,
                stop=stop.is_set,
                on_tick=lambda: _emit("listener-stats", peers=listener.stats()),
                tick_seconds=stats_every,
            )
        finally:
            listener.close()
            if follower is not None:
                follower.close()
            stop.set()
            if thread:
                thread.join(timeout=config.thehive.timeout + 5)
        counts = outbox.counts()
        _emit("stopped", counts=counts, peers=listener.stats())
        if as_json:
            summary = _summary_dict(ingestor.report, None, counts)
            summary["peers"] = listener.stats()
            write_json(summary, None)
    return service.exit_code


# ---- summary
def _summary_dict(
    report: IngestReport, delivery: DeliveryReport | None, counts: dict[str, int] | None
) -> dict[str, Any]:
    return {
        "sources": [
            {
                "source": s.source,
                "format": s.format,
                "bytes": s.bytes,
                "lines": s.lines,
                "events_parsed": s.parsed,
                "resumed_at": s.resumed_at,
                "truncated": s.truncated,
                "errors": s.errors,
            }
            for s in report.sources
        ],
        "events_by_format": dict(report.events_by_format()),
        "alerts_by_rule": dict(report.alerts_by_rule),
        "folded_by_rule": dict(report.folded_by_rule),
        "observables_by_type": dict(report.observables_by_type),
        "new_alerts": report.new_alerts,
        "already_in_outbox": report.already_known,
        "delivery": None
        if delivery is None
        else {
            "delivered": delivery.delivered,
            "duplicates": delivery.duplicates,
            "dead_lettered": delivery.dead,
            "retried": delivery.retried,
            "unavailable": delivery.unavailable or None,
        },
        "outbox": counts,
    }


def _print_summary(
    report: IngestReport,
    delivery: DeliveryReport | None,
    counts: dict[str, int] | None,
    *,
    to_stderr: bool = False,
) -> None:
    out = err_console if to_stderr else console
    sources = Table(title="Sources", title_justify="left")
    for col in ("source", "format", "lines", "events parsed", "bytes", "resumed at"):
        sources.add_column(
            col, justify="left" if col in ("source", "format") else "right", overflow="fold"
        )
    for s in report.sources:
        sources.add_row(
            s.source,
            s.format or "-",
            f"{s.lines:,}",
            f"{s.parsed:,}",
            f"{s.bytes:,}",
            f"{s.resumed_at:,}" if s.resumed_at else "",
        )
    out.print(sources)
    alerts = Table(
        title=f"New alerts ({report.new_alerts}; {report.already_known} already known)",
        title_justify="left",
    )
    alerts.add_column("rule")
    alerts.add_column("alerts", justify="right")
    if report.folded_by_rule:  # an alert storm: detections past the cap are in summary alerts
        alerts.add_column("detections folded into storm summaries", justify="right")
        for rule in sorted(set(report.alerts_by_rule) | set(report.folded_by_rule)):
            alerts.add_row(rule, str(report.alerts_by_rule[rule]), str(report.folded_by_rule[rule]))
    else:
        for rule, n in sorted(report.alerts_by_rule.items()):
            alerts.add_row(rule, str(n))
    out.print(alerts)
    if report.observables_by_type:
        obs = Table(title="Observables in new alerts", title_justify="left")
        obs.add_column("type")
        obs.add_column("count", justify="right")
        for kind, n in sorted(report.observables_by_type.items()):
            obs.add_row(kind, str(n))
        out.print(obs)
    if counts is not None:
        box = Table(title="Outbox", title_justify="left")
        for col in (
            "delivered now",
            "duplicates",
            "dead-lettered now",
            "pending",
            "delivered (all)",
            "dead (all)",
        ):
            box.add_column(col, justify="right")
        d = delivery or DeliveryReport()
        box.add_row(
            str(d.delivered),
            str(d.duplicates),
            str(d.dead),
            str(counts["pending"]),
            str(counts["delivered"]),
            str(counts["dead"]),
        )
        out.print(box)
