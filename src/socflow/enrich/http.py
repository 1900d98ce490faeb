"""HTTP for every provider: one requests session per service, bounded in time and in calls.

* timeouts: each attempt gets an equal share of what is left of the lookup's :class:`Deadline`
  (itself kept below Cortex's job timeout by the adapter), never more than ``settings.timeout``;
* retries: urllib3 ``Retry`` on connection errors and 500/502/503/504 with exponential backoff.
  ``Retry-After`` is *not* honoured by urllib3 here — a 503 saying "come back in an hour" would
  sleep an hour; 429 is handled below, against the budget;
* 429: ``Retry-After`` / ``X-RateLimit-Reset`` become a block in the shared :class:`RateLedger`
  (so parallel processes stop too); we wait if the block ends inside the budget, otherwise raise
  ``QuotaError("quota exhausted, resets at …")``;
* a 429 *without* a reset hint: the provider module says what it means
  (``exhausted_until``): VirusTotal's ``QuotaExceededError`` is a spent daily quota (reset
  00:00 UTC), OTX documents no reset (a second bare 429 pauses it for an hour); the block goes
  into the ledger and the call fails at once — the next jobs fail without calling, naming the
  reset time;
* where calls go (``socflow.outbound``): the configured ``api_url`` only — with or without its
  version path (``/api/v3``…), loopback/link-local/metadata targets refused unless
  ``allow_private_targets``, redirects only on the same host and never https -> http, so the
  key header never reaches another host;
* a wrong ``api_url`` is an error, never a verdict: a 404 is "not found" only when its body is
  the provider's documented not-found shape (``is_not_found``), otherwise a one-line
  :class:`ConfigError` naming the URL;
* proxies from the config (Cortex ``config.proxy``), CA bundle from the config or, through
  requests' ``trust_env``, from ``REQUESTS_CA_BUNDLE``;
* ``requests`` is imported on first use only: answers from the cache never pay for it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..errors import (
    AuthError,
    ConfigError,
    InputError,
    NotFoundError,
    PolicyError,
    ProviderError,
    QuotaError,
    UnavailableError,
)
from ..outbound import check_target, origin, redirect_refusal
from .base import Deadline
from .ratelimit import RateLedger, quota_error

if TYPE_CHECKING:
    from .settings import EnrichConfig, ProviderSettings

RETRY_STATUSES = (500, 502, 503, 504)
BACKOFF_FACTOR = 0.5
MAX_429_RETRIES = 1  # 429s retried within one call (each after the wait the server or provider says)
SHORT_429_WAIT = 2.0  # a 429 with no hint that the provider calls a throttle: retried once after this
THROTTLE_REST = 60.0  # ... and refused again: the bucket rests a minute window (shared via the ledger)
JSON_TYPES = ("application/json", "application/vnd.api+json")


def service_base(api_url: str, root: str) -> str:
    """The API root calls are made under: ``api_url`` with its version path (``root``) added
    when the admin left it out (``https://www.virustotal.com`` and ``…/api/v3`` both work)."""
    url = api_url.strip().rstrip("/")
    return url if url.lower().endswith(root.lower()) else url + root


def display_url(url: str, limit: int = 160) -> str:
    """``url`` without user info, query or fragment, at most ``limit`` characters (what an error
    message may name: the path can hold a long observable)."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    shown = f"{parts.scheme}://{host}{parts.path}"
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def build_session(config: EnrichConfig, settings: ProviderSettings) -> Any:
    """A ``requests.Session`` with bounded retries, the configured proxies and CA bundle; every
    connection and redirect checked by the outbound policy (``socflow.outbound``)."""
    from urllib3.util.retry import Retry

    from ..outbound import guarded_session

    retry = Retry(
        total=settings.retries,
        connect=settings.retries,
        read=min(1, settings.retries),  # a hanging server gets one second chance, not more
        status=settings.retries,
        other=0,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET", "HEAD"}),
        backoff_factor=BACKOFF_FACTOR,
        backoff_max=4.0,
        respect_retry_after_header=False,
        raise_on_status=False,
    )
    session = guarded_session(
        allow_private=bool(getattr(config, "allow_private_targets", False)), max_retries=retry
    )
    session.proxies.update({k: v for k, v in config.proxies.items() if v})
    if config.ca_bundle is not None:
        session.verify = str(config.ca_bundle)
    session.headers["User-Agent"] = config.user_agent
    return session


def backoff_total(retries: int) -> float:
    """Worst-case sleep urllib3 adds between ``retries`` retries (urllib3 2.x formula)."""
    return sum(min(4.0, BACKOFF_FACTOR * 2 ** (n - 1)) for n in range(2, retries + 1))


def reset_time(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Epoch second the server says we may call again (Retry-After or X-RateLimit-Reset)."""
    now = time.time() if now is None else now
    retry_after = (headers.get("Retry-After") or "").strip()
    if retry_after:
        if retry_after.isdecimal():  # isdigit() accepts "²", which int() refuses
            return now + int(retry_after)
        from email.utils import parsedate_to_datetime  # rare (429 with a date): not at start-up

        try:
            return parsedate_to_datetime(retry_after).timestamp()
        except (TypeError, ValueError, IndexError):
            pass
    reset = (headers.get("X-RateLimit-Reset") or "").strip()
    try:
        value = float(reset)
    except ValueError:
        return None
    return value if value > 1e9 else now + value  # some servers send seconds-until-reset


def text_excerpt(text: str, limit: int = 160) -> str:
    """A one-line, bounded excerpt of an error body; an HTML page is reduced to its title."""
    title = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    if title:
        text = title.group(1)
    elif "<" in text and ">" in text:
        text = re.sub(r"<[^>]+>", " ", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class Answer:
    status: int
    body: Any
    headers: Mapping[str, str]


@dataclass
class CallStats:
    calls: int = 0
    throttled: int = 0
    failures: int = 0


def _never(body: Any) -> bool:
    return False


def _no_hint(body: Any, now: float, throttled: int) -> float | None:
    return None


@dataclass(frozen=True)
class ApiRules:
    """What one provider's API means by its answers (functions of the provider module).

    ``root``: the version path under the API host (``/api/v3``); ``error_text(body)``: one line
    from an error body; ``is_not_found(body)``: whether a 404's JSON body is the documented
    not-found answer; ``exhausted_until(body, now, throttled)``: the documented reset of the
    ``throttled``-th 429 of one call that came without ``Retry-After``, or None for a throttle
    worth one short retry.
    """

    root: str = ""
    error_text: Callable[[Any], str] = lambda body: ""
    is_not_found: Callable[[Any], bool] = _never
    exhausted_until: Callable[[Any, float, int], float | None] = _no_hint

    @classmethod
    def of(cls, module: Any) -> ApiRules:
        return cls(getattr(module, "API_ROOT", ""), module.error_text,
                   getattr(module, "is_not_found", _never), getattr(module, "exhausted_until", _no_hint))


def key_fingerprint(key: str) -> str:
    """A short, one-way name of an API key: quotas belong to keys (a new key, a new ledger)."""
    if not key:
        return "nokey"
    import hashlib

    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:12]


class ServiceClient:
    """Calls one service: rate-limited through the ledger, errors translated into socflow.errors."""

    def __init__(
        self,
        name: str,
        title: str,
        settings: ProviderSettings,
        config: EnrichConfig,
        ledger: RateLedger,
        auth_headers: Mapping[str, str],
        protocol: ApiRules | Callable[[Any], str],
    ) -> None:
        self.name, self.title, self.settings, self.config = name, title, settings, config
        self.ledger = ledger
        self.auth_headers = dict(auth_headers)
        self.protocol = protocol if isinstance(protocol, ApiRules) else ApiRules(error_text=protocol)
        self.error_text = self.protocol.error_text
        self.base = service_base(settings.api_url, self.protocol.root)
        check_target(self.base, allow_private=bool(getattr(config, "allow_private_targets", False)),
                     what=f"{title} api_url")
        # Cached answers are keyed by the service URL too: a wrong URL's answers never answer
        # for the right one (and a test fake's never for the real service).
        self.cache_service = f"{title} {self.base}"
        self.ledger_prefix = f"{name}.{key_fingerprint(settings.key())}"
        self.stats = CallStats()
        self._session: Any = None
        self._secrets = {s for s in [settings.key(), *_proxy_secrets(config.proxies)] if len(s) >= 4}

    def bucket_key(self, bucket: str) -> str:
        """The ledger bucket of this key's ``bucket`` quota (shared by every process)."""
        return f"{self.ledger_prefix}:{bucket}"

    @property
    def session(self) -> Any:
        if self._session is None:
            self._session = build_session(self.config, self.settings)
        return self._session

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "REMOVED")
        return text

    def url(self, path: str) -> str:
        return self.base + path

    def request(
        self,
        method: str,
        path: str,
        deadline: Deadline,
        *,
        bucket: str = "api",
        accept: tuple[int, ...] = (),
        absolute_url: str | None = None,
        **kwargs: Any,
    ) -> Answer:
        """One logical call (urllib3 may retry it); statuses in ``accept`` are returned as-is."""
        url = self.url(path)
        if absolute_url is not None:  # e.g. VirusTotal's upload URL: it gets our key header too
            why = redirect_refusal(self.base, absolute_url)
            if why:
                raise PolicyError(f"{self.title}: refused to send the API key to {origin(absolute_url)} "
                                  f"({why.split(' (')[0]}); it only goes to {origin(self.base)}")
            url = absolute_url
        limits = self.settings.limits.get(bucket, [])
        throttled = 0
        while True:
            self.ledger.acquire(self.title, self.bucket_key(bucket), limits, deadline)
            resp = self._send(method, url, deadline, kwargs)
            if resp.status_code != 429:
                self._note_remaining(resp, bucket)
                return self._answer(resp, accept, url)
            throttled += 1
            self.stats.throttled += 1
            self._on_429(resp, bucket, deadline, throttled)

    def _send(self, method: str, url: str, deadline: Deadline, kwargs: dict[str, Any]) -> Any:
        import requests

        attempts = 1 + (self.settings.retries if method in ("GET", "HEAD") else 0)
        left = deadline.check(self.title) - backoff_total(self.settings.retries)
        per_try = max(0.2, min(self.settings.timeout, left / attempts))
        extra = {k: v for k, v in kwargs.items() if k != "headers"}
        headers = {**self.auth_headers, **kwargs.get("headers", {})}
        for part in (extra.get("files") or {}).values():  # a retried upload starts from byte 0
            if isinstance(part, tuple) and hasattr(part[1], "seek"):
                part[1].seek(0)
        host = urlsplit(url).netloc.rsplit("@", 1)[-1]
        self.stats.calls += 1
        try:
            return self.session.request(
                method, url, headers=headers, timeout=(min(per_try, 10.0), per_try), **extra
            )
        except requests.exceptions.SSLError:
            why = f"TLS certificate of {host} could not be verified (set the CA bundle / cacerts)"
        except requests.exceptions.ProxyError:
            why = "the proxy could not be reached or refused the connection"
        except (requests.exceptions.Timeout, requests.exceptions.ConnectionError) as exc:
            # read timeouts that urllib3 already retried arrive as ConnectionError
            if isinstance(exc, requests.exceptions.Timeout) or "timed out" in str(exc):
                why = f"no answer from {host} within {per_try:.1f} s ({attempts} attempt(s))"
            else:
                why = f"cannot talk to {host}: {_root_cause(exc)}"
        except requests.exceptions.RequestException as exc:
            why = f"request failed: {type(exc).__name__}"
        except PolicyError as exc:  # a refused redirect or a name that resolved to loopback
            self.stats.failures += 1
            raise PolicyError(self.scrub(f"{self.title}: {exc}")) from None
        self.stats.failures += 1
        raise UnavailableError(self.scrub(f"{self.title}: {why}"), service=self.title)

    def _note_remaining(self, resp: Any, bucket: str) -> None:
        """``X-RateLimit-Remaining: 0`` on a success: block the bucket before anyone gets a 429.

        Without a reset time the quota is taken as daily (AbuseIPDB's are), ending 00:00 UTC.
        """
        if (resp.headers.get("X-RateLimit-Remaining") or "").strip() != "0":
            return
        now = time.time()
        until = reset_time(resp.headers, now) or next_utc_midnight(now)
        self.ledger.block(self.bucket_key(bucket), until, "X-RateLimit-Remaining: 0")

    def _on_429(self, resp: Any, bucket: str, deadline: Deadline, throttled: int) -> None:
        message = self._message(resp)
        now = time.time()
        resets_at = reset_time(resp.headers, now)
        key = self.bucket_key(bucket)
        if resets_at is None:
            # No hint: the provider's documentation says what a bare 429 means. A spent quota
            # is remembered until its documented reset and fails at once, here and in the next
            # jobs (one call, not four calls and 14 s per job). A throttle gets one short retry;
            # when that is refused too, the bucket rests for a minute window.
            exhausted = self.protocol.exhausted_until(_json_or_none(resp), now, throttled)
            if exhausted is None and (throttled > MAX_429_RETRIES or SHORT_429_WAIT > deadline.remaining()):
                exhausted = now + THROTTLE_REST
            if exhausted is not None:
                self.ledger.block(key, exhausted, message or "429 without Retry-After")
                raise quota_error(self.title, exhausted, message)
            self.ledger.block(key, now + SHORT_429_WAIT, "429 without Retry-After")
            return
        self.ledger.block(key, resets_at, message)
        if throttled > MAX_429_RETRIES or resets_at - time.time() > deadline.remaining():
            raise quota_error(self.title, resets_at, message)

    def _message(self, resp: Any) -> str:
        body = _json_or_none(resp)
        text = self.error_text(body) if body is not None else ""
        return self.scrub(text_excerpt(text or resp.text or ""))

    def _answer(self, resp: Any, accept: tuple[int, ...], url: str = "") -> Answer:
        status = resp.status_code
        if 200 <= status < 300 or status in accept:
            return Answer(status, self._json(resp), resp.headers)
        detail = self._message(resp)
        label = f"HTTP {status}" + (f": {detail}" if detail else "")
        t = self.title
        if status == 404:
            body = _json_or_none(resp) if _is_json(resp) else None
            if self.protocol.is_not_found(body):  # an answer: lookups turn it into "not found"
                raise NotFoundError(f"{t}: not found ({label})", service=t)
            self.stats.failures += 1
            raise ConfigError(self.scrub(
                f"{t}: {display_url(url or self.base)} answered {label}, which is not {t}'s "
                f"not-found answer: check api_url ({display_url(self.base)})"))
        self.stats.failures += 1
        if status in (401, 403):
            raise AuthError(f"{t}: the API key was refused ({label})", service=t)
        if status in (400, 422):
            raise InputError(f"{t} rejected the request ({label})")
        if status == 402:
            raise QuotaError(f"{t}: the request exceeds the plan of this API key ({label})", service=t)
        if status >= 500:
            tries = 1 + self.settings.retries
            raise UnavailableError(f"{t}: service unavailable ({label}; {tries} attempt(s))", service=t)
        raise ProviderError(f"{t}: unexpected answer ({label})", service=t)

    def unexpected(self, what: str) -> ProviderError:
        """A well-formed answer that is not what the provider documents (a wrong ``api_url``,
        a captive portal, a proxy's page): an error, never a verdict, never cached."""
        self.stats.failures += 1
        return ProviderError(f"{self.title}: the answer is not {what}: check api_url "
                             f"({display_url(self.base)})", service=self.title)

    def _json(self, resp: Any) -> Any:
        ctype = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if not resp.content and resp.status_code == 204:
            return {}
        if not _is_json(resp):
            self.stats.failures += 1
            raise UnavailableError(
                f"{self.title}: answered {ctype or 'without a content type'} instead of JSON "
                f"(HTTP {resp.status_code}: {self.scrub(text_excerpt(resp.text or ''))})",
                service=self.title,
            )
        body = _json_or_none(resp)
        if body is None:
            self.stats.failures += 1
            raise UnavailableError(
                f"{self.title}: answered malformed JSON (HTTP {resp.status_code})", service=self.title
            )
        return body


def next_utc_midnight(now: float) -> float:
    """00:00 UTC after ``now``: when VirusTotal's (and AbuseIPDB's) daily quotas reset."""
    return (now // 86400 + 1) * 86400


def _is_json(resp: Any) -> bool:
    ctype = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
    return ctype in JSON_TYPES or ctype.endswith("+json")


def _json_or_none(resp: Any) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None


def _root_cause(exc: BaseException) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Connection reset", "Name or service not known",
                   "Temporary failure in name resolution", "Remote end closed connection",
                   "timed out", "Max retries exceeded"):
        if marker in text:
            return marker.lower()
    return type(exc).__name__


def _proxy_secrets(proxies: Mapping[str, str]) -> list[str]:
    found = []
    for url in proxies.values():
        userinfo = urlsplit(url or "").netloc.rpartition("@")[0]
        found.extend(p for p in userinfo.split(":") if p)
    return found


__all__ = ["Answer", "ApiRules", "ServiceClient", "build_session", "display_url", "next_utc_midnight",
           "reset_time", "service_base", "text_excerpt"]
