"""AbuseIPDB API v2: ``/check`` per IP, ``/check-block`` per network, optional blacklist snapshot.

Verdict from ``abuseConfidenceScore`` only (>= ``malicious_threshold`` malicious, >=
``suspicious_threshold`` suspicious, else safe): a single old report never paints an IP red.
Whitelisted, Tor and usage type are shown as info taxonomies. Private and reserved addresses are
answered locally, without a call. In blacklist mode one ``/blacklist`` download (5 a day on the
free plan) is cached and answers every check until it is refreshed.

What the answers mean: AbuseIPDB documents no 404 for its endpoints (an unreported IP is a 200
with score 0), so every 404 means a wrong ``api_url``; a ``/check`` answer must carry
``data.ipAddress`` and ``data.abuseConfidenceScore`` — anything else would read as "score 0,
safe". Its 429s carry ``Retry-After``; one without is taken as the spent daily quota.
"""

from __future__ import annotations

import ipaddress
import time
from collections import Counter
from datetime import datetime
from typing import Any

from ..errors import InputError
from ..models import IocType, Level, Verdict
from .base import Deadline, Taxonomy, as_int, dict_at, envelope, list_at, verdict_from
from .http import ServiceClient, next_utc_midnight
from .indicators import ip_scope, is_public_ip
from .settings import AbuseIPDBSettings
from .store import VerdictCache

NAME, TITLE, NAMESPACE = "abuseipdb", "AbuseIPDB", "AbuseIPDB"
API_ROOT = "/api/v2"
SUPPORTED = frozenset({IocType.IPV4, IocType.IPV6})
KEEP_REPORTS = 50
CATEGORIES = {
    1: "DNS Compromise", 2: "DNS Poisoning", 3: "Fraud Orders", 4: "DDoS Attack",
    5: "FTP Brute-Force", 6: "Ping of Death", 7: "Phishing", 8: "Fraud VoIP", 9: "Open Proxy",
    10: "Web Spam", 11: "Email Spam", 12: "Blog Spam", 13: "VPN IP", 14: "Port Scan",
    15: "Hacking", 16: "SQL Injection", 17: "Spoofing", 18: "Brute-Force", 19: "Bad Web Bot",
    20: "Exploited Host", 21: "Web App Attack", 22: "SSH", 23: "IoT Targeted",
}


def category_name(cid: Any) -> str:
    try:
        return CATEGORIES.get(int(cid), f"category {cid}")
    except (TypeError, ValueError):
        return f"category {cid}"


def error_text(body: Any) -> str:
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return str(errors[0].get("detail", ""))
    return ""


def exhausted_until(body: Any, now: float, throttled: int = 1) -> float | None:
    return next_utc_midnight(now)  # limits are per endpoint per day


def level_for(score: int, settings: AbuseIPDBSettings) -> Level:
    if score >= settings.malicious_threshold:
        return Level.MALICIOUS
    if score >= settings.suspicious_threshold:
        return Level.SUSPICIOUS
    return Level.SAFE


def _data(raw: dict[str, Any]) -> dict[str, Any]:
    return dict_at(raw, "data", "data")


def _reported(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in list_at(data, "reportedAddress") if isinstance(r, dict)]


def normalise(raw: dict[str, Any], settings: AbuseIPDBSettings | None = None) -> Verdict:
    """Pure: an AbuseIPDB envelope (check, check-block or blacklist answer) to a Verdict."""
    settings = settings or AbuseIPDBSettings()
    if raw.get("local"):
        return verdict_from(raw, Level.INFO, None, f"{raw['local']} address, not looked up")
    if raw.get("kind") == "blacklist":
        score = raw.get("listed_score")
        if score is None:
            return verdict_from(raw, Level.INFO, None, "not on the AbuseIPDB blacklist snapshot")
        return verdict_from(raw, level_for(int(score), settings), float(score),
                            f"on the AbuseIPDB blacklist with confidence {score}%")
    data = _data(raw)
    if raw.get("kind") == "block":
        reported = _reported(data)
        top = max((as_int(r.get("abuseConfidenceScore")) for r in reported), default=0)
        level = level_for(top, settings) if reported else Level.SAFE
        return verdict_from(raw, level, float(top),
                            f"{len(reported)} reported address(es) in {raw['indicator']}, highest score {top}")
    score = as_int(data.get("abuseConfidenceScore"))
    reports, users = as_int(data.get("totalReports")), as_int(data.get("numDistinctUsers"))
    summary = f"confidence {score}%, {reports} report(s) by {users} user(s) in {settings.max_age_days} days"
    return verdict_from(raw, level_for(score, settings), float(score), summary)


