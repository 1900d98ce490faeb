"""Delivering outbox alerts to TheHive 5 through thehive4py 2.x, errors translated once, here.

thehive4py's session has no timeout, so an adapter with a default timeout is mounted on it (every
HTTP call is bounded). Its own retry (``max_retries``) is kept small: the outbox back-off is the
real retry, and it survives restarts.

Translation (spec C.1, D.1, D.2): 201 → delivered; 400 with ``type: CreateError`` → the alert is
already there (delivered; keyed on status + type, not the message); 401/403 → AuthError (stop);
408/425/429/502/503/504, connection errors, timeouts → UnavailableError (back off); an answered
500 → DeliveryError (retried, dead-lettered after many attempts: it may be this alert); other 4xx →
DeliveryError(permanent) (dead letter with TheHive's reason); TLS verification failure →
ConfigError (a person must set the CA bundle).
"""

from __future__ import annotations

import os
from typing import Any

import requests
import urllib3
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from requests.adapters import HTTPAdapter
from thehive4py import TheHiveApi
from thehive4py.errors import TheHiveError
from urllib3 import Retry

from ...emit.delivery import FILES, Sent
from ...errors import AuthError, ConfigError, DeliveryError, UnavailableError

SERVICE = "TheHive"
_TRANSIENT = {408, 425, 429, 502, 503, 504}


class TheHiveSettings(BaseModel):
    """Where and how to reach TheHive (``thehive:`` in the ingest config, flags, environment)."""

    model_config = ConfigDict(extra="forbid")
    url: str | None = None
    api_key: SecretStr | None = None
    organisation: str | None = None
    verify: bool = True
    ca_bundle: str | None = Field(
        default=None, description="PEM file of the CA that signed TheHive's certificate"
    )
    timeout: float = Field(default=30.0, gt=0, le=600)
    parallel: int = Field(default=4, ge=1, le=16, description="alerts in flight at once")
    retries: int = Field(
        default=2, ge=0, le=10, description="quick in-process retries before the outbox back-off"
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("TheHive URL must start with http:// or https://")
        return value

    def key(self) -> str:
        return self.api_key.get_secret_value() if self.api_key else ""


class _TimeoutAdapter(HTTPAdapter):
    def __init__(self, timeout: float, **kwargs: Any) -> None:
        self._timeout = timeout
        super().__init__(**kwargs)

    def send(self, request: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        return super().send(request, **kwargs)


def quick_retry(retries: int) -> Retry:
    """Connection-level and 502/503/504 retries with a short back-off (POST included: sourceRef is idempotent)."""
    return Retry(
        total=retries,
        connect=retries,
        read=0,
        status=retries,
        backoff_factor=0.2,
        status_forcelist=[502, 503, 504],
        allowed_methods=["GET", "POST"],
        raise_on_status=False,
        respect_retry_after_header=False,
    )


class TheHiveSender:
    """A :class:`socflow.emit.delivery.Transport` for TheHive 5."""

    def __init__(self, settings: TheHiveSettings) -> None:
        if not settings.url:
            raise ConfigError(
                "no TheHive URL (use --thehive-url, SOCFLOW_THEHIVE_URL or thehive.url in the config)"
            )
        if not settings.key():
            raise ConfigError(
                "no TheHive API key (use --thehive-key, SOCFLOW_THEHIVE_KEY or thehive.api_key)"
            )
        self.settings = settings
        verify: bool | str = settings.ca_bundle or settings.verify
        if verify is False:  # the user said so (thehive.verify: false); the CLI says it once
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        self.api = TheHiveApi(
            settings.url,
            apikey=settings.key(),
            organisation=settings.organisation,
            verify=verify,
            max_retries=0,
        )
        adapter = _TimeoutAdapter(settings.timeout, max_retries=quick_retry(settings.retries))
        self.api.session.mount("http://", adapter)
        self.api.session.mount("https://", adapter)

    def send(self, alert: dict[str, Any]) -> Sent:
        files: dict[str, str] | None = alert.get(FILES)
        if files:  # file observables: multipart, one part per file (spec C.4)
            alert = {k: v for k, v in alert.items() if k != FILES}
            for path in files.values():
                if not os.path.isfile(path):
                    raise DeliveryError(
                        f"the alert's file {path} is gone; it cannot be sent", permanent=True
                    )
        try:
            out = self.api.alert.create(alert, attachment_map=files or None)  # type: ignore[arg-type]
        except TheHiveError as exc:
            return self._refused(exc)
        except requests.exceptions.SSLError as exc:
            raise ConfigError(
                f"{SERVICE} TLS verification failed for {self.settings.url}: {_short(exc)}"
                " (set thehive.ca_bundle to the CA certificate)"
            ) from None
        except requests.exceptions.RequestException as exc:
            raise UnavailableError(
                f"{SERVICE} unreachable at {self.settings.url}: {_short(exc)}", service=SERVICE
            ) from None
        if not isinstance(out, dict) or "_id" not in out:
            raise UnavailableError(
                f"{SERVICE} answered without an alert id: {str(out)[:200]}", service=SERVICE
            )
        sent, kept = len(alert.get("observables", [])), out.get("observableCount")
        if isinstance(kept, int) and kept != sent:  # TheHive drops some values silently
            return Sent(out["_id"], note=f"TheHive kept {kept} of {sent} observables")
        return Sent(out["_id"])

    def check(self) -> dict[str, Any]:
        """Who we are in TheHive (``GET /api/v1/user/current``): proves URL, key and organisation."""
        try:
            return self.api.user.get_current()  # type: ignore[return-value]
        except TheHiveError as exc:
            self._refused(exc)
            raise  # unreachable: _refused always raises for errors
        except requests.exceptions.RequestException as exc:
            raise UnavailableError(
                f"{SERVICE} unreachable at {self.settings.url}: {_short(exc)}", service=SERVICE
            ) from None

    def _refused(self, exc: TheHiveError) -> Sent:
        response = exc.response
        if response is None:
            raise UnavailableError(f"{SERVICE}: {exc.message[:300]}", service=SERVICE)
        status, kind = response.status_code, _error_type(response)
        reason = f"{status} {exc.message[:500]}"
        if status == 400 and kind == "CreateError":
            return Sent(None, duplicate=True)
        if status in (401, 403):
            raise AuthError(
                f"{SERVICE} refused the credentials or organisation ({status} {kind or 'error'})",
                service=SERVICE,
            )
        if status in _TRANSIENT:
            raise UnavailableError(f"{SERVICE} answered {reason}", service=SERVICE)
        if status >= 500:
            raise DeliveryError(f"{SERVICE} failed on the alert: {reason}", permanent=False)
        raise DeliveryError(f"{SERVICE} refused the alert: {reason}", permanent=True)


def _error_type(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("type", "")) if isinstance(body, dict) else ""


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) <= 200 else text[:200] + "…"
