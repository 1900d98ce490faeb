"""The façade adapters use: ``build_enricher(config).verdicts(ioc_type, value)``.

Order of a lookup: a local answer (private IP, blacklist snapshot) → the shared cache → the
shared rate ledger → the service. Cache and ledger live in SQLite (``cache_path``, one host) or,
with ``state_url`` ``redis://…``, in Redis shared by every host and container
(``socflow.statestore``). Verdicts are cached with a TTL chosen by their level;
"not found" is cached too (negative caching), so a second job for an unknown hash makes no call.
Cache keys include the service URL (``ServiceClient.cache_service``), and only answers the
provider module verified (documented success or not-found shape) ever reach the cache: anything
else raises before ``put``.

Waits for a quota slot go through ``on_wait(service, seconds, why)`` when given (the CLI shows a
countdown there; it must return once ``seconds`` have passed), else ``time.sleep``.
"""

from __future__ import annotations

import dataclasses
import importlib
import ipaddress
import os
import random
import sqlite3
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Self

from ..errors import InputError, NotFoundError, SocflowError, UnavailableError
from ..models import IocType, Verdict
from ..statestore import RedisRateLedger, RedisVerdictCache, connect, parse_state_url
from .base import Deadline, Provider, envelope
from .http import ApiRules, ServiceClient
from .indicators import canonical
from .ratelimit import RateLedger
from .store import VerdictCache, open_db

if TYPE_CHECKING:  # a pydantic config.EnrichConfig works the same (same attributes)
    from .settings import EnrichConfig, ProviderSettings

# A job that misses the cache holds the indicator's fetch lock this long at most; jobs for the
# same indicator poll the cache meanwhile (a lookup answers in well under that).
FETCH_LOCK_SECONDS = 30.0
LOCK_POLL = 0.05
# Expired verdicts are deleted by one closing enricher in PURGE_CHANCE, so no job pays every time.
PURGE_CHANCE = 0.02

# name -> (module, class); modules are imported only when configured.
PROVIDERS: dict[str, tuple[str, str]] = {
    "virustotal": ("socflow.enrich.virustotal", "VirusTotal"),
    "abuseipdb": ("socflow.enrich.abuseipdb", "AbuseIPDB"),
    "otx": ("socflow.enrich.otx", "OTX"),
}


def _auth_headers(name: str, key: str) -> dict[str, str]:
    header = {"virustotal": "x-apikey", "abuseipdb": "Key", "otx": "X-OTX-API-KEY"}[name]
    headers = {"Accept": "application/json"}
    if key:
        headers[header] = key
    return headers


@dataclasses.dataclass
class ServiceUsage:
    calls: int = 0
    cache_hits: int = 0
    local_answers: int = 0
    throttled: int = 0
    failures: int = 0


