"""``socflow playbook watch``: new TheHive alerts/cases → playbook runs.

Two ways in, usable together: polling TheHive's query API for alerts created since the last
cursor (kept in the journal, so a restart neither misses nor repeats: a run already done for an
alert is recognised by its run id), and TheHive webhook notifications (audit events, fact sheet
R5.1) on ``POST /webhook`` with ``Authorization: Bearer <token>`` — bodies over 1 MiB, without the
token or not JSON are refused before anything is queued. Either way only the alert/case id is
taken from the event; the entity itself is read back from TheHive before it is matched.
"""

from __future__ import annotations

import hmac
import json
import queue
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_BODY = 1 << 20


class WebhookServer:
    """A small authenticated endpoint; events become ``(kind, id)`` items on ``self.queue``."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.queue: queue.Queue[tuple[str, str]] = queue.Queue(maxsize=10_000)
        self.token = token.encode("utf-8")
        self.refused = 0
        handler = type("Handler", (_Handler,), {"server_ref": self})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.1}, daemon=True)

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def event_target(event: Any) -> tuple[str, str] | None:
    """``("alert", id)`` for an alert creation, ``("case", id)`` for a case creation."""
    if not isinstance(event, dict):
        return None
    kind = str(event.get("objectType", "")).lower()
    action = str(event.get("action", "")).lower()
    obj = event.get("object") if isinstance(event.get("object"), dict) else {}
    oid = event.get("objectId") or obj.get("_id")
    if action == "create" and kind in ("alert", "case") and isinstance(oid, str) and 0 < len(oid) <= 128:
        return kind, oid
    return None


class _Handler(BaseHTTPRequestHandler):
    server_ref: WebhookServer

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        srv = self.server_ref
        if self.path.split("?", 1)[0] != "/webhook":
            self._answer(404, {"error": "not found"})
            return
        header = self.headers.get("Authorization", "")
        given = header[7:].encode("utf-8", "replace") if header.startswith("Bearer ") else b""
        if not hmac.compare_digest(given, srv.token):
            srv.refused += 1
            self.close_connection = True
            self._answer(401, {"error": "authentication required"})
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self.close_connection = True
            self._answer(413, {"error": f"a notification is at most {MAX_BODY} bytes"})
            return
        raw = self.rfile.read(length)
        try:
            event = json.loads(raw)
        except ValueError:
            self._answer(400, {"error": "not JSON"})
            return
        events = event if isinstance(event, list) else [event]
        taken = 0
        for ev in events[:100]:
            target = event_target(ev)
            if target:
                try:
                    srv.queue.put_nowait(target)
                    taken += 1
                except queue.Full:
                    self._answer(503, {"error": "busy"})
                    return
        self._answer(200, {"queued": taken})

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/health":
            self._answer(200, {"status": "ok"})
        else:
            self._answer(404, {"error": "not found"})


def poll_once(
    services: Any, since_ms: int, types: list[str], on_alert: Callable[[dict[str, Any]], None],
    limit: int = 100,
) -> int:
    """Alerts created at or after ``since_ms`` (ties are re-read; runs dedupe by id); returns
    the new cursor."""
    cursor = since_ms
    for alert in services.new_alerts(since_ms, types, limit):
        on_alert(alert)
        created = alert.get("_createdAt")
        if isinstance(created, int) and created > cursor:
            cursor = created
    return cursor
