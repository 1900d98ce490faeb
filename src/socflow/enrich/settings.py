"""The intel layer's settings as msgspec Structs: what the core runs on, validated without pydantic.

Why two schemas: ``config.py`` (pydantic) is the front the CLI and the bridge validate user input
with — the bridge nests ``EnrichConfig`` in its own pydantic file model, the CLI catches pydantic's
``ValidationError``. A Cortex job is a process started per observable, and importing pydantic and
building its schemas cost ~120 ms of a ~300 ms job; msgspec validates the same settings in
microseconds after a ~15 ms import (``socflow.config``). The two are kept identical — field names, defaults, limits —
by ``tests/intel/test_settings_parity.py``; the core only reads attributes both provide.

``load_settings(values)`` turns a job's plain dict into an :class:`EnrichConfig` or raises one
:class:`~socflow.errors.ConfigError` line naming the item.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from msgspec import Meta, Struct, field

from ..config import Secret, convert

HOUR = 3600.0
DAY = 86400.0

NonNegative = Annotated[float, Meta(ge=0)]
Positive = Annotated[float, Meta(gt=0)]


def checked_api_url(value: str) -> str:
    """An http(s) base URL without its trailing slash (both schemas use this check)."""
    url = value.strip()
    if not url.startswith(("http://", "https://")) or len(url) < 10:
        raise ValueError(f"api_url must be an http(s) URL, got {url!r}")
    return url.rstrip("/")


class _Settings(Struct, kw_only=True, forbid_unknown_fields=True):
    """Unknown items are errors (a typo must not silently fall back to a default). msgspec does not
    inherit ``kw_only``, so every subclass repeats it."""


class RateLimit(_Settings, frozen=True, kw_only=True):
    """At most ``limit`` calls in any sliding window of ``per_seconds``."""

    limit: Annotated[int, Meta(ge=1)]
    per_seconds: Positive


class CacheTtl(_Settings, kw_only=True):
    """Seconds a verdict stays cached, per level; ``not_found`` is the negative-cache TTL."""

    malicious: NonNegative = DAY
    suspicious: NonNegative = 12 * HOUR
    safe: NonNegative = DAY
    info: NonNegative = 6 * HOUR  # "unknown" answers: what the flavors' cache_ttl_unknown documents
    not_found: NonNegative = 6 * HOUR

    def seconds_for(self, level: str, found: bool) -> float:
        return self.not_found if not found else float(getattr(self, level))


class ProviderSettings(_Settings, kw_only=True):
    """What every provider needs: where, with which key, how fast, how often, how long to cache."""

    api_key: Secret | None = None
    api_url: str
    timeout: Annotated[float, Meta(gt=0, le=300)] = 15.0  # per-request connect/read bound
    retries: Annotated[int, Meta(ge=0, le=5)] = 2  # extra attempts on 5xx/connection errors
    limits: dict[str, list[RateLimit]] = field(default_factory=dict)
    cache_ttl: CacheTtl = field(default_factory=CacheTtl)

    def __post_init__(self) -> None:
        self.api_url = checked_api_url(self.api_url)
        if isinstance(self.api_key, str):  # built in code with a plain string
            self.api_key = Secret(self.api_key)

    def key(self) -> str:
        return self.api_key.get_secret_value() if self.api_key else ""


class VirusTotalSettings(ProviderSettings, kw_only=True):
    api_url: str = "https://www.virustotal.com/api/v3"
    limits: dict[str, list[RateLimit]] = field(
        default_factory=lambda: {
            "api": [RateLimit(limit=4, per_seconds=60.0), RateLimit(limit=500, per_seconds=DAY)]
        }
    )
    malicious_threshold: Annotated[int, Meta(ge=1)] = 3  # malicious engines for 'malicious'
    relationships: bool = False
    poll_interval: Positive = 15.0
    scan_max_wait: Positive = 100.0  # the flavor's documented max_wait (inside its 120 s budget)


class AbuseIPDBSettings(ProviderSettings, kw_only=True):
    api_url: str = "https://api.abuseipdb.com/api/v2"
    limits: dict[str, list[RateLimit]] = field(
        default_factory=lambda: {
            "check": [RateLimit(limit=1000, per_seconds=DAY)],
            "check-block": [RateLimit(limit=100, per_seconds=DAY)],
            "blacklist": [RateLimit(limit=5, per_seconds=DAY)],
        }
    )
    cache_ttl: CacheTtl = field(
        default_factory=lambda: CacheTtl(
            malicious=6 * HOUR, suspicious=6 * HOUR, safe=6 * HOUR, info=6 * HOUR, not_found=6 * HOUR
        )
    )
    max_age_days: Annotated[int, Meta(ge=1, le=365)] = 30
    malicious_threshold: Annotated[int, Meta(ge=1, le=100)] = 75
    suspicious_threshold: Annotated[int, Meta(ge=1, le=100)] = 25
    max_prefix_v4: Annotated[int, Meta(ge=8, le=32)] = 24  # widest IPv4 block the plan allows
    blacklist_mode: bool = False
    blacklist_refresh: Annotated[float, Meta(ge=300)] = 6 * HOUR
    blacklist_confidence_minimum: Annotated[int, Meta(ge=25, le=100)] = 100


# OTX sections beyond ``general`` a flavor may ask for (each is one more call per lookup).
OTXSection = Literal["passive_dns", "url_list", "malware"]


class OTXSettings(ProviderSettings, kw_only=True):
    api_url: str = "https://otx.alienvault.com"
    limits: dict[str, list[RateLimit]] = field(
        default_factory=lambda: {"api": [RateLimit(limit=60, per_seconds=60.0)]}
    )
    malicious_pulses: Annotated[int, Meta(ge=1)] = 3  # pulses for 'malicious'
    sections: list[OTXSection] = field(default_factory=list)  # extra sections, one call each


class EnrichConfig(_Settings, kw_only=True):
    """The whole intel layer: which providers, where the cache lives, how long a lookup may take."""

    virustotal: VirusTotalSettings | None = None
    abuseipdb: AbuseIPDBSettings | None = None
    otx: OTXSettings | None = None
    cache_path: Path | None = None  # SQLite file; None = this process only
    # sqlite:///path or redis(s)://[user@]host:port/db (socflow.statestore); wins over cache_path
    state_url: str | None = None
    state_password: Secret | None = None  # the Redis password (never inside state_url)
    # Redis unreachable: run without cache, a quarter of each limit for this process (else fail)
    state_fallback: bool = False
    budget_seconds: Annotated[float, Meta(gt=0, le=3600)] = 60.0  # one lookup, waits included
    proxies: dict[str, str] = field(default_factory=dict)  # scheme -> proxy URL
    ca_bundle: Path | None = None  # CA file; None = REQUESTS_CA_BUNDLE/certifi
    user_agent: str = "socflow"
    # loopback/link-local/metadata api_urls refused unless set (socflow.outbound)
    allow_private_targets: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.state_password, str):  # built in code with a plain string
            self.state_password = Secret(self.state_password)

    def provider_settings(self) -> dict[str, ProviderSettings]:
        found = {"virustotal": self.virustotal, "abuseipdb": self.abuseipdb, "otx": self.otx}
        return {name: s for name, s in found.items() if s is not None}


def load_settings(values: dict[str, Any], what: str = "") -> EnrichConfig:
    """Validate plain settings (null items left out for their defaults) as pydantic's lax mode
    would where a job may send it, never laxer (the parity test checks that)."""
    return convert(values, EnrichConfig, f"{what} configuration: " if what else "")
