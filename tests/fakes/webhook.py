"""A loopback HTTP receiver standing in for Slack, Teams, Mattermost or any JSON webhook.

It records every request (path, headers, parsed JSON) and answers what the vendors answer:
Slack and Mattermost ``200 ok`` (text/plain), a Teams Workflows trigger ``202`` with an empty body.
Paths starting ``/status/<code>/<body>`` answer that status and body (Slack's ``403
invalid_token``, ``404 no_service``…); ``/flaky429`` answers 429 with ``Retry-After: 1`` once,
then 200. ``/redirect/<code>?to=<url>`` answers that redirect status with ``Location: <url>``.
``FakeWebhook(tls=True)`` serves HTTPS with a test CA (``ca_pem``).
"""

from __future__ import annotations

import json
import ssl
import tempfile
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw)


class FakeWebhook:
    def __init__(self, *, host: str = "127.0.0.1", tls: bool = False) -> None:
        self.requests: list[Request] = []
        self._flaky_seen = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                owner.requests.append(Request("GET", self.path, dict(self.headers.items()), b""))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                owner.requests.append(Request("POST", self.path, dict(self.headers.items()), body))
                status, text, headers = owner.answer(self.path)
                data = text.encode("utf-8")
                self.send_response(status)
                for name, value in {"Content-Type": "text/plain; charset=utf-8", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.ca_pem = ""
        if tls:
            from .mail import make_certificates

            self._tmp = tempfile.TemporaryDirectory()
            self.ca_pem, cert, key = make_certificates(Path(self._tmp.name))
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://{host}:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, path: str) -> tuple[int, str, dict[str, str]]:
        if path.startswith("/redirect/"):
            code = int(path.split("/")[2].split("?")[0])
            return code, "", {"Location": parse_qs(urlsplit(path).query)["to"][0]}
        if path.startswith("/status/"):
            _, _, code, text = path.split("/", 3)
            return int(code), unquote(text), {}
        if path.startswith("/teams"):
            return 202, "", {}
        if path.startswith("/flaky429"):
            self._flaky_seen += 1
            if self._flaky_seen == 1:
                return 429, "rate_limited", {"Retry-After": "1"}
        return 200, "ok", {}

    def __enter__(self) -> FakeWebhook:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
