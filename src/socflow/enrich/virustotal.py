"""VirusTotal API v3: one GET per report (relationships only when asked), pure verdict rules.

Verdict (``VT:GetReport="<malicious>/<engines>"``): *engines* are those that gave an opinion
(harmless + malicious + suspicious + undetected; timeouts and unsupported types do not count).
malicious when malicious engines >= ``malicious_threshold`` (default 3); suspicious when at least
one engine says malicious or suspicious; safe when engines ran and none flagged it; info when
VirusTotal does not know the indicator or no engine ran.

What the answers mean (fact sheet §1.4-1.5): a 404 is "not known" only with the documented body
``{"error": {"code": "NotFoundError"}}``; an object answer must have ``data.type`` and
``data.id`` (what vt-py requires); a 429 ``QuotaExceededError`` without ``Retry-After`` means a
spent quota — the daily one resets at 00:00 UTC — while ``TooManyRequestsError`` is a burst
throttle worth a short backoff.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..errors import NotFoundError
from ..models import IocType, Level, Verdict
from .base import Deadline, Taxonomy, as_int, dict_at, envelope, list_at, verdict_from
from .http import ServiceClient, next_utc_midnight
from .indicators import HASHES, IP_TYPES, ip_scope, is_public_ip, vt_url_id
from .settings import VirusTotalSettings

NAME, TITLE, NAMESPACE = "virustotal", "VirusTotal", "VT"
API_ROOT = "/api/v3"
SUPPORTED = frozenset({IocType.IPV4, IocType.IPV6, IocType.DOMAIN, IocType.URL, *HASHES})
OPINIONS = ("harmless", "malicious", "suspicious", "undetected")
RELATIONSHIPS = {
    "ip_addresses": ("resolutions",),
    "domains": ("resolutions",),
    "urls": ("contacted_domains", "contacted_ips"),
    "files": ("contacted_domains", "contacted_ips", "contacted_urls"),
}
GUI_KIND = {"ip_addresses": "ip-address", "domains": "domain", "urls": "url", "files": "file"}


def collection(ioc_type: IocType) -> str:
    if ioc_type in IP_TYPES:
        return "ip_addresses"
    if ioc_type is IocType.DOMAIN:
        return "domains"
    return "urls" if ioc_type is IocType.URL else "files"


def object_id(ioc_type: IocType, value: str) -> str:
    return vt_url_id(value) if ioc_type is IocType.URL else value


def error_text(body: Any) -> str:
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        return f"{err.get('code', '')}: {err.get('message', '')}".strip(": ")
    return ""


def _error_code(body: Any) -> str:
    err = body.get("error") if isinstance(body, dict) else None
    return str(err.get("code", "")) if isinstance(err, dict) else ""


def is_not_found(body: Any) -> bool:
    return _error_code(body) == "NotFoundError"


def exhausted_until(body: Any, now: float, throttled: int = 1) -> float | None:
    """What a 429 without ``Retry-After`` means. ``QuotaExceededError``: a spent quota, blocked
    until 00:00 UTC (the minute and the daily quota share the code, and the ledger already keeps
    us inside the minute one, so one we did not foresee is the daily or monthly quota).
    ``TooManyRequestsError`` or a body that is not VirusTotal's (a proxy's page): a throttle,
    one short retry, then a minute's rest."""
    return next_utc_midnight(now) if _error_code(body) == "QuotaExceededError" else None


def is_object(body: Any) -> bool:
    data = body.get("data") if isinstance(body, dict) else None
    return isinstance(data, dict) and isinstance(data.get("type"), str) and isinstance(data.get("id"), str)


def stats_of(raw: dict[str, Any]) -> dict[str, int]:
    attrs = dict_at(raw, "data", "data", "attributes")
    stats = dict_at(attrs, "last_analysis_stats") or dict_at(attrs, "stats")
    return {k: as_int(v) for k, v in stats.items() if isinstance(v, (int, float))}


def normalise(raw: dict[str, Any], settings: VirusTotalSettings | None = None) -> Verdict:
    """Pure: the envelope of a VirusTotal object (or analysis) to a Verdict."""
    threshold = (settings or VirusTotalSettings()).malicious_threshold
    if raw.get("local"):
        return verdict_from(raw, Level.INFO, None, f"{raw['local']} address, not looked up")
    if not raw.get("found"):
        return verdict_from(raw, Level.INFO, None, "not known to VirusTotal")
    stats = stats_of(raw)
    malicious, suspicious = stats.get("malicious", 0), stats.get("suspicious", 0)
    engines = sum(stats.get(k, 0) for k in OPINIONS)
    if engines == 0:
        return verdict_from(raw, Level.INFO, 0.0, "no engine has analysed it yet")
    if malicious >= threshold:
        level = Level.MALICIOUS
    elif malicious or suspicious:
        level = Level.SUSPICIOUS
    else:
        level = Level.SAFE
    summary = f"{malicious}/{engines} engines flag it as malicious"
    if suspicious:
        summary += f", {suspicious} as suspicious"
    return verdict_from(raw, level, float(malicious), summary)


