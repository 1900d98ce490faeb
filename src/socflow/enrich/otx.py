"""AlienVault OTX DirectConnect v1: the ``general`` section (one call per indicator), plus the
sections named in the ``sections`` setting (passive DNS, URL list, malware: one call each, none by
default).

Verdict from the pulse count: >= ``malicious_pulses`` malicious, >= 1 suspicious, 0 safe; an
indicator OTX whitelists (non-empty ``validation``) is safe whatever its pulses, as the OTX SDK's
own ``is_malicious`` example treats it; unknown to OTX (404) is info.

What the answers mean: OTX publishes no error schema; its API (Django REST framework) answers an
unknown indicator with 404 ``{"detail": "..."}`` — only that body means "not known", any other
404 (an HTML page from a wrong host or path) is a configuration error. A ``general`` answer must
carry ``pulse_info``. A 429 comes without ``Retry-After`` and OTX documents no reset time, so OTX
gets one short retry; refused again, OTX is paused for :data:`PAUSE_WITHOUT_RESET` seconds (two
calls an hour while the quota stays spent).
"""

from __future__ import annotations

from collections import Counter
from typing import Any
from urllib.parse import quote

from ..errors import NotFoundError
from ..models import IocType, Level, Verdict
from .base import Deadline, Taxonomy, as_int, dict_at, envelope, list_at, verdict_from
from .http import ServiceClient
from .indicators import HASHES, IP_TYPES, ip_scope, is_public_ip
from .settings import OTXSettings

NAME, TITLE, NAMESPACE = "otx", "OTX", "OTX"
API_ROOT = "/api/v1"
PAUSE_WITHOUT_RESET = 3600.0
SUPPORTED = frozenset({IocType.IPV4, IocType.IPV6, IocType.DOMAIN, IocType.URL, *HASHES})
KEEP_PULSES = 20
KEEP_ROWS = 50  # rows kept per extra section (passive DNS of a busy IP runs to thousands)
# Extra sections (``sections`` setting, none by default: each costs one more call) and the
# indicator types OTX serves them for (OTX SDK IndicatorTypes; the fact sheet §3.2).
SECTIONS = {
    "passive_dns": frozenset({IocType.IPV4, IocType.IPV6, IocType.DOMAIN}),
    "url_list": frozenset({IocType.IPV4, IocType.IPV6, IocType.DOMAIN, IocType.URL}),
    "malware": frozenset({IocType.IPV4, IocType.IPV6, IocType.DOMAIN}),
}
SECTION_ROWS = {"passive_dns": "passive_dns", "url_list": "url_list", "malware": "data"}


def slug(ioc_type: IocType, value: str) -> str:
    """OTX's indicator type in the URL path. Domains and FQDNs both use ``domain``: telling a
    hostname from a registered domain needs the Public Suffix List, which the analyzer's cold
    start cannot afford, and OTX's ``domain`` section aggregates its sub-domains anyway."""
    if ioc_type is IocType.IPV4:
        return "IPv4"
    if ioc_type is IocType.IPV6:
        return "IPv6"
    if ioc_type is IocType.DOMAIN:
        return "domain"
    return "url" if ioc_type is IocType.URL else "file"


def error_text(body: Any) -> str:
    return str(body.get("detail", "")) if isinstance(body, dict) else ""


def is_not_found(body: Any) -> bool:
    return isinstance(body, dict) and set(body) == {"detail"} and isinstance(body["detail"], str)


def exhausted_until(body: Any, now: float, throttled: int = 1) -> float | None:
    """The first bare 429 of a call may be a burst throttle (one short retry); a second one means
    the quota is spent: OTX rests for :data:`PAUSE_WITHOUT_RESET` seconds."""
    return None if throttled < 2 else now + PAUSE_WITHOUT_RESET


def _general(raw: dict[str, Any]) -> dict[str, Any]:
    data = raw.get("data")
    return data if isinstance(data, dict) else {}


def pulse_count(raw: dict[str, Any]) -> int:
    info = dict_at(raw, "data", "pulse_info")
    return as_int(info.get("count")) or len(list_at(info, "pulses"))