def taxonomies(verdict: Verdict) -> list[Taxonomy]:
    raw, level = verdict.raw, verdict.level
    if raw.get("local"):
        return [Taxonomy(Level.INFO, NAMESPACE, "Score", f"{raw['local']} address")]
    if raw.get("kind") == "blacklist":
        value = raw.get("listed_score")
        return [Taxonomy(level, NAMESPACE, "Blacklist", "not listed" if value is None else value)]
    data = _data(raw)
    if raw.get("kind") == "block":
        return [Taxonomy(level, NAMESPACE, "MaxScore", int(verdict.score or 0)),
                Taxonomy(Level.INFO, NAMESPACE, "ReportedIPs", len(_reported(data)))]
    out = [Taxonomy(level, NAMESPACE, "Score", int(verdict.score or 0)),
           Taxonomy(Level.INFO, NAMESPACE, "Reports", as_int(data.get("totalReports")))]
    if data.get("isWhitelisted"):
        out.append(Taxonomy(Level.INFO, NAMESPACE, "Whitelisted", "true"))
    if data.get("isTor"):
        out.append(Taxonomy(Level.INFO, NAMESPACE, "Tor", "true"))
    if data.get("usageType"):
        out.append(Taxonomy(Level.INFO, NAMESPACE, "Usage", str(data["usageType"])))
    return out


def report_stats(reports: Any, now: float) -> dict[str, Any]:
    """Over every report of the answer (before it is cut to KEEP_REPORTS): how many in the last
    24 hours and 7 days before ``now``, and the reporters' countries, most reports first."""
    recent = {"last_24h": 0, "last_7d": 0}
    countries: Counter[str] = Counter()
    names: dict[str, str] = {}
    for r in reports if isinstance(reports, list) else []:
        if not isinstance(r, dict):
            continue
        try:
            age = now - datetime.fromisoformat(str(r.get("reportedAt"))).timestamp()
        except (TypeError, ValueError, OverflowError):
            age = None
        if age is not None and age <= 7 * 86400:
            recent["last_7d"] += 1
            recent["last_24h"] += age <= 86400
        code = r.get("reporterCountryCode")
        if isinstance(code, str) and code:
            countries[code] += 1
            if isinstance(r.get("reporterCountryName"), str):
                names[code] = r["reporterCountryName"]
    return {**recent, "countries": [{"code": c, "name": names.get(c, c), "count": n}
                                    for c, n in countries.most_common(20)]}


def details(raw: dict[str, Any]) -> dict[str, Any]:
    data = _data(raw)
    if raw.get("kind") == "block":
        keys = ("networkAddress", "netmask", "minAddress", "maxAddress", "numPossibleHosts", "addressSpaceDesc")
        return {**{k: data.get(k) for k in keys},
                "reported": sorted(_reported(data), key=lambda r: -as_int(r.get("abuseConfidenceScore")))}
    if raw.get("kind") == "blacklist":
        return {"snapshot_generated_at": raw.get("generated_at"), "listed_score": raw.get("listed_score")}
    keys = ("abuseConfidenceScore", "totalReports", "numDistinctUsers", "lastReportedAt", "countryCode",
            "countryName", "usageType", "isp", "domain", "hostnames", "isTor", "isWhitelisted", "isPublic")
    counts = dict_at(raw, "category_counts")
    return {
        **{k: data.get(k) for k in keys},
        "categories": [{"id": as_int(c), "name": category_name(c), "count": n}
                       for c, n in sorted(counts.items(), key=lambda kv: -kv[1])],
        "recent_reports": [
            {**r, "categories": [category_name(c) for c in list_at(r, "categories")]}
            for r in list_at(data, "reports") if isinstance(r, dict)
        ],
        "reports_kept": len(list_at(data, "reports")),
        "report_stats": dict_at(raw, "report_stats"),
        "link": f"https://www.abuseipdb.com/check/{raw['indicator']}",
    }


def _canonical_ip(value: Any) -> str:
    try:
        return str(ipaddress.ip_address(str(value)))
    except ValueError:
        return str(value)


