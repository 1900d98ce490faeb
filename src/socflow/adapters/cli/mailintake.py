"""``socflow mail intake``: reported mail (IMAP or a maildir/folder) → one TheHive alert each.

Alerts go to the bridge's outbox (``<state dir>/outbox.sqlite``, what ``socflow alerts`` shows)
together with the message's checkpoint, and from there to TheHive through the bridge's sender.
``--once`` takes in what is waiting, delivers and exits; without it the command is a service
(IDLE or polling, JSON log lines on stderr, SIGTERM/SIGINT stop it cleanly).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import IO, Any

import click
from click.core import ParameterSource

from ...errors import AuthError, ConfigError, UnavailableError
from .common import (ServiceStop, deliver_forever, json_logs, secret_option, thehive_options,
                     warn, write_json)

log = logging.getLogger("socflow.mail.intake")
SECURITY = ("tls", "starttls", "plain")
DEFAULT_FLAG = "$SocflowIntake"


@click.command("intake")
@click.option("--imap-host", envvar="SOCFLOW_IMAP_HOST",
              help="IMAP server of the reporting mailbox [env SOCFLOW_IMAP_HOST].")
@click.option("--imap-port", type=click.IntRange(1, 65535), envvar="SOCFLOW_IMAP_PORT",
              help="IMAP port [env SOCFLOW_IMAP_PORT; default 993 with tls, 143 otherwise].")
@click.option("--imap-user", envvar="SOCFLOW_IMAP_USER",
              help="IMAP login [env SOCFLOW_IMAP_USER].")
@secret_option("--imap-password", "SOCFLOW_IMAP_PASSWORD", "IMAP password")
@click.option("--imap-folder", default="INBOX", show_default=True,
              help="Folder the reports arrive in.")
@click.option("--imap-security", type=click.Choice(SECURITY), default="tls", show_default=True,
              help="tls (implicit, 993), starttls (required, never a plaintext fallback) or plain "
                   "(only with --allow-plaintext, only to a loopback server).")
@click.option("--imap-ca-file", type=click.Path(dir_okay=False), envvar="SOCFLOW_IMAP_CA_FILE",
              help="CA certificate(s) that signed the IMAP server's certificate "
                   "[env SOCFLOW_IMAP_CA_FILE; default the system's].")
@click.option("--allow-plaintext", is_flag=True,
              help="Accept --imap-security plain to a server on this host (tests, a local relay).")
@click.option("--maildir", type=click.Path(file_okay=False),
              help="Read a maildir (cur/, new/) or a folder of message files instead of IMAP.")
@click.option("--flag", default=DEFAULT_FLAG, show_default=True,
              help="IMAP flag set on a message once its alert is committed: a keyword, or "
                   "\\Flagged, \\Seen, \\Answered. Messages without it are taken in.")
@click.option("--move-to", help="Move each message there once its alert is committed (an IMAP "
                                "folder, or a directory with --maildir).")
@click.option("--no-idle", is_flag=True,
              help="Poll every --poll-interval even when the server offers IDLE.")
@click.option("--poll-interval", type=click.FloatRange(min=0.1), default=60.0, show_default=True,
              help="Seconds between checks when not using IDLE.")
@click.option("--once", is_flag=True,
              help="Take in what is waiting, deliver it, and exit (default: run as a service).")
@click.option("--state-dir", envvar="SOCFLOW_STATE_DIR", type=click.Path(file_okay=False),
              help="Outbox, checkpoints and the reported messages [env SOCFLOW_STATE_DIR].")
@click.option("--policy", "policy_path", type=click.Path(dir_okay=False),
              help="Mail policy YAML laid over the shipped defaults (docs/phishing.md).")
@thehive_options
@click.option("--ack-config", type=click.Path(dir_okay=False),
              help="Acknowledge each report to its sender: the Notify mail settings and "
                   "templates in YAML (docs/phishing.md); SMTP password from "
                   "SOCFLOW_SMTP_PASSWORD.")
@click.option("--deliver-timeout", type=click.FloatRange(min=0), default=60.0, show_default=True,
              help="Seconds --once keeps retrying delivery to TheHive at its end.")
@click.option("--json", "as_json", is_flag=True, help="--once: the summary as JSON on stdout.")
def intake(imap_host: str | None, imap_port: int | None, imap_user: str | None,
           imap_password: str | None, imap_folder: str, imap_security: str,
           imap_ca_file: str | None, allow_plaintext: bool, maildir: str | None, flag: str,
           move_to: str | None, no_idle: bool, poll_interval: float, once: bool,
           state_dir: str | None, policy_path: str | None, thehive_url: str | None,
           thehive_key: str | None, organisation: str | None, ca_bundle: str | None,
           ack_config: str | None, deliver_timeout: float, as_json: bool) -> int:
    """Turn reported phishing into TheHive alerts: each message of the mailbox becomes one
    alert (type phishing-report) with its verdict, the reported message as a file observable,
    the reporter and every indicator as observables — exactly once, across crashes."""
    from ...mail import load_policy
    from ...state import default_dir
    from ..mailbox.folder import FolderMailbox
    from ..mailbox.imap import ImapMailbox, ImapSettings
    from ..thehive import bridge
    from ..thehive.config import BridgeConfig, apply_overrides

    ctx = click.get_current_context()
    if maildir and imap_host and ctx.get_parameter_source("imap_host") is not ParameterSource.COMMANDLINE:
        imap_host = None  # SOCFLOW_IMAP_HOST is for IMAP runs; --maildir on the command line wins
    if bool(imap_host) == bool(maildir):
        raise click.UsageError("give either --imap-host (IMAP) or --maildir (a folder)")
    if maildir:
        given = [f"--{n.replace('_', '-')}" for n in (
            "imap_user", "imap_port", "imap_ca_file", "imap_password", "imap_folder",
            "imap_security", "allow_plaintext", "no_idle")
            if ctx.get_parameter_source(n) is ParameterSource.COMMANDLINE]
        if given:  # the environment may hold IMAP settings for other runs: only flags count
            raise click.UsageError(f"{given[0]} goes with --imap-host, not --maildir")
    policy = load_policy(policy_path)
    cap = policy.limits.max_message_bytes
    config = apply_overrides(BridgeConfig(), thehive_url=thehive_url, thehive_key=thehive_key,
                             organisation=organisation, ca_bundle=ca_bundle, state_dir=state_dir)
    state = Path(state_dir).expanduser() if state_dir else default_dir()
    config.state_dir = str(state)
    ack = None
    if ack_config:
        from ..mailbox.ack import Acknowledger

        ack = Acknowledger.from_file(ack_config, policy.organisation.own_domains)
    if maildir:
        source: Any = FolderMailbox(maildir, max_bytes=cap, move_to=move_to,
                                    poll_interval=poll_interval)
    else:
        source = ImapMailbox(ImapSettings(
            host=imap_host or "", user=imap_user or "", password=imap_password or "",
            port=imap_port, folder=imap_folder, security=imap_security,
            allow_plaintext=allow_plaintext, ca_file=imap_ca_file, flag=flag, move_to=move_to,
            idle=not no_idle, poll_interval=poll_interval), max_bytes=cap)
    sender = bridge.build_sender(config)
    lock = _lock(config, source.mailbox)
    try:
        source.connect()
        try:
            if once:
                return _once(config, state, source, policy, sender, ack, deliver_timeout,
                             as_json)
            return _serve(config, state, source, policy, sender, ack)
        finally:
            source.close()
    finally:
        lock.close()


def _lock(config: Any, mailbox: str) -> IO[Any]:
    """One intake per mailbox and state dir: two would take in the same message side by side."""
    import hashlib

    from ..thehive import bridge

    return bridge.lock_state(
        config, f"mail-intake-{hashlib.sha256(mailbox.encode()).hexdigest()[:16]}.lock",
        f"another socflow mail intake of {mailbox} runs")


def _intake(state: Path, source: Any, policy: Any, ack: Any, outbox: Any,
            on_event: Any = None) -> Any:
    from ..mailbox.intake import Intake

    return Intake(source, outbox, policy, state, ack=ack, on_event=on_event)


def _once(config: Any, state: Path, source: Any, policy: Any, sender: Any, ack: Any,
          deliver_timeout: float, as_json: bool) -> int:
    from ...emit.delivery import DeliveryReport
    from ..thehive import bridge
    from .common import delivery_notices

    def event(kind: str, data: dict[str, Any]) -> None:
        if kind in ("ack-failed", "uidvalidity-changed"):
            warn(_event_line(kind, data))

    with bridge.open_outbox(config) as outbox:
        work = _intake(state, source, policy, ack, outbox, event)
        work.run_once()
        delivery = DeliveryReport()
        problem = None
        if sender is not None:
            deadline = time.time() + deliver_timeout
            deliverer = bridge.build_deliverer(outbox, sender, backoff_cap=10.0,
                                               on_event=delivery_notices(deadline))
            try:
                delivery = deliverer.run_until(deadline)
            except (AuthError, ConfigError) as exc:
                problem = exc
        counts = outbox.counts()
        summary = {"mailbox": source.mailbox, **work.report.to_dict(),
                   "delivery": None if sender is None else {
                       "delivered": delivery.delivered, "duplicates": delivery.duplicates,
                       "dead_lettered": delivery.dead, "unavailable": delivery.unavailable or None},
                   "outbox": counts}
        if as_json:
            write_json(summary, None)
        else:
            _print_summary(summary)
        if problem is not None:
            raise problem
        if sender is None and counts["pending"]:
            warn(f"{counts['pending']} alert(s) wait in {outbox.path} (no TheHive configured; "
                 "`socflow alerts push` delivers them)")
        elif delivery.unavailable and counts["pending"]:
            raise UnavailableError(
                f"{delivery.unavailable}; {counts['pending']} alert(s) kept in the outbox "
                "(the next `socflow mail intake` or `socflow alerts push` delivers them)")
    return 0


def _print_summary(s: dict[str, Any]) -> None:
    verdicts = ", ".join(f"{k} {v}" for k, v in sorted(s["verdicts"].items())) or "none"
    click.echo(f"{s['mailbox']}: {s['messages']} message(s) taken in, {s['new_alerts']} new "
               f"alert(s), {s['already_in_outbox']} already in the outbox, {s['resumed']} "
               f"resumed; verdicts: {verdicts}")
    if s["acknowledged"] or s["ack_failures"] or s["ack_skipped"]:
        click.echo(f"acknowledged {s['acknowledged']} reporter(s), {s['ack_failures']} failed, "
                   f"{s['ack_skipped']} outside reporter_domains")
    d = s["delivery"]
    box = s["outbox"]
    if d is not None:
        click.echo(f"TheHive: {d['delivered']} delivered ({d['duplicates']} already there), "
                   f"{d['dead_lettered']} refused")
    click.echo(f"outbox: {box['pending']} pending, {box['delivered']} delivered, "
               f"{box['dead']} dead")


def _event_line(kind: str, data: dict[str, Any]) -> str:
    if kind == "uidvalidity-changed":
        return (f"{data['mailbox']}: UIDVALIDITY changed from {data['old']} to {data['new']}; "
                "the folder is read again (alerts already made are not repeated)")
    return f"{kind}: {data.get('item', '')}: {data.get('error', '')}"


# ---- service mode: JSON log lines, delivery in a thread, clean stop
def _emit(event: str, level: int = logging.INFO, **data: Any) -> None:
    log.log(level, event, extra={"data": data})


def _serve(config: Any, state: Path, source: Any, policy: Any, sender: Any, ack: Any) -> int:
    from ..thehive import bridge

    json_logs(log)
    service = ServiceStop()
    stop = service.event
    warnings = {"ack-failed", "mailbox-unavailable", "uidvalidity-changed"}
    with bridge.open_outbox(config) as outbox:
        work = _intake(state, source, policy, ack, outbox, lambda kind, data: _emit(
            kind, logging.WARNING if kind in warnings else logging.INFO, **data))
        thread = None
        if sender is not None:
            thread = threading.Thread(target=deliver_forever,
                                      args=(config, sender, stop, _emit),
                                      daemon=True)
            thread.start()
        _emit("intake", mailbox=source.mailbox, idle=source.uses_idle, state_dir=str(state),
              thehive=config.thehive.url)
        try:
            work.serve(stop)
        finally:
            stop.set()
            if thread:
                thread.join(timeout=config.thehive.timeout + 5)
        _emit("stopped", report=work.report.to_dict(), counts=outbox.counts())
    return service.exit_code

