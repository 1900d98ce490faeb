"""A TheHive 5 alert API on 127.0.0.1, faithful to `cortex-thehive-protocol.md` Part E.

What it honours: Bearer / basic auth (401 ``AuthenticationError``), ``X-Organisation`` scoping
(403 ``AuthorizationError`` for an organisation the user is not in), every field rule of D.2 on
``POST /api/v1/alert`` (400 ``AttributeCheckingError`` with an ``errors`` list), 201 ``OutputAlert``
bodies with labels and ``observableCount``, JSON and multipart bodies (``_json`` as a form field or
a file part), duplicate (type, source, sourceRef) → 400 ``CreateError``, observables on an alert
(201 array, 207 ``{success, failure}`` on duplicates, 404 for an unknown type), PATCH/DELETE 204,
promote 201, the query API (listAlert/getAlert/observables/filter/sort/page/count) and the status
endpoints.

Outages are injected with :meth:`FakeTheHive.outage`: ``refused`` (the port is closed), ``500``,
``503`` (with ``Retry-After``), ``slow`` (answers after ``delay`` seconds), ``accept_then_die``
(the alert is stored, then the connection is closed without an answer) and ``drop`` (closed before
anything is stored). ``alerts`` lists what is stored, for assertions.

Run standalone: ``python tests/fakes/thehive.py --port 9000 --key KEY``.
"""

from __future__ import annotations

import argparse
import base64
import email.parser
import email.policy
import json
import re
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import unquote, urlsplit

try:
    from .thehive_rules import (
        DEFAULT_TYPES,
        OUTAGE_MODES,
        PAP_LABELS,
        SEVERITY_LABELS,
        TLP_LABELS,
        ApiError,
        matches,
        validate_alert,
        validate_observable,
    )
except ImportError:  # run as a script: python tests/fakes/thehive.py
    from thehive_rules import (
        DEFAULT_TYPES,
        OUTAGE_MODES,
        PAP_LABELS,
        SEVERITY_LABELS,
        TLP_LABELS,
        ApiError,
        matches,
        validate_alert,
        validate_observable,
    )

__all__ = ["FakeTheHive", "validate_alert", "validate_observable"]


@dataclass
class User:
    login: str
    orgs: tuple[str, ...]
    password: str = ""


@dataclass
class Org:
    alerts: dict[str, dict[str, Any]] = field(default_factory=dict)
    names: dict[tuple[str, str, str], str] = field(default_factory=dict)
    observables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


