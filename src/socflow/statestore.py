"""Where shared state lives, chosen by one URL: SQLite on this host, or Redis for many hosts.

State that several processes must agree on — the intel cache, the quota ledger, the bridge's rule
windows and the "this alert exists" claims — goes through the small interface of this module:

- ``sqlite:///path/file.sqlite`` (absolute path; ``sqlite:///~/x`` in the home folder; the default, embedded): one file per host, as before; safe
  across processes of one machine (SQLite's write lock), not across machines or containers;
- ``redis://[user@]host[:port][/db]`` and ``rediss://…`` (TLS): one Redis (or Valkey) for every
  worker, container and node.

The password is never part of the URL (a URL is printed, logged and written back into Cortex
job inputs; cortexutils only scrubs items whose *name* says key/password/secret): it comes from
``SOCFLOW_STATE_PASSWORD`` or the flavors' ``state_password`` item, and a URL carrying one is
refused. Every write is idempotent (redis-py re-sends a command whose reply was lost): quota
calls are sorted-set members with a unique id, window counts are sets of event identities,
claims are ``SET NX`` with the claimer's id. Quota checks run as one Lua script per call, so a
per-minute and a per-day limit are checked and recorded atomically across machines; the script
reads Redis' own clock, so hosts with skewed clocks still share one window.

TLS options are query parameters: ``rediss://host:6380/0?ssl_ca_certs=/etc/ca.pem`` (plus
``ssl_certfile``/``ssl_keyfile`` for a client certificate); ``socket_timeout`` (seconds, default
5) bounds each command.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from .errors import AuthError, ConfigError, QuotaError, UnavailableError

if TYPE_CHECKING:
    from .enrich.base import Deadline
    from .enrich.settings import RateLimit

URL_ENV = "SOCFLOW_STATE_URL"
PASSWORD_ENV = "SOCFLOW_STATE_PASSWORD"
PREFIX = "socflow:"
_QUERY = {"ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "socket_timeout"}


@dataclass(frozen=True)
class StateTarget:
    """A parsed ``state_url``; ``url`` is safe to print (it never holds a password)."""

    kind: str  # "sqlite" | "redis"
    url: str
    path: Path | None = None
    host: str = ""
    port: int = 6379
    db: int = 0
    username: str | None = None
    tls: bool = False
    options: tuple[tuple[str, str], ...] = ()

    @property
    def shared(self) -> bool:
        """True when several hosts can share it (Redis)."""
        return self.kind == "redis"


def parse_state_url(url: str) -> StateTarget:
    """``sqlite:///path``, ``redis://…`` or ``rediss://…``; a ConfigError names what is wrong."""
    text = url.strip()
    scheme = text.split(":", 1)[0].lower() if ":" in text else ""
    if scheme == "sqlite":
        if not text.startswith("sqlite:///") or len(text) <= len("sqlite:///"):
            raise ConfigError("state_url: a SQLite state is written sqlite:///path/to/file.sqlite")
        raw = unquote(text[len("sqlite://"):])
        # the path is absolute: sqlite:///var/lib/x and sqlite:////var/lib/x are the same file;
        # sqlite:///~/x is in the home folder
        path = Path(raw[1:]).expanduser() if raw.startswith("/~") else Path("/" + raw.lstrip("/"))
        return StateTarget("sqlite", f"sqlite://{path}", path=path)
    if scheme not in ("redis", "rediss"):
        shown = scheme or text[:20]
        raise ConfigError(
            f"state_url: unknown scheme {shown!r}: use sqlite:///path, redis://host:port/db "
            "or rediss://host:port/db"
        )
    try:
        parts = urlsplit(text)
        port = parts.port or 6379
    except ValueError:
        raise ConfigError("state_url: not a valid redis URL (host:port/db expected)") from None
    if parts.password is not None:
        raise ConfigError(
            "state_url must not carry a password (URLs are printed and stored in job inputs): "
            f"give it in {PASSWORD_ENV} or the state_password item"
        )
    if not parts.hostname:
        raise ConfigError("state_url: the redis URL names no host")
    db_text = parts.path.strip("/") or "0"
    if not db_text.isdecimal():
        raise ConfigError(f"state_url: the database number must be an integer, got {db_text!r}")
    options: list[tuple[str, str]] = []
    for name, values in parse_qs(parts.query, keep_blank_values=True).items():
        if name not in _QUERY:
            raise ConfigError(
                f"state_url: unknown option {name!r} (known: {', '.join(sorted(_QUERY))})"
            )
        options.append((name, values[-1]))
    if any(n.startswith("ssl_") for n, _ in options) and scheme != "rediss":
        raise ConfigError("state_url: ssl_* options need a rediss:// (TLS) URL")
    username = unquote(parts.username) if parts.username else None
    host = parts.hostname
    shown_host = f"[{host}]" if ":" in host else host
    user = f"{username}@" if username else ""
    query = "&".join(f"{n}={v}" for n, v in options)
    printable = f"{scheme}://{user}{shown_host}:{port}/{int(db_text)}" + (f"?{query}" if query else "")
    return StateTarget("redis", printable, host=host, port=port, db=int(db_text),
                       username=username, tls=scheme == "rediss", options=tuple(options))


