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
MAX_RECIPIENTS = 50
TAG_OWN, TAG_PROTECTED, TAG_ALLOWLISTED = (
    "socflow:own-domain", "socflow:protected-domain", "socflow:allowlisted")


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


def recipients(report: MailReport, limit: int = MAX_RECIPIENTS) -> list[str]:
    """The To and Cc addresses of the analysed message, lower-cased, at most ``limit``. The
    sender wrote these headers: they are whom to warn, never where to send without a check
    (Socflow_Notify_Mail's ``recipient_domains``)."""
    from email.utils import getaddresses

    values = [str(report.headers.get(k) or "")[:8192] for k in ("to", "cc")]
    found: list[str] = []
    for _, address in getaddresses(values):
        address = address.strip().lower()
        if "@" in address and len(address) <= 254 and address not in found:
            found.append(address)
    return found[:limit]


def _host(data_type: str, value: str) -> str:
    """The domain an observable is in (a domain itself, a URL's host, an address's domain)."""
    value = value.strip().lower()
    if data_type in ("domain", "fqdn", "hostname"):
        return value.rstrip(".")
    if data_type == "mail":
        return value.rsplit("@", 1)[-1].rstrip(".") if "@" in value else ""
    if data_type == "url":
        from urllib.parse import urlsplit

        try:
            return (urlsplit(value).hostname or "").rstrip(".")
        except ValueError:
            return ""
    return ""


def _in(host: str, domains: Any) -> bool:
    return bool(host) and any(host == d or host.endswith("." + d) for d in domains)


def _policy_tags(obs: list[dict[str, Any]], policy: Any) -> None:
    """Tag what sits in the organisation's own, protected or allowlisted domains, so a playbook
    can leave it alone (phishing.yml's containment skips these tags)."""
    org = policy.organisation
    for o in obs:
        host = _host(str(o.get("dataType", "")), str(o.get("data") or ""))
        extra = []
        if _in(host, org.own_domains):
            extra.append(TAG_OWN)
        elif _in(host, policy.protected):
            extra.append(TAG_PROTECTED)
        if host and policy.allowed_domain(host):
            extra.append(TAG_ALLOWLISTED)
        o["tags"] = [*o.get("tags", []), *extra]


def phishing_alert(report: MailReport, *, ref: str, file_name: str, source: str,
                   alert_source: str = "socflow-mail", tags: list[str] | None = None,
                   date_ms: int | None = None, tlp: int = 2, pap: int = 2,
                   max_observables: int = 500, policy: Any = None) -> dict[str, Any]:
    """The alert: the reported message as a ``file`` observable (multipart part ``eml``), the
    reporter (``mail:reporter``, never an IOC), the message's recipients (``mail:recipient``,
    never IOCs), the sender's domain (``mail:sender-domain``; also ``mail:sender-unauthenticated``
    when DMARC failed: the domain is impersonated, not the attacker's), every indicator of the
    report as observables; with the mail ``policy``, what is in own, protected or allowlisted
    domains tagged ``socflow:own-domain``, ``socflow:protected-domain``, ``socflow:allowlisted``."""
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
    for address in recipients(report):
        if ("mail", address) in seen:
            continue
        seen.add(("mail", address))
        obs.append({"dataType": "mail", "data": address, "tlp": tlp, "pap": pap,
                    "tags": ["socflow:mail", "mail:recipient"], "ioc": False,
                    "ignoreSimilarity": True, "message": "a recipient of the reported message"})
    found = observables(report, max_observables)
    for item in found:
        key = (item["dataType"], item["data"].lower())
        if key in seen:
            continue
        seen.add(key)
        obs.append({**item, "tlp": tlp, "pap": pap})
    sender = next((o["data"] for o in found if "mail:sender" in o["tags"]), "")
    domain = _host("mail", sender)
    if domain:
        sender_tags = ["mail:sender-domain"]
        if report.auth.source and report.auth.dmarc == "fail":
            sender_tags.append("mail:sender-unauthenticated")
        same = [o for o in obs if o["dataType"] == "domain" and o["data"].lower() == domain]
        if same:
            same[0]["tags"] = [*same[0]["tags"], *sender_tags]
        else:
            obs.append({"dataType": "domain", "data": domain, "tlp": tlp, "pap": pap,
                        "tags": ["socflow:mail", *sender_tags],
                        "message": "domain of the analysed message's From address"})
    if policy is not None:
        _policy_tags(obs, policy)
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
