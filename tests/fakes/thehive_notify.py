"""Audit records and webhook notifications of the TheHive 5 emulator (``thehive-cortex-response.md``
R5.1, R8 item 11).

Every change the emulator makes is recorded as a TheHive 5 audit (``hive.audits``): ``{_id, _type:
"Audit", _createdBy, _createdAt, action (create|update|delete), mainAction, requestId, objectId,
objectType ("Alert","Case","Task","Log","Observable"), object (the entity after the change),
details (the changed fields), rootId, context (the parent entity), organisation: {organisationId,
organisation}}``. With :meth:`Notifier.configure` the matching audits are POSTed as JSON (the
webhook notifier, endpoint version 1) to a URL, once, in order, from one background thread; a
≥400 answer or a connection error is recorded in ``deliveries`` and not retried (TH4 behaviour).

Triggers (R5.1): ``AnyEvent`` (default) or any of ``AlertCreated, AlertClosed, AlertImported,
CaseCreated, CaseClosed, CaseFlagged, AlertObservableCreated, CaseObservableCreated,
ObservableCreated, TaskClosed, TaskMandatory, LogCreated`` — ``LogCreated`` is no TheHive trigger
name; it stands for a FilteredEvent on ``objectType == "Log"`` and ``action == "create"``.
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import queue
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

TRIGGERS = {
    "AnyEvent",
    "AlertCreated",
    "AlertClosed",
    "AlertImported",
    "CaseCreated",
    "CaseClosed",
    "CaseFlagged",
    "AlertObservableCreated",
    "CaseObservableCreated",
    "ObservableCreated",
    "TaskClosed",
    "TaskMandatory",
    "LogCreated",
}
_ctx = threading.local()


def set_request_id() -> None:
    """One ``requestId`` per HTTP request, shared by every audit it causes."""
    _ctx.request_id = uuid.uuid4().hex[:16]


def triggers_of(audit: dict[str, Any]) -> set[str]:
    """The named triggers an audit fires (plus AnyEvent)."""
    names = {"AnyEvent"}
    action, kind, details = audit["action"], audit["objectType"], audit["details"]
    obj = audit["object"]
    if kind == "Alert" and action == "create":
        names.add("AlertCreated")
    if kind == "Alert" and action == "update" and details.get("stage") == "Imported":
        names.add("AlertImported")
    if kind == "Alert" and action == "update" and details.get("stage") == "Closed":
        names.add("AlertClosed")
    if kind == "Case" and action == "create":
        names.add("CaseCreated")
    if kind == "Case" and action == "update" and details.get("stage") == "Closed":
        names.add("CaseClosed")
    if kind == "Case" and action == "update" and details.get("flag") is True:
        names.add("CaseFlagged")
    if kind == "Observable" and action == "create":
        names.add("ObservableCreated")
        parent = (audit.get("context") or {}).get("_type")
        names.add("AlertObservableCreated" if parent == "Alert" else "CaseObservableCreated")
    if kind == "Task" and details.get("status") in ("Completed", "Cancel"):
        names.add("TaskClosed")
    if kind == "Task" and details.get("mandatory") is True and obj.get("mandatory"):
        names.add("TaskMandatory")
    if kind == "Log" and action == "create":
        names.add("LogCreated")
    return names


@dataclass
class Delivery:
    audit: dict[str, Any]
    status: int | None  # None: connection error
    error: str = ""
    headers: dict[str, str] = field(default_factory=dict)


class Notifier:
    def __init__(self) -> None:
        self.audits: list[dict[str, Any]] = []
        self.deliveries: list[Delivery] = []
        self.url: str | None = None
        self.triggers: set[str] = {"AnyEvent"}
        self.auth: tuple[str, Any] | None = None
        self.timeout = 5.0
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._pending = 0
        self._cond = threading.Condition()
        self._ids = itertools.count(1)
        self._thread: threading.Thread | None = None

    def configure(
        self,
        url: str,
        *,
        triggers: set[str] | list[str] | None = None,
        auth: tuple[str, Any] | None = None,
        timeout: float = 5.0,
    ) -> None:
        """``auth``: ``("bearer", key)`` → ``Authorization: Bearer key``; ``("key", k)`` → raw
        ``Authorization: k``; ``("basic", (user, password))``. Loopback URLs only."""
        host = urlsplit(url).hostname or ""
        if not (host.startswith("127.") or host in ("::1", "localhost")):
            raise ValueError(f"the emulator only notifies loopback addresses, not {host!r}")
        unknown = set(triggers or ()) - TRIGGERS
        if unknown:
            raise ValueError(f"unknown trigger(s) {sorted(unknown)}")
        self.url, self.auth, self.timeout = url, auth, timeout
        self.triggers = set(triggers or {"AnyEvent"})
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()

    def emit(
        self,
        org: str,
        login: str,
        action: str,
        kind: str,
        obj: dict[str, Any],
        details: dict[str, Any],
        *,
        root_id: str | None,
        context: dict[str, Any] | None = None,
        main: bool = True,
    ) -> None:
        audit = {
            "_id": f"~a{next(self._ids)}",
            "_type": "Audit",
            "_createdBy": login,
            "_createdAt": int(time.time() * 1000),
            "action": action,
            "mainAction": main,
            "requestId": getattr(_ctx, "request_id", "") or uuid.uuid4().hex[:16],
            "objectId": obj.get("_id"),
            "objectType": kind,
            "object": copy.deepcopy(obj),
            "details": copy.deepcopy({k: v for k, v in details.items() if not k.startswith("_")}),
            "rootId": root_id,
            "organisation": {"organisationId": f"~org-{org}", "organisation": org},
        }
        if context is not None:
            audit["context"] = copy.deepcopy(context)
        self.audits.append(audit)
        if self.url and triggers_of(audit) & self.triggers:
            with self._cond:
                self._pending += 1
            self._queue.put(audit)

    def wait(self, timeout: float = 5.0) -> bool:
        """Block until every queued notification was sent (or failed); False on timeout."""
        end = time.monotonic() + timeout
        with self._cond:
            while self._pending:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while True:
            audit = self._queue.get()
            if audit is None:
                return
            try:
                self._post(audit)
            finally:
                with self._cond:
                    self._pending -= 1
                    self._cond.notify_all()

    def _post(self, audit: dict[str, Any]) -> None:
        headers = {"Content-Type": "application/json", "User-Agent": "TheHive-emulator"}
        if self.auth:
            kind, value = self.auth
            if kind == "bearer":
                headers["Authorization"] = f"Bearer {value}"
            elif kind == "key":
                headers["Authorization"] = str(value)
            elif kind == "basic":
                token = base64.b64encode(f"{value[0]}:{value[1]}".encode()).decode()
                headers["Authorization"] = f"Basic {token}"
        req = urllib.request.Request(
            str(self.url), data=json.dumps(audit).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 (loopback)
                self.deliveries.append(Delivery(audit, resp.status, headers=headers))
        except urllib.error.HTTPError as exc:
            self.deliveries.append(Delivery(audit, exc.code, str(exc), headers))
        except OSError as exc:
            self.deliveries.append(Delivery(audit, None, str(exc), headers))
