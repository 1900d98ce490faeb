"""The labelling policy of ``tests/eval/README.md`` as small helpers.

Each helper returns the set of ``(type, value)`` indicators a human analyst expects from one
piece of a line, already normalised (lower-case domains and hashes, upper-case CVE ids, refanged).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

Labels = set[tuple[str, str]]

# Suffixes that are not on the ICANN part of the Public Suffix List: never domains.
NOT_PUBLIC_SUFFIXES = frozenset(
    {"local", "internal", "lan", "corp", "localdomain", "home", "example", "invalid", "test",
     "arpa", "localhost"}
)
UNSPECIFIED = frozenset({"0.0.0.0", "::"})


def ip(value: str) -> Labels:
    """An IPv4/IPv6 address (zone id dropped, IPv4-mapped reported as IPv4)."""
    addr = ipaddress.ip_address(value.split("%", 1)[0])
    if str(addr) in UNSPECIFIED:
        return set()
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        return {("ipv4", str(addr.ipv4_mapped))}
    return {("ipv4" if addr.version == 4 else "ipv6", str(addr))}


def host(value: str) -> Labels:
    """A host name or address as it appears in a URL, mail, structured host field, etc."""
    value = value.strip("[]").rstrip(".")
    try:
        return ip(value)
    except ValueError:
        pass
    name = value.lower()
    if "." not in name or name.rsplit(".", 1)[1] in NOT_PUBLIC_SUFFIXES:
        return set()
    return {("domain", name)}


def url(value: str) -> Labels:
    """A web URL as written (refanged); its host is an indicator too."""
    parts = urlsplit(value)
    assert parts.scheme in {"http", "https", "ftp"}, value
    return {("url", value)} | host(parts.hostname or "")


def mail(value: str) -> Labels:
    return {("mail", value.lower())} | host(value.rsplit("@", 1)[1])


def user(value: str) -> Labels:
    return {("username", value)} if value else set()


def hashes(*values: str) -> Labels:
    kinds = {32: "md5", 40: "sha1", 64: "sha256"}
    return {(kinds[len(v)], v.lower()) for v in values}


def cve(value: str) -> Labels:
    return {("cve", value.upper())}


def union(*parts: Labels) -> Labels:
    out: Labels = set()
    for part in parts:
        out |= part
    return out
