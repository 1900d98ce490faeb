"""What the threat-intel analyzers share: job config → EnrichConfig, observable → indicator,
verdict → Cortex report. Each analyzer module only names its provider and its settings.

Time: one job may take at most ``time_budget`` seconds of lookups and waits, and never more than
80 % of Cortex's ``jobTimeout``, so a slow service ends as a clean ``success:false`` long before
Cortex kills the process.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from ....enrich.enricher import build_enricher
from ....enrich.indicators import ioc_type_of, sha256_file
from ....enrich.settings import EnrichConfig, load_settings
from ....errors import ConfigError, InputError, PolicyError, PrivateStateError
from ....models import IocType, Verdict
from ....state import default_dir, private_dir
from ....statestore import PASSWORD_ENV, URL_ENV
from ..base import SocflowAnalyzer

HOUR = 3600.0
CACHE_FILE = "intel-cache.sqlite"
JOB_SHARE = 0.8


class IntelAnalyzer(SocflowAnalyzer):
    """Base of the VirusTotal/AbuseIPDB/OTX analyzers. Subclasses set PROVIDER and ``settings()``."""

    PROVIDER: ClassVar[str]
    TITLE: ClassVar[str]
    SETTINGS: ClassVar[type]  # the provider's msgspec settings (enrich/settings.py)
    SECRET_CONFIG = frozenset({"key", "api_key", "state_password"})
    MAX_TLP = MAX_PAP = 2  # used when the admin left max_tlp/max_pap unset (null)

    # -- configuration ---------------------------------------------------------------------
    # Settings are gathered as plain dicts and validated once, with msgspec (enrich/settings.py):
    # pydantic's import and schema building were the largest part of a job's cold start.
    def settings(self) -> dict[str, Any]:
        raise NotImplementedError

    def api_key(self) -> str:
        key = self.config("key") or self.config("api_key")
        if not isinstance(key, str) or not key.strip():
            raise ConfigError(f"the 'key' configuration item ({self.TITLE} API key) is not set")
        return key.strip()

    def defaults(self) -> Any:
        """The provider's settings with nothing set: what an unset (null or absent) item means."""
        return self.SETTINGS()

    def common(self, **extra: Any) -> dict[str, Any]:
        """Settings every provider takes from the same configuration items, plus ``extra``.

        An unset item keeps the provider's own default — also inside the nested cache TTLs and
        quotas, where a partial value would otherwise replace the whole default (before: no
        ``quota_per_day`` meant no AbuseIPDB quota at all, and unset TTLs the generic ones)."""
        base = self.defaults().cache_ttl
        ttl = {lvl: getattr(base, lvl) for lvl in ("malicious", "suspicious", "safe", "info", "not_found")}
        ttl.update(_set({lvl: _hours(self.config(f"cache_ttl_{lvl}")) for lvl in ("malicious", "suspicious", "safe")}))
        unknown = _hours(self.config("cache_ttl_unknown"))
        if unknown is not None:
            ttl["info"] = ttl["not_found"] = unknown
        values = {"api_key": self.api_key(), "api_url": self.config("api_url"),
                  "timeout": self.config("timeout"), "cache_ttl": ttl, **extra}
        return _set(values)

    def quota(self, bucket: str, per_minute: Any, per_day: Any) -> dict[str, list[dict[str, Any]]]:
        """Every default bucket of the provider, with ``bucket``'s per-minute/per-day limits
        replaced by the configured ones (an unset limit keeps its default)."""
        limits = {name: [{"limit": lim.limit, "per_seconds": lim.per_seconds} for lim in lims]
                  for name, lims in self.defaults().limits.items()}
        current = {lim["per_seconds"]: lim["limit"] for lim in limits.get(bucket, [])}
        for n, seconds in ((per_minute, 60.0), (per_day, 86400.0)):
            if n is not None:
                current[seconds] = n
        limits[bucket] = [{"limit": n, "per_seconds": s} for s, n in sorted(current.items()) if n]
        return limits

    def enrich_config(self) -> EnrichConfig:
        try:
            budget = float(self.config("time_budget", 120))
        except (TypeError, ValueError):
            raise ConfigError("time_budget must be a number of seconds") from None
        job_timeout = self.config("jobTimeout")
        if isinstance(job_timeout, (int, float)) and job_timeout > 0:
            budget = min(budget, job_timeout * 60 * JOB_SHARE)
        state_url = self.config("state_url") or os.environ.get(URL_ENV) or None
        state_password = self.config("state_password") or os.environ.get(PASSWORD_ENV) or None
        if state_url is not None and not isinstance(state_url, str):
            raise ConfigError("state_url must be a string such as redis://host:6379/0")
        if state_password is not None and not isinstance(state_password, str):
            raise ConfigError("state_password must be a string")
        cache = self.config("cache_path")
        if cache is None and not state_url:  # unset: the user's own state dir, as every command
            cache = default_cache()
        proxies = {k: v for k, v in (("http", self.http_proxy), ("https", self.https_proxy)) if v}
        ca_bundle = None
        if self.job_directory and (Path(self.job_directory) / "input" / "cacerts").is_file():
            ca_bundle = Path(self.job_directory) / "input" / "cacerts"
        return load_settings(_set({
            self.PROVIDER: self.settings(),
            "cache_path": str(cache) if cache else None,
            "state_url": state_url, "state_password": state_password,
            "state_fallback": self.config("state_fallback"),
            "budget_seconds": budget, "proxies": proxies,
            "ca_bundle": str(ca_bundle) if ca_bundle else None,
            "user_agent": "socflow-cortex/1.0",
            "allow_private_targets": self.config("allow_private_targets"),
        }), self.TITLE)

    # -- the job ---------------------------------------------------------------------------
    def indicator(self) -> tuple[IocType, str]:
        if self.data_type == "file":
            path = self.get_param("file")
            if not path:
                raise InputError("the file observable is missing from the job folder")
            return IocType.SHA256, sha256_file(path)
        data = self.get_data()
        if not isinstance(data, str):
            raise InputError("the observable value must be a string")
        return ioc_type_of(self.data_type, data), data.strip()

    def enforce_sharing_policy(self) -> None:
        """TLP/PAP gate that holds even when the admin left check_tlp/check_pap unset.

        Cortex stores unset items as null and null wins over the flavor's ``config`` defaults, so
        cortexutils would then skip the check; for an external service "unset" means "checked".
        """
        for label, value, fallback in (("TLP", self.tlp, self.MAX_TLP), ("PAP", self.pap, self.MAX_PAP)):
            low = label.lower()
            limit = self.config(f"max_{low}", fallback)
            if self.config(f"check_{low}", True) and value > limit:
                raise PolicyError(
                    f"{label} {value} is above max_{low} {limit}: the observable is not sent to {self.TITLE}"
                )

    def analyze(self) -> dict[str, Any]:
        self.enforce_sharing_policy()
        config = self.enrich_config()
        ioc_type, value = self.indicator()
        with build_enricher(config) as enricher:
            verdict = self.lookup(enricher, ioc_type, value)
            provider = enricher.provider(self.PROVIDER)
            report = self.full_report(verdict, provider, enricher.usage()[self.PROVIDER])
            if enricher.state_fallback:  # said in the report: this job ran on a local quota
                report["state_fallback"] = enricher.state_fallback
            return report

    def lookup(self, enricher: Any, ioc_type: IocType, value: str) -> Verdict:
        return enricher.lookup(self.PROVIDER, ioc_type, value)  # type: ignore[no-any-return]

    def taxonomy_list(self, provider: Any, verdict: Verdict) -> list[Any]:
        return provider.taxonomies(verdict)  # type: ignore[no-any-return]

    def full_report(self, verdict: Verdict, provider: Any, usage: dict[str, Any]) -> dict[str, Any]:
        raw = verdict.raw
        return {
            "service": verdict.service,
            "indicator": verdict.indicator,
            "type": raw.get("type"),
            "level": verdict.level.value,
            "score": verdict.score,
            "summary": verdict.summary,
            "found": bool(raw.get("found")),
            "local": raw.get("local") or None,
            "from_cache": verdict.from_cache,
            "fetched_at": datetime.fromtimestamp(verdict.fetched_at, tz=UTC).isoformat(),
            "taxonomies": [
                {"level": t.level.value, "namespace": t.namespace, "predicate": t.predicate, "value": t.value}
                for t in self.taxonomy_list(provider, verdict)
            ],
            "details": provider.details(raw) if raw.get("found") else {},
            "usage": {"calls": usage["calls"], "cache_hits": usage["cache_hits"],
                      "quota": [{**q, "per": _window(q["per_seconds"])} for q in usage["quota"]
                                if q["bucket"] in self.quota_buckets()]},
        }

    def quota_buckets(self) -> frozenset[str]:
        """The quota buckets this flavor spends (the report shows only those)."""
        return frozenset({"api"})

    def summary(self, raw: Any) -> dict[str, Any]:
        return {"taxonomies": [
            self.build_taxonomy(t["level"], t["namespace"], t["predicate"], t["value"])
            for t in raw.get("taxonomies", [])
        ]}


def _window(seconds: float) -> str:
    names = {60.0: "minute", HOUR: "hour", 86400.0: "day", 30 * 86400.0: "month"}
    return names.get(float(seconds), f"{seconds:g} s")


def default_cache() -> str | None:
    """``<state dir>/intel-cache.sqlite`` (``socflow.state``), or None when there is no such dir.

    Cortex's docker runner starts each job in a fresh container as uid 1001 whose home does not
    exist; the image sets ``SOCFLOW_STATE_DIR`` to a folder of that user. Where no state dir can be
    made at all (read-only file system, no home) the cache lives as long as the job, as it did in
    a container before. A dir that exists but that another user owns or may write is an error:
    that is the attack the check is for.
    """
    directory = default_dir()
    try:
        private_dir(directory)
    except PrivateStateError:
        raise
    except ConfigError:
        return None
    if not os.access(directory, os.W_OK | os.X_OK):
        return None
    return str(directory / CACHE_FILE)


def _hours(value: Any) -> Any:
    return value * HOUR if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def _set(values: dict[str, Any]) -> dict[str, Any]:
    """Only the items the admin set: null (Cortex's "unset") leaves the model's default."""
    return {k: v for k, v in values.items() if v is not None}
