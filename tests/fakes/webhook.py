"""A loopback HTTP receiver standing in for Slack, Teams, Mattermost or any JSON webhook.

It records every request (path, headers, parsed JSON) and answers what the vendors answer:
Slack and Mattermost ``200 ok`` (text/plain), a Teams Workflows trigger ``202`` with an empty body.
Paths starting ``/status/<code>/<body>`` answer that status and body (Slack's ``403
invalid_token``, ``404 no_service``…); ``/flaky429`` answers 429 with ``Retry-After: 1`` once,
then 200.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote


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
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._flaky_seen = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

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

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, path: str) -> tuple[int, str, dict[str, str]]:
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