class FakeTheHive:
    """Start with ``with FakeTheHive() as hive:``; ``hive.url``, ``hive.api_key``, ``hive.alerts``."""

    def __init__(
        self,
        *,
        api_key: str = "test-key-0123456789",
        org: str = "main-org",
        port: int = 0,
        extra_orgs: tuple[str, ...] = ("share-org",),
    ) -> None:
        self.api_key, self.org = api_key, org
        self.users = {api_key: User("bridge@thehive.local", (org, *extra_orgs))}
        self.basic = {"admin@thehive.local": User("admin@thehive.local", (org, "admin"), "secret")}
        self.orgs: dict[str, Org] = {o: Org() for o in (org, "admin", *extra_orgs)}
        self.observable_types = dict(DEFAULT_TYPES)
        self.lock = threading.RLock()
        self.requests: list[tuple[str, str, int]] = []
        self._seq = 0
        self._outage: tuple[str, int | None, float] | None = None
        self._port = port
        self._server: ThreadingHTTPServer | None = None

    # ---- life cycle
    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        handler = type("Handler", (_Handler,), {"hive": self})
        server = _QuietServer(("127.0.0.1", self._port), handler)
        server.daemon_threads = True
        self._port = server.server_address[1]
        self._server = server
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def port(self) -> int:
        return self._port

    # ---- outages
    def outage(self, mode: str, *, count: int | None = None, delay: float = 2.0) -> None:
        """Fail the next ``count`` requests (all when None) in ``mode``; ``refused`` closes the port."""
        if mode not in OUTAGE_MODES:
            raise ValueError(f"unknown outage mode {mode!r}")
        with self.lock:
            self._outage = (mode, count, delay)
        if mode == "refused":
            self.stop()

    def recover(self) -> None:
        with self.lock:
            was = self._outage
            self._outage = None
        if was and was[0] == "refused" or self._server is None:
            self.start()

    def _take_outage(self) -> tuple[str, float] | None:
        with self.lock:
            if not self._outage:
                return None
            mode, count, delay = self._outage
            if count is not None:
                self._outage = (mode, count - 1, delay) if count > 1 else None
            return mode, delay

    # ---- assertions
    @property
    def alerts(self) -> list[dict[str, Any]]:
        with self.lock:
            return [
                dict(a, organisation=name)
                for name, o in self.orgs.items()
                for a in o.alerts.values()
            ]

    def observables_of(self, alert_id: str) -> list[dict[str, Any]]:
        with self.lock:
            for o in self.orgs.values():
                if alert_id in o.observables:
                    return list(o.observables[alert_id])
        return []

    # ---- store operations (called with the lock held)
    def _next_id(self) -> str:
        self._seq += 1
        return f"~{4096 + self._seq}"

    def _find_alert(self, org: Org, id_or_name: str) -> dict[str, Any]:
        if id_or_name in org.alerts:
            return org.alerts[id_or_name]
        parts = tuple(id_or_name.split(";", 2))
        if len(parts) == 3 and parts in org.names:
            return org.alerts[org.names[parts]]  # type: ignore[index]
        raise ApiError(404, "NotFoundError", f"Alert {id_or_name} not found")

    def create_alert(
        self, org_name: str, login: str, body: Any, parts: dict[str, tuple[str, bytes]]
    ) -> dict[str, Any]:
        errors = validate_alert(body)
        if errors:
            raise ApiError(
                400, "AttributeCheckingError", f"{len(errors)} attribute error(s)", errors=errors
            )
        org = self.orgs[org_name]
        key = (body["type"], body["source"], body["sourceRef"])
        if key in org.names:
            raise ApiError(
                400,
                "CreateError",
                f"Alert {key[0]}:{key[1]}:{key[2]} already exist in organisation {org_name}",
            )
        now = int(time.time() * 1000)
        observables: list[dict[str, Any]] = []
        for obs in body.get("observables", []):
            for created in self._build_observables(obs, login, now, parts):
                if any(
                    o["dataType"] == created["dataType"] and o.get("data") == created.get("data")
                    for o in observables
                ):
                    raise ApiError(400, "CreateError", "Observable already exists")
                observables.append(created)
        alert_id = self._next_id()
        sev, tlp, pap = body.get("severity", 2), body.get("tlp", 2), body.get("pap", 2)
        alert = {
            "_id": alert_id,
            "_type": "Alert",
            "_createdBy": login,
            "_createdAt": now,
            "type": body["type"],
            "source": body["source"],
            "sourceRef": body["sourceRef"],
            "title": body["title"],
            "description": body["description"],
            "severity": sev,
            "severityLabel": SEVERITY_LABELS[sev],
            "date": body.get("date", now),
            "tags": body.get("tags", []),
            "tlp": tlp,
            "tlpLabel": TLP_LABELS[tlp],
            "pap": pap,
            "papLabel": PAP_LABELS[pap],
            "follow": body.get("follow", True),
            "customFields": [],
            "observableCount": len(observables),
            "status": body.get("status", "New"),
            "stage": "New",
            "extraData": {},
            "newDate": now,
            "timeToDetect": max(0, now - body.get("date", now)),
        }
        for opt in ("externalLink", "summary", "assignee", "caseTemplate", "flag"):
            if opt in body:
                alert[opt] = body[opt]
        org.alerts[alert_id], org.names[key] = alert, alert_id
        org.observables[alert_id] = observables
        return dict(alert)

    def _build_observables(
        self, obs: dict[str, Any], login: str, now: int, parts: dict[str, tuple[str, bytes]]
    ) -> list[dict[str, Any]]:
        data_type = obs["dataType"]
        if data_type not in self.observable_types:
            raise ApiError(404, "NotFoundError", f"ObservableType {data_type} not found")
        is_attachment = self.observable_types[data_type]
        base = {
            "_type": "Observable",
            "_createdBy": login,
            "_createdAt": now,
            "dataType": data_type,
            "startDate": now,
            "tlp": obs.get("tlp", 2),
            "pap": obs.get("pap", 2),
            "tags": obs.get("tags", []),
            "ioc": obs.get("ioc", False),
            "sighted": obs.get("sighted", False),
            "reports": {},
            "extraData": {},
            "ignoreSimilarity": obs.get("ignoreSimilarity", False),
            "external": False,
        }
        base["tlpLabel"], base["papLabel"] = TLP_LABELS[base["tlp"]], PAP_LABELS[base["pap"]]
        if "message" in obs:
            base["message"] = obs["message"]
        if is_attachment:
            if obs.get("data") is not None:
                raise ApiError(
                    400, "BadRequest", "A attachment observable doesn't accept string value"
                )
            keys = obs.get("attachment", "attachment")  # D.3: file parts named ``attachment``
            keys = keys if isinstance(keys, list) else [keys]
            out = []
            for k in keys:
                if not isinstance(k, str) or k not in parts:
                    raise ApiError(400, "BadRequest", f"Attachment part {k!r} not found")
                filename, payload = parts[k]
                out.append(
                    dict(
                        base,
                        _id=self._next_id(),
                        attachment={"name": filename or k, "size": len(payload)},
                    )
                )
            return out
        if obs.get("attachment") is not None:
            raise ApiError(400, "BadRequest", "A text observable doesn't accept attachment")
        data = obs.get("data")
        values = [
            v
            for v in (data if isinstance(data, list) else [data])
            if isinstance(v, str) and v.strip()
        ]
        return [dict(base, _id=self._next_id(), data=v) for v in values]

    def add_observables(
        self, org: Org, alert_id: str, login: str, obs: Any, parts: dict[str, tuple[str, bytes]]
    ) -> tuple[int, Any]:
        alert = self._find_alert(org, alert_id)
        errors = validate_observable(obs)
        if errors:
            raise ApiError(
                400, "AttributeCheckingError", f"{len(errors)} attribute error(s)", errors=errors
            )
        now = int(time.time() * 1000)
        existing = org.observables[alert["_id"]]
        success, failure = [], []
        for created in self._build_observables(obs, login, now, parts):
            if created.get("data") is not None and any(
                o["dataType"] == created["dataType"] and o.get("data") == created["data"]
                for o in existing
            ):
                failure.append(
                    {
                        "type": "CreateError",
                        "message": "Observable already exists",
                        "object": {"data": created["data"]},
                    }
                )
                continue
            existing.append(created)
            success.append(created)
        alert["observableCount"] = len(existing)
        return (207, {"success": success, "failure": failure}) if failure else (201, success)

    def query(self, org: Org, body: Any) -> Any:
        ops = body.get("query") if isinstance(body, dict) else None
        if not isinstance(ops, list) or not ops or not isinstance(ops[0], dict):
            raise ApiError(400, "BadRequest", "Invalid query")
        first = ops[0].get("_name")
        if first == "listAlert":
            docs = list(org.alerts.values())
        elif first == "getAlert":
            docs = [self._find_alert(org, str(ops[0].get("idOrName", "")))]
        elif first == "listObservableType":
            docs = [{"name": n, "isAttachment": a} for n, a in self.observable_types.items()]
        else:
            raise ApiError(400, "BadRequest", f"Unknown query operation {first}")
        for op in ops[1:]:
            name = op.get("_name")
            if name == "observables":
                docs = [o for d in docs for o in org.observables.get(d["_id"], [])]
            elif name == "filter":
                flt = {k: v for k, v in op.items() if k != "_name"}
                docs = [d for d in docs if matches(d, flt)]
            elif name == "sort":
                for spec in reversed(op.get("_fields", [])):
                    ((fname, order),) = spec.items()
                    fname = "_createdAt" if fname == "_createdAt" else fname
                    docs.sort(
                        key=lambda d: (d.get(fname) is None, d.get(fname) or 0),
                        reverse=order == "desc",
                    )
            elif name == "page":
                docs = docs[int(op.get("from", 0)) : int(op.get("to", len(docs)))]
            elif name == "count":
                return len(docs)
            else:
                raise ApiError(400, "BadRequest", f"Unknown query operation {name}")
        return [dict(d) for d in docs]


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeout test, killed process) is not an emulator error."""
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    hive: FakeTheHive
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        # headers and body leave in two writes; without this, Nagle + delayed ACK add 40 ms per answer
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # ---- plumbing
    def _send(self, status: int, body: Any = None) -> None:
        raw = b"" if body is None else json.dumps(body).encode()
        # Recorded before the answer leaves: a client that has its answer must find its request
        # here (recording after the write lost that race under load).
        self.hive.requests.append((self.command, self.path, status))
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        if status == 503:
            self.send_header("Retry-After", "1")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _parse_body(self, raw: bytes) -> tuple[Any, dict[str, tuple[str, bytes]]]:
        ctype = self.headers.get("Content-Type", "")
        if ctype.startswith("multipart/form-data"):
            return _parse_multipart(ctype, raw)
        if not raw:
            return None, {}
        try:
            return json.loads(raw), {}
        except ValueError:
            raise ApiError(400, "BadRequest", "Invalid JSON body") from None

    def _auth(self) -> User:
        header = self.headers.get("Authorization", "")
        user = None
        if header.startswith("Bearer "):
            user = self.hive.users.get(header[7:])
        elif header.startswith("Basic "):
            try:
                login, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                login, password = "", ""
            candidate = self.hive.basic.get(login)
            user = candidate if candidate and candidate.password == password else None
        if user is None:
            raise ApiError(401, "AuthenticationError", "Authentication failure")
        return user

    def _org(self, user: User) -> tuple[str, Org]:
        name = self.headers.get("X-Organisation") or user.orgs[0]
        if name not in user.orgs or name not in self.hive.orgs:
            raise ApiError(
                403, "AuthorizationError", f"Organisation {name} not found or not accessible"
            )
        return name, self.hive.orgs[name]

    def _dispatch(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""  # always drained: keep-alive stays in sync
        outage = self.hive._take_outage()
        if outage and outage[0] == "slow":
            time.sleep(outage[1])
        elif outage and outage[0] == "drop":
            self._die()
            return
        elif outage and outage[0] in ("500", "503"):
            code = int(outage[0])
            self._send(
                code,
                {
                    "type": "InternalError" if code == 500 else "ServiceUnavailable",
                    "message": "injected outage",
                },
            )
            return
        try:
            status, body = self._route(method, urlsplit(self.path).path, raw)
        except ApiError as exc:
            status, body = exc.status, exc.body
        if outage and outage[0] == "accept_then_die":
            self._die()
            return
        self._send(status, body)

    def _die(self) -> None:
        self.hive.requests.append((self.command, self.path, 0))
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _route(self, method: str, path: str, raw: bytes) -> tuple[int, Any]:
        if path in ("/api/status", "/api/v1/status/public"):
            return 200, {
                "versions": {"TheHive": "5.5.13-emulated"},
                "config": {"authType": ["bearer", "basic"]},
            }
        user = self._auth()
        org_name, org = self._org(user)
        body, parts = self._parse_body(raw) if method in ("POST", "PATCH") else (None, {})
        hive = self.hive
        with hive.lock:
            if path == "/api/v1/status" and method == "GET":
                return 200, {"versions": {"TheHive": "5.5.13-emulated"}}
            if path == "/api/v1/user/current" and method == "GET":
                return 200, {
                    "_id": "~1",
                    "login": user.login,
                    "organisation": org_name,
                    "organisations": [{"organisation": o} for o in user.orgs],
                }
            if path == "/api/v1/alert" and method == "POST":
                return 201, hive.create_alert(org_name, user.login, body, parts)
            if path == "/api/v1/query" and method == "POST":
                return 200, hive.query(org, body)
            m = re.fullmatch(r"/api/v1/alert/([^/]+)(?:/(observable|case))?", path)
            if m:
                alert_id, sub = unquote(m.group(1)), m.group(2)
                if sub == "observable" and method == "POST":
                    return hive.add_observables(org, alert_id, user.login, body, parts)
                if sub == "case" and method == "POST":
                    alert = hive._find_alert(org, alert_id)
                    case_id = hive._next_id()
                    alert.update(caseId=case_id, stage="Imported")
                    return 201, {"_id": case_id, "_type": "Case", "title": alert["title"]}
                if sub is None and method == "GET":
                    return 200, dict(hive._find_alert(org, alert_id))
                if sub is None and method == "PATCH":
                    alert = hive._find_alert(org, alert_id)
                    if not isinstance(body, dict):
                        raise ApiError(400, "BadRequest", "Invalid update")
                    tags = [
                        t
                        for t in alert.get("tags", []) + body.pop("addTags", [])
                        if t not in body.pop("removeTags", [])
                    ]
                    alert.update(
                        body,
                        tags=body.get("tags", list(dict.fromkeys(tags))),
                        _updatedAt=int(time.time() * 1000),
                        _updatedBy=user.login,
                    )
                    return 204, None
                if sub is None and method == "DELETE":
                    alert = hive._find_alert(org, alert_id)
                    del org.alerts[alert["_id"]]
                    org.names.pop((alert["type"], alert["source"], alert["sourceRef"]), None)
                    org.observables.pop(alert["_id"], None)
                    return 204, None
        raise ApiError(404, "NotFound", f"No route for {method} {path}")


def _parse_multipart(ctype: str, raw: bytes) -> tuple[Any, dict[str, tuple[str, bytes]]]:
    """``_json`` may be a plain form field or a file part (thehive4py sends both, spec C.4)."""
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + raw
    )
    body: Any = None
    parts: dict[str, tuple[str, bytes]] = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if name == "_json":
            try:
                body = json.loads(payload)
            except ValueError:
                raise ApiError(400, "BadRequest", "Invalid JSON in _json part") from None
        elif name:
            parts[name] = (part.get_filename() or "", payload)
    if body is None:
        raise ApiError(400, "BadRequest", "Missing _json part")
    return body, parts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=9000)
    ap.add_argument("--key", default="test-key-0123456789")
    ap.add_argument("--org", default="main-org")
    args = ap.parse_args()
    hive = FakeTheHive(api_key=args.key, org=args.org, port=args.port)
    hive.start()
    print(f"TheHive emulator on {hive.url} (org {args.org})", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        hive.stop()


if __name__ == "__main__":
    main()
