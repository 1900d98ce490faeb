"""HTTP client of the socflow block-list service, as the Block/Unblock responders use it.

Adds and removes are idempotent on the service side, so retrying them after a connection error
or a 502/503/504 is safe; retries are bounded (urllib3 ``Retry``) and every call has a timeout.
The token only ever travels in the ``Authorization`` header and never appears in a message.
"""

from __future__ import annotations

from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from ....errors import AuthError, InputError, UnavailableError

SERVICE = "socflow-blocklist"


class BlocklistClient:
    def __init__(
        self, base_url: str, token: str, *, timeout: float = 15, verify: bool = True
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers.update(
            {"Authorization": f"Bearer {token}", "User-Agent": "socflow-responder"}
        )
        self.session.verify = verify
        retry = Retry(
            total=3,
            connect=3,
            read=1,
            status=2,
            backoff_factor=0.5,
            status_forcelist=(502, 503, 504),
            allowed_methods=frozenset({"GET", "POST", "DELETE"}),
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        adapter = HTTPAdapter(max_retries=retry)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        url = self.base_url + path
        try:
            resp = self.session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.exceptions.SSLError:
            raise UnavailableError(
                "TLS verification of the block-list service failed; check api_url, "
                "verify_tls and Cortex's cacerts item",
                service=SERVICE,
            ) from None
        except requests.RequestException as exc:
            raise UnavailableError(
                f"cannot reach the block-list service ({type(exc).__name__}); check api_url and that "
                "the job container can reach it (docker.container.networkMode / extraHosts)",
                service=SERVICE,
            ) from None
        if resp.status_code == 401:
            raise AuthError(
                "the block-list service refused the token (HTTP 401); check api_token",
                service=SERVICE,
            )
        try:
            body = resp.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise UnavailableError(
                f"the block-list service answered HTTP {resp.status_code} without a JSON object "
                "(is api_url really the socflow block-list service?)",
                service=SERVICE,
            )
        if resp.status_code in (200, 201, 422):
            return body
        if resp.status_code == 400:
            raise InputError(
                f"the block-list service rejected the request: {body.get('reason', '')}"
            )
        raise UnavailableError(
            f"the block-list service answered HTTP {resp.status_code}: "
            f"{body.get('reason', '')}".rstrip(": "),
            service=SERVICE,
        )

    def block(self, value: str, type_: str, **fields: Any) -> dict[str, Any]:
        return self._call("POST", "/api/v1/entries", json={"value": value, "type": type_, **fields})

    def unblock(self, value: str, type_: str, **params: Any) -> dict[str, Any]:
        return self._call(
            "DELETE", "/api/v1/entries", params={"value": value, "type": type_, **params}
        )
