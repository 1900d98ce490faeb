"""A MISP server on 127.0.0.1, enough for PyMISP to connect and push an event, or update it
(``thehive-cortex-response.md`` R7.1, R8 item 16; where the sheet is silent, MISP's own source,
``MISP/MISP`` bb0909a: ``app/Controller/EventsController.php`` ``view``/``add``/``edit``,
``app/Model/Event.php`` ``_add``/``_edit``, ``app/Model/MispAttribute.php`` ``editAttribute``,
``RestResponseComponent::saveFailResponse``).

Routes (``Authorization: <key>``, the raw key as PyMISP sends it; JSON):

* the four calls PyMISP's constructor makes: ``GET /servers/getVersion`` (``{"version", "perm_sync",
  …}``), ``GET /servers/getPyMISPVersion.json``, ``GET /users/view/me`` (``{"User", "Role",
  "UserSetting"}``), ``GET /attributes/describeTypes.json`` (``{"result": …}``, pymisp's own table);
* ``HEAD /events/view/{id|uuid}`` (PyMISP's ``event_exists``) → 200 or 404, no body;
  ``GET /events/view/{id|uuid}`` → 200 ``{"Event": …}``, unknown → 404 ``{"name": "Invalid event",
  "message": "Invalid event", "url"}``;
* ``POST /events/add`` (body = the event dict, with or without an ``Event`` wrapper) → 200
  ``{"Event": {… "id", "Attribute": [… "id", "event_id"], "Tag": […]}}``; ``info`` missing, an
  unknown attribute type or a category the type does not allow → 403 ``{"name", "message", "url",
  "errors"}`` (MISP answers validation failures with 403); an event uuid already stored (visible
  or not) → **404** "Event already exists, if you would like to edit it, use the url in the
  location header." with ``Location: /events/{id}``; the uuid of a deleted event (MISP puts it on
  its event blocklist by default) → 403 "Event blocked by event blocklist.";
* ``POST /events/edit/{id|uuid}`` (PyMISP's ``update_event``), as MISP's ``_edit``: the event is
  found by the body's ``uuid`` when given; a body ``timestamp`` not newer than the stored one →
  403 ``{"saved": false, "name": "Could not edit Event", "message", "url", "errors": "Event could
  not be saved: Event in the request not newer than the local copy.", "id"}``; ``info``,
  ``distribution``, ``threat_level_id``, ``analysis``, ``date`` replaced when given; ``published``
  false unless the body says true; attributes matched by ``uuid`` are updated (tags added), new
  ones added, those absent kept; a new attribute that is invalid, or repeats the (type, category,
  value) of one the event has, or carries the uuid of another event's attribute is dropped (MISP
  logs it; the edit still answers 200); event tags are added once each;
* ``POST /attributes/add/{id}``, ``POST /tags/attachTagToObject`` ``{uuid, tag, local}``,
  ``POST /events/publish/{id}`` (``published`` set, ``{"saved": true, "success": true, "name":
  "Job queued", …}``); unknown ids → 404 ``{"name": "Invalid event", "message": …, "url"}``.

A wrong key answers 403 ``{"name": "Authentication failed. …", "message": …, "url"}`` (pymisp
turns 4xx into a returned ``{"errors": (status, body)}``, 5xx into ``MISPServerError``; for HEAD,
any status but 200/404 into ``MISPServerError``).
``FakeMisp(tls=True)`` serves HTTPS with a test CA (``misp.ca_file``).
Test controls: ``misp.outage("500"|"refused", count=None)``, ``misp.recover()``, ``misp.latency``,
``misp.events`` (id → stored event), ``misp.requests`` (method, path, status, headers),
``misp.delete_event(id)`` (as MISP's delete: gone, uuid blocklisted), ``misp.hidden`` (ids of
events this key cannot see: another organisation's, distribution 0).
"""

from __future__ import annotations

import json
import socket
import ssl
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

AUTH_FAILED = ("Authentication failed. Please make sure you pass the API key of an API enabled user "
               "along in the Authorization header.")


