"""Cases, case templates, tasks, task logs, case observables, alert promotion/merge and the query API
of the TheHive 5 emulator (``thehive-cortex-response.md`` R1–R3, R8 items 1–8).

The store methods here are mixed into :class:`fakes.thehive.FakeTheHive`; they run with the
emulator's lock held, raise :class:`ApiError` with TheHive's ``{type, message}`` bodies and call
``self._emit`` (``fakes.thehive_notify``) for every change a TheHive audit would record.
"""

from __future__ import annotations

import copy
import time
from typing import TYPE_CHECKING, Any

try:
    from .thehive_rules import (
        _MIB,
        PAP_LABELS,
        SEVERITY_LABELS,
        TLP_LABELS,
        ApiError,
        _enum,
        _string,
        _tags,
        matches,
        validate_observable,
    )
except ImportError:  # run as a script
    from thehive_rules import (  # type: ignore[no-redef]
        _MIB,
        PAP_LABELS,
        SEVERITY_LABELS,
        TLP_LABELS,
        ApiError,
        _enum,
        _string,
        _tags,
        matches,
        validate_observable,
    )

if TYPE_CHECKING:
    from .thehive import Org

# R1.2 / R8.1: the default case statuses and the stage each belongs to
CASE_STATUSES = {
    "New": "New",
    "InProgress": "InProgress",
    "Indeterminate": "Closed",
    "FalsePositive": "Closed",
    "TruePositive": "Closed",
    "Other": "Closed",
    "Duplicated": "Closed",
}
IMPACT_STATUSES = ("NotApplicable", "WithImpact", "NoImpact")
# R1.4: alert stages are New/InProgress/Closed/Imported; `Imported` is set by promote/merge only.
# The stored closing values are not public (docs name "False Positive", "Duplicate", "Ignored"
# in the UI; StrangeBee's notifier example writes "Ignored"): the emulator seeds these.
ALERT_STATUSES = {
    "New": "New",
    "InProgress": "InProgress",
    "Imported": "Imported",
    "FalsePositive": "Closed",
    "Duplicated": "Closed",
    "Ignored": "Closed",
    "Other": "Closed",
}
TASK_STATUSES = ("Waiting", "InProgress", "Completed", "Cancel")
BULK_MERGE_LIMIT = 50  # RN 5.5.6 alert.maxMergeInCase


def _now() -> int:
    return int(time.time() * 1000)


def _attr_error(errors: list[dict[str, Any]]) -> ApiError:
    return ApiError(400, "AttributeCheckingError", f"{len(errors)} attribute error(s)", errors=errors)


def _bool(errors: list, body: dict, name: str) -> None:
    if name in body and not isinstance(body[name], bool):
        errors.append({"type": "InvalidFormatAttributeError", "name": name, "format": "boolean"})


def _int(errors: list, body: dict, name: str) -> None:
    if name in body and type(body[name]) is not int:
        errors.append({"type": "InvalidFormatAttributeError", "name": name, "format": "int64"})


def validate_task(body: Any, *, create: bool, where: str = "task") -> list[dict[str, Any]]:
    """InputCreateTask / InputUpdateTask (R2.1): title 1–128, group 1–64, status 1–16, …"""
    if not isinstance(body, dict):
        return [{"type": "InvalidFormatAttributeError", "name": where, "format": "object"}]
    errors: list[dict[str, Any]] = []
    _string(errors, body, "title", 1, 128, required=create)
    _string(errors, body, "group", 1, 64)
    _string(errors, body, "description", 0, _MIB)
    _string(errors, body, "status", 1, 16)
    _string(errors, body, "assignee", 1, 128)
    for flag in ("flag", "mandatory"):
        _bool(errors, body, flag)
    for num in ("order", "startDate", "endDate", "dueDate"):
        _int(errors, body, num)
    for e in errors:
        e["name"] = f"{where}.{e['name']}" if where != "task" else e["name"]
    return errors


