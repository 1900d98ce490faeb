"""A case's indicators as the exporters see them, read from TheHive 5 JSON (no client library).

TheHive observables (``dataType``, ``data``, ``tags``, ``tlp``, ``ioc``, ``message``) become
:class:`Indicator` values; :func:`refusal` says why a value cannot be exported as its type (a
value an attacker wrote — a URL, a sender address, a subject — is only ever data: it is checked,
never interpreted, and a value that fits no rule is refused with a reason instead of breaking the
output).
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..errors import InputError

MAX_VALUE = 4096  # TheHive's own limit on an observable value (spec D.2)
MAX_TAG = 255  # MISP tag names are VARCHAR(255)
MAX_TEXT = 65_535  # MISP event info / attribute comment (TEXT columns)
TLP_NAMES = {0: "clear", 1: "green", 2: "amber", 3: "amber+strict", 4: "red"}  # TheHive >= 5.2
HASH_LENGTHS = {32: "md5", 40: "sha1", 56: "sha224", 64: "sha256", 96: "sha384", 128: "sha512"}
_HEX = re.compile(r"[0-9a-fA-F]+")
_AS = re.compile(r"(?i)(?:AS)?[0-9]{1,10}")


@dataclass(frozen=True)
class Indicator:
    data_type: str  # TheHive dataType: ip, domain, fqdn, hostname, url, mail, hash, filename, …
    value: str
    tags: tuple[str, ...] = ()
    tlp: int = 2
    ioc: bool = False
    message: str = ""

    def __post_init__(self) -> None:
        # pymisp's JSON strips surrounding whitespace from every string: both exports use the
        # stripped value so the MISP event and the STIX bundle always carry the same indicator
        if isinstance(self.value, str):
            object.__setattr__(self, "value", self.value.strip())


@dataclass(frozen=True)
class CaseIndicators:
    """What an export needs of a case: its title, TLP, severity, tags and indicators."""

    title: str
    indicators: tuple[Indicator, ...]
    tlp: int = 2
    severity: int = 2
    tags: tuple[str, ...] = ()
    reference: str = ""  # e.g. "TheHive case #42"
    refused: tuple[tuple[str, str], ...] = field(default=())  # (what, why) dropped while reading
    case_id: str = ""  # TheHive's _id of the case ("~40964096"); "" when the JSON has none
    instance: str = ""  # the TheHive it came from (instance_key of its URL); "" when unknown


def _control(text: str) -> bool:
    return any(unicodedata.category(c) in ("Cc", "Cs") for c in text)


def clean_text(text: Any, limit: int = MAX_TEXT) -> str:
    """Free text (message, title) made safe for JSON: no controls but tab/newline, valid Unicode."""
    if not isinstance(text, str):
        return ""
    text = text.encode("utf-8", "replace").decode("utf-8")
    text = "".join(c for c in text if c in "\t\n" or unicodedata.category(c) not in ("Cc", "Cs"))
    return text[:limit]


def clean_tags(tags: Any) -> tuple[str, ...]:
    """Tags that can travel: strings of 1–255 characters without control characters, once each."""
    if not isinstance(tags, (list, tuple)):
        return ()
    good = [t for t in tags if isinstance(t, str) and 0 < len(t) <= MAX_TAG and not _control(t)
            and t.strip()]
    return tuple(dict.fromkeys(good))


def hash_kind(value: str) -> str | None:
    """``md5``/``sha1``/``sha224``/``sha256``/``sha384``/``sha512`` by length, for hex only."""
    if not _HEX.fullmatch(value):
        return None
    return HASH_LENGTHS.get(len(value))


def ip_kind(value: str) -> int | None:
    """4 or 6 for an address or a network (CIDR), else None."""
    try:
        return ipaddress.ip_network(value, strict=False).version
    except ValueError:
        return None


def refusal(indicator: Indicator) -> str | None:
    """Why ``indicator`` cannot be exported, or None when it can (type-specific checks)."""
    value, kind = indicator.value, indicator.data_type
    if not value or not value.strip():
        return "empty value"
    if len(value) > MAX_VALUE:
        return f"value longer than {MAX_VALUE} characters"
    if _control(value):
        return "value holds control characters or invalid Unicode"
    spaced = any(c.isspace() for c in value)
    if kind == "ip":
        return None if ip_kind(value) else "not an IP address or network"
    if kind == "hash":
        return None if hash_kind(value) else "not an MD5/SHA-1/SHA-2 hex digest"
    if kind in ("domain", "fqdn", "hostname"):
        if spaced or len(value) > 253 or any(c in value for c in "/@:\\?#[]'\"<>") or "." not in value:
            return "not a domain name"
        return None
    if kind == "mail":
        local, at, domain = value.rpartition("@")
        return None if at and local and "." in domain and not spaced else "not an e-mail address"
    if kind in ("url", "uri_path", "user-agent", "registry"):
        return "contains spaces" if spaced and kind in ("url", "uri_path") else None
    if kind == "autonomous-system":
        return None if _AS.fullmatch(value) else "not an AS number"
    return None


def _int(value: Any, default: int, lo: int, hi: int) -> int:
    return value if type(value) is int and lo <= value <= hi else default


MAX_CASE_ID = 128


def instance_key(url: str | None) -> str:
    """One string per TheHive instance from its base URL: the host lower-cased, a port other than
    the scheme's default, the path without a trailing slash — no scheme, user, query or fragment,
    so ``https://TheHive.example/`` and ``http://thehive.example`` (moved to TLS) are the same
    instance. "" when ``url`` is not an http(s) URL."""
    try:
        parts = urlsplit((url or "").strip())
        host, port = (parts.hostname or "").rstrip("."), parts.port
    except ValueError:
        return ""
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not host or _control(parts.path):
        return ""
    if port == {"http": 80, "https": 443}[scheme]:
        port = None
    if ":" in host:
        host = f"[{host}]"
    return host + (f":{port}" if port else "") + parts.path.rstrip("/")


def _case_id(value: Any) -> str:
    if isinstance(value, str) and 0 < len(value.strip()) <= MAX_CASE_ID and not _control(value):
        return value.strip()
    return ""


def from_thehive(case: Mapping[str, Any], observables: Iterable[Mapping[str, Any]], *,
                 instance: str | None = None) -> CaseIndicators:
    """Read a TheHive 5 ``OutputCase`` and its ``OutputObservable`` list (JSON dicts).

    ``instance`` is the base URL of the TheHive the case was read from: with the case's ``_id``
    it identifies the case, which gives its MISP event a stable UUID (:func:`~.misp.event_uuid`)."""
    if not isinstance(case, Mapping):
        raise InputError("the case must be a JSON object")
    title = clean_text(case.get("title"), 512) or "TheHive case"
    tlp = _int(case.get("tlp"), 2, 0, 4)
    indicators: list[Indicator] = []
    refused: list[tuple[str, str]] = []
    for obs in observables:
        if not isinstance(obs, Mapping):
            refused.append(("observable", "not a JSON object"))
            continue
        kind, data = obs.get("dataType"), obs.get("data")
        if not isinstance(kind, str) or not kind:
            refused.append(("observable", "no dataType"))
            continue
        if not isinstance(data, str):
            refused.append((kind, "no text value (file observables are exported by their hashes)"))
            continue
        indicators.append(Indicator(
            data_type=kind,
            value=data,
            tags=clean_tags(obs.get("tags")),
            tlp=_int(obs.get("tlp"), tlp, 0, 4),
            ioc=obs.get("ioc") is True,
            message=clean_text(obs.get("message")),
        ))
    number = case.get("number")
    return CaseIndicators(
        title=title,
        indicators=tuple(indicators),
        tlp=tlp,
        severity=_int(case.get("severity"), 2, 1, 4),
        tags=clean_tags(case.get("tags")),
        reference=f"TheHive case #{number}" if type(number) is int else "",
        refused=tuple(refused),
        case_id=_case_id(case.get("_id")),
        instance=instance_key(instance),
    )


def exportable(case: CaseIndicators, only_ioc: bool, key_of: Callable[[Indicator], Hashable | None],
               what: str, skipped: list[tuple[Indicator | str, str]],
               seen: set[Any]) -> Iterator[tuple[Indicator, Any]]:
    """The case's indicators a format can take, with their key in that format (a MISP type and
    value, a STIX pattern); the rest go to ``skipped`` with the reason. A key already in ``seen``
    is a duplicate; the caller adds a key once the format took the indicator."""
    for ind in case.indicators:
        if only_ioc and not ind.ioc:
            skipped.append((ind, "not flagged as IOC"))
            continue
        why = refusal(ind)
        key = None if why else key_of(ind)
        if why or key is None:
            skipped.append((ind, why or f"no {what} for dataType {ind.data_type!r}"))
            continue
        if key in seen:
            skipped.append((ind, "duplicate"))
            continue
        yield ind, key