def normalise(raw: dict[str, Any], settings: OTXSettings | None = None) -> Verdict:
    """Pure: an OTX ``general`` envelope to a Verdict."""
    settings = settings or OTXSettings()
    if raw.get("local"):
        return verdict_from(raw, Level.INFO, None, f"{raw['local']} address, not looked up")
    if not raw.get("found"):
        return verdict_from(raw, Level.INFO, None, "not known to OTX")
    pulses = pulse_count(raw)
    validation = list_at(raw, "data", "validation")
    if validation:
        names = ", ".join(sorted({str(v.get("name") or v.get("source")) for v in validation if isinstance(v, dict)}))
        return verdict_from(raw, Level.SAFE, float(pulses), f"whitelisted by OTX ({names}), {pulses} pulse(s)")
    if pulses >= settings.malicious_pulses:
        level = Level.MALICIOUS
    elif pulses:
        level = Level.SUSPICIOUS
    else:
        level = Level.SAFE
    return verdict_from(raw, level, float(pulses), f"in {pulses} OTX pulse(s)")


def taxonomies(verdict: Verdict) -> list[Taxonomy]:
    raw = verdict.raw
    if raw.get("local"):
        return [Taxonomy(Level.INFO, NAMESPACE, "Pulses", f"{raw['local']} address")]
    if not raw.get("found"):
        return [Taxonomy(Level.INFO, NAMESPACE, "Pulses", "not found")]
    out = [Taxonomy(verdict.level, NAMESPACE, "Pulses", pulse_count(raw))]
    if list_at(raw, "data", "validation"):
        out.append(Taxonomy(Level.INFO, NAMESPACE, "Whitelisted", "true"))
    return out


# Facts of the ``general`` answer itself (IP geo, ASN, reputation), with the labels analysts read.
FACTS = (("asn", "AS"), ("country_name", "Country"), ("region", "Region"), ("city", "City"),
         ("continent_code", "Continent"), ("reputation", "Reputation"), ("alexa", "Alexa"))


def _utc(value: Any) -> Any:
    """OTX writes pulse dates in UTC without an offset; say so, or browsers read local time."""
    if isinstance(value, str) and len(value) >= 19 and value[10:11] == "T" and not (
            value.endswith("Z") or "+" in value[19:] or "-" in value[19:]):
        return value + "+00:00"
    return value


def _unique(items: list[Any]) -> list[Any]:
    """Each string once, in order (pulses repeat references and tags)."""
    return list(dict.fromkeys(i for i in items if isinstance(i, str) and i))


