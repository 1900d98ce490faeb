"""Plain-text lists in the shape firewalls poll.

One entry per line, LF line ends, no comments, no blank lines, deterministic order — the common
subset of what these consumers accept:

* Palo Alto external dynamic lists: IP list (address, CIDR or range per line), domain list (one
  name per line), URL list (entries without ``http://``/``https://``);
* FortiGate threat feeds (``config system external-resource``): IP address, domain and URL types,
  one entry per line;
* pfSense "URL Table (IPs)" and OPNsense "URL Tables (IPs)" aliases: one address or CIDR per line.

URL entries are written without their scheme by default because both PAN-OS URL lists and
FortiGate URL feeds match on host and path; ``keep_scheme`` gives the full URL for consumers that
want it.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable


def _ip_sort_key(value: str) -> tuple[int, int, int]:
    net = ipaddress.ip_network(value, strict=False)
    return net.version, int(net.network_address), net.prefixlen


def _strip_scheme(url: str) -> str:
    return url.split("://", 1)[1] if "://" in url else url


def render(list_type: str, values: Iterable[str], *, keep_scheme: bool = False) -> str:
    """The list body; empty string for an empty list (every consumer above accepts that)."""
    items = set(values)
    if list_type == "ip":
        lines = sorted(items, key=_ip_sort_key)
    elif list_type == "url" and not keep_scheme:
        lines = sorted({_strip_scheme(v) for v in items})
    else:
        lines = sorted(items)
    return "".join(f"{line}\n" for line in lines)


def same_line(url: str, values: Iterable[str]) -> list[str]:
    """Other URL entries that print as the same scheme-less line as ``url``.

    ``http://x/a`` and ``https://x/a`` are two entries (each removed only by its own unblock) but
    one line ``x/a`` of the default list: removing one leaves the line, and the caller says so.
    """
    if "://" not in url:
        return []
    line = _strip_scheme(url)
    return sorted(v for v in values if v != url and _strip_scheme(v) == line)


def etag(body: str) -> str:
    return '"' + hashlib.sha256(body.encode("utf-8")).hexdigest()[:32] + '"'


def md5(body: str) -> str:
    """Hex MD5 of the list, for consumers (Cisco FMC custom feeds) that poll a checksum URL."""
    return hashlib.md5(body.encode("utf-8"), usedforsecurity=False).hexdigest()
