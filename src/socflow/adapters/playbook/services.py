"""TheHive 5 (thehive4py) and Cortex (its REST API) as the playbook engine's ``Services``.

Errors are translated once, here (fact sheet R1.7, R4.1, Part D.1): connection errors, timeouts,
408/425/429/502/503/504 and 500 → ``UnavailableError`` (the engine retries with back-off);
401/403 → ``AuthError``; other 4xx → ``ProviderError`` with the service's reason (the run fails).
Create calls are never retried at the HTTP level (``max_retries=0``, R1.7: a retried POST makes a
duplicate): the engine's journal and idempotency keys decide whether to try again.

Cortex is called directly (``/api/analyzer/type/{dataType}`` to find an analyzer by name,
``/api/analyzer/{id}/run``, ``/api/job/{id}/waitreport?atMost=…`` with a bounded wait). Each job
carries its idempotency key as its ``message``, so a responder submitted just before a crash is
found again (``POST /api/job/_search``) instead of run twice; responders are never served from
Cortex's cache (R4.1), which is why this matters.
"""

from __future__ import annotations

import json
import math
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from thehive4py import TheHiveApi
from thehive4py.errors import TheHiveError

from ... import refusal
from ...errors import AuthError, ConfigError, ProviderError, RefusedError, UnavailableError
from ..thehive.sender import TheHiveSettings, _TimeoutAdapter

_TRANSIENT = {408, 425, 429, 500, 502, 503, 504}
MAX_LIST = 500
MAX_NOTES = 50  # recipients kept from a responder's report
MAX_FILE = 64 << 20  # a file observable sent to an analyzer (mail messages, documents)


class CortexSettings:
    def __init__(self, url: str | None, key: str | None, *, timeout: float = 30.0,
                 verify: bool | str = True) -> None:
        self.url = (url or "").rstrip("/")
        self.key = key or ""
        self.timeout = timeout
        self.verify = verify


@dataclass(frozen=True)
class MispSettings:
    url: str | None = None
    key: str | None = None  # else SOCFLOW_MISP_KEY (read by socflow.adapters.misp)
    verify: bool | str = True
    allow_private: bool = False
    timeout: float = 30.0


def _translate(service: str, status: int | None, text: str) -> Exception:
    if status is None or status in _TRANSIENT:
        return UnavailableError(f"{service}: {text[:300]}", service=service)
    if status in (401, 403):
        return AuthError(f"{service} refused the credentials ({status})", service=service)
    return ProviderError(f"{service} answered {status}: {text[:300]}", service=service)


