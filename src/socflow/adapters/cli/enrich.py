"""``socflow enrich``: verdicts from VirusTotal, AbuseIPDB and OTX for values or for logs.

Every lookup goes through the intel layer (shared SQLite cache and quota ledger under
``--state-dir``), so running the command twice costs no second call, and several runs in parallel
never exceed the configured quotas. With ``--from-log`` the core extracts the indicators first and
each unique public one is looked up once, most frequent first.

What the user sees: waits for a quota slot are counted down (a rich progress line on a terminal,
one plain line on stderr otherwise); every failed lookup is counted in the usage table; Ctrl-C
stops, prints what was looked up so far and exits 130. The default ``--budget`` (90 s) covers the
longest wait VirusTotal's free tier can ask for (one minute window: 4 calls per minute).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from ...enrich import (
    AbuseIPDBSettings,
    EnrichConfig,
    OTXSettings,
    VirusTotalSettings,
    build_enricher,
)
from ...enrich.config import RateLimit
from ...enrich.indicators import HASH_TYPES, ioc_type_of
from ...errors import ConfigError, InputError, SocflowError, validation_summary
from ...models import IocType, IpClass, Verdict
from ...state import default_dir
from ...statestore import PASSWORD_ENV
from .common import (
    console,
    err_console,
    secret_option,
    warn,
    warninglist_options,
    warninglists_from,
    write_json,
)

CACHE_FILE = "intel-cache.sqlite"
LEVEL_STYLE = {"malicious": "bold red", "suspicious": "yellow", "safe": "green", "info": "blue"}
PROVIDER_NAMES = ("virustotal", "abuseipdb", "otx")
DEFAULT_BUDGET = 90.0  # > VirusTotal's free 4/minute window (60.25 s with the ledger's guard)
INTERRUPTED = 130


@dataclass
class Row:
    ioc_type: IocType
    value: str
    count: int | None = None
    verdicts: list[Verdict] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    warninglists: tuple[str, ...] = ()


def guess_type(value: str) -> IocType:
    """The indicator type of a value typed on the command line."""
    value = value.strip()
    if "://" in value:
        data_type = "url"
    elif len(value) in HASH_TYPES and all(c in "0123456789abcdefABCDEF" for c in value):
        data_type = "hash"
    elif all(c in "0123456789.:abcdefABCDEF%" for c in value) and (value.count(".") == 3 or ":" in value):
        data_type = "ip"
    else:
        data_type = "domain"
    return ioc_type_of(data_type, value)


def _settings(cls: type, key: str | None, url: str | None, **extra: Any) -> Any:
    values: dict[str, Any] = {"api_key": key, **extra}
    if url:
        values["api_url"] = url
    return cls(**values)


@click.command("enrich")
@click.argument("values", nargs=-1, required=True)
@click.option("--from-log", is_flag=True, help="VALUES are log files: extract indicators, then look each up once.")
@click.option("--provider", "providers", multiple=True, type=click.Choice(PROVIDER_NAMES),
              help="Only these providers (repeatable; default: every provider with a key).")
@secret_option("--vt-key", "SOCFLOW_VT_KEY", "VirusTotal API key")
@secret_option("--abuseipdb-key", "SOCFLOW_ABUSEIPDB_KEY", "AbuseIPDB API key")
@secret_option("--otx-key", "SOCFLOW_OTX_KEY", "OTX API key")
@click.option("--vt-url", help="VirusTotal API base URL (mirror, proxy, test fake).")
@click.option("--abuseipdb-url", help="AbuseIPDB API base URL.")
@click.option("--otx-url", help="OTX base URL.")
@click.option("--vt-per-minute", type=click.IntRange(min=1), default=4, show_default=True,
              help="VirusTotal calls per minute for this key (public API: 4).")
@click.option("--state-dir", envvar="SOCFLOW_STATE_DIR", type=click.Path(file_okay=False),
              help="Where the shared cache/quota file lives [env SOCFLOW_STATE_DIR; default $XDG_STATE_HOME/socflow or ~/.local/state/socflow].")
@click.option("--state-url", envvar="SOCFLOW_STATE_URL",
              help="Shared cache/quota state: sqlite:///path or redis://[user@]host:port/db, rediss:// "
                   "for TLS (password in SOCFLOW_STATE_PASSWORD, never in the URL); wins over "
                   "--state-dir [env SOCFLOW_STATE_URL].")
@click.option("--no-cache", is_flag=True, help="Do not read or write the shared cache (quota kept in memory only).")
@click.option("--budget", type=click.FloatRange(min=1, max=3600), default=DEFAULT_BUDGET, show_default=True,
              help="Seconds one lookup may take, quota waits included (the default covers a full "
                   "minute of VirusTotal's free quota).")
@click.option("--allow-private-targets", is_flag=True, envvar="SOCFLOW_ALLOW_PRIVATE_TARGETS",
              help="Allow service URLs on loopback, link-local or cloud-metadata addresses (a local "
                   "mirror, a test fake) [env SOCFLOW_ALLOW_PRIVATE_TARGETS].")
@click.option("--proxy", envvar="HTTPS_PROXY", help="Proxy for every provider [env HTTPS_PROXY].")
@click.option("--ca-bundle", type=click.Path(dir_okay=False, exists=True), help="CA certificates to trust.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write JSON to this file.")
@click.option("--progress/--no-progress", default=True, help="Progress bar on a terminal.")
@click.option("--include-warninglisted", is_flag=True,
              help="With --from-log, also look up indicators on MISP warning lists (skipped by default).")
@warninglist_options
def enrich(values: tuple[str, ...], from_log: bool, providers: tuple[str, ...], vt_key: str | None,
           abuseipdb_key: str | None, otx_key: str | None, vt_url: str | None, abuseipdb_url: str | None,
           otx_url: str | None, vt_per_minute: int, state_dir: str | None, state_url: str | None,
           no_cache: bool, budget: float,
           allow_private_targets: bool, proxy: str | None, ca_bundle: str | None, as_json: bool,
           output: str | None, progress: bool, include_warninglisted: bool,
           warninglists_add: tuple[str, ...], warninglists_disable: tuple[str, ...],
           warninglists_off: bool) -> int:
    """Look up VALUES (IPs, domains, URLs, hashes) — or, with --from-log, every public indicator in
    the log files VALUES — in VirusTotal, AbuseIPDB and OTX, cached and within each quota."""
    keys = {"virustotal": vt_key, "abuseipdb": abuseipdb_key, "otx": otx_key}
    wanted = [p for p in (providers or PROVIDER_NAMES) if keys[p]]
    if not wanted:
        raise ConfigError(
            "no provider has an API key: give --vt-key, --abuseipdb-key or --otx-key "
            "(or SOCFLOW_VT_KEY, SOCFLOW_ABUSEIPDB_KEY, SOCFLOW_OTX_KEY)"
        )
    try:
        config = EnrichConfig(
            virustotal=_settings(VirusTotalSettings, vt_key, vt_url, limits={"api": [
                RateLimit(limit=vt_per_minute, per_seconds=60), RateLimit(limit=500, per_seconds=86400)]})
            if "virustotal" in wanted else None,
            abuseipdb=_settings(AbuseIPDBSettings, abuseipdb_key, abuseipdb_url) if "abuseipdb" in wanted else None,
            otx=_settings(OTXSettings, otx_key, otx_url) if "otx" in wanted else None,
            cache_path=None if no_cache else Path(state_dir or default_dir()) / CACHE_FILE,
            state_url=None if no_cache else (state_url or None),
            state_password=(os.environ.get(PASSWORD_ENV) or None) if state_url and not no_cache else None,
            budget_seconds=budget,
            proxies={"http": proxy, "https": proxy} if proxy else {},
            ca_bundle=Path(ca_bundle) if ca_bundle else None,
            user_agent="socflow-cli",
            allow_private_targets=allow_private_targets,
        )
    except ValidationError as exc:
        raise click.BadParameter(validation_summary(exc)) from None
    skipped: list[Row] = []
    if from_log:
        lists = warninglists_from(warninglists_add, warninglists_disable, warninglists_off)
        rows, skipped = _rows_from_logs(values, lists, include_warninglisted)
    else:
        rows = _rows_from_values(values)  # values typed by hand are always looked up
    done: list[Row] = []
    interrupted = False
    with Display(len(rows), bar=progress and not as_json) as display:
        with build_enricher(config, on_wait=display.wait) as enricher:
            try:
                for row in rows:
                    _look_up(enricher, row)
                    done.append(row)
                    display.advance()
            except KeyboardInterrupt:  # Ctrl-C: keep what was gathered, say so, exit 130
                interrupted = True
                if len(done) < len(rows) and (rows[len(done)].verdicts or rows[len(done)].errors):
                    done.append(rows[len(done)])  # the row being looked up, as far as it got
            usage = enricher.usage()
    if as_json or output:
        doc: dict[str, Any] = {"results": [_row_dict(r) for r in done], "usage": usage,
                               **({"interrupted": True} if interrupted else {})}
        if from_log:
            doc["skipped_warninglisted"] = [
                {"indicator": r.value, "type": r.ioc_type.value, "count": r.count,
                 "warninglists": list(r.warninglists)} for r in skipped]
        write_json(doc, output)
    else:
        _print(done, usage, wanted, from_log)
        if skipped:
            console.print(f"{len(skipped)} indicator(s) on MISP warning lists not looked up "
                          f"(e.g. {skipped[0].value}: {', '.join(skipped[0].warninglists)}; "
                          "--include-warninglisted looks them up)")
    failed = sum(len(r.errors) for r in done)
    if interrupted:
        warn(f"interrupted: {len(done)} of {len(rows)} indicator(s) looked up")
        return INTERRUPTED
    if failed:
        warn(f"{failed} lookup(s) failed (see the table or the JSON 'errors')")
        return 1
    return 0


def _rows_from_values(values: tuple[str, ...]) -> list[Row]:
    rows, seen = [], set()
    for value in values:
        try:
            ioc_type = guess_type(value)
        except InputError as exc:
            raise click.BadParameter(str(exc), param_hint="VALUES") from None
        if (ioc_type, value) not in seen:
            seen.add((ioc_type, value))
            rows.append(Row(ioc_type, value.strip()))
    return rows


def _rows_from_logs(paths: tuple[str, ...], lists: Any, include_listed: bool) -> tuple[list[Row], list[Row]]:
    """(rows to look up, rows skipped because they are on a warning list)."""
    from ...pipeline import extract_paths
    from ...warninglists import annotate

    lookable = {IocType.IPV4, IocType.IPV6, IocType.DOMAIN, IocType.URL,
                IocType.MD5, IocType.SHA1, IocType.SHA256}
    result = extract_paths(list(paths))
    iocs = [i for i in result.iocs if i.type in lookable
            and (i.type not in (IocType.IPV4, IocType.IPV6) or i.ip_class in (None, IpClass.PUBLIC))]
    iocs.sort(key=lambda i: -i.count)
    annotate(iocs, lists)  # quota is not spent on google.com or a public resolver
    rows = [Row(i.type, i.value, i.count, warninglists=i.warninglists) for i in iocs]
    if include_listed:
        return rows, []
    return [r for r in rows if not r.warninglists], [r for r in rows if r.warninglists]


def _look_up(enricher: Any, row: Row) -> None:
    for name, provider in enricher.providers.items():
        if row.ioc_type not in provider.supported:
            continue
        try:
            row.verdicts.append(enricher.lookup(name, row.ioc_type, row.value))
        except SocflowError as exc:
            row.errors[provider.title] = str(exc)


class Display:
    """Progress and quota waits on stderr: rich on a terminal, plain lines otherwise.

    ``wait`` is the enricher's ``on_wait``: it must return once ``seconds`` have passed (Ctrl-C
    interrupts it like any sleep). On a terminal the wait is a live countdown line next to the
    progress bar; elsewhere (a pipe, a log file, ``--no-progress``) it is one line saying how long
    and until when, so a script's log shows why nothing happens for a minute.
    """

    TICK = 0.2

    def __init__(self, total: int, *, bar: bool, sleep: Callable[[float], None] = time.sleep) -> None:
        self.total, self.sleep = total, sleep
        self.live = bar and sys.stderr.isatty()
        self.progress: Progress | None = None
        self.task: Any = None
        self.done = 0

    def __enter__(self) -> Display:
        if self.live:
            self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                     TextColumn("{task.fields[status]}"), console=err_console,
                                     transient=True)
            self.progress.start()
            if self.total > 1:
                self.task = self.progress.add_task("[bold]looking up", total=self.total,
                                                   status=f"0/{self.total}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def advance(self) -> None:
        self.done += 1
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, completed=self.done, status=f"{self.done}/{self.total}")

    def wait(self, service: str, seconds: float, why: str) -> None:
        until = time.strftime("%H:%M:%S", time.localtime(time.time() + seconds))
        if self.progress is None:
            click.echo(f"socflow: {service} quota ({why}): waiting {seconds:.0f} s, until {until}",
                       err=True)
            self.sleep(seconds)
            return
        end = time.monotonic() + seconds
        task = self.progress.add_task(f"[yellow]{service}[/] quota ({why}): waiting",
                                      total=seconds, status=f"{seconds:.0f} s left")
        try:
            while (left := end - time.monotonic()) > 0:
                self.progress.update(task, completed=seconds - left, status=f"{left:.0f} s left")
                self.sleep(min(self.TICK, left))
        finally:
            self.progress.remove_task(task)


def _row_dict(row: Row) -> dict[str, Any]:
    return {
        "indicator": row.value, "type": row.ioc_type.value, "count": row.count,
        "verdicts": [{"service": v.service, "level": v.level.value, "score": v.score, "summary": v.summary,
                      "from_cache": v.from_cache, "fetched_at": v.fetched_at} for v in row.verdicts],
        "errors": [{"service": s, "error": e} for s, e in row.errors.items()],
        "warninglists": list(row.warninglists),
    }


def _print(rows: list[Row], usage: dict[str, Any], wanted: list[str], from_log: bool) -> None:
    if not rows:
        console.print("No public indicator to look up.")
    titles = [usage[name]["title"] for name in wanted]
    table = Table(title="Verdicts", title_justify="left")
    table.add_column("indicator", overflow="fold")
    table.add_column("type")
    if from_log:
        table.add_column("seen", justify="right")
    for title in titles:
        table.add_column(title, overflow="fold")
    for row in rows:
        cells = [row.value, row.ioc_type.value] + ([str(row.count)] if from_log else [])
        by_service = {v.service: v for v in row.verdicts}
        for title in titles:
            verdict = by_service.get(title)
            if verdict is not None:
                style = LEVEL_STYLE[verdict.level.value]
                cached = " (cached)" if verdict.from_cache else ""
                cells.append(f"[{style}]{verdict.level.value}[/] {verdict.summary}{cached}")
            elif title in row.errors:
                cells.append(f"[red]error:[/] {row.errors[title]}")
            else:
                cells.append("—")
        table.add_row(*cells)
    console.print(table)
    quota = Table(title="Calls and quota", title_justify="left")
    for column in ("provider", "calls", "cache hits", "local", "throttled", "failures", "quota left"):
        quota.add_column(column)
    for name in wanted:
        u = usage[name]
        left = ", ".join(
            ("" if q["bucket"] == "api" else f"{q['bucket']} ") + f"{q['remaining']}/{q['limit']} per "
            + _period(q["per_seconds"]) for q in u["quota"])
        quota.add_row(u["title"], str(u["calls"]), str(u["cache_hits"]), str(u["local_answers"]),
                      str(u["throttled"]), str(u["failures"]), left or "—")
    console.print(quota)


def _period(seconds: float) -> str:
    return {60.0: "minute", 3600.0: "hour", 86400.0: "day"}.get(seconds, f"{seconds:g} s")
