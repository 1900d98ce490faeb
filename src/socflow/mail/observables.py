"""A mail report as TheHive sees it: taxonomies (Mail:Verdict, Mail:SPF, Mail:DKIM, Mail:DMARC,
counts) and observables tagged by where they were found. Used by the Cortex analyzer (and the
coming intake); the recipients and the reporter are never offered as observables, so reputation
lookups cannot flag the victim."""

from __future__ import annotations

from typing import Any

from ..markdown import visible
from ..models import IocType, Level
from ..report import Taxonomy
from .model import MailReport

_VERDICT_LEVEL = {"safe": Level.SAFE, "suspicious": Level.SUSPICIOUS, "malicious": Level.MALICIOUS}
_AUTH_LEVEL = {"pass": Level.SAFE, "bestguesspass": Level.SAFE, "fail": Level.MALICIOUS,
               "softfail": Level.SUSPICIOUS, "permerror": Level.SUSPICIOUS,
               "temperror": Level.INFO, "neutral": Level.INFO, "none": Level.INFO}


def taxonomies(report: MailReport) -> list[Taxonomy]:
    auth = report.auth
    out = [Taxonomy(_VERDICT_LEVEL[report.verdict], "Mail", "Verdict", report.verdict)]
    dkim = ("pass" if any(d["result"] == "pass" for d in auth.dkim)
            else auth.dkim[0]["result"] if auth.dkim else "none")
    for predicate, result in (("SPF", auth.spf or "none"), ("DKIM", dkim), ("DMARC", auth.dmarc or "none")):
        if not auth.source:
            out.append(Taxonomy(Level.INFO, "Mail", predicate, "untrusted"))
        else:
            out.append(Taxonomy(_AUTH_LEVEL.get(result, Level.INFO), "Mail", predicate, result))
    out.append(Taxonomy(Level.INFO, "Mail", "URLs", str(len({link.url for link in report.links}))))
    out.append(Taxonomy(Level.INFO, "Mail", "Attachments", str(len(report.attachments))))
    codes = {finding.code for finding in report.findings}
    if "content.credential_form" in codes:  # a form asking for a password (playbooks escalate on it)
        out.append(Taxonomy(Level.SUSPICIOUS, "Mail", "Form", "credentials"))
    elif "content.form" in codes:
        out.append(Taxonomy(Level.INFO, "Mail", "Form", "form"))
    return out


def observables(report: MailReport, limit: int = 500) -> list[dict[str, Any]]:
    """``{"dataType", "data", "tags", "message"}`` for the sender side, the origin, links,
    domains, attachments and the subject; first occurrence wins, at most ``limit``."""
    seen: set[tuple[str, str]] = set()
    out: list[dict[str, Any]] = []

    def add(data_type: str, value: str, tags: list[str], message: str) -> None:
        value = (value or "").strip()
        if not value or (data_type, value.lower()) in seen or len(out) >= limit:
            return
        seen.add((data_type, value.lower()))
        out.append({"dataType": data_type, "data": value[:4096], "tags": ["socflow:mail", *tags],
                    "message": message})

    from .message import _loose_addresses

    head = report.headers
    for header, tag in (("from", "sender"), ("reply_to", "reply-to"), ("return_path", "return-path"),
                        ("sender", "sender-header")):
        for _, address in _loose_addresses(head.get(header, "") or ""):
            if "@" in address:
                add("mail", address.lower(), [f"mail:{tag}"], f"{tag} of the analysed message")
    if head.get("originating_ip"):
        add("ip", head["originating_ip"], ["mail:originating-ip"],
            "address the first trusted receiver got the message from")
    for link in report.links:
        if "://" in link.url:
            add("url", link.url, ["mail:link", f"mail:in:{link.where}"], f"link ({link.where})")
    for att in report.attachments:
        shown = visible(att.filename)  # the sender's name for it: controls and bidi by name
        add("hash", att.sha256, ["mail:attachment", f"filename:{shown[:100]}"],
            f"SHA-256 of attachment {shown}")
        if att.filename:
            add("filename", att.filename, ["mail:attachment"], f"attachment ({att.real_type or att.declared_type})")
    for ioc in report.indicators:
        kind = IocType(ioc["type"])
        if kind in (IocType.MAIL, IocType.USERNAME):
            continue  # addresses in bodies may be the victim's; the sender side is above
        if kind in (IocType.IPV4, IocType.IPV6) and ioc.get("ip_class") != "public":
            continue
        add(kind.thehive_type, ioc["value"], [f"mail:in:{w}" for w in ioc["where"]],
            "found in " + ", ".join(ioc["where"]))
    if head.get("subject"):
        add("mail-subject", head["subject"], ["mail:subject"], "subject of the analysed message")
    return out