def resolve(
    url: str | None,
    password: str | None = None,
    *,
    default_path: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[StateTarget | None, str | None]:
    """The state target and password an adapter was given: the explicit ``url``, else
    ``$SOCFLOW_STATE_URL``, else SQLite at ``default_path`` (None when that is None too); the
    password from ``password`` or ``$SOCFLOW_STATE_PASSWORD``."""
    env = os.environ if environ is None else environ
    chosen = url or env.get(URL_ENV) or ""
    secret = password or env.get(PASSWORD_ENV) or None
    if chosen.strip():
        return parse_state_url(chosen), secret
    if default_path is None:
        return None, secret
    return StateTarget("sqlite", f"sqlite://{default_path}", path=default_path), secret


# ---------------------------------------------------------------------------- Redis connection
def connect(target: StateTarget, password: str | None) -> Any:
    """A redis-py client for ``target`` (connects lazily; nothing is sent yet)."""
    try:
        import redis
        from redis.backoff import ExponentialBackoff
        from redis.retry import Retry
    except ImportError:  # pragma: no cover - redis is an install requirement
        raise ConfigError("state_url redis:// needs the redis package (pip install redis)") from None
    opts = dict(target.options)
    try:
        timeout = float(opts.pop("socket_timeout", 5.0))
    except ValueError:
        raise ConfigError("state_url: socket_timeout must be a number of seconds") from None
    kwargs: dict[str, Any] = {
        "host": target.host, "port": target.port, "db": target.db,
        "username": target.username, "password": password,
        "socket_timeout": timeout, "socket_connect_timeout": min(timeout, 3.0),
        # Every write here is idempotent, so a retry is safe; few and short, so that "Redis is
        # down" is an error within seconds, not redis-py's default minute.
        "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
        "retry_on_error": [],
        "health_check_interval": 30,
        "client_name": "socflow",
    }
    if target.tls:
        kwargs["ssl"] = True
        for name in ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile"):
            if opts.get(name):
                kwargs[name] = opts[name]
    return redis.Redis(**kwargs)


def translate(target: StateTarget, exc: Exception) -> Exception:
    """A redis-py exception as socflow's one-line error (the password never appears in it)."""
    import redis

    where = f"state backend {target.url}"
    if isinstance(exc, redis.AuthenticationError) or "WRONGPASS" in str(exc) or "NOAUTH" in str(exc):
        return AuthError(f"{where}: authentication failed (check {PASSWORD_ENV} or "
                         "state_password, and the user in the URL)", service="state")
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return UnavailableError(f"{where} is unreachable: {detail[:200]}", service="state")
    return UnavailableError(f"{where} failed: {str(exc)[:200]}", service="state")


def redis_errors() -> tuple[type[Exception], ...]:
    import redis

    return (redis.RedisError,)


def server_info(client: Any, target: StateTarget) -> dict[str, Any]:
    """Version and persistence settings (``socflow doctor``); raises translated errors."""
    try:
        info = client.info("server")
        persistence = client.info("persistence")
    except redis_errors() as exc:
        raise translate(target, exc) from None
    return {
        "version": info.get("valkey_version") or info.get("redis_version"),
        "server": info.get("server_name") or "redis",
        "aof": bool(persistence.get("aof_enabled")),
        "rdb_last_save": persistence.get("rdb_last_save_time"),
    }


def _tag(text: str) -> str:
    """A short hash used as the key's cluster hash tag (keeps user text out of key names)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:24]


# ---------------------------------------------------------------------------- verdict cache
class RedisVerdictCache:
    """The intel cache on Redis: one JSON string per (service URL, kind+settings, indicator),
    expiring by itself after the verdict's TTL (same interface as ``enrich.store.VerdictCache``)."""

    def __init__(self, client: Any, target: StateTarget) -> None:
        self.client, self.target = client, target

    @staticmethod
    def key(service: str, ioc_type: str, indicator: str) -> str:
        return f"{PREFIX}verdict:{_tag(json.dumps([service, ioc_type, indicator]))}"

    def get(self, service: str, ioc_type: str, indicator: str) -> dict[str, Any] | None:
        try:
            data = self.client.get(self.key(service, ioc_type, indicator))
        except redis_errors() as exc:
            raise translate(self.target, exc) from None
        if data is None:
            return None
        try:
            raw = json.loads(data)
        except ValueError:
            return None  # a foreign or torn value is a miss, not a crash
        return raw if isinstance(raw, dict) else None

    def put(self, service: str, ioc_type: str, indicator: str, raw: dict[str, Any], level: str,
            ttl: float) -> None:
        if ttl <= 0:
            return
        try:
            self.client.set(self.key(service, ioc_type, indicator),
                            json.dumps(raw, separators=(",", ":")), px=max(1, int(ttl * 1000)))
        except redis_errors() as exc:
            raise translate(self.target, exc) from None

    def purge_expired(self) -> int:
        return 0  # Redis expires entries itself

    def lock(self, service: str, ioc_type: str, indicator: str, owner: str, seconds: float) -> bool:
        """Single flight across hosts: ``SET NX PX`` (expires by itself if the holder dies)."""
        try:
            return bool(self.client.set(self.key(service, ioc_type, indicator) + ":lock", owner,
                                        nx=True, px=max(1, int(seconds * 1000))))
        except redis_errors() as exc:
            raise translate(self.target, exc) from None

    def locked(self, service: str, ioc_type: str, indicator: str) -> bool:
        try:
            return bool(self.client.exists(self.key(service, ioc_type, indicator) + ":lock"))
        except redis_errors() as exc:
            raise translate(self.target, exc) from None

    def unlock(self, service: str, ioc_type: str, indicator: str, owner: str) -> None:
        try:
            self.client.eval(_UNLOCK, 1, self.key(service, ioc_type, indicator) + ":lock", owner)
        except redis_errors() as exc:
            raise translate(self.target, exc) from None


# compare-and-delete: only the holder releases its lock (not one that expired and was retaken)
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


# ---------------------------------------------------------------------------- quota ledger
# KEYS[1] sorted set of admitted calls (member = the call's unique id, score = server time);
# KEYS[2] hash {until, reason} of a block the service imposed (429 / Retry-After).
# ARGV[1] call id, ARGV[2] window guard, ARGV[3..] limit, seconds pairs.
# Returns {wait seconds as text, why}. A call id already present means a retried script whose
# reply was lost: it was admitted, and is not recorded twice.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return {'0', '', tostring(now)} end
local guard = tonumber(ARGV[2])
local wait, why = 0, ''
local blk = redis.call('HMGET', KEYS[2], 'until', 'reason')
if blk[1] and tonumber(blk[1]) > now then
  wait = tonumber(blk[1]) - now
  why = 'block:' .. (blk[2] or '')
end
local longest = 0
local i = 3
while ARGV[i] do
  local limit = tonumber(ARGV[i])
  local window = tonumber(ARGV[i + 1]) + guard
  if window > longest then longest = window end
  local from = '(' .. string.format('%.6f', now - window)
  local used = redis.call('ZCOUNT', KEYS[1], from, '+inf')
  if used >= limit then
    local oldest = redis.call('ZRANGEBYSCORE', KEYS[1], from, '+inf', 'WITHSCORES', 'LIMIT', used - limit, 1)
    local free_at = tonumber(oldest[2]) + window - now
    if free_at > wait then
      wait = free_at
      why = 'limit:' .. ARGV[i] .. ':' .. ARGV[i + 1]
    end
  end
  i = i + 2
end
if wait <= 0 then
  redis.call('ZADD', KEYS[1], now, ARGV[1])
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. string.format('%.6f', now - longest))
  redis.call('PEXPIRE', KEYS[1], math.ceil(longest * 1000) + 1000)
