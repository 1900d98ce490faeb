"""Is this candidate really an indicator? IP classes and domain validation (pure, cached).

Domains are checked against the ICANN section of the Public Suffix List shipped inside the
``publicsuffixlist`` package, so nothing is downloaded at run time. An unknown top-level label
(``.local``, ``.exe``, ``.properties``) is never a domain.
"""

from __future__ import annotations

import ipaddress
from bisect import bisect_right
from functools import lru_cache

from publicsuffixlist import PSLFILE

from ..models import IpClass

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_DOCUMENTATION = tuple(
    ipaddress.ip_network(n)
    for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32", "3fff::/20")
)
_BENCHMARK = (ipaddress.ip_network("198.18.0.0/15"), ipaddress.ip_network("2001:2::/48"))

# Top-level labels that are also everyday file extensions (``setup.py``, ``backup.zip``,
# ``workers2.properties``, ``Safari.app``): in a log line such a name is a file far more often than
# a host, so it counts as a domain only where the position says "host" (a URL host, an e-mail
# domain). ``.cc`` and ``.pl`` stay out of this list: they are busy country-code domains.
FILE_LIKE_TLDS = frozenset({
    "app", "cab", "data", "download", "java", "map", "md", "mov", "pid", "pm", "properties",
    "ps", "py", "rs", "run", "save", "sh", "so", "zip",
})


# Object paths that end in a top-level domain: JavaScript ("window.name", "top.location.host",
# "console.info", "navigator.onLine") and ECS / OpenTelemetry field names ("host.name",
# "user.name", "trace.id", "dns.question.name"). Outside a host position, a name whose first
# label is such a root and whose last label a property of that kind is not a domain
# ("dns.google", "www.history.com", "telemetry.evil.top" still are).
_JS_ROOTS = frozenset({
    "window", "document", "navigator", "location", "self", "top", "parent", "frames", "opener",
    "history", "screen", "console", "localstorage", "sessionstorage", "globalthis", "this",
})
_JS_PROPERTIES = frozenset({"name", "host", "search", "top", "online", "info", "group", "storage"})
_FIELD_ROOTS = frozenset({
    # ECS field sets, OpenTelemetry namespaces, Beats / Kubernetes metadata
    "agent", "client", "cloud", "container", "destination", "device", "dll", "dns", "ecs",
    "error", "event", "faas", "file", "geo", "group", "host", "http", "log", "network",
    "observer", "orchestrator", "organization", "os", "package", "process", "registry",
    "related", "rule", "server", "service", "source", "span", "threat", "tls", "trace",
    "transaction", "url", "user", "user_agent", "vulnerability", "x509", "labels", "kubernetes",
    "k8s", "net", "db", "messaging", "rpc", "peer", "enduser", "exception", "thread", "code",
    "telemetry", "deployment", "winlog", "data_stream", "module",
})
_FIELD_PROPERTIES = frozenset({"name", "id", "email", "family", "host", "app", "data", "info"})
OBJECT_ROOTS = _JS_ROOTS | _FIELD_ROOTS  # the C tokenizer leaves names under these to Python


def is_property_chain(labels: list[str]) -> bool:
    """``window.name``, ``host.name``, ``trace.id``: an object path, not a host name."""
    root, leaf = labels[0], labels[-1]
    return ((root in _JS_ROOTS and leaf in _JS_PROPERTIES)
            or (root in _FIELD_ROOTS and leaf in _FIELD_PROPERTIES))


