"""``socflow mail analyze``: verdicts for e-mail messages, as a table or JSON.

Attacker-written text (subjects, addresses, reasons quoting headers) is shown with control
characters replaced and rich markup escaped, so a header cannot move the cursor, recolour the
terminal or fake table lines.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from ...errors import InputError
from .common import console, secret_option, warn

FAIL_ON = ("suspicious", "malicious")
_RANK = {"safe": 0, "suspicious": 1, "malicious": 2}


def inert(text: Any, limit: int = 300) -> str:
    """Text safe to print: C0/C1 controls, bidi overrides and other format characters become
    U+FFFD-free visible escapes; rich markup is escaped; long values are cut."""
    text = str(text)[:limit]
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp") and ch not in " ":
            out.append(f"\\u{ord(ch):04x}" if ord(ch) > 0xFF else f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return escape("".join(out))


@click.group("mail")
def mail() -> None:
    """Analyse e-mail messages for phishing (verdicts that explain themselves)."""


from .mailintake import intake  # noqa: E402 - a sub-command of the group above

mail.add_command(intake)


@mail.command("analyze")
@click.argument("paths", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--output", "-o", type=click.Path(dir_okay=False),
              help="Write JSON to this file.")
@click.option("--policy", "policy_path", type=click.Path(dir_okay=False),
              help="Mail policy YAML laid over the shipped defaults (docs/phishing.md).")
@click.option("--fail-on", type=click.Choice(FAIL_ON),
              help="Exit 1 when a message is judged this bad or worse.")
@click.option("--no-unwrap", is_flag=True,
              help="Analyse a user's report itself instead of the message it carries.")
@click.option("--enrich", "use_intel", is_flag=True,
              help="Look up URLs, domains, public IPs and attachment hashes in VirusTotal, "
                   "AbuseIPDB and OTX (keys as for socflow enrich; shared cache and quotas).")
@secret_option("--vt-key", "SOCFLOW_VT_KEY", "VirusTotal API key")
@secret_option("--abuseipdb-key", "SOCFLOW_ABUSEIPDB_KEY", "AbuseIPDB API key")
@secret_option("--otx-key", "SOCFLOW_OTX_KEY", "OTX API key")
@click.option("--vt-url", help="VirusTotal API base URL (mirror, proxy, test fake).")
@click.option("--abuseipdb-url", help="AbuseIPDB API base URL.")
@click.option("--otx-url", help="OTX base URL.")
@click.option("--state-dir", envvar="SOCFLOW_STATE_DIR", type=click.Path(file_okay=False),
              help="Where the shared intel cache/quota file lives [env SOCFLOW_STATE_DIR].")
@click.option("--allow-private-targets", is_flag=True, envvar="SOCFLOW_ALLOW_PRIVATE_TARGETS",
              help="Allow service URLs on loopback, link-local or cloud-metadata addresses (a local "
                   "mirror, a test fake) [env SOCFLOW_ALLOW_PRIVATE_TARGETS].")
def analyze(paths: tuple[str, ...], as_json: bool, output: str | None, policy_path: str | None,
            fail_on: str | None, no_unwrap: bool, use_intel: bool, vt_key: str | None,
            abuseipdb_key: str | None, otx_key: str | None, vt_url: str | None,
            abuseipdb_url: str | None, otx_url: str | None, state_dir: str | None,
            allow_private_targets: bool) -> int:
    """Analyse messages in PATHS: .eml and Outlook .msg files, directories, maildirs, mbox files
    or - (stdin).

    A user's report that carries the suspicious mail as an attachment is unwrapped: the inner
    message is judged and the reporter kept."""
    from ...mail import load_policy

    policy = load_policy(policy_path)
    cap = policy.limits.max_message_bytes
    enricher = _enricher(vt_key, abuseipdb_key, otx_key, vt_url, abuseipdb_url, otx_url,
                         state_dir, allow_private_targets) if use_intel else None
    try:
        return _analyze_all(paths, as_json, output, policy, fail_on, no_unwrap, enricher, cap)
    finally:
        if enricher is not None:
            enricher.close()


def _enricher(vt_key: str | None, abuseipdb_key: str | None, otx_key: str | None,
              vt_url: str | None, abuseipdb_url: str | None, otx_url: str | None,
              state_dir: str | None, allow_private_targets: bool) -> Any:
    from pydantic import ValidationError

    from ...enrich import AbuseIPDBSettings, EnrichConfig, OTXSettings, VirusTotalSettings, build_enricher
    from ...errors import ConfigError, validation_summary
    from ...state import default_dir
    from .enrich import CACHE_FILE, _settings

    if not (vt_key or abuseipdb_key or otx_key):
        raise ConfigError("--enrich needs an API key: --vt-key, --abuseipdb-key or --otx-key "
                          "(or SOCFLOW_VT_KEY, SOCFLOW_ABUSEIPDB_KEY, SOCFLOW_OTX_KEY)")
    try:
        config = EnrichConfig(
            virustotal=_settings(VirusTotalSettings, vt_key, vt_url) if vt_key else None,
            abuseipdb=_settings(AbuseIPDBSettings, abuseipdb_key, abuseipdb_url) if abuseipdb_key else None,
            otx=_settings(OTXSettings, otx_key, otx_url) if otx_key else None,
            cache_path=Path(state_dir or default_dir()) / CACHE_FILE,
            user_agent="socflow-cli", allow_private_targets=allow_private_targets)
    except ValidationError as exc:
        raise click.BadParameter(validation_summary(exc)) from None
    return build_enricher(config)


def _analyze_all(paths: tuple[str, ...], as_json: bool, output: str | None, policy: Any,
                 fail_on: str | None, no_unwrap: bool, enricher: Any, cap: int) -> int:
    from ...mail import analyze_bytes, iter_messages
    from ...mail.intel import enrichment_hook

    hook = enrichment_hook(enricher) if enricher is not None else None
    reports: list[dict[str, Any]] = []
    errors = 0
    worst = 0
    for source in iter_messages(paths, cap):
        if source.error:
            warn(source.error)
            errors += 1
            continue
        data = source.data or b""
        if not data.strip():
            warn(f"{source.name}: empty input, not an e-mail message")
            errors += 1
            continue
        try:
            report = analyze_bytes(data, source.name, policy, unwrap_reports=not no_unwrap,
                                   enrich=hook)
        except InputError as exc:
            warn(f"{source.name}: {exc}")
            errors += 1
            continue
        worst = max(worst, _RANK[report.verdict])
        reports.append(report.to_dict())
    if not reports and errors:
        raise InputError("no message could be analysed")
    if as_json or output:
        single = len(paths) == 1 and len(reports) == 1 and reports[0]["source"] in (
            paths[0], "<stdin>")
        text = json.dumps(reports[0] if single else reports, indent=2, ensure_ascii=False,
                          default=str) + "\n"
        if output and output != "-":
            with open(output, "w", encoding="utf-8") as fh:
                fh.write(text)
        else:
            sys.stdout.write(text)
    else:
        _print(reports)
    if fail_on and worst >= _RANK[fail_on]:
        return 1
    return 1 if errors else 0


_STYLE = {"safe": "green", "suspicious": "yellow", "malicious": "bold red"}


def _print(reports: list[dict[str, Any]]) -> None:
    if not reports:
        console.print("No messages.")
        return
    table = Table(title=f"messages ({len(reports)})", title_justify="left")
    for col in ("verdict", "score", "from", "subject", "reasons", "source"):
        table.add_column(col, overflow="fold", justify="right" if col == "score" else "left")
    for r in reports:
        head = r["headers"]
        reasons = "\n".join(inert(x, 160) for x in r["reasons"][:5]) or "-"
        if len(r["reasons"]) > 5:
            reasons += f"\n… {len(r['reasons']) - 5} more (--json)"
        who = inert(head.get("from", ""), 80)
        if r.get("reporter"):
            who += f"\n(reported by {inert(r['reporter'].get('from', ''), 60)})"
        table.add_row(f"[{_STYLE[r['verdict']]}]{r['verdict']}[/]", f"{r['score']:g}", who,
                      inert(head.get("subject", ""), 120), reasons, inert(r["source"], 80))
    console.print(table)
    if len(reports) == 1:
        _details(reports[0])


def _details(r: dict[str, Any]) -> None:
    auth = r["authentication"]
    console.print(
        f"authentication ({inert(auth['source']) or 'no trusted receiver'}): "
        f"SPF {inert(auth['spf'] or '-')}, DKIM {inert(','.join(d['result'] for d in auth['dkim']) or '-')}, "
        f"DMARC {inert(auth['dmarc'] or '-')}, aligned {auth['aligned'] if auth['aligned'] is not None else '-'}")
    if r["hops"]:
        hops = Table(title="hops (oldest first)", title_justify="left")
        for col in ("from", "ip", "by", "with", "time", "delay s", "trusted"):
            hops.add_column(col, overflow="fold")
        for h in r["hops"]:
            hops.add_row(inert(h["from_host"], 80), inert(h["from_ip"]), inert(h["by_host"], 80),
                         inert(h["protocol"]), inert(h["time"]),
                         "" if h["delay"] is None else f"{h['delay']:g}", "yes" if h["trusted"] else "")
        console.print(hops)
    if r["attachments"]:
        atts = Table(title="attachments", title_justify="left")
        for col in ("name", "type", "size", "sha256"):
            atts.add_column(col, overflow="fold")
        for a in r["attachments"]:
            atts.add_row(inert(a["filename"], 120), inert(a["real_type"] or a["declared_type"]),
                         str(a["size"]), a["sha256"])
        console.print(atts)
