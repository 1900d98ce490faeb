"""``socflow playbook``: check, run, watch, history and case templates of YAML playbooks.

The journal (every run, step, outcome and external id) is ``<state dir>/playbooks.sqlite``
(``--state-dir``, ``SOCFLOW_STATE_DIR``) or ``--db FILE``, private to the user (socflow.state).
TheHive and Cortex keys come from ``SOCFLOW_THEHIVE_KEY`` / ``SOCFLOW_CORTEX_KEY`` (or their
``*_FILE`` twins, or flags) and are never printed.
"""

from __future__ import annotations

import json
import logging
import queue
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import click
from pydantic import SecretStr

from ...errors import ConfigError, SocflowError
from ...markdown import visible
from ...playbook.engine import Engine, RunResult
from ...playbook.journal import JOURNAL_FILE, SqliteJournal
from ...playbook.model import Playbook, load_playbook_file, resolve
from ...playbook.templates import case_template
from ...state import private_dir
from ..thehive.sender import TheHiveSettings
from .common import console, json_logs, secret_option, thehive_options, warn, write_json

log = logging.getLogger("socflow.playbook")


@click.group("playbook")
def playbook() -> None:
    """YAML playbooks: from a TheHive alert to a worked case, durable and explainable."""


def _load(paths: tuple[str, ...]) -> list[Playbook]:
    return [load_playbook_file(resolve(p)) for p in paths]