end
return {string.format('%.6f', wait), why, string.format('%.6f', now)}
"""

_BLOCK = """
local cur = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
local untl = tonumber(ARGV[1])
if untl > cur then
  redis.call('HSET', KEYS[1], 'until', ARGV[1], 'reason', ARGV[2])
  local t = redis.call('TIME')
  local ms = math.ceil((untl - tonumber(t[1])) * 1000) + 1000
  if ms > 0 then redis.call('PEXPIRE', KEYS[1], ms) end
end
return 1
"""

_USED = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
return redis.call('ZCOUNT', KEYS[1], '(' .. string.format('%.6f', now - tonumber(ARGV[1])), '+inf')
"""


def quota_keys(bucket: str) -> tuple[str, str]:
    tag = _tag(bucket)
    return f"{PREFIX}quota:{{{tag}}}:calls", f"{PREFIX}quota:{{{tag}}}:block"


class RedisRateLedger:
    """The quota ledger on Redis (same interface as ``enrich.ratelimit.RateLedger``): every limit
    of a bucket is checked, and the call recorded, in one atomic script on Redis' clock."""

    def __init__(
        self,
        client: Any,
        target: StateTarget,
        sleep: Callable[[float], None] = time.sleep,
        on_wait: Callable[[str, float, str], None] | None = None,
    ) -> None:
        self.client, self.target, self.sleep, self.on_wait = client, target, sleep, on_wait
        self._take = client.register_script(_TAKE)
        self._block = client.register_script(_BLOCK)
        self._used = client.register_script(_USED)
        self.now = time.time  # the last time Redis told us (for reset times in messages)

    def acquire(
        self, service: str, bucket: str, limits: Sequence[RateLimit], deadline: Deadline
    ) -> None:
        from .enrich.ratelimit import WINDOW_GUARD, quota_error

        call_id = os.urandom(12).hex()
        args: list[Any] = [call_id, WINDOW_GUARD]
        for lim in limits:
            args += [lim.limit, lim.per_seconds]
        while True:
            try:
                wait_text, why, now_text = self._take(keys=list(quota_keys(bucket)), args=args)
            except redis_errors() as exc:
                raise translate(self.target, exc) from None
            wait, now = float(wait_text), float(now_text)
            why = _why(why.decode() if isinstance(why, bytes) else why)
            if wait <= 0:
                return
            if wait > deadline.remaining():
                raise quota_error(service, now + wait, why)
            if self.on_wait is not None:
                self.on_wait(service, wait, why)
            else:
                self.sleep(wait)

    def block(self, bucket: str, until: float, reason: str = "") -> None:
        try:
            self._block(keys=[quota_keys(bucket)[1]], args=[repr(float(until)), reason[:200]])
        except redis_errors() as exc:
            raise translate(self.target, exc) from None

    def blocked_until(self, bucket: str) -> float:
        try:
            value = self.client.hget(quota_keys(bucket)[1], "until")
        except redis_errors() as exc:
            raise translate(self.target, exc) from None
        return float(value) if value else 0.0

    def used(self, bucket: str, per_seconds: float) -> int:
        from .enrich.ratelimit import WINDOW_GUARD

        try:
            return int(self._used(keys=[quota_keys(bucket)[0]], args=[per_seconds + WINDOW_GUARD]))
        except redis_errors() as exc:
            raise translate(self.target, exc) from None