def taxonomy_value(verdict: Verdict) -> str:
    raw = verdict.raw
    if raw.get("local"):
        return f"{raw['local']} address"
    if not raw.get("found"):
        return "not found"
    stats = stats_of(raw)
    return f"{stats.get('malicious', 0)}/{sum(stats.get(k, 0) for k in OPINIONS)}"


def taxonomies(verdict: Verdict, predicate: str = "GetReport") -> list[Taxonomy]:
    return [Taxonomy(verdict.level, NAMESPACE, predicate, taxonomy_value(verdict))]


def _iso(epoch: Any) -> str | None:
    if not isinstance(epoch, (int, float)) or isinstance(epoch, bool):
        return None
    try:
        return datetime.fromtimestamp(epoch, tz=UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        return None  # not a date any calendar holds


# What the report shows about the object itself, in this order: (attribute, label, kind). The
# kind tells the template how to format it: text, date (epoch seconds here, ISO in the report),
# size (bytes) or code (hashes and other values that must wrap anywhere).
FACTS = (
    ("as_owner", "AS owner", "text"), ("asn", "AS number", "text"), ("network", "Network", "code"),
    ("country", "Country", "text"), ("continent", "Continent", "text"),
    ("regional_internet_registry", "Registry (RIR)", "text"),
    ("registrar", "Registrar", "text"), ("creation_date", "Registered", "date"),
    ("expiration_date", "Expires", "date"),
    ("meaningful_name", "File name", "code"), ("type_description", "File type", "text"),
    ("size", "Size", "size"), ("md5", "MD5", "code"), ("sha1", "SHA-1", "code"),
    ("sha256", "SHA-256", "code"), ("ssdeep", "ssdeep", "code"),
    ("title", "Page title", "text"), ("last_final_url", "Final URL", "code"),
    ("last_http_response_code", "HTTP status", "text"),
    ("first_submission_date", "First submitted", "date"),
    ("last_submission_date", "Last submitted", "date"), ("times_submitted", "Times submitted", "text"),
    ("first_seen_date", "First seen", "date"),
)


def _facts(attrs: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for key, label, kind in FACTS:
        value = attrs.get(key)
        if kind == "date":
            value = _iso(value)
        elif isinstance(value, (dict, list)):
            continue
        if value in (None, "") or (kind == "size" and not isinstance(value, int)):
            continue
        out.append({"label": label, "value": value, "kind": kind})
    return out


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _sandboxes(attrs: dict[str, Any]) -> list[dict[str, Any]]:
    """``sandbox_verdicts`` (files): one row per sandbox, malicious first."""
    rows = [
        {"sandbox": str(v.get("sandbox_name") or name), "category": str(v.get("category") or "unknown"),
         "confidence": v.get("confidence") if isinstance(v.get("confidence"), int) else None,
         "classification": _strings(v.get("malware_classification")),
         "names": _strings(v.get("malware_names"))}
        for name, v in dict_at(attrs, "sandbox_verdicts").items() if isinstance(v, dict)
    ]
    order = {"malicious": 0, "suspicious": 1}
    return sorted(rows, key=lambda r: (order.get(r["category"], 2), r["sandbox"]))


def _yara(attrs: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"rule": r.get("rule_name"), "ruleset": r.get("ruleset_name"), "author": r.get("author"),
         "source": r.get("source"), "description": r.get("description")}
        for r in list_at(attrs, "crowdsourced_yara_results") if isinstance(r, dict)
    ]


def _ids(attrs: dict[str, Any]) -> list[dict[str, Any]]:
    order = {"high": 0, "medium": 1, "low": 2, "info": 3}
    rows = [
        {"message": r.get("rule_msg"), "severity": str(r.get("alert_severity") or "info"),
         "category": r.get("rule_category"), "source": r.get("rule_source"), "rule_id": r.get("rule_id")}
        for r in list_at(attrs, "crowdsourced_ids_results") if isinstance(r, dict)
    ]
    return sorted(rows, key=lambda r: order.get(r["severity"], 4))


def _popularity(attrs: dict[str, Any]) -> list[dict[str, Any]]:
    rows = [{"ranker": name, "rank": v.get("rank")}
            for name, v in dict_at(attrs, "popularity_ranks").items()
            if isinstance(v, dict) and isinstance(v.get("rank"), int)]
    return sorted(rows, key=lambda r: r["rank"])


def _gui_link(raw: dict[str, Any], obj: dict[str, Any]) -> str | None:
    """The object's page on virustotal.com: for a submission (Scan) the URL id or the file's
    SHA-256 from the analysis' ``meta``, never the analysis id (VirusTotal has no page for it)."""
    kind = collection(IocType(raw["type"]))
    oid = obj.get("id")
    if obj.get("type") == "analysis":
        meta = dict_at(raw, "data", "meta")
        oid = dict_at(meta, "url_info").get("id") or dict_at(meta, "file_info").get("sha256")
    return f"https://www.virustotal.com/gui/{GUI_KIND[kind]}/{oid}" if isinstance(oid, str) and oid else None


def details(raw: dict[str, Any]) -> dict[str, Any]:
    """Template-friendly facts: counts, the engines that flagged it, labelled facts, what the
    same answer holds beyond the counts (sandboxes, YARA, IDS, popularity, DNS), related objects."""
    obj = dict_at(raw, "data", "data")
    attrs = dict_at(obj, "attributes")
    results = dict_at(attrs, "last_analysis_results") or dict_at(attrs, "results")
    flagged = sorted(
        (
            {"engine": str(name), "category": r.get("category"), "result": r.get("result")}
            for name, r in results.items()
            if isinstance(r, dict) and r.get("category") in ("malicious", "suspicious")
        ),
        key=lambda r: (r["category"] != "malicious", r["engine"]),
    )
    rels = dict_at(raw, "relationships")
    categories = sorted({c for c in dict_at(attrs, "categories").values() if isinstance(c, str)})
    return {
        "stats": stats_of(raw),
        "flagged_by": flagged,
        "reputation": attrs.get("reputation") if isinstance(attrs.get("reputation"), int) else None,
        "votes": attrs.get("total_votes"),
        "tags": sorted(set(_strings(attrs.get("tags")))),
        "categories": categories,
        "threat_label": dict_at(attrs, "popular_threat_classification").get("suggested_threat_label"),
        "threat_names": sorted(set(_strings(attrs.get("threat_names")))),
        "facts": _facts(attrs),
        "sandbox_verdicts": _sandboxes(attrs),
        "yara": _yara(attrs),
        "ids": _ids(attrs),
        "ids_stats": {k: as_int(v) for k, v in dict_at(attrs, "crowdsourced_ids_stats").items()},
        "popularity": _popularity(attrs),
        "dns_records": [
            {"type": r.get("type"), "value": r.get("value"), "ttl": r.get("ttl")}
            for r in list_at(attrs, "last_dns_records")
            if isinstance(r, dict) and isinstance(r.get("value"), str)
        ],
        "last_analysis": _iso(attrs.get("last_analysis_date") or attrs.get("date")),
        "link": _gui_link(raw, obj),
        "related": [{"relationship": rel, "type": dtype, "value": value}
                    for dtype, value, rel in related(raw)],
        "relationship_errors": {rel: body["error"] for rel, body in rels.items()
                                if isinstance(body, dict) and isinstance(body.get("error"), str)},
        "relationships": rels,
    }


def related(raw: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(thehive data type, value, relationship) for every related object fetched."""
    out: list[tuple[str, str, str]] = []
    for rel, body in dict_at(raw, "relationships").items():
        for item in list_at(body, "data"):
            if not isinstance(item, dict):
                continue
            attrs, kind = dict_at(item, "attributes"), item.get("type")
            if rel == "resolutions":
                host, ip = attrs.get("host_name"), attrs.get("ip_address")
                if raw["type"] == IocType.DOMAIN.value and ip:
                    out.append(("ip", ip, rel))
                elif host:
                    out.append(("domain", host, rel))
            elif kind == "domain":
                out.append(("domain", item.get("id", ""), rel))
            elif kind == "ip_address":
                out.append(("ip", item.get("id", ""), rel))
            elif kind == "url" and attrs.get("url"):
                out.append(("url", attrs["url"], rel))
    return [r for r in dict.fromkeys(out) if r[1]]


class VirusTotal:
    name, title, supported = NAME, TITLE, SUPPORTED

    def __init__(self, settings: VirusTotalSettings, client: ServiceClient, cache: Any = None) -> None:
        self.settings, self.client = settings, client
        self.cache_scope = "+relationships" if settings.relationships else ""

    def local_answer(self, ioc_type: IocType, value: str) -> dict[str, Any] | None:
        if ioc_type in IP_TYPES and not is_public_ip(value):
            return envelope(TITLE, ioc_type, value, None, found=False, local=ip_scope(value))
        return None

    def fetch(self, ioc_type: IocType, value: str, deadline: Deadline) -> dict[str, Any]:
        coll, oid = collection(ioc_type), object_id(ioc_type, value)
        body = self.client.request("GET", f"/{coll}/{oid}", deadline).body
        if not is_object(body):
            raise self.client.unexpected("a VirusTotal object")
        rels = self._relationships(coll, oid, deadline) if self.settings.relationships else {}
        return envelope(TITLE, ioc_type, value, body, relationships=rels)

    def _relationships(self, coll: str, oid: str, deadline: Deadline) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for rel in RELATIONSHIPS[coll]:
            try:
                answer = self.client.request(
                    "GET", f"/{coll}/{oid}/{rel}", deadline, params={"limit": 20}, accept=(403,)
                )
            except NotFoundError:
                continue
            found[rel] = {"error": "premium API only"} if answer.status == 403 else answer.body
        return found

    def normalise(self, raw: dict[str, Any]) -> Verdict:
        return normalise(raw, self.settings)

    def taxonomies(self, verdict: Verdict) -> list[Taxonomy]:
        return taxonomies(verdict)

    def details(self, raw: dict[str, Any]) -> dict[str, Any]:
        return details(raw)


__all__ = ["VirusTotal", "details", "normalise", "related", "taxonomies"]
