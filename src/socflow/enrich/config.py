"""Typed configuration of the intel layer (validated once, at the edge that builds it).

Adapters (the CLI, the bridge) translate their own settings into an :class:`EnrichConfig`;
nothing below this module reads files, environment variables or job JSON. Cortex jobs use the
msgspec twin in ``settings.py`` instead (start-up time); keep both in step —
``tests/intel/test_settings_parity.py`` fails when they differ.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from .settings import DAY, HOUR, OTXSection, checked_api_url


class RateLimit(BaseModel):
    """At most ``limit`` calls in any sliding window of ``per_seconds``."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)
    limit: int = Field(ge=1)
    per_seconds: float = Field(gt=0)


class CacheTtl(BaseModel):
    """Seconds a verdict stays cached, per level; ``not_found`` is the negative-cache TTL."""

    model_config = ConfigDict(extra="forbid", defer_build=True)
    malicious: float = Field(default=DAY, ge=0)
    suspicious: float = Field(default=12 * HOUR, ge=0)
    safe: float = Field(default=DAY, ge=0)
    info: float = Field(default=6 * HOUR, ge=0)
    not_found: float = Field(default=6 * HOUR, ge=0)

    def seconds_for(self, level: str, found: bool) -> float:
        return self.not_found if not found else float(getattr(self, level))


class ProviderSettings(BaseModel):
    """What every provider needs: where, with which key, how fast, how often, how long to cache."""

    model_config = ConfigDict(extra="forbid", defer_build=True)
    api_key: SecretStr | None = None
    api_url: str
    timeout: float = Field(default=15.0, gt=0, le=300, description="per-request connect/read bound")
    retries: int = Field(default=2, ge=0, le=5, description="extra attempts on 5xx/connection errors")
    limits: dict[str, list[RateLimit]] = Field(default_factory=dict)
    cache_ttl: CacheTtl = Field(default_factory=CacheTtl)

    @field_validator("api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return checked_api_url(value)

    def key(self) -> str:
        return self.api_key.get_secret_value() if self.api_key else ""


class VirusTotalSettings(ProviderSettings):
    api_url: str = "https://www.virustotal.com/api/v3"
    limits: dict[str, list[RateLimit]] = Field(
        default_factory=lambda: {
            "api": [RateLimit(limit=4, per_seconds=60), RateLimit(limit=500, per_seconds=DAY)]
        }
    )
    malicious_threshold: int = Field(default=3, ge=1, description="malicious engines for 'malicious'")
    relationships: bool = False
    poll_interval: float = Field(default=15.0, gt=0)
    scan_max_wait: float = Field(default=100.0, gt=0)


class AbuseIPDBSettings(ProviderSettings):
    api_url: str = "https://api.abuseipdb.com/api/v2"
    limits: dict[str, list[RateLimit]] = Field(
        default_factory=lambda: {
            "check": [RateLimit(limit=1000, per_seconds=DAY)],
            "check-block": [RateLimit(limit=100, per_seconds=DAY)],
            "blacklist": [RateLimit(limit=5, per_seconds=DAY)],
        }
    )
    cache_ttl: CacheTtl = Field(
        default_factory=lambda: CacheTtl(
            malicious=6 * HOUR, suspicious=6 * HOUR, safe=6 * HOUR, info=6 * HOUR, not_found=6 * HOUR
        )
    )
    max_age_days: int = Field(default=30, ge=1, le=365)
    malicious_threshold: int = Field(default=75, ge=1, le=100)
    suspicious_threshold: int = Field(default=25, ge=1, le=100)
    max_prefix_v4: int = Field(default=24, ge=8, le=32, description="widest IPv4 block the plan allows")
    blacklist_mode: bool = False
    blacklist_refresh: float = Field(default=6 * HOUR, ge=300)
    blacklist_confidence_minimum: int = Field(default=100, ge=25, le=100)


class OTXSettings(ProviderSettings):
    api_url: str = "https://otx.alienvault.com"
    limits: dict[str, list[RateLimit]] = Field(
        default_factory=lambda: {"api": [RateLimit(limit=60, per_seconds=60)]}
    )
    malicious_pulses: int = Field(default=3, ge=1, description="pulses for 'malicious'")
    sections: list[OTXSection] = Field(default_factory=list, description="extra sections, one call each")


class EnrichConfig(BaseModel):
    """The whole intel layer: which providers, where the cache lives, how long a lookup may take."""

    model_config = ConfigDict(extra="forbid", defer_build=True)
    virustotal: VirusTotalSettings | None = None
    abuseipdb: AbuseIPDBSettings | None = None
    otx: OTXSettings | None = None
    cache_path: Path | None = Field(default=None, description="SQLite file; None = this process only")
    state_url: str | None = Field(
        default=None, description="sqlite:///path or redis(s)://[user@]host:port/db; wins over cache_path"
    )
    state_password: SecretStr | None = Field(default=None, description="the Redis password")
    state_fallback: bool = Field(
        default=False,
        description="Redis unreachable: run without cache, a quarter of each limit for this process",
    )
    budget_seconds: float = Field(
        default=60.0, gt=0, le=3600, description="wall time one lookup may take, waits included"
    )
    proxies: dict[str, str] = Field(default_factory=dict, description="scheme -> proxy URL")
    ca_bundle: Path | None = Field(default=None, description="CA file; None = REQUESTS_CA_BUNDLE/certifi")
    user_agent: str = "socflow"
    allow_private_targets: bool = Field(
        default=False, description="allow loopback/link-local/metadata api_urls (socflow.outbound)"
    )

    def provider_settings(self) -> dict[str, ProviderSettings]:
        found = {"virustotal": self.virustotal, "abuseipdb": self.abuseipdb, "otx": self.otx}
        return {name: s for name, s in found.items() if s is not None}