def _why(code: str) -> str:
    """The script's reason code as the SQLite ledger words it."""
    if code.startswith("limit:"):
        _, limit, seconds = code.split(":", 2)
        return f"{limit} calls per {float(seconds):g} s"
    if code.startswith("block:"):
        reason = code[6:]
        return f"the service said: {reason}" if reason else "the service asked us to wait"
    return code


__all__ = [
    "PASSWORD_ENV", "URL_ENV", "QuotaError", "RedisRateLedger", "RedisVerdictCache", "StateTarget",
    "connect", "parse_state_url", "resolve", "server_info", "translate",
]


# ---------------------------------------------------------------------------- rule windows
@dataclass
class SharedGroup:
    """What every worker has seen of one rule group (rule, window, key)."""

    count: int = 0
    first_seen: float | None = None
    last_seen: float | None = None
    samples: list[str] | None = None
    values: dict[str, list[tuple[str, str]]] | None = None


@dataclass(frozen=True)
class WindowEvent:
    """One event counted in a group: ``eid`` is its identity (source file + line offset), so a
    replayed line is the same member of the group's set and is never counted twice."""

    gid: str
    eid: str
    ts: float | None
    sample: str | None
    values: tuple[str, ...]  # JSON [observable key, ioc type, value]
    max_samples: int
    ttl: float  # seconds the group's state is kept (window + grace + a day)


