"""Socflow_OTX_Query (rules in socflow.enrich.otx)."""

from __future__ import annotations

from typing import Any

from ....enrich.settings import OTXSettings
from ._intel import IntelAnalyzer


class OTXQuery(IntelAnalyzer):
    PROVIDER, TITLE = "otx", "OTX"
    SETTINGS = OTXSettings
    DATA_TYPES = ("ip", "domain", "fqdn", "hostname", "url", "hash")

    def settings(self) -> dict[str, Any]:
        return self.common(
            limits=self.quota("api", self.config("quota_per_minute"), None),
            malicious_pulses=self.config("malicious_pulses"),
            sections=self.config("sections") or None,
        )
