"""Threat-intel enrichment: cached, rate-limited, fault-tolerant verdicts from VirusTotal,
AbuseIPDB and OTX.

Public interface::

    from socflow.enrich import build_enricher, EnrichConfig
    enricher = build_enricher(EnrichConfig(virustotal=VirusTotalSettings(api_key="…")))
    enricher.verdicts(IocType.IPV4, "8.8.8.8")   # -> list[Verdict]; raises socflow.errors
    enricher.usage()                              # calls, cache hits, quota per provider
"""

from .config import (
    AbuseIPDBSettings,
    CacheTtl,
    EnrichConfig,
    OTXSettings,
    RateLimit,
    VirusTotalSettings,
)
from .enricher import PROVIDERS, Enricher, build_enricher

__all__ = [
    "PROVIDERS", "AbuseIPDBSettings", "CacheTtl", "EnrichConfig", "Enricher", "OTXSettings",
    "RateLimit", "VirusTotalSettings", "build_enricher",
]
