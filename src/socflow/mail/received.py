"""The Received chain: hops (oldest first), the trusted receiving hops, the first external hop.

A Received field is written by the server that received the message, so only the fields written
by servers we trust are believed: the walk starts at the top (the last hop, at delivery) and goes
down while the hop was written by a trusted receiver *and* that receiver got the message from
another trusted/internal host. The hop where a trusted receiver took the message from outside is
the edge; its ``from`` address is the originating address as our side saw it. Everything below
the edge was written by the sender or by servers on the way that we cannot vouch for (RFC 5321
§4.4; fact sheet §2.3, mail-parser's trusted-hop method).
"""

from __future__ import annotations

import re
from datetime import timezone
from email.utils import parsedate_to_datetime

from ..extract.validate import classify_ip
from ..models import IpClass
from .model import Hop

MAX_FIELD = 4096  # characters of one Received field we parse (bounded regex work)

_FROM = re.compile(r"^\s*from\s+(\S{1,255})", re.IGNORECASE)
_BY = re.compile(r"(?:^|\s)by\s+([^\s;()]{1,255})", re.IGNORECASE)
_WITH = re.compile(r"\swith\s+([A-Za-z0-9_-]{1,40})", re.IGNORECASE)
_BRACKET_IP = re.compile(r"\[(?:IPv6:)?([0-9A-Fa-f:.]{2,45})(?:%[\w.-]{1,16})?\]")
_PAREN_IP = re.compile(r"\(\s*([0-9A-Fa-f:.]{2,45})(?:%[\w.-]{1,16})?\s*\)")
_PAREN_HOST = re.compile(r"\(\s*([A-Za-z0-9.-]{1,255}?)\.?\s*[\[(]")

# Provider edges: where Exchange Online / Gmail took a message in from the Internet.
MICROSOFT_EDGE = ".mail.protection.outlook.com"
MICROSOFT_INTERNAL = (".outlook.com", ".office365.com", ".outlook.office365.com")
GOOGLE_EDGE = "mx.google.com"


def parse_hop(index: int, raw: str) -> Hop:
    text = " ".join(raw[:MAX_FIELD].split())
    hop = Hop(index=index, raw=text)
    head, sep, date = text.rpartition(";")
    if not sep:
        head, date = text, ""
    by = _BY.search(head)
    if by:
        hop.by_host = by.group(1).lower().rstrip(".")
    m = _FROM.match(head)
    if m:
        hop.from_host = m.group(1).lower().strip("[]").rstrip(".")
        clause = head[m.start(): by.start() if by and by.start() > m.start() else len(head)]
        ip = _first_ip(clause[m.end() - m.start():]) or _first_ip(m.group(1))
        if ip:
            hop.from_ip = ip
            cls = classify_ip(ip)
            hop.ip_class = cls.value if cls else ""
    w = _WITH.search(head)
    if w:
        hop.protocol = w.group(1).upper()
    date = date.strip()
    if date:
        try:
            when = parsedate_to_datetime(date[:80])
            if when.tzinfo is None:
                when = when.replace(tzinfo=timezone.utc)
            hop.epoch = when.timestamp()
            hop.time = when.astimezone(timezone.utc).isoformat()
        except (TypeError, ValueError, IndexError, OverflowError):
            pass
    return hop


def _first_ip(clause: str) -> str:
    """The address in brackets (Postfix/Exim/Sendmail ``[ip]``, Exchange ``(ip)``), validated
    by the core's IP classifier; HELO text outside brackets is never taken for the address."""
    import ipaddress

    for pattern in (_BRACKET_IP, _PAREN_IP):
        for m in pattern.finditer(clause):
            if clause[max(m.start() - 5, 0): m.start()].lower() == "helo=":
                continue  # Exim's helo=[…] is what the client said, not its address
            value = m.group(1)
            if classify_ip(value) is None:
                continue
            if ":" in value:
                ip = ipaddress.ip_address(value)
                return str(ip.ipv4_mapped) if ip.ipv4_mapped else ip.compressed
            return value
    return ""


def _suffix_match(host: str, names: list[str] | tuple[str, ...]) -> bool:
    for name in names:
        if name.startswith("."):
            if host.endswith(name):
                return True
        elif host == name or host.endswith("." + name):
            return True
    return False


def _internal_ip(hop: Hop) -> bool:
    return hop.ip_class in (IpClass.PRIVATE.value, IpClass.LOOPBACK.value,
                            IpClass.LINK_LOCAL.value, IpClass.CGNAT.value)


def _is_ip_literal(host: str) -> bool:
    return classify_ip(host.strip("[]")) is not None


def trusted_walk(hops_top_first: list[Hop], receiving_hosts: list[str], microsoft: bool,
                 google: bool, org_ids_configured: bool) -> tuple[int, str]:
    """Mark the trusted hops (top run) and return (how many, which receiver: "organisation",
    "microsoft365", "google" or "")."""
    receiver = ""
    count = 0
    for i, hop in enumerate(hops_top_first):
        by = hop.by_host
        if microsoft and (by.endswith(MICROSOFT_INTERNAL) or by.endswith(MICROSOFT_EDGE)
                          or (i == count and receiver == "microsoft365" and _is_ip_literal(by))):
            receiver = receiver or "microsoft365"
            if receiver != "microsoft365":
                break
            hop.trusted = True
            count += 1
            if by.endswith(MICROSOFT_EDGE):
                break  # the inbound edge: below is the Internet
            continue
        if google and (by == GOOGLE_EDGE or (i == 0 and _is_ip_literal(by) and not hop.from_host)):
            if receiver not in ("", "google"):
                break
            receiver = "google"
            hop.trusted = True
            count += 1
            if by == GOOGLE_EDGE:
                break
            continue
        if receiving_hosts and _suffix_match(by, receiving_hosts) or (
                i == 0 and org_ids_configured and not receiver):
            if receiver not in ("", "organisation"):
                break
            receiver = "organisation"
            hop.trusted = True
            count += 1
            # Go on only if this receiver got the message from an internal host.
            if _suffix_match(hop.from_host, receiving_hosts) or _internal_ip(hop) \
                    or not hop.from_host:
                continue
            break
        break
    if receiver in ("microsoft365", "google") and not any(
            h.by_host.endswith(MICROSOFT_EDGE) or h.by_host == GOOGLE_EDGE
            for h in hops_top_first[:count]):
        # Provider internals seen but not the edge: e.g. a sender's own outbound tenant.
        # Believe nothing rather than a chain we cannot anchor.
        for h in hops_top_first[:count]:
            h.trusted = False
        return 0, ""
    return count, receiver


def order_and_delays(hops_top_first: list[Hop]) -> list[Hop]:
    """Oldest first, with the delay from the previous hop."""
    hops = list(reversed(hops_top_first))
    previous: float | None = None
    for hop in hops:
        if hop.epoch is not None and previous is not None:
            hop.delay = round(hop.epoch - previous, 3)
        if hop.epoch is not None:
            previous = hop.epoch
    return hops