def _load_icann_tlds() -> frozenset[str]:
    tlds: set[str] = set()
    in_icann = False
    with open(PSLFILE, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if "===BEGIN ICANN DOMAINS===" in line:
                in_icann = True
            elif "===END ICANN DOMAINS===" in line:
                break
            elif in_icann and line and not line.startswith("//"):
                top = line.lstrip("!*.").rsplit(".", 1)[-1]
                tlds.add(top.lower())
                try:
                    tlds.add(top.encode("idna").decode("ascii").lower())
                except UnicodeError:
                    pass
    return frozenset(tlds)


@lru_cache(maxsize=1)
def icann_tlds() -> frozenset[str]:
    """Loaded on first use (~40 ms), so importing this module for IP classes stays cheap."""
    return _load_icann_tlds()


def _v4(cidr: str) -> tuple[int, int]:
    net = ipaddress.IPv4Network(cidr)
    return int(net.network_address), int(net.broadcast_address)


# IANA special-purpose IPv4 ranges (RFC 6890 and successors), sorted by start; the rest is public.
_V4_SPECIAL = sorted(
    (*_v4(cidr), kind)
    for cidr, kind in (
        ("0.0.0.0/8", IpClass.RESERVED), ("10.0.0.0/8", IpClass.PRIVATE),
        ("100.64.0.0/10", IpClass.CGNAT), ("127.0.0.0/8", IpClass.LOOPBACK),
        ("169.254.0.0/16", IpClass.LINK_LOCAL), ("172.16.0.0/12", IpClass.PRIVATE),
        ("192.0.0.0/24", IpClass.RESERVED), ("192.0.2.0/24", IpClass.DOCUMENTATION),
        ("192.31.196.0/24", IpClass.RESERVED), ("192.52.193.0/24", IpClass.RESERVED),
        ("192.88.99.0/24", IpClass.RESERVED), ("192.168.0.0/16", IpClass.PRIVATE),
        ("192.175.48.0/24", IpClass.RESERVED), ("198.18.0.0/15", IpClass.RESERVED),
        ("198.51.100.0/24", IpClass.DOCUMENTATION), ("203.0.113.0/24", IpClass.DOCUMENTATION),
        ("224.0.0.0/4", IpClass.MULTICAST), ("240.0.0.0/4", IpClass.RESERVED),
    )
)
_V4_STARTS = [start for start, _, _ in _V4_SPECIAL]


def _classify_v4(value: str) -> IpClass | None:
    """Dotted-quad fast path (the common case in logs): no ipaddress objects."""
    parts = value.split(".")
    if len(parts) != 4:
        return None
    number = 0
    for part in parts:
        if not part.isdigit() or not part.isascii() or (len(part) > 1 and part[0] == "0"):
            return None
        octet = int(part)
        if octet > 255:
            return None
        number = number << 8 | octet
    i = bisect_right(_V4_STARTS, number) - 1
    if i >= 0 and number <= _V4_SPECIAL[i][1]:
        return _V4_SPECIAL[i][2]
    return IpClass.PUBLIC


@lru_cache(maxsize=16384)
def classify_ip(value: str) -> IpClass | None:
    """The class of an IPv4/IPv6 address, or None when ``value`` is not an address."""
    if ":" not in value:
        return _classify_v4(value)
    try:
        ip = ipaddress.ip_address(value.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        return _classify_v4(str(ip.ipv4_mapped))
    if ip.is_loopback:
        return IpClass.LOOPBACK
    if ip.is_link_local:
        return IpClass.LINK_LOCAL
    if ip.is_multicast:
        return IpClass.MULTICAST
    if any(ip in net for net in _DOCUMENTATION if net.version == ip.version):
        return IpClass.DOCUMENTATION
    if ip.version == 4 and ip in _CGNAT:
        return IpClass.CGNAT
    if any(ip in net for net in _BENCHMARK if net.version == ip.version):
        return IpClass.RESERVED
    if ip.is_unspecified or ip.is_reserved:
        return IpClass.RESERVED
    if ip.is_private:
        return IpClass.PRIVATE
    if not ip.is_global:
        return IpClass.RESERVED
    return IpClass.PUBLIC


def is_public_ip(value: str) -> bool:
    return classify_ip(value) is IpClass.PUBLIC


def _valid_label(label: str) -> bool:
    return (
        0 < len(label) <= 63
        and not label.startswith("-")
        and not label.endswith("-")
        # "_" is valid in DNS names ("_dmarc", "mail_gw"); a label of only "_" and "-" is not
        and label.replace("-", "").replace("_", "").isalnum()
    )


@lru_cache(maxsize=16384)  # bounded: memory must not grow with the input
def is_domain(value: str, *, host_position: bool = False) -> bool:
    """True when ``value`` (lower-case, no trailing dot) is a syntactically valid public name.

    ``host_position`` is True where the surrounding syntax already says "this is a host"
    (URL authority, e-mail domain); only then are file-extension-like TLDs accepted, "_" in the
    label under the public suffix ("check_disk.pl" is a file elsewhere), and object paths such
    as "window.name". A Unicode name (IDN) is judged by its A-label (see ``to_alabel``).
    """
    if not value or len(value) > 253:
        return False
    if not value.isascii():
        alabel = to_alabel(value)
        return alabel is not None and is_domain(alabel, host_position=host_position)
    labels = value.split(".")
    if len(labels) < 2:
        return False
    tld = labels[-1]
    if tld not in icann_tlds() or tld.isdigit() or "_" in tld:
        return False
    if not all(map(_valid_label, labels)):
        return False
    if not host_position and (tld in FILE_LIKE_TLDS or "_" in labels[-2]
                              or is_property_chain(labels)):
        return False
    return True


@lru_cache(maxsize=4096)
def to_alabel(name: str) -> str | None:
    """The A-label (punycode) form of a Unicode host name, or None when it is no valid IDN
    (IDNA 2008 with the UTS 46 mapping, as browsers resolve it)."""
    import idna  # on first Unicode name only: its tables cost ~10 ms to import

    try:
        alabel = idna.encode(name, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        return None
    return alabel.lower()


def domain_forms(name: str) -> tuple[str, ...]:
    """The names a domain is reported as: itself, and for a Unicode name also its A-label
    (DNS, block lists and CTI services use it, and it shows a homograph for what it is)."""
    if name.isascii():
        return (name,)
    alabel = to_alabel(name)
    return (name,) if alabel is None or alabel == name else (name, alabel)


def registered_domain(value: str) -> str:
    """``a.b.example.co.uk`` → ``example.co.uk`` (the name a registrar sold)."""
    from publicsuffixlist import PublicSuffixList

    return _psl(PublicSuffixList).privatesuffix(value) or value


@lru_cache(maxsize=1)
def _psl(cls):  # type: ignore[no-untyped-def]
    return cls(only_icann=True)
