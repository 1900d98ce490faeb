"""What may go on a block list: normalise an indicator, then accept it or refuse it with a reason.

Three list types exist because firewalls consume three kinds of list: ``ip`` (addresses and CIDR
networks), ``domain`` (names; TheHive's ``fqdn``/``hostname`` map here) and ``url``. IP classes
come from :func:`socflow.extract.validate.classify_ip` and names are checked with
:func:`socflow.extract.validate.is_domain`, so the block policy and the extractor agree on what a
public address or a real domain is.

Values are rejected as ``malformed`` when they contain whitespace or control characters: a
newline inside a value would otherwise inject a second line into a firewall's list.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import ConfigError
from ..extract.validate import classify_ip, is_domain
from ..models import IpClass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_URL_LENGTH = 2048


class EntryType(str, enum.Enum):
    IP = "ip"
    DOMAIN = "domain"
    URL = "url"


# TheHive observable data types that can be blocked, and the list each one goes to.
THEHIVE_TYPES: dict[str, EntryType] = {
    "ip": EntryType.IP,
    "domain": EntryType.DOMAIN,
    "fqdn": EntryType.DOMAIN,
    "hostname": EntryType.DOMAIN,
    "url": EntryType.URL,
}


class Refusal(str, enum.Enum):
    MALFORMED = "malformed"
    PRIVATE = "private"
    LOOPBACK = "loopback"
    LINK_LOCAL = "link-local"
    CGNAT = "cgnat"
    MULTICAST = "multicast"
    DOCUMENTATION = "documentation"
    RESERVED = "reserved"
    TOO_WIDE = "too-wide"
    PUBLIC_SUFFIX = "public-suffix"
    ALLOWLISTED = "allowlisted"


_CLASS_REFUSAL = {
    IpClass.PRIVATE: Refusal.PRIVATE,
    IpClass.LOOPBACK: Refusal.LOOPBACK,
    IpClass.LINK_LOCAL: Refusal.LINK_LOCAL,
    IpClass.CGNAT: Refusal.CGNAT,
    IpClass.MULTICAST: Refusal.MULTICAST,
    IpClass.DOCUMENTATION: Refusal.DOCUMENTATION,
    IpClass.RESERVED: Refusal.RESERVED,
}

# Special-purpose blocks (IANA registries) used to find non-public space *inside* a wide CIDR;
# the class of each is still decided by classify_ip on its first address.
_SPECIAL_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/128",
        "::1/128",
        "::ffff:0:0/96",
        "64:ff9b::/96",
        "100::/64",
        "2001::/23",
        "2001:db8::/32",
        "2002::/16",
        "3fff::/20",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
    )
)

# RFC 2606 / RFC 6761 names: never somebody's infrastructure worth blocking.
_DOCUMENTATION_DOMAINS = ("example.com", "example.net", "example.org")
_SPECIAL_TLDS = frozenset({"test", "example", "invalid", "localhost", "local", "internal", "onion"})

_BAD_CHARS = re.compile(r"[\s\x00-\x1f\x7f]")


class MalformedValue(ValueError):
    """A value that cannot be normalised; the message says why."""


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict on one value. ``value`` is normalised when normalisation succeeded."""

    input: str
    type: EntryType | None
    value: str
    refusal: Refusal | None = None
    reason: str = ""

    @property
    def allowed(self) -> bool:
        return self.refusal is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "type": self.type.value if self.type else None,
            "value": self.value,
            "allowed": self.allowed,
            "refusal": self.refusal.value if self.refusal else None,
            "reason": self.reason,
        }


def _refang(value: str) -> str:
    value = value.strip().replace("[.]", ".").replace("(.)", ".").replace("[:]", ":")
    return re.sub(r"^hxxp", "http", value, flags=re.IGNORECASE)


def _parse_type(type_hint: str | EntryType | None) -> EntryType | None:
    if type_hint is None or isinstance(type_hint, EntryType):
        return type_hint
    try:
        return THEHIVE_TYPES[type_hint.strip().lower()]
    except KeyError:
        known = ", ".join(THEHIVE_TYPES)
        raise MalformedValue(
            f"type {type_hint!r} cannot be blocked (use one of: {known})"
        ) from None


def _normalise_ip(value: str) -> str:
    if "%" in value:
        raise MalformedValue(f"{value!r}: zone indexes (%…) are not allowed in a block list")
    try:
        net = ipaddress.ip_network(value.strip("[]"), strict=False)
    except ValueError:
        raise MalformedValue(f"{value!r} is not an IP address or CIDR network") from None
    net = _unmapped(net)
    if net.prefixlen == net.max_prefixlen:
        return str(net.network_address)
    return str(net)


