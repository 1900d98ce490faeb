"""A minimal Cortex 4.1 API on 127.0.0.1: ``GET /api/status`` and API-key authentication.

Follows spec A.10: ``/api/status`` needs no authentication and answers the versions/config
document; authenticated routes take ``Authorization: Bearer <key>`` and answer 401
``{"type": "AuthenticationError", "message": "Authentication failure"}`` otherwise;
``GET /api/user/current`` returns the key's user; unknown routes give 404 ``NotFoundError``.
Enough for ``socflow doctor``; the job API is emulated by ``tests/support/cortexjob.py``.

    with FakeCortex(api_key="k") as cortex:
        requests.get(cortex.url + "/api/status", timeout=5)
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

STATUS = {
    "versions": {"Cortex": "4.1.0-1", "Elastic4Play": "1.13.6", "Play": "2.8.21",
                 "Elastic4s": "8.11.5", "ElasticSearch client": "8.11.0"},
    "config": {"protectDownloadsWith": "malware", "authType": ["key", "local"],
               "capabilities": ["authByKey", "changePassword", "setPassword"], "ssoAutoLogin": False},
}
AUTH_ERROR = {"type": "AuthenticationError", "message": "Authentication failure"}


class FakeCortex:
    def __init__(self, *, api_key: str = "cortex-key-0123456789", user: str = "socflow") -> None:
        self.api_key, self.user = api_key, user
        self.requests: list[tuple[str, str, int]] = []
        self._server: ThreadingHTTPServer | None = None

    def __enter__(self) -> FakeCortex:
        handler = type("Handler", (_Handler,), {"cortex": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def current_user(self) -> dict[str, Any]:
        return {"id": self.user, "name": self.user, "organization": "socflow-org",
                "roles": ["read", "analyze"], "status": "Ok", "hasKey": True, "hasPassword": False}


class _Handler(BaseHTTPRequestHandler):
    cortex: FakeCortex

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any) -> None:
        raw = json.dumps(body).encode()
        self.cortex.requests.append((self.command, self.path, status))  # before the answer leaves
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/api/status":
            return self._send(200, STATUS)
        if self.headers.get("Authorization") != f"Bearer {self.cortex.api_key}":
            return self._send(401, AUTH_ERROR)
        if path == "/api/user/current":
            return self._send(200, self.cortex.current_user())
        return self._send(404, {"type": "NotFoundError", "message": f"{path} not found"})