# ---- check
@playbook.command("check")
@click.argument("files", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file.")
@click.option("--cortex-url", envvar="SOCFLOW_CORTEX_URL",
              help="Also check that Cortex offers every analyzer and responder the playbooks run "
                   "[env SOCFLOW_CORTEX_URL].")
@secret_option("--cortex-key", "SOCFLOW_CORTEX_KEY", "Cortex API key")
def check(files: tuple[str, ...], as_json: bool, cortex_url: str | None,
          cortex_key: str | None) -> None:
    """Validate playbook files (a shipped one by name: phishing, ssh-brute-force, web-attack)."""
    from ..playbook.services import CortexSettings, missing_workers

    cortex = CortexSettings(cortex_url, cortex_key) if cortex_url else None
    if cortex is not None and not cortex.key:
        raise click.UsageError("--cortex-url needs --cortex-key or SOCFLOW_CORTEX_KEY")
    results, bad = [], 0
    for name in files:
        try:
            pb = load_playbook_file(resolve(name))
            if cortex is not None:
                lacking = missing_workers(pb, cortex)
                if lacking:
                    raise ConfigError(f"{name}: " + "; ".join(lacking))
        except ConfigError as exc:
            bad += 1
            results.append({"file": name, "ok": False, "error": str(exc)})
            if not as_json:
                click.echo(f"socflow: error: {exc}", err=True)
            continue
        results.append({"file": name, "ok": True, "name": pb.name, "steps": len(pb.steps),
                        "trigger": pb.trigger.event, "analyzers": pb.analyzers(),
                        "responders": pb.responders()})
        if not as_json:
            click.echo(f"{name}: ok — {pb.name}, {len(pb.steps)} steps, trigger "
                       f"{pb.trigger.event}; analyzers: {', '.join(pb.analyzers()) or 'none'}; "
                       f"responders: {', '.join(pb.responders()) or 'none'}")
    if as_json:
        write_json(results, None)
    sys.exit(1 if bad else 0)


# ---- shared options
def _journal_options(func: Any) -> Any:
    func = click.option("--db", type=click.Path(dir_okay=False),
                        help=f"Journal file [default: <state dir>/{JOURNAL_FILE}].")(func)
    return click.option(
        "--state-dir", envvar="SOCFLOW_STATE_DIR", type=click.Path(file_okay=False),
        help="Where the journal lives [env SOCFLOW_STATE_DIR; default ~/.local/state/socflow].",
    )(func)


def _journal(state_dir: str | None, db: str | None, state_url: str | None = None) -> SqliteJournal:
    leases = None
    if state_url:  # runners on several hosts: the run lock lives in the shared state
        from ...statestore import open_leases
        from ...statestore import resolve as resolve_state

        target, password = resolve_state(state_url)
        assert target is not None
        leases = open_leases(target, password)
    if db:
        return SqliteJournal(db, leases=leases)
    return SqliteJournal(private_dir(state_dir) / JOURNAL_FILE, leases=leases)


def _state_url_option(func: Any) -> Any:
    return click.option(
        "--state-url", envvar="SOCFLOW_STATE_URL",
        help="Shared state for the run locks of runners on several hosts: redis://[user@]host:port/db "
             "or rediss:// (password in SOCFLOW_STATE_PASSWORD) [env SOCFLOW_STATE_URL].",
    )(func)


def _escalate_option(func: Any) -> Any:
    return click.option(
        "--escalate-to", envvar="SOCFLOW_PLAYBOOK_ESCALATE_TO", metavar="LOGIN",
        help="TheHive login (the L2 group's shared user or its lead) escalate actions assign the "
             "case to when they name no assignee [env SOCFLOW_PLAYBOOK_ESCALATE_TO].",
    )(func)


def _service_options(func: Any) -> Any:
    func = secret_option("--misp-key", "SOCFLOW_MISP_KEY", "MISP API key")(func)
    func = click.option("--misp-url", envvar="SOCFLOW_MISP_URL",
                        help="MISP the export steps push events to [env SOCFLOW_MISP_URL].")(func)
    func = secret_option("--cortex-key", "SOCFLOW_CORTEX_KEY", "Cortex API key")(func)
    func = click.option("--cortex-url", envvar="SOCFLOW_CORTEX_URL",
                        help="Cortex base URL [env SOCFLOW_CORTEX_URL].")(func)
    func = click.option("--timeout", type=click.FloatRange(0.1, 600), default=30.0,
                        show_default=True, help="Seconds per HTTP call.")(func)
    return thehive_options(func)


def _services(kw: dict[str, Any]) -> Any:
    from ..playbook.services import CortexSettings, MispSettings, TheHiveCortex

    try:
        settings = TheHiveSettings(url=kw.get("thehive_url"), organisation=kw.get("organisation"),
                                   ca_bundle=kw.get("ca_bundle"), timeout=kw.get("timeout", 30.0))
    except ValueError as exc:
        raise click.BadParameter(str(exc).splitlines()[-1], param_hint="--thehive-url") from None
    if kw.get("thehive_key"):
        settings.api_key = SecretStr(kw["thehive_key"])
    cortex = CortexSettings(kw.get("cortex_url"), kw.get("cortex_key"),
                            timeout=kw.get("timeout", 30.0))
    misp = MispSettings(kw.get("misp_url"), kw.get("misp_key"), timeout=kw.get("timeout", 30.0))
    return TheHiveCortex(settings, cortex, misp)


def _printer(quiet: bool) -> Any:
    def show(event: str, **data: Any) -> None:
        if quiet:
            return
        # values may be observable text (a refused value): control characters made visible
        detail = " ".join(f"{k}={visible(str(v))}" for k, v in data.items()
                          if v not in (None, "", []))
        click.echo(f"socflow: {event} {detail}", err=True)

    return show


# ---- run
@playbook.command("run")
@click.argument("file")
@click.option("--alert", "alert_id", help="TheHive alert id.")
@click.option("--case", "case_id", help="TheHive case id (or number).")
@click.option("--dry-run", is_flag=True,
              help="Read and analyse, then print the plan and its decisions; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="The result as JSON on stdout.")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines on stderr.")
@_journal_options
@_state_url_option
@_escalate_option
@_service_options
def run(file: str, alert_id: str | None, case_id: str | None, dry_run: bool, as_json: bool,
        quiet: bool, state_dir: str | None, db: str | None, escalate_to: str | None,
        **kw: Any) -> None:
    """Run FILE once on one alert or case (a run stopped midway resumes where it stopped)."""
    if bool(alert_id) == bool(case_id):
        raise click.UsageError("give exactly one of --alert ID or --case ID")
    pb = load_playbook_file(resolve(file))
    kind, target = ("alert", alert_id) if alert_id else ("case", case_id)
    assert target is not None
    state_url = kw.pop("state_url", None)
    services = _services(kw)
    journal = SqliteJournal(":memory:") if dry_run else _journal(state_dir, db, state_url)
    try:
        engine = Engine(pb, services, journal, on_event=_printer(quiet or as_json), dry_run=dry_run,
                        escalate_to=escalate_to)
        result = engine.run(kind, target)
    finally:
        journal.close()
    _report(result, as_json, dry_run)
    sys.exit(1 if result.status == "failed" else 0)


def _report(result: RunResult, as_json: bool, dry_run: bool) -> None:
    if as_json:
        write_json(result.as_dict() | {"dry_run": dry_run}, None)
        return
    if dry_run:
        click.echo(f"plan for {result.run_id} (dry run: nothing was changed)")
        for item in result.plan:
            rest = {k: v for k, v in item.items() if k not in ("step", "kind")}
            click.echo(f"  {item['step']}: {item['kind']} " + json.dumps(rest, ensure_ascii=False,
                                                                            default=str))
        click.echo(f"verdict: {result.verdict or 'none'}; path: {' -> '.join(result.path)}")
        return
    if result.status == "already-done":
        click.echo(f"{result.run_id}: already done (case {result.case_id or '-'}, verdict "
                   f"{result.verdict or '-'})")
    elif result.status == "done":
        click.echo(f"{result.run_id}: done — verdict {result.verdict or '-'}, case "
                   f"{result.case_id or '-'}, path {' -> '.join(result.path)}")
        for r in result.refused[:20]:  # observable text: control characters made visible
            click.echo(f"  refused by policy ({visible(str(r.get('refusal')))}): "
                       f"{visible(str(r.get('on')))} — {visible(str(r.get('reason')))}")
    else:
        # the reason may quote observable text (a refused value, a failed job's error)
        click.echo(f"socflow: error: {result.run_id} failed: {visible(result.reason)}", err=True)


# ---- history
@playbook.command("history")
@click.option("--run", "run_id", help="Show the steps of one run.")
@click.option("--playbook", "name", help="Only runs of this playbook.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout.")
@_journal_options
def history(run_id: str | None, name: str | None, limit: int, as_json: bool,
            state_dir: str | None, db: str | None) -> None:
    """Runs, their steps and outcomes (newest first)."""
    journal = _journal(state_dir, db)
    try:
        if run_id:
            record = journal.run(run_id)
            if record is None:
                raise ConfigError(f"no run {run_id!r} in the journal")
            steps = journal.steps(run_id)
            if as_json:
                write_json(record.as_dict() | {"steps": [s.as_dict() for s in steps]}, None)
                return
            _print_run(record.as_dict())
            for s in steps:
                extra = f" — {visible(s.error)}" if s.error else ""
                refused = s.outcome.get("refused") if isinstance(s.outcome, dict) else None
                for r in (refused if isinstance(refused, list) else [])[:5]:
                    if isinstance(r, dict):  # observable text: control characters made visible
                        extra += (f" — refused by policy ({visible(str(r.get('refusal')))}): "
                                  f"{visible(str(r.get('reason')))}")
                ext = " ".join(f"{k}={v}" for k, v in s.external.items())
                # a step's key holds the observable value it acted on: shown by name too
                click.echo(f"  {visible(s.key):<40} {s.kind:<12} {s.status:<8} x{s.attempts} "
                           f"{ext}{extra}")
            return
        runs = [r.as_dict() for r in journal.runs(limit, name)]
    finally:
        journal.close()
    if as_json:
        write_json(runs, None)
        return
    if not runs:
        click.echo("no playbook runs yet")
    for r in runs:
        _print_run(r)


def _print_run(r: dict[str, Any]) -> None:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(r["started"]))
    reason = f" — {visible(str(r['reason']))}" if r.get("reason") else ""
    refused = f" refused={len(r['refused'])}" if r.get("refused") else ""
    console.print(f"{when}Z  {r['status']:<7} {r['run']}  verdict={r.get('verdict') or '-'} "
                  f"case={r.get('case') or '-'}{refused}{reason}", markup=False, highlight=False,
                  emoji=False, soft_wrap=True)  # one line per run (scripts grep these)