def _describe_types() -> dict[str, Any]:
    return json.loads(resources.files("pymisp").joinpath("data/describeTypes.json").read_text())["result"]


class MispError(Exception):
    def __init__(self, status: int, name: str, message: str, url: str, *,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.body = status, {"name": name, "message": message, "url": url, **extra}
        self.headers = headers or {}


class FakeMisp:
    def __init__(self, *, api_key: str = "misp-key-0123456789abcdef0123456789abcdef", tls: bool = False) -> None:
        self.api_key = api_key
        self.tls = tls
        self.ca_file: str | None = None  # with tls=True: the test CA's PEM file (``--misp-ca-bundle``)
        self._context: ssl.SSLContext | None = None
        if tls:
            from .mail import make_certificates

            self._tmp = tempfile.TemporaryDirectory()
            ca_pem, cert, key = make_certificates(Path(self._tmp.name))
            self.ca_file = str(Path(self._tmp.name) / "ca.pem")
            Path(self.ca_file).write_text(ca_pem)
            self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._context.load_cert_chain(cert, key)
        self.types = _describe_types()
        self.events: dict[str, dict[str, Any]] = {}
        self.hidden: set[str] = set()  # event ids this key cannot see
        self.blocklist: set[str] = set()  # uuids of deleted events (MISP.enableEventBlocklisting)
        self.requests: list[tuple[str, str, int, dict[str, str]]] = []
        self.latency = 0.0
        self.lock = threading.RLock()
        self._ids = iter(range(1, 10**9))
        self._attr_ids = iter(range(1, 10**9))
        self._outage: tuple[str, int | None] | None = None
        self._server: ThreadingHTTPServer | None = None
        self._port = 0

    def __enter__(self) -> FakeMisp:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def start(self) -> None:
        handler = type("Handler", (_Handler,), {"misp": self})
        server = _QuietServer(("127.0.0.1", self._port), handler)
        server.daemon_threads = True
        if self._context is not None:
            server.socket = self._context.wrap_socket(server.socket, server_side=True)
        self._port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self._port}"

    def outage(self, mode: str, *, count: int | None = None) -> None:
        if mode not in ("500", "refused"):
            raise ValueError(mode)
        self._outage = (mode, count)
        if mode == "refused":
            self.stop()

    def recover(self) -> None:
        was, self._outage = self._outage, None
        if (was and was[0] == "refused") or self._server is None:
            self.start()

    def _take_outage(self) -> str | None:
        with self.lock:
            if not self._outage:
                return None
            mode, count = self._outage
            if count is not None:
                self._outage = (mode, count - 1) if count > 1 else None
            return mode

    def delete_event(self, event_id: str) -> None:
        with self.lock:
            self.blocklist.add(self.events.pop(event_id)["uuid"])

    # ---- store
    def _event(self, event_id: str, url: str) -> dict[str, Any]:
        for ev in self.events.values():
            if event_id in (ev["id"], ev["uuid"]) and ev["id"] not in self.hidden:
                return ev
        raise MispError(404, "Invalid event", "Invalid event", url)

    def edit_event(self, path_id: str, body: Any, url: str) -> dict[str, Any]:
        ev = self._event(path_id, url)  # fetchSimpleEvent: unknown or not visible → 404
        new = body.get("Event", body) if isinstance(body, dict) else {}
        new = new if isinstance(new, dict) else {}

        def refused(reason: str) -> MispError:
            return MispError(403, "Could not edit Event", "Could not edit Event", f"/events/edit/{ev['id']}",
                             saved=False, errors=f"Event could not be saved: {reason}", id=ev["id"])

        if new.get("uuid"):
            found = [e for e in self.events.values() if e["uuid"] == new["uuid"]]
            if not found:
                raise refused("Could not find the local event.")
            ev = found[0]
        if "timestamp" in new and str(new["timestamp"]).isdigit() and \
                int(new["timestamp"]) <= int(ev["timestamp"]):
            raise refused("Event in the request not newer than the local copy.")
        ev.update({k: new[k] for k in ("info", "distribution", "threat_level_id", "analysis", "date")
                   if k in new})
        ev["published"] = bool(new.get("published"))
        ev["timestamp"] = str(int(time.time()))
        for attr in new.get("Attribute", []) or []:
            if not isinstance(attr, dict):
                continue
            mine = [a for a in ev["Attribute"] if attr.get("uuid") and a["uuid"] == attr["uuid"]]
            if mine:
                old = mine[0]
                if "timestamp" in attr and str(attr["timestamp"]).isdigit() and \
                        int(attr["timestamp"]) <= int(old["timestamp"]):
                    continue  # not newer: left as it is
                old.update({k: attr[k] for k in ("value", "to_ids", "distribution", "category", "type",
                                                 "comment") if k in attr})
                old["to_ids"] = bool(old.get("to_ids"))
                old["timestamp"] = str(int(time.time()))
                self._add_tags(old, attr.get("Tag"))
                continue
            if attr.get("uuid") and any(a["uuid"] == attr["uuid"] for e in self.events.values()
                                        for a in e["Attribute"]):
                continue  # the uuid of another event's attribute: dropped
            try:
                added = self._attribute(attr, ev["id"], url)
            except MispError:
                continue  # a validation failure drops the attribute, the edit goes on
            if any(a["type"] == added["type"] and a["category"] == added["category"]
                   and a["value"] == added["value"] for a in ev["Attribute"]):
                continue  # "A similar attribute already exists for this event."
            ev["Attribute"].append(added)
        self._add_tags(ev, new.get("Tag"))
        return {"Event": ev}

    @staticmethod
    def _add_tags(obj: dict[str, Any], tags: Any) -> None:
        have = obj.setdefault("Tag", [])
        for tag in tags or []:
            if isinstance(tag, dict) and isinstance(tag.get("name"), str) and \
                    not any(t["name"] == tag["name"] for t in have):
                have.append({"name": tag["name"], "id": str(len(have) + 1)})

    def _attribute(self, attr: Any, event_id: str, url: str) -> dict[str, Any]:
        if not isinstance(attr, dict):
            raise MispError(403, "Could not add Attribute", "Could not add Attribute", url,
                            errors={"Attribute": ["not an object"]})
        kind, value = attr.get("type"), attr.get("value")
        problems = []
        if kind not in self.types["types"]:
            problems.append(f"type {kind!r} is not a valid type")
        elif attr.get("category", self.types["sane_defaults"][kind]["default_category"]) not in [
                c for c, types in self.types["category_type_mappings"].items() if kind in types]:
            problems.append(f"category {attr.get('category')!r} is not allowed for {kind}")
        if not isinstance(value, str) or not value.strip():
            problems.append("value is empty")
        if problems:
            raise MispError(403, "Could not add Attribute", "Could not add Attribute", url,
                            errors={"value": problems})
        out = dict(attr)
        out.setdefault("category", self.types["sane_defaults"][kind]["default_category"])
        out.update(id=str(next(self._attr_ids)), event_id=event_id, uuid=attr.get("uuid") or str(uuid.uuid4()),
                   timestamp=str(int(time.time())))
        out["to_ids"] = bool(out.get("to_ids", False))
        return out

    def add_event(self, body: Any, url: str) -> dict[str, Any]:
        ev = body.get("Event", body) if isinstance(body, dict) else None
        if not isinstance(ev, dict) or not isinstance(ev.get("info"), str) or not ev["info"].strip():
            raise MispError(403, "The event could not be saved.", "The event could not be saved.", url,
                            errors={"Event": {"info": ["Info cannot be empty."]}})
        if ev.get("uuid") in self.blocklist:
            raise MispError(403, "Event blocked by event blocklist.", "Event blocked by event blocklist.", url)
        for other in self.events.values():  # Event::_add looks without the user's ACL
            if ev.get("uuid") and other["uuid"] == ev["uuid"]:
                text = ("Event already exists, if you would like to edit it, use the url in the location "
                        "header.")
                raise MispError(404, text, text, url, headers={"Location": f"/events/{other['id']}"})
        event_id = str(next(self._ids))
        stored = {k: v for k, v in ev.items() if k not in ("Attribute", "Tag")}
        stored.update(id=event_id, uuid=ev.get("uuid") or str(uuid.uuid4()), published=False,
                      org_id="1", orgc_id="1", timestamp=str(int(time.time())),
                      Attribute=[self._attribute(a, event_id, url) for a in ev.get("Attribute", [])],
                      Tag=[{"name": t["name"], "id": str(i + 1)} for i, t in enumerate(ev.get("Tag", []))
                           if isinstance(t, dict) and isinstance(t.get("name"), str)])
        self.events[event_id] = stored
        return {"Event": stored}


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    misp: FakeMisp
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        raw = b"" if self.command == "HEAD" else json.dumps(body).encode()
        self.misp.requests.append((self.command, self.path, status, dict(self.headers.items())))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _dispatch(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        misp = self.misp
        if self.server is not misp._server:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if misp.latency:
            time.sleep(misp.latency)
        if misp._take_outage() == "500":
            return self._send(500, {"name": "An Internal Error Has Occurred.", "message":
                                    "An Internal Error Has Occurred.", "url": self.path})
        path = urlsplit(self.path).path
        headers: dict[str, str] = {}
        try:
            status, body = self._route(method, path, raw)
        except MispError as exc:
            status, body, headers = exc.status, exc.body, exc.headers
        self._send(status, body, headers)

    def _route(self, method: str, path: str, raw: bytes) -> tuple[int, Any]:
        misp = self.misp
        if self.headers.get("Authorization") != misp.api_key:
            raise MispError(403, AUTH_FAILED, AUTH_FAILED, path)
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            raise MispError(400, "Bad Request", "Invalid JSON", path) from None
        with misp.lock:
            if method == "GET" and path == "/servers/getVersion":
                return 200, {"version": "2.5.17", "perm_sync": False, "perm_sighting": False,
                             "perm_galaxy_editor": False, "request_encoding": ["gzip", "br"],
                             "filter_sightings": True}
            if method == "GET" and path == "/servers/getPyMISPVersion.json":
                from pymisp import __version__

                return 200, {"version": __version__}
            if method == "GET" and path == "/users/view/me":
                return 200, {"User": {"id": "1", "org_id": "1", "email": "socflow@misp.test", "role_id": "3",
                                      "disabled": False, "autoalert": False},
                             "Role": {"id": "3", "name": "User", "perm_add": True, "perm_modify": True,
                                      "perm_publish": False},
                             "UserSetting": {}}
            if method == "GET" and path == "/attributes/describeTypes.json":
                return 200, {"result": misp.types}
            if method == "POST" and path == "/events/add":
                return 200, misp.add_event(body, path)
            parts = path.strip("/").split("/")
            if method in ("GET", "HEAD") and parts[:2] == ["events", "view"] and len(parts) == 3:
                return 200, {"Event": misp._event(parts[2], path)}
            if method == "POST" and parts[:2] == ["events", "edit"] and len(parts) == 3:
                return 200, misp.edit_event(parts[2], body, path)
            if method == "POST" and parts[:2] == ["attributes", "add"] and len(parts) == 3:
                ev = misp._event(parts[2], path)
                attr = misp._attribute(body.get("Attribute", body), ev["id"], path)
                ev["Attribute"].append(attr)
                return 200, {"Attribute": attr}
            if method == "POST" and path == "/tags/attachTagToObject":
                target = body.get("uuid")
                for ev in misp.events.values():
                    for obj in [ev, *ev["Attribute"]]:
                        if obj.get("uuid") == target:
                            obj.setdefault("Tag", []).append({"name": body.get("tag"), "local": body.get("local")})
                            return 200, {"saved": True, "success": "Tag attached.", "check_publish": True}
                raise MispError(404, "Invalid target.", "Invalid target.", path)
            if method == "POST" and parts[:2] == ["events", "publish"] and len(parts) == 3:
                ev = misp._event(parts[2], path)
                ev["published"] = True
                return 200, {"saved": True, "success": True, "name": "Job queued", "message": "Job queued",
                             "url": path, "id": ev["id"]}
        raise MispError(404, "Not Found", f"{path} not found", path)
