"""An in-memory stand-in for TheHive + Cortex behind the engine's ``Services`` interface.

Only for the core's own tests (journal, resume, decisions, retries): the end-to-end tests run the
real adapter over HTTP against the emulators in tests/fakes/. Every effect is counted so a test
can prove it happened once; ``fail`` injects outages per method.
"""

from __future__ import annotations

import copy
import itertools
from collections import Counter
from typing import Any

from socflow.errors import ProviderError, UnavailableError


class MemoryHive:
    def __init__(self, alert: dict[str, Any], observables: list[dict[str, Any]],
                 reports: dict[tuple[str, str], list[dict[str, Any]]] | None = None) -> None:
        self.ids = (f"~{n}" for n in itertools.count(100))
        self.alerts = {alert["_id"]: copy.deepcopy(alert)}  # tags added here stay here
        self.cases: dict[str, dict[str, Any]] = {}
        self.obs = {alert["_id"]: [dict(o, _id=next(self.ids)) for o in observables]}
        self.reports = reports or {}  # (analyzer, value) -> taxonomies
        self.tasks: dict[str, dict[str, Any]] = {}
        self.logs: dict[str, list[dict[str, Any]]] = {}
        self.jobs: list[dict[str, Any]] = []
        self.calls: Counter[str] = Counter()
        self.fail: dict[str, list[Exception]] = {}
        self.crash_after: dict[str, int] = {}  # method -> "die" (KeyboardInterrupt) after call N
        self.lost_answer: dict[str, int] = {}  # method -> the effect of call N lands, its answer is lost

    def _hit(self, name: str) -> None:
        self.calls[name] += 1
        queue = self.fail.get(name)
        if queue:
            raise queue.pop(0)

    def _after(self, name: str) -> None:
        if self.crash_after.get(name) == self.calls[name]:
            raise KeyboardInterrupt(f"crash after {name}")
        if self.lost_answer.get(name) == self.calls[name]:
            raise UnavailableError(f"{name}: connection closed without an answer")

    def entity(self, kind: str, eid: str) -> dict[str, Any]:
        self._hit("entity")
        store = self.cases if kind == "case" else self.alerts
        if eid not in store:
            raise ProviderError(f"{kind} {eid} not found")
        return dict(store[eid])

    def observables(self, kind: str, eid: str) -> list[dict[str, Any]]:
        self._hit("observables")
        return [dict(o) for o in self.obs.get(eid, [])]

    def analyze(self, analyzer: str, obs: dict[str, Any], *, key: str, timeout: float) -> dict[str, Any]:
        self._hit("analyze")
        return {"job": next(self.ids), "status": "Success",
                "taxonomies": self.reports.get((analyzer, obs["data"]), [])}

    def responder_job(self, name: str, key: str) -> dict[str, Any] | None:
        self._hit("responder_job")
        for job in self.jobs:
            if job["message"] == key and job["responder"] == name:
                return {"job": job["id"], "status": "Success"}
        return None

    def run_responder(self, name: str, data_type: str, obj: dict[str, Any], *, key: str,
                      timeout: float) -> dict[str, Any]:
        self._hit("run_responder")
        job = {"id": next(self.ids), "responder": name, "message": key, "data": obj.get("data"),
               "dataType": data_type}
        self.jobs.append(job)
        self._after("run_responder")
        return {"job": job["id"], "status": "Success"}

    def linked_case(self, alert_id: str) -> str | None:
        self._hit("linked_case")
        return self.alerts[alert_id].get("caseId")

    def open_case_with_tag(self, tag: str) -> str | None:
        self._hit("open_case_with_tag")
        for cid, case in self.cases.items():
            if tag in case.get("tags", []) and case.get("stage") != "Closed":
                return cid
        return None

    def promote(self, alert_id: str, template: str | None) -> str:
        self._hit("promote")
        alert = self.alerts[alert_id]
        cid = next(self.ids)
        self.cases[cid] = {"_id": cid, "title": alert["title"], "tags": list(alert.get("tags", [])),
                           "severity": alert.get("severity", 2), "stage": "New",
                           "caseTemplate": template}
        self.obs[cid] = [dict(o, _id=next(self.ids)) for o in self.obs[alert_id]]
        alert["caseId"] = cid
        self._after("promote")
        return cid

    def merge(self, alert_id: str, case_id: str) -> str:
        self._hit("merge")
        self.alerts[alert_id]["caseId"] = case_id
        return case_id

    def update(self, kind: str, eid: str, fields: dict[str, Any]) -> None:
        self._hit("update")
        store = self.cases if kind == "case" else self.alerts
        entity = store[eid]
        fields = dict(fields)
        for t in fields.pop("addTags", []):
            if t not in entity.setdefault("tags", []):
                entity["tags"].append(t)
        for t in fields.pop("removeTags", []):
            if t in entity.get("tags", []):
                entity["tags"].remove(t)
        entity.update(fields)

    def find_task(self, case_id: str, title: str) -> dict[str, Any] | None:
        self._hit("find_task")
        for t in self.tasks.values():
            if t["case"] == case_id and t["title"].lower() == title.lower():
                return dict(t)
        return None

    def create_task(self, case_id: str, title: str, group: str) -> dict[str, Any]:
        self._hit("create_task")
        tid = next(self.ids)
        self.tasks[tid] = {"_id": tid, "case": case_id, "title": title, "group": group,
                           "status": "Waiting"}
        return dict(self.tasks[tid])

    def task_logs(self, task_id: str) -> list[dict[str, Any]]:
        self._hit("task_logs")
        return list(self.logs.get(task_id, []))

    def add_log(self, task_id: str, message: str) -> str:
        self._hit("add_log")
        lid = next(self.ids)
        self.logs.setdefault(task_id, []).append({"_id": lid, "message": message})
        self._after("add_log")
        return lid

    def update_task(self, task_id: str, fields: dict[str, Any]) -> None:
        self._hit("update_task")
        self.tasks[task_id].update(fields)

    def export(self, case_id: str, fmt: str, output: str | None, ioc_only: bool) -> dict[str, Any]:
        self._hit("export")
        return {"format": fmt, "output": output}


def down(n: int = 1) -> list[Exception]:
    return [UnavailableError("connection refused") for _ in range(n)]
