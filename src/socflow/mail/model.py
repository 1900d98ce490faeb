"""What the mail stage produces: typed findings with evidence and a weight, and the report.

Values here are plain data (JSON-ready through ``to_dict``); attacker-written text is kept as
text and never interpreted. Adapters that show it to people escape it (the CLI strips control
characters, templates autoescape).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CATEGORIES = ("authentication", "origin", "identity", "content", "attachment", "intel", "message")


@dataclass(slots=True)
class Finding:
    """One observation about a message. ``code`` is stable (``auth.dmarc_fail``) and names the
    policy weight; ``weight`` is filled in by the verdict from the policy."""

    code: str
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)
    weight: float = 0.0

    @property
    def category(self) -> str:
        return _CATEGORY_OF.get(self.code.split(".", 1)[0], "message")

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "category": self.category, "weight": self.weight,
                "summary": self.summary, "evidence": self.evidence}


_CATEGORY_OF = {"auth": "authentication", "origin": "origin", "identity": "identity",
                "content": "content", "attachment": "attachment", "message": "message",
                "report": "message", "intel": "intel"}


@dataclass(slots=True)
class Hop:
    """One Received field, oldest hop first once ordered. ``ip`` is the address the receiving
    MTA saw (in round/square brackets of the from clause), never the sender's HELO text."""

    index: int  # position of the field among all header fields (0 = top)
    raw: str
    from_host: str = ""
    from_ip: str = ""
    ip_class: str = ""
    by_host: str = ""
    protocol: str = ""
    time: str = ""  # ISO 8601 UTC, "" when missing or unparsable
    epoch: float | None = None
    delay: float | None = None  # seconds since the previous (older) hop
    trusted: bool = False  # written by a receiver the policy trusts

    def to_dict(self) -> dict[str, Any]:
        return {"from_host": self.from_host, "from_ip": self.from_ip, "ip_class": self.ip_class,
                "by_host": self.by_host, "protocol": self.protocol, "time": self.time,
                "delay": self.delay, "trusted": self.trusted}


@dataclass(slots=True)
class AuthResults:
    """Authentication results believed for this message (from a trusted receiver only)."""

    source: str = ""  # "authserv-id mx.example.org", "microsoft365", "" = nothing trusted
    spf: str = ""
    spf_domain: str = ""
    dkim: list[dict[str, str]] = field(default_factory=list)  # {"result", "domain", "selector"}
    dmarc: str = ""
    dmarc_from: str = ""
    arc: str = ""
    compauth: str = ""
    compauth_reason: str = ""
    aligned: bool | None = None  # our own DMARC alignment computation (None: no basis)
    aligned_by: str = ""  # "dkim" / "spf" / ""
    ignored: list[dict[str, str]] = field(default_factory=list)  # untrusted fields: id, where, text
    body_hashes: list[dict[str, Any]] = field(default_factory=list)  # offline DKIM bh= checks

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "spf": self.spf, "spf_domain": self.spf_domain,
                "dkim": self.dkim, "dmarc": self.dmarc, "dmarc_from": self.dmarc_from,
                "arc": self.arc, "compauth": self.compauth, "compauth_reason": self.compauth_reason,
                "aligned": self.aligned, "aligned_by": self.aligned_by,
                "dkim_body_hashes": self.body_hashes, "ignored": self.ignored}


@dataclass(slots=True)
class Attachment:
    filename: str
    declared_type: str
    size: int
    sha256: str
    md5: str
    sha1: str
    real_type: str = ""  # by content (magic bytes), "" when unknown
    members: list[dict[str, Any]] = field(default_factory=list)  # archive listing
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"filename": self.filename, "declared_type": self.declared_type, "size": self.size,
                "sha256": self.sha256, "sha1": self.sha1, "md5": self.md5,
                "real_type": self.real_type, "members": self.members, "notes": self.notes}


@dataclass(slots=True)
class Link:
    url: str
    host: str
    text: str = ""  # the text a reader sees ("" for plain-text URLs)
    shown_host: str = ""  # a host named by that text, when it names one
    where: str = "text/plain"

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "host": self.host, "text": self.text,
                "shown_host": self.shown_host, "where": self.where}


@dataclass
class MailReport:
    """Everything the mail stage found in one message, and its verdict."""

    source: str
    verdict: str = "safe"  # safe / suspicious / malicious
    score: float = 0.0
    headers: dict[str, Any] = field(default_factory=dict)  # subject, from, to, date, message_id…
    reporter: dict[str, str] | None = None  # set when the message was a user's report
    findings: list[Finding] = field(default_factory=list)
    auth: AuthResults = field(default_factory=AuthResults)
    hops: list[Hop] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    indicators: list[dict[str, Any]] = field(default_factory=list)  # from the core extractor
    defects: list[str] = field(default_factory=list)
    enrichment: list[dict[str, Any]] = field(default_factory=list)
    # the reported message's own bytes when this report judged a user's report (for the intake's
    # .eml observable); not part of to_dict
    reported_message: bytes | None = field(default=None, repr=False)

    @property
    def reasons(self) -> list[Finding]:
        """Findings that moved the score up, heaviest first."""
        return sorted((f for f in self.findings if f.weight > 0), key=lambda f: -f.weight)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "verdict": self.verdict,
            "score": round(self.score, 2),
            "reasons": [f"{f.summary} (+{f.weight:g})" for f in self.reasons],
            "headers": self.headers,
            "reporter": self.reporter,
            "authentication": self.auth.to_dict(),
            "hops": [h.to_dict() for h in self.hops],
            "findings": [f.to_dict() for f in self.findings],
            "links": [link.to_dict() for link in self.links],
            "attachments": [a.to_dict() for a in self.attachments],
            "indicators": self.indicators,
            "defects": self.defects,
            "enrichment": self.enrichment,
        }