class TheHiveCortex:
    """The engine's ``Services`` over HTTP."""

    def __init__(self, thehive: TheHiveSettings, cortex: CortexSettings | None,
                 misp: MispSettings | None = None) -> None:
        if not thehive.url:
            raise ConfigError("no TheHive URL (use --thehive-url or SOCFLOW_THEHIVE_URL)")
        if not thehive.key():
            raise ConfigError("no TheHive API key (use --thehive-key or SOCFLOW_THEHIVE_KEY)")
        verify: bool | str = thehive.ca_bundle or thehive.verify
        self.hive = TheHiveApi(thehive.url, apikey=thehive.key(),
                               organisation=thehive.organisation, verify=verify, max_retries=0)
        adapter = _TimeoutAdapter(thehive.timeout, max_retries=0)
        self.hive.session.mount("http://", adapter)
        self.hive.session.mount("https://", adapter)
        self.cortex = cortex
        self.misp = misp
        self.thehive_url = thehive.url  # with a case's _id, what identifies it (its MISP event UUID)
        self.http = requests.Session()
        self._analyzers: dict[tuple[str, str], str] = {}

    # ---- TheHive plumbing
    def _th(self, what: str, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except TheHiveError as exc:
            status = exc.response.status_code if exc.response is not None else None
            raise _translate("TheHive", status, f"{what}: {exc.message}") from None
        except requests.exceptions.RequestException as exc:
            raise UnavailableError(f"TheHive unreachable ({what}): {type(exc).__name__}",
                                   service="TheHive") from None

    def _query(self, what: str, query: list[dict[str, Any]]) -> Any:
        return self._th(what, self.hive.query.run, query)

    def entity(self, kind: str, entity_id: str) -> dict[str, Any]:
        if kind == "case":
            return dict(self._th("get case", self.hive.case.get, entity_id))
        return dict(self._th("get alert", self.hive.alert.get, entity_id))

    def observables(self, kind: str, entity_id: str) -> list[dict[str, Any]]:
        first = "getCase" if kind == "case" else "getAlert"
        out = self._query("list observables", [
            {"_name": first, "idOrName": entity_id}, {"_name": "observables"},
            {"_name": "page", "from": 0, "to": MAX_LIST},
        ])
        return [dict(o) for o in out or []]

    def linked_case(self, alert_id: str) -> str | None:
        alert = self.entity("alert", alert_id)
        return str(alert["caseId"]) if alert.get("caseId") else None

    def open_case_with_tag(self, tag: str) -> str | None:
        out = self._query("find campaign case", [
            {"_name": "listCase"},
            {"_name": "filter", "_and": [{"_eq": {"_field": "tags", "_value": tag}},
                                         {"_not": {"_eq": {"_field": "stage", "_value": "Closed"}}}]},
            {"_name": "sort", "_fields": [{"_createdAt": "desc"}]},
            {"_name": "page", "from": 0, "to": 1},
        ])
        return str(out[0]["_id"]) if out else None

    def promote(self, alert_id: str, template: str | None) -> str:
        fields = {"caseTemplate": template} if template else {}
        case = self._th("promote alert", self.hive.alert.promote_to_case, alert_id, fields)
        return str(case["_id"])

    def merge(self, alert_id: str, case_id: str) -> str:
        case = self._th("merge alert", self.hive.alert.merge_into_case, alert_id, case_id)
        return str(case.get("_id", case_id)) if isinstance(case, dict) else case_id

    def update(self, kind: str, entity_id: str, fields: dict[str, Any]) -> None:
        endpoint = self.hive.case if kind == "case" else self.hive.alert
        self._th(f"update {kind}", endpoint.update, entity_id, fields)

    def find_task(self, case_id: str, title: str) -> dict[str, Any] | None:
        tasks = self._query("list tasks", [
            {"_name": "getCase", "idOrName": case_id}, {"_name": "tasks"},
            {"_name": "page", "from": 0, "to": MAX_LIST},
        ])
        for task in tasks or []:
            if str(task.get("title", "")).strip().lower() == title.strip().lower():
                return dict(task)
        return None

    def create_task(self, case_id: str, title: str, group: str) -> dict[str, Any]:
        return dict(self._th("create task", self.hive.task.create, case_id,
                             {"title": title, "group": group}))

    def task_logs(self, task_id: str) -> list[dict[str, Any]]:
        out = self._query("list task logs", [
            {"_name": "getTask", "idOrName": task_id}, {"_name": "logs"},
            {"_name": "page", "from": 0, "to": MAX_LIST},
        ])
        return [dict(o) for o in out or []]

    def add_log(self, task_id: str, message: str) -> str:
        log = self._th("write task log", self.hive.task_log.create, task_id, {"message": message})
        return str(log["_id"])

    def update_task(self, task_id: str, fields: dict[str, Any]) -> None:
        self._th("update task", self.hive.task.update, task_id, fields)

    def export(self, case_id: str, fmt: str, output: str | None, ioc_only: bool) -> dict[str, Any]:
        """The case's indicators as a MISP event or a STIX 2.1 bundle (socflow.export): to
        ``output`` (``{case}`` in it becomes the case number), or the MISP event to the
        configured MISP — once per case: the event's UUID comes from this TheHive and the case id,
        so a resumed run or a second export updates that event. Neither configured: nothing is
        exported, and the outcome says why."""
        from ...export import build, write_atomic

        case = self.entity("case", case_id)
        built = build(case, self.observables("case", case_id), fmt=fmt, ioc_only=ioc_only,
                      instance=self.thehive_url)
        result: dict[str, Any] = {"format": fmt, "exported": len(built.exported),
                                  "skipped": len(built.skipped)}
        if output:
            label = re.sub(r"[^A-Za-z0-9_.-]", "_", str(case.get("number") or case_id))
            path = Path(output.replace("{case}", label))
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                write_atomic(path, built.to_json())  # a crash mid-write leaves no half file
            except OSError as exc:
                raise ConfigError(f"export to {path}: {exc.strerror or exc}") from None
            return result | {"output": str(path)}
        if fmt == "misp" and self.misp is not None and self.misp.url:
            from ..misp import push_event

            pushed = push_event(built, url=self.misp.url, key=self.misp.key,
                                verify=self.misp.verify, allow_private=self.misp.allow_private,
                                timeout=self.misp.timeout)
            return result | {"misp_event": pushed.event_id, "url": pushed.url, "updated": pushed.updated,
                             "idempotent": pushed.idempotent}
        return result | {"skipped_export": "no output file and no MISP configured (--misp-url)"}

    # ---- Cortex
    def _cx(self, method: str, path: str, what: str, **kwargs: Any) -> Any:
        if not self.cortex or not self.cortex.url:
            raise ConfigError("the playbook runs Cortex workers: set --cortex-url / SOCFLOW_CORTEX_URL")
        if not self.cortex.key:
            raise ConfigError("no Cortex API key (use --cortex-key or SOCFLOW_CORTEX_KEY)")
        timeout = kwargs.pop("timeout", self.cortex.timeout)
        try:
            resp = self.http.request(
                method, f"{self.cortex.url}/api/{path}", timeout=timeout, verify=self.cortex.verify,
                headers={"Authorization": f"Bearer {self.cortex.key}"}, **kwargs)
        except requests.exceptions.RequestException as exc:
            raise UnavailableError(f"Cortex unreachable ({what}): {type(exc).__name__}",
                                   service="Cortex") from None
        if resp.status_code >= 400:
            try:
                body = resp.json()
                text = f"{body.get('type', '')} {body.get('message', '')}".strip()
            except ValueError:
                text = resp.text[:200]
            if resp.status_code == 404 and what.startswith("find "):
                return None
            raise _translate("Cortex", resp.status_code, f"{what}: {text}")
        try:
            return resp.json()
        except ValueError:
            raise UnavailableError(f"Cortex answered {what} with no JSON", service="Cortex") from None

    def _worker_id(self, kind: str, name: str, data_type: str) -> str:
        cached = self._analyzers.get((kind, name + "|" + data_type))
        if cached:
            return cached
        workers = self._cx("GET", f"{kind}/type/{data_type}", f"list {kind}s") or []
        for w in workers:
            if isinstance(w, dict) and name in (w.get("name"), w.get("id")):
                wid = str(w.get("id") or w.get("_id"))
                self._analyzers[(kind, name + "|" + data_type)] = wid
                return wid
        raise ProviderError(
            f"Cortex has no enabled {kind} {name!r} for {data_type} (enable it in Cortex, or "
            "fix the playbook)", service="Cortex")

    def analyze(self, analyzer: str, observable: dict[str, Any], *, key: str,
                timeout: float) -> dict[str, Any]:
        data_type = str(observable.get("dataType"))
        wid = self._worker_id("analyzer", analyzer, data_type)
        fields = {"dataType": data_type, "tlp": min(int(observable.get("tlp", 2)), 3),
                  "pap": min(int(observable.get("pap", 2)), 3), "message": key}
        attachment = observable.get("attachment")
        if data_type == "file" and isinstance(attachment, dict) and attachment.get("id"):
            # the file travels as Cortex takes files: multipart, _json + a part named data
            with self._downloaded(observable, MAX_FILE) as path:
                name = re.sub(r"[^\w.-]", "_", str(attachment.get("name") or "file"))[:100]
                with path.open("rb") as fh:
                    job = self._cx("POST", f"analyzer/{wid}/run", f"run {analyzer}",
                                   data={"_json": json.dumps(fields)},
                                   files={"data": (name, fh, "application/octet-stream")})
        else:
            job = self._cx("POST", f"analyzer/{wid}/run", f"run {analyzer}",
                           json={"data": observable.get("data"), **fields})
        return self._wait(job, analyzer, timeout)

    def file_bytes(self, observable: dict[str, Any], limit: int) -> bytes:
        """The bytes of a file observable, downloaded from TheHive (at most ``limit``)."""
        with self._downloaded(observable, limit) as path:
            return path.read_bytes()

    @contextmanager
    def _downloaded(self, observable: dict[str, Any], limit: int) -> Iterator[Path]:
        """A file observable's attachment downloaded from TheHive into a private temporary
        folder (removed afterwards); over ``limit`` bytes is an error."""
        attachment = observable.get("attachment")
        if not isinstance(attachment, dict) or not attachment.get("id"):
            raise ProviderError("the observable has no file attached")
        with tempfile.TemporaryDirectory(prefix="socflow-playbook-") as folder:
            path = Path(folder) / "observable"
            self._th("download the file", self.hive.observable.download_attachment,
                     str(observable["_id"]), str(attachment["id"]), str(path))
            if path.stat().st_size > limit:
                raise ProviderError(f"the file observable is over {limit >> 20} MiB")
            yield path

    def _wait(self, job: dict[str, Any], name: str, timeout: float) -> dict[str, Any]:
        job_id = str(job.get("id") or job.get("_id"))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            wait = max(1, min(30, math.ceil(left)))
            report = self._cx("GET", f"job/{job_id}/waitreport", f"wait for {name}",
                              params={"atMost": f"{wait}second"}, timeout=wait + self.cortex_timeout())
            status = report.get("status") if isinstance(report, dict) else None
            if status in ("Success", "Failure", "Deleted"):
                break
            if time.monotonic() >= deadline:
                raise UnavailableError(f"{name} job {job_id} not finished after {timeout:.0f} s",
                                       service="Cortex")
        out = report.get("report") or {}
        if status != "Success":
            error = (out.get("errorMessage") if isinstance(out, dict) else None) or report.get(
                "errorMessage", "")
            refused = refusal.parse(error) if status == "Failure" else None
            if refused is not None:  # the worker's policy said no: an outcome, not a fault
                raise RefusedError(f"{name} job {job_id} ended {status}: {str(error)[:300]}",
                                   codes=refused.codes, reason=refused.reason[:1000], job=job_id)
            raise ProviderError(f"{name} job {job_id} ended {status}: {str(error)[:300]}",
                                service="Cortex")
        summary = out.get("summary") if isinstance(out, dict) else None
        taxonomies = summary.get("taxonomies", []) if isinstance(summary, dict) else []
        result = {"job": job_id, "status": status, "taxonomies": taxonomies,
                  "operations": out.get("operations", []) if isinstance(out, dict) else []}
        full = out.get("full") if isinstance(out, dict) else None
        if isinstance(full, dict):  # a notification's recipients, a block's refusals: task log
            for key in ("sent_to", "skipped_recipients", "refused"):
                if isinstance(full.get(key), list):
                    result[key] = full[key][:MAX_NOTES]
        return result

    def cortex_timeout(self) -> float:
        return self.cortex.timeout if self.cortex else 30.0

    def responder_job(self, name: str, key: str) -> dict[str, Any] | None:
        jobs = self._cx("POST", "job/_search", f"find {name} jobs",
                        params={"range": "0-50", "sort": "-createdAt"},
                        json={"query": {"_field": "message", "_value": key}}) or []
        for job in jobs:
            if isinstance(job, dict) and job.get("message") == key:
                status = job.get("status")
                if status in ("Waiting", "InProgress", "Success"):
                    return {"job": str(job.get("id") or job.get("_id")), "status": status}
        return None

    def run_responder(self, name: str, data_type: str, obj: dict[str, Any], *, key: str,
                      timeout: float) -> dict[str, Any]:
        wid = self._worker_id("responder", name, data_type)
        job = self._cx("POST", f"responder/{wid}/run", f"run {name}", json={
            "data": obj, "dataType": data_type, "tlp": min(int(obj.get("tlp", 2)), 3),
            "pap": min(int(obj.get("pap", 2)), 3), "message": key,
        })
        return self._wait(job, name, timeout)

    # ---- the watch's query
    def new_alerts(self, since_ms: int, types: list[str], limit: int = 100) -> list[dict[str, Any]]:
        filters: list[dict[str, Any]] = [{"_gte": {"_field": "_createdAt", "_value": since_ms}}]
        if types:
            filters.append({"_in": {"_field": "type", "_values": types}} if len(types) > 1
                           else {"_eq": {"_field": "type", "_value": types[0]}})
        out = self._query("list new alerts", [
            {"_name": "listAlert"}, {"_name": "filter", "_and": filters},
            {"_name": "sort", "_fields": [{"_createdAt": "asc"}]},
            {"_name": "page", "from": 0, "to": limit},
        ])
        return [dict(a) for a in out or []]


__all__ = ["CortexSettings", "MispSettings", "TheHiveCortex"]


def missing_workers(playbook: Any, cortex: CortexSettings) -> list[str]:
    """What the playbook runs that Cortex does not offer (enabled in the key's organisation):
    one line per analyzer × data type and responder × entity, naming the step."""
    from ...playbook.model import ActStep, AnalyzeStep

    session = requests.Session()
    listed: dict[str, set[str]] = {}

    def names(kind: str, data_type: str) -> set[str]:
        key = f"{kind}/type/{data_type}"
        if key not in listed:
            try:
                resp = session.get(f"{cortex.url}/api/{key}", timeout=cortex.timeout,
                                   verify=cortex.verify,
                                   headers={"Authorization": f"Bearer {cortex.key}"})
            except requests.exceptions.RequestException as exc:
                raise UnavailableError(f"Cortex unreachable at {cortex.url}: {type(exc).__name__}",
                                       service="Cortex") from None
            if resp.status_code >= 400:
                raise _translate("Cortex", resp.status_code, f"list {kind}s: {resp.text[:200]}")
            try:
                workers = resp.json()
            except ValueError:
                raise UnavailableError("Cortex answered without JSON", service="Cortex") from None
            listed[key] = {str(w.get("name")) for w in workers if isinstance(w, dict)}
        return listed[key]

    problems = []
    for i, step in enumerate(playbook.steps):
        where = f"steps[{i}] ({step.id})"
        if isinstance(step, AnalyzeStep):
            for name in step.analyzers:
                if name.startswith("socflow:"):
                    continue  # in process, not in Cortex
                lacking = [dt for dt in step.data_types if name not in names("analyzer", dt)]
                if lacking:
                    problems.append(f"{where}: Cortex has no enabled analyzer {name} for "
                                    f"{', '.join(lacking)}")
        elif isinstance(step, ActStep):
            for action in step.actions:
                specs = [action.responder, action.escalate.responder if action.escalate else None]
                for spec in filter(None, specs):
                    entity = {"observables": "case_artifact"}.get(spec.entity, spec.entity)
                    if spec.name not in names("responder", f"thehive:{entity}"):
                        problems.append(f"{where}: Cortex has no enabled responder {spec.name} "
                                        f"for thehive:{entity}")
    return problems
