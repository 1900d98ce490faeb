"""Socflow_VirusTotal_GetReport and Socflow_VirusTotal_Scan (rules in socflow.enrich.virustotal)."""

from __future__ import annotations

from typing import Any

from ....enrich.virustotal import related
from ....enrich.settings import VirusTotalSettings
from ._intel import IntelAnalyzer


class VirusTotalGetReport(IntelAnalyzer):
    PROVIDER, TITLE = "virustotal", "VirusTotal"
    SETTINGS = VirusTotalSettings
    DATA_TYPES = ("ip", "domain", "fqdn", "url", "hash", "file")

    def settings(self) -> dict[str, Any]:
        return self.common(
            limits=self.quota("api", self.config("quota_per_minute"), self.config("quota_per_day")),
            malicious_threshold=self.config("malicious_threshold"),
            relationships=self.config("relationships"),
            poll_interval=self.config("poll_interval"),
            scan_max_wait=self.config("max_wait"),
        )

    def artifacts(self, raw: Any) -> list[dict[str, Any]]:
        found = related({"type": raw.get("type"), "relationships": raw.get("details", {}).get("relationships")})
        return [self.build_artifact(dtype, value, tags=[f"vt:{rel}"], message=f"VirusTotal {rel}")
                for dtype, value, rel in found]


class VirusTotalScan(VirusTotalGetReport):
    DATA_TYPES = ("file", "url")
    MAX_TLP = MAX_PAP = 1  # the sample itself is shared with VirusTotal and its customers

    def analyze(self) -> dict[str, Any]:
        from ....enrich import build_enricher
        from ....enrich.vtscan import scan_file, scan_url

        self.enforce_sharing_policy()
        config = self.enrich_config()
        with build_enricher(config) as enricher:
            provider = enricher.provider(self.PROVIDER)
            if self.data_type == "file":
                verdict = scan_file(provider, self.get_param("file"), enricher.deadline())
            else:
                verdict = scan_url(provider, self.get_data(), enricher.deadline())
            return self.full_report(verdict, provider, enricher.usage()[self.PROVIDER])

    def taxonomy_list(self, provider: Any, verdict: Any) -> list[Any]:
        from ....enrich.virustotal import taxonomies

        return taxonomies(verdict, predicate="Scan")