# KEYS: ids set, meta hash (f, l), samples hash (eid -> [ts, line]), values set
# ARGV: eid, ts or '', sample or '', max samples, ttl ms, max values, values...
_ADD = """
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end
if ARGV[2] ~= '' then
  local t = tonumber(ARGV[2])
  local f = redis.call('HGET', KEYS[2], 'f')
  if (not f) or t < tonumber(f) then redis.call('HSET', KEYS[2], 'f', ARGV[2]) end
  local l = redis.call('HGET', KEYS[2], 'l')
  if (not l) or t > tonumber(l) then redis.call('HSET', KEYS[2], 'l', ARGV[2]) end
end
if ARGV[3] ~= '' and redis.call('HLEN', KEYS[3]) < tonumber(ARGV[4]) then
  redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
end
local i = 7
while ARGV[i] do
  if redis.call('SCARD', KEYS[4]) < tonumber(ARGV[6]) then redis.call('SADD', KEYS[4], ARGV[i]) end
  i = i + 1
end
for k = 1, 4 do redis.call('PEXPIRE', KEYS[k], ARGV[5]) end
return 1
"""

# KEYS: claim; ARGV: owner, ttl ms. 1 when the owner holds it (now or from before), else 0.
_CLAIM = """
local cur = redis.call('GET', KEYS[1])
if not cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if cur == ARGV[1] then return 1 end
return 0
"""

CLAIM_TTL = 30 * 86400.0
MAX_SHARED_VALUES = 800


def _group_keys(gid: str) -> list[str]:
    tag = _tag(gid)
    return [f"{PREFIX}win:{{{tag}}}:{part}" for part in ("ids", "meta", "samples", "values")]


def _sample_json(ev: WindowEvent) -> str:
    return json.dumps([ev.ts, ev.sample], ensure_ascii=False) if ev.sample is not None else ""


def _decode_group(count: int, first: Any, last: Any, samples: list[Any], values: list[Any]) -> SharedGroup:
    rows = []
    for raw in samples:
        try:
            ts, line = json.loads(raw)
            rows.append((ts if ts is not None else 0.0, str(line)))
        except (ValueError, TypeError):
            continue
    rows.sort(key=lambda r: r[0])
    grouped: dict[str, list[tuple[str, str]]] = {}
    for raw in sorted(v.decode() if isinstance(v, bytes) else v for v in values):
        try:
            key, kind, value = json.loads(raw)
        except (ValueError, TypeError):
            continue
        grouped.setdefault(str(key), []).append((str(kind), str(value)))
    return SharedGroup(count, float(first) if first is not None else None,
                       float(last) if last is not None else None, [r[1] for r in rows], grouped)


