"""Value types shared by every stage of the pipeline (frozen where they are values)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class IocType(str, enum.Enum):
    """Indicator types. Values are TheHive observable data types where one exists."""

    IPV4 = "ipv4"
    IPV6 = "ipv6"
    DOMAIN = "domain"
    URL = "url"
    MAIL = "mail"
    MD5 = "md5"
    SHA1 = "sha1"
    SHA256 = "sha256"
    CVE = "cve"
    USERNAME = "username"

    @property
    def thehive_type(self) -> str:
        """The TheHive observable ``dataType`` this indicator is imported as."""
        return _THEHIVE_TYPES[self]


_THEHIVE_TYPES = {
    IocType.IPV4: "ip",
    IocType.IPV6: "ip",
    IocType.DOMAIN: "domain",
    IocType.URL: "url",
    IocType.MAIL: "mail",
    IocType.MD5: "hash",
    IocType.SHA1: "hash",
    IocType.SHA256: "hash",
    IocType.CVE: "other",
    IocType.USERNAME: "other",
}


class IpClass(str, enum.Enum):
    """Where an IP address lives; only PUBLIC addresses are worth an external lookup."""

    PUBLIC = "public"
    PRIVATE = "private"
    LOOPBACK = "loopback"
    LINK_LOCAL = "link-local"
    CGNAT = "cgnat"
    MULTICAST = "multicast"
    DOCUMENTATION = "documentation"
    RESERVED = "reserved"


class Level(str, enum.Enum):
    """TheHive taxonomy levels, ordered from harmless to bad."""

    INFO = "info"
    SAFE = "safe"
    SUSPICIOUS = "suspicious"
    MALICIOUS = "malicious"

    @property
    def rank(self) -> int:
        return _LEVEL_RANK[self]


_LEVEL_RANK = {Level.INFO: 0, Level.SAFE: 1, Level.SUSPICIOUS: 2, Level.MALICIOUS: 3}


@dataclass(frozen=True, slots=True)
class Event:
    """One log line, parsed. Every field but ``raw`` and ``fmt`` may be empty."""

    raw: str
    fmt: str
    timestamp: datetime | None = None
    host: str = ""
    program: str = ""
    client_ip: str = ""
    user: str = ""
    method: str = ""
    url: str = ""
    status: int | None = None
    user_agent: str = ""
    referer: str = ""
    message: str = ""
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Ioc:
    """An indicator seen in the input, aggregated over every line it appeared on."""

    type: IocType
    value: str
    count: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    contexts: dict[str, int] = field(default_factory=dict)  # context -> lines seen in it
    samples: list[str] = field(default_factory=list)
    ip_class: IpClass | None = None
    warninglists: tuple[str, ...] = ()  # MISP warning lists it is on (socflow.warninglists)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type.value,
            "value": self.value,
            "count": self.count,
            "first_seen": self.first_seen.isoformat() if self.first_seen else None,
            "last_seen": self.last_seen.isoformat() if self.last_seen else None,
            "contexts": sorted(self.contexts),
            "context_counts": dict(sorted(self.contexts.items())),
            "samples": list(self.samples),
            "ip_class": self.ip_class.value if self.ip_class else None,
            "warninglists": list(self.warninglists),
        }


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one threat-intel service says about one indicator (consumed by analyzers and bridge)."""

    service: str
    indicator: str
    level: Level
    score: float | None
    summary: str
    raw: dict[str, Any]
    fetched_at: float
    from_cache: bool = False