# ---- templates
@playbook.command("templates")
@click.argument("files", nargs=-1)
@click.option("--output", "-o", type=click.Path(file_okay=False), required=True,
              help="Folder for the case template JSON files (created if missing).")
def templates(files: tuple[str, ...], output: str) -> None:
    """TheHive case templates (import-ready JSON) from playbooks; all shipped ones by default."""
    from ...playbook.model import shipped

    paths = [resolve(f) for f in files] if files else sorted(shipped().values())
    folder = Path(output)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--output {output}: {exc.strerror or exc}") from None
    for path in paths:
        pb = load_playbook_file(path)
        tpl = case_template(pb)
        if tpl is None:
            warn(f"{path}: no case_template: nothing written")
            continue
        target = folder / f"{tpl['name']}.json"
        target.write_text(json.dumps(tpl, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        click.echo(f"{target}: {len(tpl['tasks'])} tasks")


# ---- watch
def _emit(event: str, level: int = logging.INFO, **data: Any) -> None:
    log.log(level, event, extra={"data": data})


@playbook.command("watch")
@click.argument("files", nargs=-1, required=True)
@click.option("--interval", type=click.FloatRange(0.2, 3600), default=30.0, show_default=True,
              help="Seconds between polls of TheHive's query API.")
@click.option("--no-poll", is_flag=True, help="Only take webhook notifications.")
@click.option("--webhook", is_flag=True, help="Also receive TheHive webhook notifications.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Webhook listen address.")
@click.option("--port", type=click.IntRange(0, 65535), default=8091, show_default=True,
              help="Webhook listen port (0: any free port, printed at start).")
@secret_option("--webhook-token", "SOCFLOW_PLAYBOOK_WEBHOOK_TOKEN",
               "bearer token TheHive's webhook endpoint sends")
@click.option("--since", type=int, default=None,
              help="Poll alerts created at or after this epoch-ms on the first start "
                   "[default: now].")
@click.option("--once", is_flag=True, help="One poll, run what it found, then exit.")
@_journal_options
@_state_url_option
@_escalate_option
@_service_options
def watch(files: tuple[str, ...], interval: float, no_poll: bool, webhook: bool, host: str,
          port: int, webhook_token: str | None, since: int | None, once: bool,
          state_dir: str | None, db: str | None, escalate_to: str | None, **kw: Any) -> None:
    """Run playbooks on new matching TheHive alerts (and cases), as a service."""
    from ..playbook.watch import WebhookServer, poll_once

    json_logs(log)
    playbooks = _load(files)
    if no_poll and not webhook:
        raise click.UsageError("--no-poll needs --webhook: nothing would bring alerts in")
    if webhook and not webhook_token:
        raise click.UsageError("--webhook needs --webhook-token or SOCFLOW_PLAYBOOK_WEBHOOK_TOKEN")
    state_url = kw.pop("state_url", None)
    services = _services(kw)
    journal = _journal(state_dir, db, state_url)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server = None
    if webhook:
        assert webhook_token is not None
        try:
            server = WebhookServer(host, port, webhook_token)
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        server.start()
        _emit("webhook-listening", host=host, port=server.port)

    def handle(kind: str, entity: dict[str, Any]) -> None:
        for pb in playbooks:
            if pb.trigger.event != kind or not pb.trigger.matches(entity):
                continue
            try:
                result = Engine(pb, services, journal, on_event=lambda ev, **d: _emit(ev, **d),
                                escalate_to=escalate_to).run(kind, entity["_id"])
            except SocflowError as exc:
                _emit("run-error", logging.ERROR, playbook=pb.name, target=entity["_id"],
                      error=str(exc))
                continue
            if result.status != "already-done":
                _emit("run-finished", playbook=pb.name, target=entity["_id"],
                      status=result.status, verdict=result.verdict, case=result.case_id,
                      reason=result.reason)

    types = sorted({t for pb in playbooks if pb.trigger.event == "alert" for t in pb.trigger.type})
    polls = not no_poll and any(pb.trigger.event == "alert" for pb in playbooks)
    cursor_key = "watch-cursor:" + ",".join(sorted(pb.name for pb in playbooks))
    saved = journal.get_meta(cursor_key)
    cursor = int(saved) if saved else (since if since is not None else int(time.time() * 1000))
    _emit("watch-start", playbooks=[pb.name for pb in playbooks], poll=polls,
          webhook=bool(server), cursor=cursor)
    try:
        while not stop.is_set():
            if polls:
                try:
                    cursor = poll_once(services, cursor, types,
                                       lambda alert: handle("alert", alert))
                    journal.set_meta(cursor_key, str(cursor))
                except SocflowError as exc:
                    _emit("poll-failed", logging.WARNING, error=str(exc), retry_in=interval)
            deadline = time.monotonic() + (0 if once else interval)
            while server is not None:
                try:
                    kind, eid = server.queue.get(timeout=max(0.0, min(0.2, deadline - time.monotonic())))
                except queue.Empty:
                    if time.monotonic() >= deadline or stop.is_set():
                        break
                    continue
                try:
                    entity = services.entity(kind, eid)
                except SocflowError as exc:
                    _emit("webhook-target-unreadable", logging.WARNING, target=eid, error=str(exc))
                    continue
                handle(kind, entity)
            if once:
                break
            stop.wait(max(0.0, deadline - time.monotonic()))
    finally:
        if server is not None:
            server.stop()
        journal.close()
        _emit("watch-stopped", cursor=cursor)