def validate_case(body: Any, *, create: bool, promote: bool = False) -> list[dict[str, Any]]:
    """InputCreateCase / InputUpdateCase / InputCreateCaseFromAlert (R1.1)."""
    if not isinstance(body, dict):
        return [{"type": "InvalidFormatAttributeError", "name": "case", "format": "object"}]
    errors: list[dict[str, Any]] = []
    required = create and not promote
    _string(errors, body, "title", 1, 512, required=required)
    _string(errors, body, "description", 0, _MIB, required=required)
    _string(errors, body, "status", 1, 64)
    _string(errors, body, "summary", 0, _MIB)
    _string(errors, body, "assignee", 1, 128)
    _enum(errors, body, "severity", range(1, 5))
    _enum(errors, body, "tlp", range(5))
    _enum(errors, body, "pap", range(4))
    _bool(errors, body, "flag")
    for num in ("startDate", "endDate"):
        _int(errors, body, num)
    _tags(errors, body, "tags")
    if create:
        _string(errors, body, "caseTemplate", 1, 128)
        tasks = body.get("tasks", [])
        if not isinstance(tasks, list):
            errors.append({"type": "InvalidFormatAttributeError", "name": "tasks", "format": "array"})
        else:
            for i, t in enumerate(tasks):
                errors.extend(validate_task(t, create=True, where=f"tasks[{i}]"))
    else:
        _string(errors, body, "impactStatus", 1, 128)
        _tags(errors, body, "addTags")
        _tags(errors, body, "removeTags")
    return errors