class RedisWindows:
    """Rule windows and alert claims on Redis, shared by every bridge worker."""

    def __init__(self, client: Any, target: StateTarget) -> None:
        self.client, self.target = client, target
        self._add = client.register_script(_ADD)
        self._claim = client.register_script(_CLAIM)

    def add(self, events: Sequence[WindowEvent]) -> None:
        if not events:
            return
        try:
            pipe = self.client.pipeline(transaction=False)
            for ev in events:
                self._add(keys=_group_keys(ev.gid), client=pipe, args=[
                    ev.eid, "" if ev.ts is None else repr(ev.ts), _sample_json(ev), ev.max_samples,
                    max(1000, int(ev.ttl * 1000)), MAX_SHARED_VALUES, *ev.values])
            pipe.execute()
        except redis_errors() as exc:
            raise translate(self.target, exc) from None

    def counts(self, gids: Sequence[str]) -> dict[str, int]:
        if not gids:
            return {}
        try:
            pipe = self.client.pipeline(transaction=False)
            for gid in gids:
                pipe.scard(_group_keys(gid)[0])
            return dict(zip(gids, (int(n) for n in pipe.execute())))
        except redis_errors() as exc:
            raise translate(self.target, exc) from None

    def groups(self, gids: Sequence[str]) -> dict[str, SharedGroup]:
        if not gids:
            return {}
        try:
            pipe = self.client.pipeline(transaction=False)
            for gid in gids:
                ids, meta, samples, values = _group_keys(gid)
                pipe.scard(ids)
                pipe.hmget(meta, "f", "l")
                pipe.hvals(samples)
                pipe.smembers(values)
            out = pipe.execute()
        except redis_errors() as exc:
            raise translate(self.target, exc) from None
        result = {}
        for n, gid in enumerate(gids):
            count, (first, last), samples, values = out[4 * n: 4 * n + 4]
            result[gid] = _decode_group(int(count), first, last, list(samples), list(values))
        return result

    def claim(self, name: str, owner: str) -> bool:
        try:
            return bool(self._claim(keys=[f"{PREFIX}claim:{{{_tag(name)}}}"],
                                    args=[owner, int(CLAIM_TTL * 1000)]))
        except redis_errors() as exc:
            raise translate(self.target, exc) from None

    def close(self) -> None:
        self.client.close()


_WINDOW_SCHEMA = """
CREATE TABLE IF NOT EXISTS win_ids (gid TEXT NOT NULL, eid TEXT NOT NULL, expires REAL NOT NULL,
                                    PRIMARY KEY (gid, eid));
CREATE TABLE IF NOT EXISTS win_meta (gid TEXT PRIMARY KEY, first REAL, last REAL);
CREATE TABLE IF NOT EXISTS win_samples (gid TEXT NOT NULL, eid TEXT NOT NULL, data TEXT NOT NULL,
                                        PRIMARY KEY (gid, eid));
CREATE TABLE IF NOT EXISTS win_values (gid TEXT NOT NULL, v TEXT NOT NULL, PRIMARY KEY (gid, v));
CREATE TABLE IF NOT EXISTS claims (name TEXT PRIMARY KEY, owner TEXT NOT NULL, expires REAL NOT NULL);
"""


