"""Socflow_OTX_Query (rules in socflow.enrich.otx)."""

from __future__ import annotations

from ....enrich.config import OTXSettings
from ._intel import IntelAnalyzer, validated


class OTXQuery(IntelAnalyzer):
    PROVIDER, TITLE = "otx", "OTX"
    DATA_TYPES = ("ip", "domain", "fqdn", "url", "hash")

    def settings(self) -> OTXSettings:
        return validated(  # type: ignore[no-any-return]
            OTXSettings, "OTX", **self.common(),
            limits=self.quota("api", self.config("quota_per_minute", 60), None),
            malicious_pulses=self.config("malicious_pulses"),
        )
