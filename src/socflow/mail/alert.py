"""A reported message as one TheHive 5 alert (``type: phishing-report``), built from its MailReport.

The ``sourceRef`` is derived from the *reported* (inner) message's Message-ID, so the same mail
reported twice, re-read after a crash or after the mailbox's UIDVALIDITY changed, is one alert in
the outbox (``INSERT OR IGNORE``) and in TheHive (duplicate answer). Without a Message-ID it is
derived from the message's bytes. Either way it is a hash: a Message-ID is sender-written, up to
a kilobyte long, and TheHive allows 128 characters.

Everything the sender wrote (subject, addresses, reasons quoting headers) goes into the
description through :mod:`socflow.markdown`; the title is one visible line.
"""

from __future__ import annotations

import hashlib
from typing import Any

from .. import markdown
from .model import MailReport
from .observables import observables

ALERT_TYPE = "phishing-report"
SEVERITY = {"safe": 1, "suspicious": 2, "malicious": 3}  # LOW, MEDIUM, HIGH
EML_KEY = "eml"  # the multipart part the .eml observable refers to
MAX_TITLE = 512
MAX_REASONS = 30


def message_id(report: MailReport) -> str:
    """The analysed message's Message-ID without angle brackets and blanks ("" when none)."""
    raw = str(report.headers.get("message_id") or "")
    return "".join(raw.split()).strip("<>")


def source_ref(report: MailReport, message: bytes) -> str:
    """``msgid-<sha256 of the Message-ID>``, else ``sha256-<sha256 of the reported message>``."""
    mid = message_id(report)
    if mid:
        return "msgid-" + hashlib.sha256(mid.encode("utf-8", "surrogateescape")).hexdigest()[:48]
    return "sha256-" + hashlib.sha256(message).hexdigest()[:48]


def reporter_address(report: MailReport) -> str:
    from .message import _loose_addresses

    if not report.reporter:
        return ""
    found = [a for _, a in _loose_addresses(report.reporter.get("from", "") or "") if "@" in a]
    return found[0].lower() if found else ""


def _title(report: MailReport) -> str:
    subject = markdown.visible(str(report.headers.get("subject") or "(no subject)"))
    prefix = {"malicious": "Phishing reported", "suspicious": "Suspicious mail reported"}.get(
        report.verdict, "Mail reported (judged safe)")
    return f"{prefix}: {subject}"[:MAX_TITLE]


def _description(report: MailReport, source: str, file_name: str) -> str:
    head = report.headers
    auth = report.auth
    lines = [
        f"**Verdict: {report.verdict}** (score {report.score:g})",
        "",
        "#### Reasons",
        "",
    ]
    reasons = report.reasons
    if reasons:
        for finding in reasons[:MAX_REASONS]:
            lines.append(f"- {markdown.escape(finding.summary, limit=500)} (+{finding.weight:g})")
        if len(reasons) > MAX_REASONS:
            lines.append(f"- … {len(reasons) - MAX_REASONS} more (run Socflow_MailAnalysis on the .eml)")
    else:
        lines.append("- nothing in the message raised the score")
    lines += ["", "#### Reported message", "", "| | |", "|---|---|"]
    for label, key in (("Subject", "subject"), ("From", "from"), ("Reply-To", "reply_to"),
                       ("Return-Path", "return_path"), ("To", "to"), ("Date", "date"),
                       ("Message-ID", "message_id"), ("Originating IP", "originating_ip")):
        value = head.get(key)
        if value:
            lines.append(f"| {label} | {markdown.code(value, table=True)} |")
    dkim = ", ".join(d.get("result", "") for d in auth.dkim) or "-"
    lines.append(
        f"| Authentication | {markdown.escape(auth.source or 'no trusted receiver', limit=200)}: "
        f"SPF {markdown.escape(auth.spf or '-')}, DKIM {markdown.escape(dkim)}, "
        f"DMARC {markdown.escape(auth.dmarc or '-')} |")
    if report.reporter:
        lines += ["", "#### Reported by", "", "| | |", "|---|---|"]
        for label, key in (("From", "from"), ("Subject", "subject"), ("Date", "date"),
                           ("Message-ID", "message_id")):
            value = report.reporter.get(key)
            if value:
                lines.append(f"| {label} | {markdown.code(value, table=True)} |")
    lines += [
        "",
        f"_socflow mail intake · {markdown.escape(source, limit=300)} · the reported message is the "
        f"file observable {markdown.code(file_name)}; run Socflow_MailAnalysis on it for the full "
        "report_",
    ]
    return "\n".join(lines)


def phishing_alert(report: MailReport, *, ref: str, file_name: str, source: str,
                   alert_source: str = "socflow-mail", tags: list[str] | None = None,
                   date_ms: int | None = None, tlp: int = 2, pap: int = 2,
                   max_observables: int = 500) -> dict[str, Any]:
    """The alert: the reported message as a ``file`` observable (multipart part ``eml``), the
    reporter (``mail:reporter``, never an IOC), every indicator of the report as observables."""
    obs: list[dict[str, Any]] = [{
        "dataType": "file", "attachment": EML_KEY, "tlp": tlp, "pap": pap,
        "tags": ["socflow:mail", "mail:reported-message"],
        "message": "the reported message (analyse it with Socflow_MailAnalysis)",
    }]
    seen: set[tuple[str, str]] = set()
    reporter = reporter_address(report)
    if reporter:
        seen.add(("mail", reporter))
        obs.append({"dataType": "mail", "data": reporter, "tlp": tlp, "pap": pap,
                    "tags": ["socflow:mail", "mail:reporter"], "ioc": False,
                    "ignoreSimilarity": True, "message": "the person who reported the message"})
    for item in observables(report, max_observables):
        key = (item["dataType"], item["data"].lower())
        if key in seen:
            continue
        seen.add(key)
        obs.append({**item, "tlp": tlp, "pap": pap})
    alert: dict[str, Any] = {
        "type": ALERT_TYPE,
        "source": alert_source,
        "sourceRef": ref,
        "title": _title(report),
        "description": _description(report, source, file_name),
        "severity": SEVERITY[report.verdict],
        "tlp": tlp,
        "pap": pap,
        "tags": [*(tags or []), "socflow:mail-intake", f"mail:verdict={report.verdict}"],
        "observables": obs,
    }
    if date_ms:
        alert["date"] = date_ms
    return alert


def unreadable_alert(error: str, *, ref: str, file_name: str, source: str,
                     alert_source: str = "socflow-mail", tags: list[str] | None = None,
                     date_ms: int | None = None, tlp: int = 2, pap: int = 2) -> dict[str, Any]:
    """A message the mail stage could not read still becomes its alert (nothing is dropped)."""
    alert: dict[str, Any] = {
        "type": ALERT_TYPE,
        "source": alert_source,
        "sourceRef": ref,
        "title": "Reported mail could not be analysed",
        "description": (f"socflow could not analyse this reported message: "
                        f"{markdown.code(error, limit=500)}\n\nThe message as received is the file "
                        f"observable {markdown.code(file_name)}.\n\n"
                        f"_socflow mail intake · {markdown.escape(source, limit=300)}_"),
        "severity": SEVERITY["suspicious"],
        "tlp": tlp,
        "pap": pap,
        "tags": [*(tags or []), "socflow:mail-intake", "mail:unreadable"],
        "observables": [{"dataType": "file", "attachment": EML_KEY, "tlp": tlp, "pap": pap,
                         "tags": ["socflow:mail", "mail:reported-message"],
                         "message": "the reported message as received"}],
    }
    if date_ms:
        alert["date"] = date_ms
    return alert
