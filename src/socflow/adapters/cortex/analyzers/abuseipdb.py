"""Socflow_AbuseIPDB_Check and Socflow_AbuseIPDB_CheckBlock (rules in socflow.enrich.abuseipdb)."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from ....enrich.settings import HOUR, AbuseIPDBSettings
from ....errors import InputError
from ....models import IocType, Verdict
from ._intel import IntelAnalyzer

HOSTNAME = re.compile(r"(?=.{1,253}$)(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}\.?")


class AbuseIPDBCheck(IntelAnalyzer):
    PROVIDER, TITLE = "abuseipdb", "AbuseIPDB"
    SETTINGS = AbuseIPDBSettings
    DATA_TYPES = ("ip",)
    BUCKET, QUOTA_ITEM = "check", "quota_per_day"

    def settings(self) -> dict[str, Any]:
        refresh = self.config("blacklist_refresh_hours")
        return self.common(
            limits=self.quota(self.BUCKET, None, self.config(self.QUOTA_ITEM)),
            max_age_days=self.config("max_age_days"),
            malicious_threshold=self.config("malicious_threshold"),
            suspicious_threshold=self.config("suspicious_threshold"),
            max_prefix_v4=self.config("max_prefix"),
            blacklist_mode=self.config("blacklist_mode"),
            blacklist_refresh=refresh * HOUR if isinstance(refresh, (int, float)) else refresh,
            blacklist_confidence_minimum=self.config("blacklist_confidence_minimum"),
        )


    def quota_buckets(self) -> frozenset[str]:
        return frozenset({"blacklist" if self.config("blacklist_mode") else self.BUCKET})

    def artifacts(self, raw: Any) -> list[dict[str, Any]]:
        """The ISP's domain and the reverse-DNS hostnames the answer holds, as the official
        analyzer gives them. A PTR record is written by whoever owns the address, so only values
        that are host names at all become observables, tagged with where they came from."""
        details = raw.get("details") or {}
        found = [("domain", details.get("domain"), "abuseipdb:isp-domain", "AbuseIPDB: domain of the ISP")]
        found += [("hostname", h, "abuseipdb:hostname", "AbuseIPDB: reverse DNS of the address")
                  for h in details.get("hostnames") or []]
        return [self.build_artifact(dtype, value.lower(), tags=[tag], message=message)
                for dtype, value, tag, message in found
                if isinstance(value, str) and HOSTNAME.fullmatch(value)]


class AbuseIPDBCheckBlock(AbuseIPDBCheck):
    DATA_TYPES = ("ip", "other")
    BUCKET, QUOTA_ITEM = "check-block", "block_quota_per_day"  # baseConfig items are shared

    def indicator(self) -> tuple[IocType, str]:
        """A CIDR as given; a single address means its enclosing block (/max_prefix, /64 for v6)."""
        data = self.get_data()
        if not isinstance(data, str) or not data.strip():
            raise InputError("CheckBlock needs a network in CIDR notation, e.g. 203.0.113.0/24")
        value = data.strip()
        if "/" not in value:
            try:
                ip = ipaddress.ip_address(value)
            except ValueError:
                raise InputError(f"{value!r} is neither a network (CIDR) nor an IP address") from None
            prefix = int(self.config("max_prefix", 24)) if ip.version == 4 else 64
            value = str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))
        return IocType.IPV4, value

    def quota_buckets(self) -> frozenset[str]:
        return frozenset({self.BUCKET})  # a block check never reads the blacklist snapshot

    def lookup(self, enricher: Any, ioc_type: IocType, value: str) -> Verdict:
        return enricher.lookup_block(self.PROVIDER, value)  # type: ignore[no-any-return]

    def artifacts(self, raw: Any) -> list[dict[str, Any]]:
        return [self.build_artifact("ip", r["ipAddress"], tags=["abuseipdb:reported"],
                                    message=f"AbuseIPDB score {r.get('abuseConfidenceScore')}")
                for r in raw.get("details", {}).get("reported", []) if r.get("ipAddress")]
