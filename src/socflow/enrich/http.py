"""HTTP for every provider: one requests session per service, bounded in time and in calls.

* timeouts: each attempt gets an equal share of what is left of the lookup's :class:`Deadline`
  (itself kept below Cortex's job timeout by the adapter), never more than ``settings.timeout``;
* retries: urllib3 ``Retry`` on connection errors and 500/502/503/504 with exponential backoff.
  ``Retry-After`` is *not* honoured by urllib3 here — a 503 saying "come back in an hour" would
  sleep an hour; 429 is handled below, against the budget;
* 429: ``Retry-After`` / ``X-RateLimit-Reset`` become a block in the shared :class:`RateLedger`
  (so parallel processes stop too); we wait if the block ends inside the budget, otherwise raise
  ``QuotaError("quota exhausted, resets at …")``;
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
    InputError,
    NotFoundError,
    ProviderError,
    QuotaError,
    UnavailableError,
)
from .base import Deadline
from .ratelimit import RateLedger, quota_error

if TYPE_CHECKING:
    from .settings import EnrichConfig, ProviderSettings

RETRY_STATUSES = (500, 502, 503, 504)
BACKOFF_FACTOR = 0.5
MAX_429_RETRIES = 3
JSON_TYPES = ("application/json", "application/vnd.api+json")


def build_session(config: EnrichConfig, settings: ProviderSettings) -> Any:
    """A ``requests.Session`` with bounded retries, the configured proxies and CA bundle."""
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

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
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
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
        error_text: Callable[[Any], str],
    ) -> None:
        self.name, self.title, self.settings, self.config = name, title, settings, config
        self.ledger = ledger
        self.auth_headers = dict(auth_headers)
        self.error_text = error_text
        self.stats = CallStats()
        self._session: Any = None
        self._secrets = {s for s in [settings.key(), *_proxy_secrets(config.proxies)] if len(s) >= 4}

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
        return self.settings.api_url + path

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
        url = absolute_url or self.url(path)
        limits = self.settings.limits.get(bucket, [])
        throttled = 0
        while True:
            self.ledger.acquire(self.title, f"{self.name}:{bucket}", limits, deadline)
            resp = self._send(method, url, deadline, kwargs)
            if resp.status_code != 429:
                self._note_remaining(resp, bucket)
                return self._answer(resp, accept)
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
        self.stats.failures += 1
        raise UnavailableError(self.scrub(f"{self.title}: {why}"), service=self.title)

    def _note_remaining(self, resp: Any, bucket: str) -> None:
        """``X-RateLimit-Remaining: 0`` on a success: block the bucket before anyone gets a 429.

        Without a reset time the quota is taken as daily (AbuseIPDB's are), ending 00:00 UTC.
        """
        if (resp.headers.get("X-RateLimit-Remaining") or "").strip() != "0":
            return
        now = time.time()
        until = reset_time(resp.headers, now) or (now // 86400 + 1) * 86400
        self.ledger.block(f"{self.name}:{bucket}", until, "X-RateLimit-Remaining: 0")

    def _on_429(self, resp: Any, bucket: str, deadline: Deadline, throttled: int) -> None:
        message = self._message(resp)
        resets_at = reset_time(resp.headers)
        key = f"{self.name}:{bucket}"
        if resets_at is None:
            guess = float(2**throttled)  # no hint from the server: short, bounded backoff
            if throttled > MAX_429_RETRIES or guess > deadline.remaining():
                raise quota_error(self.title, None, message)
            self.ledger.block(key, time.time() + guess, "429 without Retry-After")
            return
        self.ledger.block(key, resets_at, message)
        if throttled > MAX_429_RETRIES or resets_at - time.time() > deadline.remaining():
            raise quota_error(self.title, resets_at, message)

    def _message(self, resp: Any) -> str:
        body = _json_or_none(resp)
        text = self.error_text(body) if body is not None else ""
        return self.scrub(text_excerpt(text or resp.text or ""))

    def _answer(self, resp: Any, accept: tuple[int, ...]) -> Answer:
        status = resp.status_code
        if 200 <= status < 300 or status in accept:
            return Answer(status, self._json(resp), resp.headers)
        detail = self._message(resp)
        label = f"HTTP {status}" + (f": {detail}" if detail else "")
        t = self.title
        if status == 404:  # an answer, not a failure: lookups turn it into "not found"
            raise NotFoundError(f"{t}: not found ({label})", service=t)
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

    def _json(self, resp: Any) -> Any:
        ctype = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if not resp.content and resp.status_code == 204:
            return {}
        if ctype not in JSON_TYPES and not ctype.endswith("+json"):
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


__all__ = ["Answer", "ServiceClient", "build_session", "reset_time", "text_excerpt"]