_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


def _unmapped(net: Network) -> Network:
    """An IPv4-mapped IPv6 network (``::ffff:a.b.c.d/n``, n >= 96) as the IPv4 network it is.

    Firewalls and the allowlist see IPv4 traffic as IPv4: left in its IPv6 spelling, a mapped
    range would slip past the allowlist, the private-space checks and ``--widest-v4``.
    """
    if isinstance(net, ipaddress.IPv6Network) and net.prefixlen >= 96 and net.subnet_of(_MAPPED):
        v4 = net.network_address.ipv4_mapped
        assert v4 is not None
        return ipaddress.IPv4Network(f"{v4}/{net.prefixlen - 96}")
    return net


def _normalise_domain(value: str) -> str:
    name = value.lower().rstrip(".") if value.isascii() else value.rstrip(".。．｡")
    if name.startswith("*."):
        raise MalformedValue(
            f"{value!r}: wildcards are not accepted; block the parent name instead"
        )
    if "/" in name or ":" in name or "@" in name:
        raise MalformedValue(f"{value!r} is not a domain name (looks like a URL or address)")
    if not name.isascii():
        name = _idna(value, name)
    if _looks_like_ip(name):
        raise MalformedValue(f"{value!r} is an IP address, not a domain name")
    return name


def _idna(value: str, name: str) -> str:
    """IDNA 2008 with UTS #46 mapping, non-transitional: ``faß.de`` is ``xn--fa-hia.de``, a
    different registration from ``fass.de`` (Python's built-in ``idna`` codec is IDNA 2003 and
    maps ß to ss, which would block the wrong domain)."""
    import idna

    try:
        return idna.encode(name, uts46=True, transitional=False).decode("ascii").lower()
    except (idna.IDNAError, UnicodeError, ValueError):
        raise MalformedValue(f"{value!r} is not a valid internationalised domain name") from None