class CaseStore:
    """Mixed into FakeTheHive. Every method expects ``self.lock`` to be held."""

    orgs: dict[str, Org]
    observable_types: dict[str, bool]
    logins: set[str]

    # ------------------------------------------------------------------ look-ups
    def _find_case(self, org: Org, id_or_number: Any) -> dict[str, Any]:
        key = str(id_or_number)
        if key in org.cases:
            return org.cases[key]
        if key.lstrip("#").isdigit() and int(key.lstrip("#")) in org.case_numbers:
            return org.cases[org.case_numbers[int(key.lstrip("#"))]]
        raise ApiError(404, "NotFoundError", f"Case {key} not found")

    def _find_task(self, org: Org, task_id: str) -> dict[str, Any]:
        if task_id in org.tasks:
            return org.tasks[task_id]
        raise ApiError(404, "NotFoundError", f"Task {task_id} not found")

    def _find_log(self, org: Org, log_id: str) -> dict[str, Any]:
        if log_id in org.logs:
            return org.logs[log_id]
        raise ApiError(404, "NotFoundError", f"Log {log_id} not found")

    def _find_observable(self, org: Org, obs_id: str) -> dict[str, Any]:
        parent = org.obs_parent.get(obs_id)
        if parent is not None:
            for o in org.observables.get(parent, []):
                if o["_id"] == obs_id:
                    return o
        raise ApiError(404, "NotFoundError", f"Observable {obs_id} not found")

    def _find_template(self, org: Org, name_or_id: str) -> dict[str, Any]:
        if name_or_id in org.templates:
            return org.templates[name_or_id]
        for t in org.templates.values():
            if t["name"] == name_or_id:
                return t
        raise ApiError(404, "NotFoundError", f"CaseTemplate {name_or_id} not found")

    def _check_assignee(self, login: Any) -> None:
        if login is not None and login not in self.logins:
            raise ApiError(404, "NotFoundError", f"User {login} not found")

    def _case_out(self, case: dict[str, Any]) -> dict[str, Any]:
        return copy.deepcopy(case)

    # ------------------------------------------------------------------ case templates (R2.3)
    def create_template(self, org: Org, login: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise _attr_error([{"type": "InvalidFormatAttributeError", "name": "caseTemplate", "format": "object"}])
        errors: list[dict[str, Any]] = []
        _string(errors, body, "name", 1, 128, required=True)
        _string(errors, body, "displayName", 1, 128)
        _string(errors, body, "titlePrefix", 0, 64)
        _string(errors, body, "description", 0, _MIB)
        _enum(errors, body, "severity", range(1, 5))
        _enum(errors, body, "tlp", range(5))
        _enum(errors, body, "pap", range(4))
        _tags(errors, body, "tags")
        tasks = body.get("tasks", [])
        if not isinstance(tasks, list):
            errors.append({"type": "InvalidFormatAttributeError", "name": "tasks", "format": "array"})
        else:
            for i, t in enumerate(tasks):
                errors.extend(validate_task(t, create=True, where=f"tasks[{i}]"))
        if errors:
            raise _attr_error(errors)
        if any(t["name"] == body["name"] for t in org.templates.values()):
            raise ApiError(400, "CreateError", f"CaseTemplate {body['name']} already exists")
        tid = self._next_id()
        tpl = {
            "_id": tid,
            "_type": "CaseTemplate",
            "_createdBy": login,
            "_createdAt": _now(),
            "name": body["name"],
            "displayName": body.get("displayName", body["name"]),
            "titlePrefix": body.get("titlePrefix"),
            "description": body.get("description"),
            "severity": body.get("severity"),
            "tags": list(body.get("tags", [])),
            "flag": body.get("flag", False),
            "tlp": body.get("tlp"),
            "pap": body.get("pap"),
            "summary": body.get("summary"),
            "tasks": [self._task_defaults(dict(t)) for t in tasks],
            "customFields": body.get("customFields", []),
            "extraData": {},
        }
        org.templates[tid] = {k: v for k, v in tpl.items() if v is not None}
        return copy.deepcopy(org.templates[tid])

    def update_template(self, org: Org, login: str, name_or_id: str, body: Any) -> None:
        tpl = self._find_template(org, name_or_id)
        if not isinstance(body, dict):
            raise _attr_error([{"type": "InvalidFormatAttributeError", "name": "caseTemplate", "format": "object"}])
        errors: list[dict[str, Any]] = []
        _string(errors, body, "displayName", 1, 64)  # R2.3: PATCH limits displayName to 64
        _string(errors, body, "titlePrefix", 0, 64)
        _enum(errors, body, "severity", range(1, 5))
        _enum(errors, body, "tlp", range(5))
        _enum(errors, body, "pap", range(4))
        _tags(errors, body, "tags")
        if errors:
            raise _attr_error(errors)
        if "tasks" in body:
            body = dict(body, tasks=[self._task_defaults(dict(t)) for t in body["tasks"]])
        tpl.update(body, _updatedAt=_now(), _updatedBy=login)

    # ------------------------------------------------------------------ cases (R1.1–R1.3)
    @staticmethod
    def _task_defaults(task: dict[str, Any]) -> dict[str, Any]:
        task.setdefault("status", "Waiting")
        task.setdefault("order", 0)
        task.setdefault("group", "default")
        task.setdefault("flag", False)
        task.setdefault("mandatory", False)
        for k in ("_id", "_type", "_createdAt", "_createdBy", "extraData"):  # export-only keys
            task.pop(k, None)
        return task

    def create_case(
        self,
        org_name: str,
        login: str,
        body: Any,
        *,
        from_alert: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        errors = validate_case(body, create=True, promote=from_alert is not None)
        if errors:
            raise _attr_error(errors)
        org = self.orgs[org_name]
        body = dict(body)
        template_ref = body.get("caseTemplate") or (from_alert or {}).get("caseTemplate")
        tpl = self._find_template(org, template_ref) if template_ref else {}
        status = body.get("status", "New")
        if status not in CASE_STATUSES:
            raise ApiError(400, "BadRequest", f"Case status {status} not found")
        self._check_assignee(body.get("assignee"))
        base: dict[str, Any] = {}
        if from_alert is not None:  # R1.3: alert values, then the promote body overrides them
            for k in ("title", "description", "severity", "tlp", "pap", "flag", "summary"):
                if k in from_alert:
                    base[k] = from_alert[k]
            base["tags"] = list(from_alert.get("tags", []))
            base["customFields"] = copy.deepcopy(from_alert.get("customFields", []))
        base.update({k: v for k, v in body.items() if k not in ("tasks", "caseTemplate")})

        def pick(name: str, default: Any) -> Any:
            if name in base:
                return base[name]
            return tpl.get(name, default)

        title = base["title"]
        prefix = (tpl.get("titlePrefix") or "").rstrip()
        if prefix:
            title = f"{prefix} {title}"
        tags = list(dict.fromkeys(list(tpl.get("tags", [])) + list(base.get("tags", []))))
        now = _now()
        org.next_number += 1
        case_id = self._next_id()
        severity, tlp, pap = pick("severity", 2), pick("tlp", 2), pick("pap", 2)
        stage = CASE_STATUSES[status]
        case: dict[str, Any] = {
            "_id": case_id,
            "_type": "Case",
            "_createdBy": login,
            "_createdAt": now,
            "number": org.next_number,
            "title": title,
            "description": base.get("description", tpl.get("description", "")),
            "severity": severity,
            "severityLabel": SEVERITY_LABELS[severity],
            "startDate": base.get("startDate", now),
            "flag": pick("flag", False),
            "tlp": tlp,
            "tlpLabel": TLP_LABELS[tlp],
            "pap": pap,
            "papLabel": PAP_LABELS[pap],
            "status": status,
            "stage": stage,
            "access": {"_kind": "OrganisationAccessKind"},
            "extraData": {},
            "newDate": now,
            "timeToDetect": 0,
            "tags": tags,
            "customFields": copy.deepcopy(base.get("customFields", tpl.get("customFields", []))),
            "assignee": base.get("assignee", login),  # R1.3: the caller when none is given
            "impactStatus": "NotApplicable",
        }
        if pick("summary", None) is not None:
            case["summary"] = pick("summary", None)
        if tpl:
            case["caseTemplate"] = tpl["name"]
        org.cases[case_id] = case
        org.case_numbers[case["number"]] = case_id
        org.observables[case_id] = []
        self._emit(org_name, login, "create", "Case", case, case, root_id=case_id)
        for t in list(tpl.get("tasks", [])) + list(body.get("tasks", [])):
            self.create_task(org_name, login, case_id, dict(t), main=False)
        return case

    def update_case(self, org_name: str, login: str, case_ref: str, body: Any) -> None:
        org = self.orgs[org_name]
        case = self._find_case(org, case_ref)
        errors = validate_case(body, create=False)
        if errors:
            raise _attr_error(errors)
        body = {k: v for k, v in body.items() if k not in ("caseTemplate", "resolutionStatus")}
        before = copy.deepcopy(case)
        if "status" in body:
            status = body["status"]
            if status not in CASE_STATUSES:
                raise ApiError(400, "BadRequest", f"Case status {status} not found")
            new_stage, old_stage = CASE_STATUSES[status], case["stage"]
            if old_stage == "Closed" and new_stage != "Closed":
                if "manageCase/reopen" not in self._permissions(login):
                    raise ApiError(403, "AuthorizationError", "You are not allowed to reopen the case")
            if new_stage == "Closed" and old_stage != "Closed":
                self._close_case(org, login, case, body)
        if "impactStatus" in body and body["impactStatus"] not in IMPACT_STATUSES:
            raise ApiError(400, "BadRequest", f"Impact status {body['impactStatus']} not found")
        self._check_assignee(body.get("assignee"))
        tags = list(case.get("tags", []))
        tags = list(body.get("tags", tags))
        tags = [t for t in dict.fromkeys(tags + list(body.get("addTags", []))) if t not in body.get("removeTags", [])]
        fields = {k: v for k, v in body.items() if k not in ("addTags", "removeTags", "tags")}
        case.update(fields, tags=tags, _updatedAt=_now(), _updatedBy=login)
        for k, labels in (("severity", SEVERITY_LABELS), ("tlp", TLP_LABELS), ("pap", PAP_LABELS)):
            case[f"{k}Label"] = labels[case[k]]
        if "status" in body:
            case["stage"] = CASE_STATUSES[case["status"]]
            if case["stage"] == "InProgress":
                case.setdefault("inProgressDate", _now())
            if case["stage"] != "Closed":
                case.pop("endDate", None)
                case.pop("closedDate", None)
        details = {k: v for k, v in case.items() if before.get(k) != v and not k.startswith("_")}
        self._emit(org_name, login, "update", "Case", case, details, root_id=case["_id"])

    def _close_case(self, org: Org, login: str, case: dict[str, Any], body: dict[str, Any]) -> None:
        """R1.2 / R8.3: no close while a mandatory task is open; open tasks then end."""
        tasks = [t for tid, t in org.tasks.items() if org.task_case[tid] == case["_id"]]
        open_mandatory = [
            t["title"] for t in tasks if t.get("mandatory") and t["status"] in ("Waiting", "InProgress")
        ]
        if open_mandatory:
            raise ApiError(
                400,
                "BadRequest",
                f"The case cannot be closed: mandatory task(s) not completed: {', '.join(open_mandatory)}",
            )
        now = _now()
        for t in tasks:
            if t["status"] == "InProgress":
                t.update(status="Completed", endDate=now)
            elif t["status"] == "Waiting":
                t.update(status="Cancel")
        body.setdefault("endDate", now)
        case["closedDate"] = now

    def delete_case(self, org_name: str, login: str, case_ref: str) -> None:
        org = self.orgs[org_name]
        case = self._find_case(org, case_ref)
        del org.cases[case["_id"]]
        org.case_numbers.pop(case["number"], None)
        for oid in [o["_id"] for o in org.observables.pop(case["_id"], [])]:
            org.obs_parent.pop(oid, None)
        for tid in [tid for tid, cid in org.task_case.items() if cid == case["_id"]]:
            del org.tasks[tid], org.task_case[tid]
            for lid in [lid for lid, t in org.log_task.items() if t == tid]:
                del org.logs[lid], org.log_task[lid]
        for alert in org.alerts.values():
            if alert.get("caseId") == case["_id"]:
                alert.pop("caseId")
        self._emit(org_name, login, "delete", "Case", case, {}, root_id=case["_id"])

    # ------------------------------------------------------------------ tasks (R2.1)
    def create_task(
        self, org_name: str, login: str, case_ref: str, body: Any, *, main: bool = True
    ) -> dict[str, Any]:
        org = self.orgs[org_name]
        case = self._find_case(org, case_ref)
        errors = validate_task(body, create=True)
        if errors:
            raise _attr_error(errors)
        body = self._task_defaults(dict(body))
        if body["status"] not in TASK_STATUSES:
            raise ApiError(400, "BadRequest", f"Task status {body['status']} is invalid")
        self._check_assignee(body.get("assignee"))
        now = _now()
        task = {
            "_id": self._next_id(),
            "_type": "Task",
            "_createdBy": login,
            "_createdAt": now,
            "extraData": {},
            **{k: v for k, v in body.items() if v is not None},
        }
        if task["status"] == "InProgress":
            task.setdefault("startDate", now)
        org.tasks[task["_id"]] = task
        org.task_case[task["_id"]] = case["_id"]
        self._emit(
            org_name, login, "create", "Task", task, task, root_id=case["_id"], context=case, main=main
        )
        return copy.deepcopy(task)

    def update_task(self, org_name: str, login: str, task_id: str, body: Any) -> None:
        org = self.orgs[org_name]
        task = self._find_task(org, task_id)
        errors = validate_task(body, create=False)
        if errors:
            raise _attr_error(errors)
        self._set_task(org_name, org, login, task, dict(body))

    def _set_task(self, org_name: str, org: Org, login: str, task: dict, body: dict) -> None:
        before = copy.deepcopy(task)
        status = body.get("status")
        now = _now()
        if status is not None:
            if status not in TASK_STATUSES:
                raise ApiError(400, "BadRequest", f"Task status {status} is invalid")
            if status == "Completed" and task.get("mandatory") and not any(
                t == task["_id"] for t in org.log_task.values()
            ):
                raise ApiError(400, "BadRequest", "A mandatory task needs a log before it is completed")
            if status == "InProgress" and task["status"] != "InProgress":  # R2.1 side effects
                body.setdefault("startDate", task.get("startDate", now))
                if "assignee" not in task and "assignee" not in body:
                    body["assignee"] = login
            if status == "Completed":
                body.setdefault("endDate", now)
        self._check_assignee(body.get("assignee"))
        task.update(body, _updatedAt=now, _updatedBy=login)
        details = {k: v for k, v in task.items() if before.get(k) != v and not k.startswith("_")}
        case = org.cases.get(org.task_case[task["_id"]])
        self._emit(org_name, login, "update", "Task", task, details,
                   root_id=org.task_case[task["_id"]], context=case)

    def delete_task(self, org_name: str, login: str, task_id: str) -> None:
        org = self.orgs[org_name]
        task = self._find_task(org, task_id)
        case_id = org.task_case.pop(task_id)
        del org.tasks[task_id]
        for lid in [lid for lid, t in org.log_task.items() if t == task_id]:
            del org.logs[lid], org.log_task[lid]
        self._emit(org_name, login, "delete", "Task", task, {}, root_id=case_id)

    # ------------------------------------------------------------------ task logs (R2.2)
    def create_log(
        self, org_name: str, login: str, task_id: str, body: Any, files: list[tuple[str, bytes]]
    ) -> dict[str, Any]:
        org = self.orgs[org_name]
        task = self._find_task(org, task_id)
        if not isinstance(body, dict):
            raise _attr_error([{"type": "InvalidFormatAttributeError", "name": "log", "format": "object"}])
        errors: list[dict[str, Any]] = []
        _string(errors, body, "message", 1, _MIB, required=True)
        _int(errors, body, "startDate")
        _int(errors, body, "includeInTimeline")
        if errors:
            raise _attr_error(errors)
        now = _now()
        log: dict[str, Any] = {
            "_id": self._next_id(),
            "_type": "Log",
            "_createdBy": login,
            "_createdAt": now,
            "message": body["message"],
            "date": body.get("startDate", now),
            "owner": login,
            "extraData": {},
        }
        if "includeInTimeline" in body:
            log["includeInTimeline"] = body["includeInTimeline"]
        if files:
            log["attachments"] = [self._attachment(login, name, data) for name, data in files]
        org.logs[log["_id"]] = log
        org.log_task[log["_id"]] = task["_id"]
        case = org.cases.get(org.task_case[task["_id"]])
        self._emit(org_name, login, "create", "Log", log, log, root_id=case["_id"] if case else None,
                   context=task)
        if task["status"] == "Waiting":  # R2.1: the first log starts the task
            self._set_task(org_name, org, login, task, {"status": "InProgress"})
        return copy.deepcopy(log)

    def _attachment(self, login: str, name: str, data: bytes) -> dict[str, Any]:
        import hashlib

        sha = hashlib.sha256(data).hexdigest()
        return {
            "_id": self._next_id(),
            "_type": "Attachment",
            "_createdBy": login,
            "_createdAt": _now(),
            "name": name,
            "hashes": [sha, hashlib.sha1(data).hexdigest(), hashlib.md5(data).hexdigest()],
            "size": len(data),
            "contentType": "application/octet-stream",
            "id": sha,
            "path": f"/api/v1/attachment/{sha}",
            "extraData": {},
            "external": False,
        }

    def update_log(self, org_name: str, login: str, log_id: str, body: Any) -> None:
        org = self.orgs[org_name]
        log = self._find_log(org, log_id)
        if not isinstance(body, dict):
            raise _attr_error([{"type": "InvalidFormatAttributeError", "name": "log", "format": "object"}])
        errors: list[dict[str, Any]] = []
        _string(errors, body, "message", 1, _MIB)
        _int(errors, body, "includeInTimeline")
        if errors:
            raise _attr_error(errors)
        log.update({k: body[k] for k in ("message", "includeInTimeline") if k in body})
        log.update(_updatedAt=_now(), _updatedBy=login)

    # ------------------------------------------------------------------ case observables (R3.1)
    def add_case_observables(
        self, org_name: str, login: str, case_ref: str, obs: Any, parts: dict[str, tuple[str, bytes]]
    ) -> tuple[int, Any]:
        org = self.orgs[org_name]
        case = self._find_case(org, case_ref)
        errors = validate_observable(obs)
        if errors:
            raise _attr_error(errors)
        success, failure = [], []
        for created in self._build_observables(obs, login, _now(), parts):  # type: ignore[attr-defined]
            if self._store_observable(org_name, org, login, case, created) is None:
                failure.append({"type": "CreateError", "message": "Observable already exists",
                                "object": {"data": created.get("data")}})
            else:
                success.append(created)
        return (207, {"success": success, "failure": failure}) if failure else (201, success)

    def _store_observable(
        self, org_name: str, org: Org, login: str, parent: dict[str, Any], obs: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Append ``obs`` under ``parent``; a duplicate (dataType, data) returns None."""
        existing = org.observables.setdefault(parent["_id"], [])
        if obs.get("data") is not None and any(
            o["dataType"] == obs["dataType"] and o.get("data") == obs["data"] for o in existing
        ):
            return None
        existing.append(obs)
        org.obs_parent[obs["_id"]] = parent["_id"]
        if parent["_type"] == "Alert":
            parent["observableCount"] = len(existing)
        self._emit(org_name, login, "create", "Observable", obs, obs, root_id=parent["_id"],
                   context=parent, main=False)
        return obs

    def update_observable(self, org_name: str, login: str, obs_id: str, body: Any) -> None:
        org = self.orgs[org_name]
        obs = self._find_observable(org, obs_id)
        if not isinstance(body, dict):
            raise _attr_error([{"type": "InvalidFormatAttributeError", "name": "observable", "format": "object"}])
        errors: list[dict[str, Any]] = []
        _string(errors, body, "message", 0, _MIB)
        _enum(errors, body, "tlp", range(5))
        _enum(errors, body, "pap", range(4))
        _tags(errors, body, "tags")
        _tags(errors, body, "addTags")
        _tags(errors, body, "removeTags")
        for flag in ("ioc", "sighted", "ignoreSimilarity"):
            _bool(errors, body, flag)
        if errors:
            raise _attr_error(errors)
        tags = list(body.get("tags", obs.get("tags", [])))
        tags = [t for t in dict.fromkeys(tags + list(body.get("addTags", []))) if t not in body.get("removeTags", [])]
        allowed = ("dataType", "message", "tlp", "pap", "ioc", "sighted", "sightedAt", "ignoreSimilarity")
        obs.update({k: body[k] for k in allowed if k in body}, tags=tags, _updatedAt=_now(), _updatedBy=login)
        obs["tlpLabel"], obs["papLabel"] = TLP_LABELS[obs["tlp"]], PAP_LABELS[obs["pap"]]

    # ------------------------------------------------------------------ promote / merge (R1.3–R1.5)
    def promote_alert(self, org_name: str, login: str, alert_ref: str, body: Any) -> dict[str, Any]:
        org = self.orgs[org_name]
        alert = self._find_alert(org, alert_ref)  # type: ignore[attr-defined]
        if alert.get("caseId") in org.cases:  # R1.7: a repeated promote answers the linked case
            return self._case_out(org.cases[alert["caseId"]])
        case = self.create_case(org_name, login, body if body is not None else {}, from_alert=alert)
        self._copy_alert_into(org_name, org, login, alert, case)
        return self._case_out(case)

    def _copy_alert_into(self, org_name: str, org: Org, login: str, alert: dict, case: dict) -> None:
        for obs in org.observables.get(alert["_id"], []):
            twin = next((o for o in org.observables.get(case["_id"], [])
                         if o["dataType"] == obs["dataType"] and o.get("data") == obs.get("data")
                         and obs.get("data") is not None), None)
            if twin is not None:  # duplicate observable: tags merged
                twin["tags"] = list(dict.fromkeys(twin.get("tags", []) + obs.get("tags", [])))
                continue
            self._store_observable(org_name, org, login, case,
                                   dict(copy.deepcopy(obs), _id=self._next_id()))  # type: ignore[attr-defined]
        before = copy.deepcopy(alert)
        now = _now()
        alert.update(caseId=case["_id"], status="Imported", stage="Imported", importedDate=now,
                     _updatedAt=now, _updatedBy=login)
        alert["extraData"] = dict(alert.get("extraData", {}), importDate=now,
                                  relatedCase={"number": case["number"], "accessKind": "OrganisationAccessKind",
                                               "isVisible": True})
        details = {k: v for k, v in alert.items() if before.get(k) != v and not k.startswith("_")
                   and k != "extraData"}
        self._emit(org_name, login, "update", "Alert", alert, details, root_id=alert["_id"])

    def merge_alert(self, org_name: str, login: str, alert_ref: str, case_ref: str) -> dict[str, Any]:
        org = self.orgs[org_name]
        alert = self._find_alert(org, alert_ref)  # type: ignore[attr-defined]
        case = self._find_case(org, case_ref)
        if alert.get("caseId") is not None:
            raise ApiError(400, "BadRequest", "Alert is already imported")
        block = (f"\n  \n#### Merged with alert #{alert['sourceRef']} {alert['title']}\n\n"
                 f"{alert.get('description', '')}")
        before = copy.deepcopy(case)
        case["description"] = case.get("description", "") + block
        case["tags"] = list(dict.fromkeys(case.get("tags", []) + alert.get("tags", [])))
        case.update(_updatedAt=_now(), _updatedBy=login)
        details = {k: v for k, v in case.items() if before.get(k) != v and not k.startswith("_")}
        self._emit(org_name, login, "update", "Case", case, details, root_id=case["_id"])
        self._copy_alert_into(org_name, org, login, alert, case)
        return self._case_out(case)

    def bulk_merge(self, org_name: str, login: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or "caseId" not in body or not isinstance(body.get("alertIds"), list):
            raise _attr_error([{"type": "MissingAttributeError", "name": "caseId/alertIds",
                                "message": "Attribute caseId and alertIds are required"}])
        if len(body["alertIds"]) > BULK_MERGE_LIMIT:
            raise ApiError(400, "BadRequest",
                           f"Too many alerts to merge ({len(body['alertIds'])} > {BULK_MERGE_LIMIT})")
        org = self.orgs[org_name]
        case = self._find_case(org, body["caseId"])
        for a in body["alertIds"]:
            self._find_alert(org, str(a))  # type: ignore[attr-defined]  # all exist, or nothing changes
        for a in body["alertIds"]:
            self.merge_alert(org_name, login, str(a), case["_id"])
        return self._case_out(case)

    def unlink_alert(self, org_name: str, login: str, case_ref: str, alert_ref: str) -> None:
        org = self.orgs[org_name]
        case = self._find_case(org, case_ref)
        alert = self._find_alert(org, alert_ref)  # type: ignore[attr-defined]
        if alert.get("caseId") != case["_id"]:
            raise ApiError(404, "NotFoundError", f"Alert {alert_ref} is not linked to case {case_ref}")
        alert.pop("caseId")
        alert.update(status="New", stage="New", _updatedAt=_now(), _updatedBy=login)
        alert.get("extraData", {}).pop("relatedCase", None)
        self._emit(org_name, login, "update", "Alert", alert, {"status": "New", "stage": "New"},
                   root_id=alert["_id"])

    def update_alert_status(self, login: str, alert: dict[str, Any], body: dict[str, Any]) -> None:
        """R1.4 / R8.5: only known statuses, `Imported` never by hand, reopen needs its right."""
        status = body["status"]
        if status not in ALERT_STATUSES:
            raise ApiError(400, "BadRequest", f"Alert status {status} not found")
        new, old = ALERT_STATUSES[status], alert.get("stage", "New")
        if new == "Imported":
            raise ApiError(400, "BadRequest", "The status Imported cannot be set manually")
        if old == "Closed" and new in ("New", "InProgress") and "manageAlert/reopen" not in self._permissions(login):
            raise ApiError(403, "AuthorizationError", "You are not allowed to reopen the alert")
        if old == "InProgress" and new == "New":
            raise ApiError(400, "BadRequest", "An alert in progress cannot go back to New")
        now = _now()
        body["stage"] = new
        if new == "InProgress":
            body.setdefault("inProgressDate", now)
        if new == "Closed":
            body.setdefault("closedDate", now)

    # ------------------------------------------------------------------ query API (R1.6, D.5)
    def query(self, org: Org, body: Any) -> tuple[Any, dict[str, str]]:
        ops = body.get("query") if isinstance(body, dict) else None
        if not isinstance(ops, list) or not ops or not all(isinstance(o, dict) for o in ops):
            raise ApiError(400, "BadRequest", "Invalid query")
        first = ops[0]
        name = first.get("_name")
        ref = str(first.get("idOrName", ""))
        docs: list[dict[str, Any]]
        if name == "listAlert":
            docs = list(org.alerts.values())
        elif name == "getAlert":
            docs = [self._find_alert(org, ref)]  # type: ignore[attr-defined]
        elif name == "listCase":
            docs = list(org.cases.values())
        elif name == "getCase":
            docs = [self._find_case(org, ref)]
        elif name == "listTask":
            docs = list(org.tasks.values())
        elif name == "waitingTasks":
            docs = [t for t in org.tasks.values() if t["status"] == "Waiting"]
        elif name == "getTask":
            docs = [self._find_task(org, ref)]
        elif name == "listLog":
            docs = list(org.logs.values())
        elif name == "getLog":
            docs = [self._find_log(org, ref)]
        elif name == "listObservable":
            docs = [o for lst in org.observables.values() for o in lst]
        elif name == "getObservable":
            docs = [self._find_observable(org, ref)]
        elif name == "listCaseTemplate":
            docs = list(org.templates.values())
        elif name == "getCaseTemplate":
            docs = [self._find_template(org, ref)]
        elif name == "listAlertStatus":
            docs = [{"_type": "AlertStatus", "value": v, "stage": s} for v, s in ALERT_STATUSES.items()]
        elif name == "listCaseStatus":
            docs = [{"_type": "CaseStatus", "value": v, "stage": s} for v, s in CASE_STATUSES.items()]
        elif name == "listObservableType":
            docs = [{"_type": "ObservableType", "name": n, "isAttachment": a}
                    for n, a in self.observable_types.items()]
        else:
            raise ApiError(400, "BadRequest", f"Unknown query operation {name}")
        headers: dict[str, str] = {}
        for op in ops[1:]:
            opname = op.get("_name")
            if opname == "observables":
                docs = [o for d in docs for o in org.observables.get(d["_id"], [])
                        if d.get("_type") in ("Alert", "Case")]
            elif opname == "case":
                docs = [org.cases[d["caseId"]] for d in docs
                        if d.get("_type") == "Alert" and d.get("caseId") in org.cases]
            elif opname == "alerts":
                ids = {d["_id"] for d in docs if d.get("_type") == "Case"}
                docs = [a for a in org.alerts.values() if a.get("caseId") in ids]
            elif opname == "tasks":
                ids = {d["_id"] for d in docs if d.get("_type") == "Case"}
                docs = [t for tid, t in org.tasks.items() if org.task_case[tid] in ids]
            elif opname == "logs":
                ids = {d["_id"] for d in docs if d.get("_type") == "Task"}
                docs = [lg for lid, lg in org.logs.items() if org.log_task[lid] in ids]
            elif opname == "filter":
                flt = {k: v for k, v in op.items() if k != "_name"}
                docs = [d for d in docs if matches(d, flt)]
            elif opname == "sort":
                fields = op.get("_fields", [])
                if not isinstance(fields, list):
                    raise ApiError(400, "BadRequest", "Invalid sort")
                for spec in reversed(fields):
                    if not isinstance(spec, dict) or len(spec) != 1:
                        raise ApiError(400, "BadRequest", "Invalid sort")
                    ((fname, order),) = spec.items()
                    docs.sort(key=lambda d, f=fname: (d.get(f) is None, d.get(f) if d.get(f) is not None else 0),
                              reverse=order == "desc")
            elif opname == "page":
                if "total" in (op.get("extraData") or []):
                    headers["X-Total"] = str(len(docs))
                docs = docs[int(op.get("from", 0)) : int(op.get("to", len(docs)))]
            elif opname == "count":
                return len(docs), headers
            else:
                raise ApiError(400, "BadRequest", f"Unknown query operation {opname}")
        exclude = set(body.get("excludeFields") or [])
        return [{k: copy.deepcopy(v) for k, v in d.items() if k not in exclude} for d in docs], headers