class SqliteWindows:
    """The same interface on one SQLite file: workers of one host share windows through it."""

    def __init__(self, path: Path, busy_seconds: float = 30.0) -> None:
        import sqlite3

        from .state import private_file

        self.path = path
        private_file(path)
        try:
            self.db = sqlite3.connect(str(path), timeout=busy_seconds, isolation_level=None,
                                      check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(_WINDOW_SCHEMA)
        except sqlite3.Error as exc:
            raise ConfigError(f"state file {path} cannot be used: {exc}") from None
        self._errors = (sqlite3.Error,)

    def _tx(self, fn: Callable[[Any], Any]) -> Any:
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                result = fn(self.db)
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
        except self._errors as exc:
            raise UnavailableError(f"state file {self.path} failed: {exc}", service="state") from None
        return result

    def add(self, events: Sequence[WindowEvent]) -> None:
        if not events:
            return
        now = time.time()

        def write(db: Any) -> None:
            for ev in events:
                new = db.execute("INSERT OR IGNORE INTO win_ids VALUES (?,?,?)",
                                 (ev.gid, ev.eid, now + ev.ttl)).rowcount
                if not new:
                    continue  # a replayed event: already counted
                if ev.ts is not None:
                    db.execute("INSERT INTO win_meta VALUES (?,?,?) ON CONFLICT(gid) DO UPDATE SET "
                               "first=min(coalesce(first, excluded.first), excluded.first), "
                               "last=max(coalesce(last, excluded.last), excluded.last)",
                               (ev.gid, ev.ts, ev.ts))
                if ev.sample is not None:
                    have = db.execute("SELECT COUNT(*) FROM win_samples WHERE gid=?", (ev.gid,)).fetchone()[0]
                    if have < ev.max_samples:
                        db.execute("INSERT OR IGNORE INTO win_samples VALUES (?,?,?)",
                                   (ev.gid, ev.eid, _sample_json(ev)))
                for value in ev.values:
                    have = db.execute("SELECT COUNT(*) FROM win_values WHERE gid=?", (ev.gid,)).fetchone()[0]
                    if have < MAX_SHARED_VALUES:
                        db.execute("INSERT OR IGNORE INTO win_values VALUES (?,?)", (ev.gid, value))
            db.execute("DELETE FROM win_ids WHERE expires < ?", (now,))
            if os.urandom(1)[0] < 3:  # about one commit in 85: drop what expired groups left
                for table in ("win_meta", "win_samples", "win_values"):
                    db.execute(f"DELETE FROM {table} WHERE gid NOT IN (SELECT gid FROM win_ids)")  # noqa: S608
                db.execute("DELETE FROM claims WHERE expires < ?", (now,))

        self._tx(write)

    def counts(self, gids: Sequence[str]) -> dict[str, int]:
        def read(db: Any) -> dict[str, int]:
            return {g: db.execute("SELECT COUNT(*) FROM win_ids WHERE gid=?", (g,)).fetchone()[0]
                    for g in gids}

        return self._tx(read) if gids else {}  # type: ignore[no-any-return]

    def groups(self, gids: Sequence[str]) -> dict[str, SharedGroup]:
        def read(db: Any) -> dict[str, SharedGroup]:
            out = {}
            for g in gids:
                count = db.execute("SELECT COUNT(*) FROM win_ids WHERE gid=?", (g,)).fetchone()[0]
                meta = db.execute("SELECT first, last FROM win_meta WHERE gid=?", (g,)).fetchone() or (None, None)
                samples = [r[0] for r in db.execute("SELECT data FROM win_samples WHERE gid=?", (g,))]
                values = [r[0] for r in db.execute("SELECT v FROM win_values WHERE gid=?", (g,))]
                out[g] = _decode_group(count, meta[0], meta[1], samples, values)
            return out

        return self._tx(read) if gids else {}  # type: ignore[no-any-return]

    def claim(self, name: str, owner: str) -> bool:
        now = time.time()

        def take(db: Any) -> bool:
            db.execute("DELETE FROM claims WHERE name=? AND expires<?", (name, now))
            db.execute("INSERT OR IGNORE INTO claims VALUES (?,?,?)", (name, owner, now + CLAIM_TTL))
            row = db.execute("SELECT owner FROM claims WHERE name=?", (name,)).fetchone()
            return bool(row and row[0] == owner)

        return self._tx(take)  # type: ignore[no-any-return]

    def close(self) -> None:
        self.db.close()


# KEYS: lease; ARGV: owner, ttl ms. '' when the owner holds it now, else the holder's id.
_LEASE = """
local cur = redis.call('GET', KEYS[1])
if (not cur) or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return ''
end
return cur
"""


class RedisLeases:
    """Leases (run locks) on Redis: one holder at a time across hosts, expiring by themselves."""

    def __init__(self, client: Any, target: StateTarget) -> None:
        self.client, self.target = client, target
        self._take = client.register_script(_LEASE)

    def take(self, name: str, owner: str, ttl: float) -> str | None:
        """None when ``owner`` now holds ``name`` for ``ttl`` seconds; else who holds it."""
        try:
            holder = self._take(keys=[f"{PREFIX}lease:{{{_tag(name)}}}"], args=[owner, max(1, int(ttl * 1000))])
        except redis_errors() as exc:
            raise translate(self.target, exc) from None
        holder = holder.decode() if isinstance(holder, bytes) else holder
        return holder or None

    def release(self, name: str, owner: str) -> None:
        try:
            self.client.eval(_UNLOCK, 1, f"{PREFIX}lease:{{{_tag(name)}}}", owner)
        except redis_errors() as exc:
            raise translate(self.target, exc) from None

    def close(self) -> None:
        self.client.close()


def open_leases(target: StateTarget, password: str | None) -> RedisLeases | None:
    """Run locks for ``target``: Redis leases, or None for SQLite (the journal's own file lock
    already covers the processes of one host)."""
    return RedisLeases(connect(target, password), target) if target.kind == "redis" else None


def open_windows(target: StateTarget, password: str | None) -> RedisWindows | SqliteWindows:
    """The bridge's shared windows for ``target``."""
    if target.kind == "redis":
        return RedisWindows(connect(target, password), target)
    assert target.path is not None
    return SqliteWindows(target.path)