def _normalise_url(value: str) -> str:
    if len(value) > MAX_URL_LENGTH:
        raise MalformedValue(f"URL longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise MalformedValue(f"{value!r} is not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise MalformedValue(f"{value!r}: only http and https URLs can be blocked")
    host = parts.hostname or ""
    if not host:
        raise MalformedValue(f"{value!r}: the URL has no host")
    host = _normalise_ip(host) if _looks_like_ip(host) else _normalise_domain(host)
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != {"http": 80, "https": 443}[scheme]:
        netloc += f":{port}"
    # user:password@ is dropped: it is not part of what a firewall matches and may be a secret.
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def _looks_like_ip(value: str) -> bool:
    try:
        ipaddress.ip_network(value.strip("[]"), strict=False)
    except ValueError:
        return False
    return True


def normalise(value: str, type_hint: str | EntryType | None = None) -> tuple[EntryType, str]:
    """Canonical form of ``value`` and its list type; raises :class:`MalformedValue`.

    ``type_hint`` is a list type or a TheHive data type (``fqdn`` → domain); without it the type
    is guessed: address/CIDR, then URL (has ``://``), then domain.
    """
    if not isinstance(value, str):
        raise MalformedValue(f"value must be a string, not {type(value).__name__}")
    value = _refang(value)
    if not value:
        raise MalformedValue("empty value")
    if _BAD_CHARS.search(value):
        raise MalformedValue(f"{value!r} contains whitespace or control characters")
    kind = _parse_type(type_hint)
    if kind is None:
        kind = (
            EntryType.IP
            if _looks_like_ip(value)
            else (EntryType.URL if "://" in value else EntryType.DOMAIN)
        )
    if kind is EntryType.IP:
        return kind, _normalise_ip(value)
    if kind is EntryType.URL:
        return kind, _normalise_url(value)
    return kind, _normalise_domain(value)


@lru_cache(maxsize=1)
def _psl() -> Any:
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList()  # ICANN and private sections: blocking github.io is as bad as .com


def _type_or_none(type_hint: str | EntryType | None) -> EntryType | None:
    try:
        return _parse_type(type_hint)
    except MalformedValue:
        return None


def _domain_covers(parent: str, child: str) -> bool:
    return child == parent or child.endswith("." + parent)


class BlockPolicy:
    """Refusal rules. ``widest_v4``/``widest_v6`` are the shortest prefix lengths accepted."""

    def __init__(
        self, *, allowlist: Iterable[str] = (), widest_v4: int = 24, widest_v6: int = 48
    ) -> None:
        if not 0 <= widest_v4 <= 32 or not 0 <= widest_v6 <= 128:
            raise ConfigError("widest CIDR prefix must be 0-32 for IPv4 and 0-128 for IPv6")
        self.widest_v4 = widest_v4
        self.widest_v6 = widest_v6
        self.allow_networks: list[Network] = []
        self.allow_domains: list[str] = []
        for entry in allowlist:
            self._add_allow(entry)

    def _add_allow(self, entry: str) -> None:
        text = entry.strip()
        if not text or text.startswith("#"):
            return
        try:
            if _looks_like_ip(text):
                net = ipaddress.ip_network(text.strip("[]"), strict=False)
                self.allow_networks.append(_unmapped(net))
                return
            if "://" in text:
                text = urlsplit(text).hostname or ""
            _, name = normalise(text.removeprefix("*."), EntryType.DOMAIN)
            if not is_domain(name, host_position=True):
                raise MalformedValue(name)
            self.allow_domains.append(name)
        except (MalformedValue, ValueError):
            raise ConfigError(
                f"allowlist entry {entry!r} is neither an IP/CIDR nor a domain"
            ) from None

    def check(self, value: str, type_hint: str | EntryType | None = None) -> Decision:
        """Normalise ``value`` and decide; never raises for bad input."""
        try:
            kind, norm = normalise(value, type_hint)
        except MalformedValue as exc:
            return Decision(
                str(value), _type_or_none(type_hint), str(value), Refusal.MALFORMED, str(exc)
            )
        refusal = self._refuse(kind, norm)
        if refusal:
            return Decision(value, kind, norm, refusal[0], refusal[1])
        return Decision(value, kind, norm)

    def _refuse(self, kind: EntryType, value: str) -> tuple[Refusal, str] | None:
        if kind is EntryType.IP:
            return self._refuse_network(_unmapped(ipaddress.ip_network(value, strict=False)))
        if kind is EntryType.DOMAIN:
            return self._refuse_domain(value, whole_domain=True)
        host = urlsplit(value).hostname or ""
        if _looks_like_ip(host):
            return self._refuse_network(_unmapped(ipaddress.ip_network(host)))
        return self._refuse_domain(host, whole_domain=False)

    def _refuse_network(self, net: Network) -> tuple[Refusal, str] | None:
        widest = self.widest_v4 if net.version == 4 else self.widest_v6
        if net.prefixlen < widest:
            return Refusal.TOO_WIDE, f"{net} is wider than the allowed /{widest}"
        shown = net.network_address if net.prefixlen == net.max_prefixlen else net
        for probe in (net.network_address, net.broadcast_address):
            cls = classify_ip(str(probe))
            if cls is not None and cls is not IpClass.PUBLIC:
                where = "" if probe == shown else f" ({probe})"
                return _CLASS_REFUSAL[cls], f"{shown} is in {cls.value} address space{where}"
        for special in _SPECIAL_NETWORKS:
            if special.version == net.version and special.subnet_of(net):  # type: ignore[arg-type]
                cls = classify_ip(str(special.network_address)) or IpClass.RESERVED
                refusal = _CLASS_REFUSAL.get(cls, Refusal.RESERVED)
                return refusal, f"{net} contains {refusal.value} range {special}"
        for allowed in self.allow_networks:
            if allowed.version == net.version and net.overlaps(allowed):  # type: ignore[arg-type]
                return Refusal.ALLOWLISTED, f"{shown} overlaps allowlisted {allowed}"
        return None

    def _refuse_domain(self, name: str, *, whole_domain: bool) -> tuple[Refusal, str] | None:
        tld = name.rsplit(".", 1)[-1]
        if tld in _SPECIAL_TLDS or name.endswith(".home.arpa") or name == "localhost":
            return Refusal.RESERVED, f"{name} uses the special-use name .{tld}"
        if any(_domain_covers(doc, name) for doc in _DOCUMENTATION_DOMAINS):
            return Refusal.DOCUMENTATION, f"{name} is a documentation name (RFC 2606)"
        if not is_domain(name, host_position=True):
            return Refusal.MALFORMED, f"{name} is not a valid public domain name"
        if whole_domain and _psl().is_public(name):
            return (
                Refusal.PUBLIC_SUFFIX,
                f"{name} is a public suffix; blocking it blocks every site under it",
            )
        for allowed in self.allow_domains:
            if _domain_covers(allowed, name):
                return Refusal.ALLOWLISTED, f"{name} is allowlisted ({allowed})"
            if whole_domain and _domain_covers(name, allowed):
                return (
                    Refusal.ALLOWLISTED,
                    f"blocking {name} would also block allowlisted {allowed}",
                )
        return None
