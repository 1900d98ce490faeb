"""Threat-intel enrichment: cached, rate-limited, fault-tolerant verdicts from VirusTotal,
AbuseIPDB and OTX.

Public interface::

    from socflow.enrich import build_enricher, EnrichConfig
    enricher = build_enricher(EnrichConfig(virustotal=VirusTotalSettings(api_key="…")))
    enricher.verdicts(IocType.IPV4, "8.8.8.8")   # -> list[Verdict]; raises socflow.errors
    enricher.usage()                              # calls, cache hits, quota per provider

The settings classes exported here are the pydantic ones (``config.py``, for the CLI and the
bridge); Cortex jobs validate with ``settings.load_settings`` instead. Names are resolved on first
use (PEP 562), so importing one provider module never pulls in pydantic.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import (
        AbuseIPDBSettings,
        CacheTtl,
        EnrichConfig,
        OTXSettings,
        RateLimit,
        VirusTotalSettings,
    )
    from .enricher import PROVIDERS, Enricher, build_enricher

_LAZY = {
    "AbuseIPDBSettings": ".config", "CacheTtl": ".config", "EnrichConfig": ".config",
    "OTXSettings": ".config", "RateLimit": ".config", "VirusTotalSettings": ".config",
    "PROVIDERS": ".enricher", "Enricher": ".enricher", "build_enricher": ".enricher",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "PROVIDERS", "AbuseIPDBSettings", "CacheTtl", "EnrichConfig", "Enricher", "OTXSettings",
    "RateLimit", "VirusTotalSettings", "build_enricher",
]