def _geo(general: dict[str, Any]) -> dict[str, Any] | None:
    lat, lon = general.get("latitude"), general.get("longitude")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lat, lon)):
        return None
    return {"latitude": lat, "longitude": lon,
            "map": f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=8/{lat}/{lon}"}


def details(raw: dict[str, Any]) -> dict[str, Any]:
    general = _general(raw)
    info = dict_at(general, "pulse_info")
    pulses = [p for p in list_at(info, "pulses") if isinstance(p, dict)]
    tags = Counter(t for p in pulses for t in _unique(list_at(p, "tags")))
    families = Counter(m.get("display_name") for p in pulses for m in list_at(p, "malware_families")
                       if isinstance(m, dict) and isinstance(m.get("display_name"), str))
    attacks = Counter(a.get("display_name") for p in pulses for a in list_at(p, "attack_ids")
                      if isinstance(a, dict) and isinstance(a.get("display_name"), str))
    return {
        "pulse_count": pulse_count(raw),
        "pulses": [
            {"id": p.get("id"), "name": p.get("name"), "created": _utc(p.get("created")),
             "modified": _utc(p.get("modified")), "tags": _unique(list_at(p, "tags")), "TLP": p.get("TLP"),
             "author": dict_at(p, "author").get("username"),
             "references": _unique(list_at(p, "references")),
             "link": f"https://otx.alienvault.com/pulse/{p['id']}" if isinstance(p.get("id"), str) else None}
            for p in pulses[:KEEP_PULSES]
        ],
        "tags": [t for t, _ in tags.most_common(20)],
        "malware_families": [m for m, _ in families.most_common(10)],
        "attack_ids": [a for a, _ in attacks.most_common(10)],
        "references": _unique(list_at(info, "references"))[:20],
        "validation": [{"name": str(v.get("name") or v.get("source") or ""), "message": str(v.get("message") or "")}
                       for v in list_at(general, "validation") if isinstance(v, dict)],
        "facts": [{"label": label, "value": general[k]} for k, label in FACTS
                  if isinstance(general.get(k), (str, int, float)) and general.get(k) not in ("", None)],
        "geo": _geo(general),
        **_sections(dict_at(raw, "sections")),
    }


def _sections(sections: dict[str, Any]) -> dict[str, Any]:
    """The extra sections fetched (only those): rows for the template and the total OTX holds."""
    out: dict[str, Any] = {}
    if "passive_dns" in sections:
        body = sections["passive_dns"]
        rows = [{"hostname": r.get("hostname"), "address": r.get("address"), "record_type": r.get("record_type"),
                 "first": _utc(r.get("first")), "last": _utc(r.get("last"))}
                for r in list_at(body, "passive_dns") if isinstance(r, dict)]
        out["passive_dns"] = {"rows": sorted(rows, key=lambda r: str(r["last"] or ""), reverse=True),
                              "total": as_int(dict_at(body).get("count")) or len(rows)}
    if "url_list" in sections:
        body = sections["url_list"]
        rows = [{"url": r.get("url"), "date": _utc(r.get("date")), "httpcode": r.get("httpcode") or None}
                for r in list_at(body, "url_list") if isinstance(r, dict) and isinstance(r.get("url"), str)]
        out["url_list"] = {"rows": rows, "total": as_int(dict_at(body).get("full_size")) or len(rows)}
    if "malware" in sections:
        body = sections["malware"]
        rows = [{"hash": r.get("hash"), "date": _utc(r.get("date")),
                 "detections": sorted({v for v in dict_at(r, "detections").values() if isinstance(v, str) and v})}
                for r in list_at(body, "data") if isinstance(r, dict) and isinstance(r.get("hash"), str)]
        out["malware"] = {"rows": rows, "total": as_int(dict_at(body).get("count")) or len(rows)}
    return out


class OTX:
    name, title, supported = NAME, TITLE, SUPPORTED

    def __init__(self, settings: OTXSettings, client: ServiceClient, cache: Any = None) -> None:
        self.settings, self.client = settings, client
        self.cache_scope = "+" + ",".join(sorted(set(settings.sections))) if settings.sections else ""

    def local_answer(self, ioc_type: IocType, value: str) -> dict[str, Any] | None:
        if ioc_type in IP_TYPES and not is_public_ip(value):
            return envelope(TITLE, ioc_type, value, None, found=False, local=ip_scope(value))
        return None

    def fetch(self, ioc_type: IocType, value: str, deadline: Deadline) -> dict[str, Any]:
        path = f"/indicators/{slug(ioc_type, value)}/{quote(value, safe='')}/general"
        body = self.client.request("GET", path, deadline).body
        info = body.get("pulse_info") if isinstance(body, dict) else None
        if not isinstance(info, dict):
            raise self.client.unexpected("an OTX indicator (no pulse_info)")
        if isinstance(info.get("pulses"), list):
            info["pulses"] = info["pulses"][:KEEP_PULSES]  # popular indicators carry thousands
        extra = self._sections(ioc_type, value, deadline)
        return envelope(TITLE, ioc_type, value, body, **({"sections": extra} if extra else {}))

    def _sections(self, ioc_type: IocType, value: str, deadline: Deadline) -> dict[str, Any]:
        """The configured extra sections for this type, one call each, rows cut to KEEP_ROWS;
        a section OTX does not have for the indicator (404) is left out, not a failure."""
        found: dict[str, Any] = {}
        for section in dict.fromkeys(self.settings.sections):
            if ioc_type not in SECTIONS[section]:
                continue
            path = f"/indicators/{slug(ioc_type, value)}/{quote(value, safe='')}/{section}"
            try:
                body = self.client.request("GET", path, deadline).body
            except NotFoundError:
                continue
            if isinstance(body, dict) and isinstance(body.get(SECTION_ROWS[section]), list):
                body[SECTION_ROWS[section]] = body[SECTION_ROWS[section]][:KEEP_ROWS]
            found[section] = body if isinstance(body, dict) else {}
        return found

    def normalise(self, raw: dict[str, Any]) -> Verdict:
        return normalise(raw, self.settings)

    def taxonomies(self, verdict: Verdict) -> list[Taxonomy]:
        return taxonomies(verdict)

    def details(self, raw: dict[str, Any]) -> dict[str, Any]:
        return details(raw)