class Enricher:
    """Cached, rate-limited lookups against every configured provider."""

    def __init__(
        self, config: EnrichConfig, on_wait: Callable[[str, float, str], None] | None = None
    ) -> None:
        self.config = config
        self._owner = f"{os.getpid()}-{os.urandom(6).hex()}"
        self._conn: sqlite3.Connection | None = None
        self._redis: Any = None
        state_url = getattr(config, "state_url", None)
        target = parse_state_url(state_url) if state_url else None
        self.state_url = target.url if target else None
        self.cache: VerdictCache | RedisVerdictCache
        self.ledger: RateLedger | RedisRateLedger
        self.state_fallback: str | None = None  # why the shared state is not used, if so
        if target is not None and target.kind == "redis":
            password = getattr(config, "state_password", None)
            self._redis = connect(target, password.get_secret_value() if password else None)
            self.cache = RedisVerdictCache(self._redis, target)
            self.ledger = RedisRateLedger(self._redis, target, on_wait=on_wait)
            if getattr(config, "state_fallback", False):
                self._fall_back_if_down(target, on_wait)
        else:
            path = target.path if target is not None else config.cache_path
            self._conn = open_db(path, busy_seconds=min(10.0, config.budget_seconds))
            self.cache = VerdictCache(self._conn)
            self.ledger = RateLedger(self._conn, on_wait=on_wait)
        self.providers: dict[str, Provider] = {}
        self._usage: dict[str, ServiceUsage] = {}
        for name, settings in config.provider_settings().items():
            self.providers[name] = self._build(name, settings)
            self._usage[name] = ServiceUsage()

    def _fall_back_if_down(
        self, target: Any, on_wait: Callable[[str, float, str], None] | None
    ) -> None:
        """``state_fallback``: Redis unreachable -> no cache and a conservative quota of this
        process alone (a quarter of each limit, at least one call), instead of failing."""
        from ..statestore import redis_errors, translate

        try:
            self._redis.ping()
            return
        except redis_errors() as exc:
            self.state_fallback = str(translate(target, exc))
        self._redis.close()
        self._redis = None
        self._conn = open_db(None)
        self.cache = VerdictCache(self._conn)
        self.ledger = ConservativeLedger(self._conn, on_wait=on_wait)

    def _build(self, name: str, settings: ProviderSettings) -> Provider:
        module_name, cls_name = PROVIDERS[name]
        module = importlib.import_module(module_name)
        client = ServiceClient(
            name, module.TITLE, settings, self.config, self.ledger,
            _auth_headers(name, settings.key()), ApiRules.of(module),
        )
        return getattr(module, cls_name)(settings, client, self.cache)  # type: ignore[no-any-return]

    def provider(self, name: str) -> Provider:
        try:
            return self.providers[name]
        except KeyError:
            raise InputError(f"provider {name!r} is not configured") from None

    def deadline(self) -> Deadline:
        return Deadline(self.config.budget_seconds)

    def lookup(self, name: str, ioc_type: IocType, value: str) -> Verdict:
        """One provider's verdict on one indicator (cached; raises socflow.errors subclasses)."""
        try:
            return self._lookup(name, ioc_type, value)
        except SocflowError:
            if name in self._usage:
                self._usage[name].failures += 1  # every failed lookup, whether it called or not
            raise

    def _lookup(self, name: str, ioc_type: IocType, value: str) -> Verdict:
        provider = self.provider(name)
        if ioc_type not in provider.supported:
            raise InputError(f"{provider.title} cannot look up {ioc_type.value} indicators")
        try:
            value = canonical(ioc_type, value)
        except ValueError:
            raise InputError(f"{value!r} is not a valid {ioc_type.value}") from None
        raw = provider.local_answer(ioc_type, value)
        if raw is not None:
            self._usage[name].local_answers += 1
            return provider.normalise(raw)
        kind = ioc_type.value + getattr(provider, "cache_scope", "")
        return self._through_cache(
            provider, kind, value, lambda d: self._fetch(provider, ioc_type, value, d)
        )

    def lookup_block(self, name: str, network: str) -> Verdict:
        """A provider's verdict on a whole network (AbuseIPDB check-block), cached like lookups."""
        try:
            return self._lookup_block(name, network)
        except SocflowError:
            if name in self._usage:
                self._usage[name].failures += 1
            raise

    def _lookup_block(self, name: str, network: str) -> Verdict:
        provider = self.provider(name)
        fetch_block = getattr(provider, "fetch_block", None)
        if fetch_block is None:
            raise InputError(f"{provider.title} cannot check networks")
        key = network.strip()
        try:
            key = str(ipaddress.ip_network(key, strict=False))
        except ValueError:
            pass  # fetch_block explains what is wrong with it
        kind = "cidr" + getattr(provider, "cache_scope", "")
        return self._through_cache(provider, kind, key, lambda d: fetch_block(key, d))

    def _through_cache(
        self, provider: Provider, kind: str, key: str, fetch: Callable[[Deadline], dict[str, Any]]
    ) -> Verdict:
        try:
            return self._cached_or_fetched(provider, kind, key, fetch)
        except sqlite3.Error as exc:
            raise UnavailableError(
                f"{provider.title}: the shared cache file is unusable: {exc}", service=provider.title
            ) from None

    def _cached_or_fetched(
        self, provider: Provider, kind: str, key: str, fetch: Callable[[Deadline], dict[str, Any]]
    ) -> Verdict:
        service = provider.client.cache_service  # type: ignore[attr-defined]
        deadline = self.deadline()
        cached = self._cached(provider, service, kind, key)
        if cached is not None:
            return cached
        # Single flight: one job fetches, parallel jobs for the same indicator wait for its answer
        # (up to FETCH_LOCK_SECONDS; a holder that died lets its lock expire).
        hold = min(FETCH_LOCK_SECONDS, max(deadline.remaining(), 0.1))
        while not self.cache.lock(service, kind, key, self._owner, hold):
            if deadline.remaining() <= 0:
                break  # the holder is slow: fetch ourselves rather than fail the job
            time.sleep(LOCK_POLL)
            cached = self._cached(provider, service, kind, key)
            if cached is not None:
                return cached
        try:
            cached = self._cached(provider, service, kind, key)  # filled while we took the lock
            if cached is not None:
                return cached
            raw = fetch(deadline)
            verdict = provider.normalise(raw)
            if not raw.get("local"):
                ttl = provider.settings.cache_ttl.seconds_for(verdict.level.value, bool(raw.get("found")))
                self.cache.put(service, kind, key, raw, verdict.level.value, ttl)
            return verdict
        finally:
            self.cache.unlock(service, kind, key, self._owner)

    def _cached(self, provider: Provider, service: str, kind: str, key: str) -> Verdict | None:
        cached = self.cache.get(service, kind, key)
        if cached is None:
            return None
        self._usage[provider.name].cache_hits += 1
        return dataclasses.replace(provider.normalise(cached), from_cache=True)

    def _fetch(self, provider: Provider, ioc_type: IocType, value: str, deadline: Deadline) -> dict[str, Any]:
        try:
            return provider.fetch(ioc_type, value, deadline)
        except NotFoundError:
            return envelope(provider.title, ioc_type, value, None, found=False)

    def verdicts(self, ioc_type: IocType, value: str) -> list[Verdict]:
        """Every configured provider that supports ``ioc_type``; the first failure is raised."""
        return [
            self.lookup(name, ioc_type, value)
            for name, provider in self.providers.items()
            if ioc_type in provider.supported
        ]

    def try_verdicts(
        self, ioc_type: IocType, value: str
    ) -> list[Verdict | SocflowError]:
        """Like :meth:`verdicts`, but a failing provider gives its error instead of raising."""
        out: list[Verdict | SocflowError] = []
        for name, provider in self.providers.items():
            if ioc_type in provider.supported:
                try:
                    out.append(self.lookup(name, ioc_type, value))
                except SocflowError as exc:
                    out.append(exc)
        return out

    def usage(self) -> dict[str, dict[str, Any]]:
        """Calls made, cache hits and quota use per provider (for CLI summaries and the bridge)."""
        report: dict[str, dict[str, Any]] = {}
        for name, provider in self.providers.items():
            stats = provider.client.stats  # type: ignore[attr-defined]
            usage = self._usage[name]
            usage.calls, usage.throttled = stats.calls, stats.throttled
            quota = []
            for bucket, limits in provider.settings.limits.items():
                for lim in limits:
                    used = self.ledger.used(provider.client.bucket_key(bucket), lim.per_seconds)  # type: ignore[attr-defined]
                    quota.append({"bucket": bucket, "limit": lim.limit, "per_seconds": lim.per_seconds,
                                  "used": used, "remaining": max(0, lim.limit - used)})
            report[name] = {"title": provider.title, **dataclasses.asdict(usage), "quota": quota}
        return report

    def close(self) -> None:
        for provider in self.providers.values():
            session = provider.client._session  # type: ignore[attr-defined]
            if session is not None:
                session.close()
        if self._redis is not None:
            self._redis.close()
            return
        if random.random() < PURGE_CHANCE:
            try:
                self.cache.purge_expired()
            except sqlite3.Error:
                pass  # another process holds the lock; the next one will purge
        if self._conn is not None:
            self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ConservativeLedger(RateLedger):
    """This process's own ledger when the shared one is out of reach: other jobs may be spending
    the same quota unseen, so each limit counts as a quarter of itself (at least one call)."""

    def acquire(self, service: str, bucket: str, limits: Any, deadline: Deadline) -> None:
        from .settings import RateLimit

        quarter = [RateLimit(limit=max(1, lim.limit // 4), per_seconds=lim.per_seconds) for lim in limits]
        super().acquire(service, bucket, quarter, deadline)


def build_enricher(
    config: EnrichConfig, on_wait: Callable[[str, float, str], None] | None = None
) -> Enricher:
    return Enricher(config, on_wait)


def supported_services(ioc_type: IocType, names: Iterable[str] | None = None) -> list[str]:
    """Which registered providers can look up ``ioc_type`` (imports their modules)."""
    out = []
    for name in names or PROVIDERS:
        module = importlib.import_module(PROVIDERS[name][0])
        if ioc_type in module.SUPPORTED:
            out.append(name)
    return out