class AbuseIPDB:
    name, title, supported = NAME, TITLE, SUPPORTED

    def __init__(self, settings: AbuseIPDBSettings, client: ServiceClient, cache: VerdictCache) -> None:
        self.settings, self.client, self.cache = settings, client, cache
        mode = "blacklist" if settings.blacklist_mode else "check"
        self.cache_scope = f"@{mode}:{settings.max_age_days}d"

    def local_answer(self, ioc_type: IocType, value: str) -> dict[str, Any] | None:
        if not is_public_ip(value):
            return envelope(TITLE, ioc_type, value, None, found=False, local=ip_scope(value))
        return None

    def fetch(self, ioc_type: IocType, value: str, deadline: Deadline) -> dict[str, Any]:
        if self.settings.blacklist_mode:
            return self._from_blacklist(ioc_type, value, deadline)
        params = {"ipAddress": value, "maxAgeInDays": self.settings.max_age_days, "verbose": ""}
        body = self.client.request("GET", "/check", deadline, bucket="check", params=params).body
        data = body.get("data") if isinstance(body, dict) else None
        if not (isinstance(data, dict) and isinstance(data.get("ipAddress"), str)
                and isinstance(data.get("abuseConfidenceScore"), int)):
            raise self.client.unexpected("an AbuseIPDB check result")
        reports = data.get("reports") or []
        counts = Counter(str(c) for r in reports for c in (r.get("categories") or []))
        data["reports"] = reports[:KEEP_REPORTS]  # verbose answers can hold 10,000 reports
        return envelope(TITLE, ioc_type, value, body, kind="check", category_counts=dict(counts),
                        report_stats=report_stats(reports, time.time()))

    def fetch_block(self, network: str, deadline: Deadline) -> dict[str, Any]:
        try:
            net = ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise InputError(f"{network!r} is not a network in CIDR notation") from None
        if net.version == 4 and net.prefixlen < self.settings.max_prefix_v4:
            raise InputError(
                f"{net} is wider than /{self.settings.max_prefix_v4}, the widest block this plan may check"
            )
        if not is_public_ip(str(net.network_address)):
            return envelope(TITLE, IocType.IPV4 if net.version == 4 else IocType.IPV6, str(net), None,
                            found=False, local=ip_scope(str(net.network_address)), kind="block")
        params = {"network": str(net), "maxAgeInDays": self.settings.max_age_days}
        body = self.client.request("GET", "/check-block", deadline, bucket="check-block", params=params).body
        if not isinstance(dict_at(body, "data").get("networkAddress"), str):
            raise self.client.unexpected("an AbuseIPDB check-block result")
        ioc_type = IocType.IPV4 if net.version == 4 else IocType.IPV6
        return envelope(TITLE, ioc_type, str(net), body, kind="block")

    def _from_blacklist(self, ioc_type: IocType, value: str, deadline: Deadline) -> dict[str, Any]:
        service = self.client.cache_service
        snapshot = self.cache.get(service, "blacklist", str(self.settings.blacklist_confidence_minimum))
        if snapshot is None:
            params = {"confidenceMinimum": self.settings.blacklist_confidence_minimum, "limit": 10000}
            body = self.client.request("GET", "/blacklist", deadline, bucket="blacklist", params=params).body
            if not isinstance(body, dict) or not isinstance(body.get("data"), list):
                raise self.client.unexpected("an AbuseIPDB blacklist")
            listed = {_canonical_ip(e.get("ipAddress")): e.get("abuseConfidenceScore")
                      for e in (body.get("data") or []) if isinstance(e, dict)}
            generated = (body.get("meta") or {}).get("generatedAt")
            snapshot = {"found": True, "fetched_at": time.time(), "listed": listed, "generated_at": generated}
            self.cache.put(service, "blacklist", str(self.settings.blacklist_confidence_minimum), snapshot,
                           "info", self.settings.blacklist_refresh)
        score = snapshot["listed"].get(value)
        return envelope(TITLE, ioc_type, value, None, kind="blacklist", listed_score=score,
                        generated_at=snapshot.get("generated_at"), fetched_at=snapshot["fetched_at"])

    def normalise(self, raw: dict[str, Any]) -> Verdict:
        return normalise(raw, self.settings)

    def taxonomies(self, verdict: Verdict) -> list[Taxonomy]:
        return taxonomies(verdict)

    def details(self, raw: dict[str, Any]) -> dict[str, Any]:
        return details(raw)
