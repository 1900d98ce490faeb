"""A TheHive 5 emulator on 127.0.0.1, faithful to `cortex-thehive-protocol.md` Part D/E and
`thehive-cortex-response.md` R1–R5/R8. Driven in tests through the real thehive4py.

Routes (``/api/v1``; JSON; errors ``{"type", "message"}`` — 400 ``AttributeCheckingError`` with an
``errors`` list for field rules, 400 ``BadRequest``/``CreateError``, 401 ``AuthenticationError``,
403 ``AuthorizationError``, 404 ``NotFoundError``; an unknown route 404 ``NotFound``):

* status: ``GET /api/status``, ``/api/v1/status/public`` (no auth), ``/api/v1/status``,
  ``/api/v1/user/current``; Bearer or basic auth, ``X-Organisation`` scoping.
* alerts: ``POST /alert`` (201, D.2 field rules, JSON or multipart, duplicate → 400 CreateError),
  ``GET|PATCH|DELETE /alert/{id or type;source;sourceRef}`` (PATCH 204; ``status`` must be a known
  alert status, ``Imported`` never by hand, Closed→New/InProgress needs ``manageAlert/reopen``
  (403), InProgress→New 400; the stage follows), ``POST /alert/{id}/observable`` (201 list / 207
  ``{success, failure}`` / 404 unknown type), ``POST /alert/{id}/case`` (promote: 201 OutputCase,
  alert values then body fields, ``caseTemplate`` of the body or the alert, observables copied,
  alert → ``caseId`` + ``Imported``; a repeated promote answers the same case),
  ``POST /alert/{id}/merge/{caseId}`` (200; description gets ``#### Merged with alert #<sourceRef>
  <title>``, tags united; an imported alert → 400 "Alert is already imported"),
  ``POST /alert/merge/_bulk`` ``{caseId, alertIds ≤ 50}``.
* cases: ``POST /case`` (201; ``number`` counter; template by name or id: prefix + " " + title,
  template values where the body is silent, tags united, template tasks then body tasks; unknown
  template 404; the caller is the assignee when none is given), ``GET|PATCH|DELETE /case/{id or
  number}`` (PATCH 204: severity, tags/addTags/removeTags, assignee (a known login, else 404),
  status (unknown → 400) with its stage, impactStatus, summary…; closing refused (400) while a
  mandatory task is Waiting/InProgress, then InProgress tasks → Completed, Waiting → Cancel,
  ``endDate``/``closedDate`` set; reopening needs ``manageCase/reopen``),
  ``DELETE /case/{id}/alert/{alertId}`` (unlink → alert back to New), ``POST /case/{id}/observable``
  (as for alerts; multipart part ``attachment``), ``GET|PATCH /observable/{id}``,
  ``GET /observable/{id}/attachment/{attachmentId}/download`` (the file's bytes).
* templates: ``POST /caseTemplate`` (201; duplicate name 400 CreateError),
  ``GET|PATCH|DELETE /caseTemplate/{name or id}``.
* tasks: ``POST /case/{id}/task`` (201; defaults Waiting, order 0, group "default", flag and
  mandatory false), ``GET|PATCH|DELETE /task/{id}`` (status ∈ Waiting/InProgress/Completed/Cancel;
  InProgress stamps ``startDate`` and assigns the caller if nobody is; Completed stamps ``endDate``
  and needs a log on a mandatory task).
* task logs: ``POST /task/{id}/log`` (JSON or multipart ``_json`` + ``attachments`` parts → 201 with
  ``attachments[]``; the first log moves a Waiting task to InProgress), ``PATCH /log/{id}``.
* query: ``POST /query`` with ``listAlert|getAlert|listCase|getCase|listTask|waitingTasks|getTask|
  listLog|getLog|listObservable|getObservable|listCaseTemplate|getCaseTemplate|listAlertStatus|
  listCaseStatus|listObservableType`` then ``observables|case|alerts|tasks|logs|filter|sort|page|
  count`` (``page.extraData: ["total"]`` → header ``X-Total``; ``excludeFields`` honoured; relative
  dates in filters are not supported).
* No ETag/If-Match, no 409: creating the same case, task or log twice makes two (R1.7).

Helpers for tests: ``hive.url``, ``hive.api_key``, ``hive.alerts``, ``hive.observables_of(id)``,
``hive.orgs[name].cases|tasks|logs|templates|observables`` (the store), ``hive.add_user(login,
api_key=None, permissions=None)``, ``hive.audits`` (every change as a TheHive 5 audit record),
``hive.notify_to(url, triggers=None, auth=None)`` + ``hive.wait_notifications(timeout)`` +
``hive.notifier.deliveries`` (webhook notifications, see ``fakes.thehive_notify``),
``hive.latency`` (seconds added to every answer), ``hive.requests`` (method, path, status).

Outages are injected with :meth:`FakeTheHive.outage`: ``refused`` (the port is closed and kept-alive
connections are dropped), ``500``, ``503`` (with ``Retry-After``), ``slow`` (answers after ``delay``
seconds), ``accept_then_die`` (the change is stored, then the connection is closed without an
answer) and ``drop`` (closed before anything is stored); :meth:`FakeTheHive.recover` ends them.

Run standalone: ``python tests/fakes/thehive.py --port 9000 --key KEY``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import email.message
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
    from .thehive_cases import CaseStore
    from .thehive_notify import Notifier, set_request_id
except ImportError:  # run as a script: python tests/fakes/thehive.py
    from thehive_cases import CaseStore  # type: ignore[no-redef]
    from thehive_notify import Notifier, set_request_id  # type: ignore[no-redef]
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


ALL_PERMISSIONS = frozenset(
    {
        "manageAlert/create", "manageAlert/update", "manageAlert/import", "manageAlert/reopen",
        "manageCase/create", "manageCase/update", "manageCase/reopen", "manageCase/merge",
        "manageTask", "manageObservable", "manageCaseTemplate", "manageAction", "manageAnalyse",
    }
)


@dataclass
class User:
    login: str
    orgs: tuple[str, ...]
    password: str = ""
    permissions: frozenset[str] = ALL_PERMISSIONS


@dataclass
class Org:
    alerts: dict[str, dict[str, Any]] = field(default_factory=dict)
    names: dict[tuple[str, str, str], str] = field(default_factory=dict)
    # parent (alert or case) id -> its observables; observable id -> parent id
    observables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    obs_parent: dict[str, str] = field(default_factory=dict)
    cases: dict[str, dict[str, Any]] = field(default_factory=dict)
    case_numbers: dict[int, str] = field(default_factory=dict)
    next_number: int = 0
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    task_case: dict[str, str] = field(default_factory=dict)
    logs: dict[str, dict[str, Any]] = field(default_factory=dict)
    log_task: dict[str, str] = field(default_factory=dict)
    templates: dict[str, dict[str, Any]] = field(default_factory=dict)


class FakeTheHive(CaseStore):
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
        self.blobs: dict[str, bytes] = {}  # attachment id (sha256) -> bytes, for downloads
        self.lock = threading.RLock()
        self.requests: list[tuple[str, str, int]] = []
        self.received: list[tuple[str, str]] = []  # every request as it arrives, before any answer
        self._seq = 0
        self._outage: tuple[str, int | None, float] | None = None
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self.logins = {u.login for u in (*self.users.values(), *self.basic.values())}
        self.notifier = Notifier()
        self.latency = 0.0  # seconds added to every answer (slow-TheHive tests)

    # ---- users, notifications
    def add_user(
        self, login: str, *, api_key: str | None = None, permissions: frozenset[str] | None = None
    ) -> None:
        """A login cases and tasks may be assigned to; with ``api_key`` it can also call the API."""
        self.logins.add(login)
        if api_key:
            self.users[api_key] = User(
                login, (self.org, *[o for o in self.orgs if o not in (self.org, "admin")]),
                permissions=ALL_PERMISSIONS if permissions is None else permissions,
            )

    def _permissions(self, login: str) -> frozenset[str]:
        for u in (*self.users.values(), *self.basic.values()):
            if u.login == login:
                return u.permissions
        return frozenset()

    def notify_to(self, url: str, **kwargs: Any) -> None:
        """POST TheHive 5 audit bodies to ``url`` (see ``fakes.thehive_notify.Notifier.configure``)."""
        self.notifier.configure(url, **kwargs)

    def wait_notifications(self, timeout: float = 5.0) -> bool:
        return self.notifier.wait(timeout)

    @property
    def audits(self) -> list[dict[str, Any]]:
        return list(self.notifier.audits)

    def _emit(self, org: str, login: str, action: str, kind: str, obj: dict, details: dict,
              **kwargs: Any) -> None:
        self.notifier.emit(org, login, action, kind, obj, details, **kwargs)

    # ---- life cycle
    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        handler = type("Handler", (_Handler,), {"hive": self})
        server = _QuietServer(("127.0.0.1", self._port), handler)
        server.daemon_threads = True
        self._port = server.server_address[1]
        self._server = server
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self) -> None:
        """Stop the server and the notification thread."""
        self.stop()
        self.notifier.stop()

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
        for obs in observables:
            org.obs_parent[obs["_id"]] = alert_id
        self._emit(org_name, login, "create", "Alert", alert, alert, root_id=alert_id)
        for obs in observables:  # R5.1 (RN 5.1.0): one notification per observable
            self._emit(org_name, login, "create", "Observable", obs, obs, root_id=alert_id,
                       context=alert, main=False)
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
                sha = hashlib.sha256(payload).hexdigest()
                self.blobs[sha] = payload
                out.append(
                    dict(
                        base,
                        _id=self._next_id(),
                        attachment={
                            "id": sha,
                            "name": filename or k,
                            "contentType": "application/octet-stream",
                            "size": len(payload),
                            "hashes": [hashlib.sha256(payload).hexdigest(),
                                       hashlib.sha1(payload).hexdigest(),  # noqa: S324 - TheHive's
                                       hashlib.md5(payload).hexdigest()],  # noqa: S324
                        },
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
        self, org_name: str, alert_id: str, login: str, obs: Any, parts: dict[str, tuple[str, bytes]]
    ) -> tuple[int, Any]:
        org = self.orgs[org_name]
        alert = self._find_alert(org, alert_id)
        errors = validate_observable(obs)
        if errors:
            raise ApiError(
                400, "AttributeCheckingError", f"{len(errors)} attribute error(s)", errors=errors
            )
        success, failure = [], []
        for created in self._build_observables(obs, login, int(time.time() * 1000), parts):
            if self._store_observable(org_name, org, login, alert, created) is None:
                failure.append(
                    {
                        "type": "CreateError",
                        "message": "Observable already exists",
                        "object": {"data": created["data"]},
                    }
                )
            else:
                success.append(created)
        return (207, {"success": success, "failure": failure}) if failure else (201, success)


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
    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        binary = isinstance(body, bytes)  # an attachment download
        raw = b"" if body is None else body if binary else json.dumps(body).encode()
        # Recorded before the answer leaves: a client that has its answer must find its request
        # here (recording after the write lost that race under load).
        self.hive.requests.append((self.command, self.path, status))
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/octet-stream" if binary else "application/json")
        if status == 503:
            self.send_header("Retry-After", "1")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
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
        self.hive.received.append((method, self.path))
        if self.server is not self.hive._server:  # "refused": kept-alive connections die too
            self._die()
            return
        set_request_id()
        if self.hive.latency:
            time.sleep(self.hive.latency)
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
        headers: dict[str, str] = {}
        try:
            answer = self._route(method, urlsplit(self.path).path, raw)
            status, body = answer[0], answer[1]
            headers = answer[2] if len(answer) > 2 else {}  # type: ignore[misc]
        except ApiError as exc:
            status, body = exc.status, exc.body
        if outage and outage[0] == "accept_then_die":
            self._die()
            return
        self._send(status, body, headers)

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
                result, headers = hive.query(org, body)
                return 200, result, headers
            answer = self._route_alert(method, path, body, parts, user, org_name, org)
            if answer is None:
                answer = self._route_case(method, path, body, parts, user, org_name, org)
            if answer is not None:
                return answer
        raise ApiError(404, "NotFound", f"No route for {method} {path}")

    def _route_alert(self, method: str, path: str, body: Any, parts: dict, user: User,
                     org_name: str, org: Org) -> tuple[int, Any] | None:
        hive, login = self.hive, user.login
        if path == "/api/v1/alert/merge/_bulk" and method == "POST":
            return 200, hive.bulk_merge(org_name, login, body)
        m = re.fullmatch(r"/api/v1/alert/([^/]+)/merge/([^/]+)", path)
        if m and method == "POST":
            return 200, hive.merge_alert(org_name, login, unquote(m.group(1)), unquote(m.group(2)))
        m = re.fullmatch(r"/api/v1/alert/([^/]+)(?:/(observable|case))?", path)
        if not m:
            return None
        alert_id, sub = unquote(m.group(1)), m.group(2)
        if sub == "observable" and method == "POST":
            return hive.add_observables(org_name, alert_id, login, body, parts)
        if sub == "case" and method == "POST":
            return 201, hive.promote_alert(org_name, login, alert_id, body)
        if sub is None and method == "GET":
            return 200, dict(hive._find_alert(org, alert_id))
        if sub is None and method == "PATCH":
            alert = hive._find_alert(org, alert_id)
            if not isinstance(body, dict):
                raise ApiError(400, "BadRequest", "Invalid update")
            body = {k: v for k, v in body.items() if k not in ("stage", "caseId")}  # not inputs
            if "status" in body:
                hive.update_alert_status(login, alert, body)
            before = dict(alert)
            tags = [
                t
                for t in alert.get("tags", []) + body.pop("addTags", [])
                if t not in body.pop("removeTags", [])
            ]
            alert.update(
                body,
                tags=body.get("tags", list(dict.fromkeys(tags))),
                _updatedAt=int(time.time() * 1000),
                _updatedBy=login,
            )
            details = {k: v for k, v in alert.items() if before.get(k) != v and k[0] != "_"}
            hive._emit(org_name, login, "update", "Alert", alert, details, root_id=alert["_id"])
            return 204, None
        if sub is None and method == "DELETE":
            alert = hive._find_alert(org, alert_id)
            del org.alerts[alert["_id"]]
            org.names.pop((alert["type"], alert["source"], alert["sourceRef"]), None)
            for obs in org.observables.pop(alert["_id"], []):
                org.obs_parent.pop(obs["_id"], None)
            hive._emit(org_name, login, "delete", "Alert", alert, {}, root_id=alert["_id"])
            return 204, None
        return None

    def _route_case(self, method: str, path: str, body: Any, parts: dict, user: User,
                    org_name: str, org: Org) -> tuple[int, Any] | None:
        hive, login = self.hive, user.login
        if path == "/api/v1/case" and method == "POST":
            return 201, hive._case_out(hive.create_case(org_name, login, body))
        if path == "/api/v1/caseTemplate" and method == "POST":
            return 201, hive.create_template(org, login, body)
        m = re.fullmatch(r"/api/v1/case/([^/]+)/alert/([^/]+)", path)
        if m and method == "DELETE":
            hive.unlink_alert(org_name, login, unquote(m.group(1)), unquote(m.group(2)))
            return 204, None
        m = re.fullmatch(r"/api/v1/case/([^/]+)(?:/(task|observable))?", path)
        if m:
            ref, sub = unquote(m.group(1)), m.group(2)
            if sub == "task" and method == "POST":
                return 201, hive.create_task(org_name, login, ref, body)
            if sub == "observable" and method == "POST":
                return hive.add_case_observables(org_name, login, ref, body, parts)
            if sub is None and method == "GET":
                return 200, hive._case_out(hive._find_case(org, ref))
            if sub is None and method == "PATCH":
                hive.update_case(org_name, login, ref, body)
                return 204, None
            if sub is None and method == "DELETE":
                hive.delete_case(org_name, login, ref)
                return 204, None
            return None
        m = re.fullmatch(r"/api/v1/task/([^/]+)(?:/(log))?", path)
        if m:
            ref, sub = unquote(m.group(1)), m.group(2)
            if sub == "log" and method == "POST":
                files = [v for k, v in parts.items() if k.split("#")[0] == "attachments"]
                return 201, hive.create_log(org_name, login, ref, body, files)
            if sub is None and method == "GET":
                return 200, dict(hive._find_task(org, ref))
            if sub is None and method == "PATCH":
                hive.update_task(org_name, login, ref, body)
                return 204, None
            if sub is None and method == "DELETE":
                hive.delete_task(org_name, login, ref)
                return 204, None
            return None
        m = re.fullmatch(r"/api/v1/log/([^/]+)", path)
        if m and method == "PATCH":
            hive.update_log(org_name, login, unquote(m.group(1)), body)
            return 204, None
        m = re.fullmatch(r"/api/v1/observable/([^/]+)/attachment/([^/]+)/download", path)
        if m and method == "GET":  # the file of a file observable (thehive4py download_attachment)
            obs = hive._find_observable(org, unquote(m.group(1)))
            att = obs.get("attachment") or {}
            if att.get("id") != unquote(m.group(2)) or att["id"] not in hive.blobs:
                raise ApiError(404, "NotFoundError", f"Attachment {m.group(2)} not found")
            return 200, hive.blobs[att["id"]]
        m = re.fullmatch(r"/api/v1/observable/([^/]+)", path)
        if m and method == "GET":
            return 200, dict(hive._find_observable(org, unquote(m.group(1))))
        if m and method == "PATCH":
            hive.update_observable(org_name, login, unquote(m.group(1)), body)
            return 204, None
        m = re.fullmatch(r"/api/v1/caseTemplate/([^/]+)", path)
        if m:
            ref = unquote(m.group(1))
            if method == "GET":
                return 200, dict(hive._find_template(org, ref))
            if method == "PATCH":
                hive.update_template(org, login, ref, body)
                return 204, None
            if method == "DELETE":
                del org.templates[hive._find_template(org, ref)["_id"]]
                return 204, None
        return None


def _parse_multipart(ctype: str, raw: bytes) -> tuple[Any, dict[str, tuple[str, bytes]]]:
    """``_json`` may be a plain form field or a file part (thehive4py sends both, spec C.4).

    File parts are kept byte for byte, whatever their Content-Type (an ``.eml`` part is
    ``message/rfc822``, which a MIME parser would parse instead of keeping)."""
    boundary = email.message.Message()
    boundary["Content-Type"] = ctype
    mark = boundary.get_param("boundary")
    if not mark:
        raise ApiError(400, "BadRequest", "Missing multipart boundary")
    body: Any = None
    parts: dict[str, tuple[str, bytes]] = {}
    delimiter = b"--" + str(mark).encode()
    for chunk in raw.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break  # the closing delimiter
        head, _, payload = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        payload = payload.removesuffix(b"\r\n")
        headers = email.parser.BytesHeaderParser(policy=email.policy.HTTP).parsebytes(head + b"\r\n\r\n")
        name = headers.get_param("name", header="content-disposition")
        filename = headers.get_param("filename", header="content-disposition")
        if name == "_json":
            try:
                body = json.loads(payload)
            except ValueError:
                raise ApiError(400, "BadRequest", "Invalid JSON in _json part") from None
        elif name:
            key, n = str(name), 1
            while key in parts:  # repeated parts (task-log ``attachments``): name, name#2, …
                n += 1
                key = f"{name}#{n}"
            parts[key] = (str(filename or ""), payload)
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
