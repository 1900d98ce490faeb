"""A Cortex 4.1 emulator on 127.0.0.1 that runs the real socflow flavors as Cortex's process runner
does (``cortex-thehive-protocol.md`` Part A, ``thehive-cortex-response.md`` R4, R8 items 12–15).

Workers are the flavor JSON files of ``analyzers/*/`` and ``responders/*/`` (every ``*.json`` of
each sub-folder, as ``WorkerSrv.scan`` reads them); a test enables the ones it needs with
:meth:`FakeCortex.enable` (configuration, ``rate``/``rateUnit``, ``jobCache``, ``jobTimeout``).
A job is a real process: ``tests/support/cortexjob.py`` writes the job folder
(``cortex-job-<id>-<random>/input/input.json``), runs ``[command, job folder]`` from the
analyzers root, reads ``output/output.json``; the report is then checked as Cortex's
``extractReport`` does (A.9).

Routes (``Authorization: Bearer <key>``; errors ``{"type", "message"}``: 401
``AuthenticationError``, 403 ``AuthorizationError``, 404 ``NotFoundError``, 400 ``BadRequest``,
400 ``AttributeCheckingError`` rendered ``{"tableName": "job", "type", "errors": [...]}`` without a
``message``, 429 ``RateLimitExceeded``, 500 ``InternalError``):

* ``GET /api/status`` (no auth), ``GET /api/user/current``.
* ``GET /api/analyzer`` / ``/api/responder`` (enabled workers of the key's organisation, header
  ``X-Total``), ``POST /api/{analyzer|responder}/_search?range=&sort=`` ``{"query": …}``
  (``{"_field","_value"}``, ``{field: value}``, ``_and``/``_or``/``_not``), ``GET
  /api/{analyzer|responder}/{id}``, ``GET /api/analyzer/type/{dataType}``, ``GET
  /api/responder/type/thehive:{case|case_artifact|alert|case_task|case_task_log}``. Worker JSON has no
  ``configuration``; the id is md5(``<org>_<name>_<type>``) as in Cortex.
* ``POST /api/analyzer/{id}/run`` and ``POST /api/responder/{id}/run`` → **200** job: JSON (Cortex 2
  form or the legacy ``{"data", "attributes": {…}}``) or multipart (``_json`` field + file part
  ``data`` or ``attachment``); query parameters are merged (``?force=1``). Rules: the worker is
  looked up by id only (a name → 404 "worker <id> not found"), keys starting with ``_`` → 400
  BadRequest, ``dataType``/data missing or ``tlp``/``pap`` outside 0–3 → 400
  AttributeCheckingError, role ``analyze`` needed (403; a superadmin key cannot run or read jobs),
  rate limit → 429. Analyzer jobs are cached for ``jobCache`` minutes (default 10) by MD5(worker |
  dataType | tlp | data | parameters) unless ``force``; the cached job comes back with
  ``fromCache: true``; responders are never cached.
* ``GET /api/job/{id}``, ``GET /api/job/{id}/report``, ``GET /api/job/{id}/waitreport?atMost=``
  (default ``1minute``; units ms/second(s)/minute(s)/hour(s)/day(s); ``Inf`` or a malformed value
  on a running job → 400 BadRequest — the exact Cortex error type is not public — on a finished job
  → the report), ``GET /api/job/{id}/artifacts``, ``DELETE /api/job/{id}`` (204, status
  ``Deleted``), ``POST /api/job/_search`` (excludes Deleted), ``POST /api/job/status`` ``{"jobIds":
  […]}``, ``GET /api/datastore/{id}`` (file artifacts). Another organisation's job → 404 "job <id>
  not found".

Job life: ``Waiting`` → ``InProgress`` (``startDate``) → ``Success``|``Failure`` (``endDate``).
Report: ``{"summary", "full", "success": true, "artifacts", "operations"}`` or ``{"errorMessage",
"input", "success": false}``; ``"Running"`` / ``"Waiting"`` / ``"Deleted"`` while not finished.
An output without an object ``full`` leaves the job ``InProgress`` for ever (Cortex 4.1 does the
same); a missing output gives Failure with the process's stdout+stderr; an artifact with a key
other than ``dataType, data, tlp (0–3), tags, message`` turns the job to Failure "Report creation
failure: …"; artifacts that are not all objects are dropped. ``jobTimeout`` (minutes, or
``job_timeout_seconds`` of :meth:`enable`) kills the process (Failure with its output).

Test controls: ``cortex.latency`` (seconds added to every answer), :meth:`outage` (``refused``,
``500``, ``503``, ``slow``, ``drop``, as the TheHive emulator) and :meth:`recover`,
``cortex.start_delay`` (seconds a job stays ``Waiting``), ``cortex.run_delay`` (seconds it stays
``InProgress`` before its process starts), :meth:`hold` / :meth:`release` (jobs stay ``Waiting``
until released), :meth:`fail_next` (the next jobs end ``Failure`` with a message, nothing run),
``cortex.jobs`` (every job with its report), ``cortex.executions`` (what was run: worker name and
input.json), :meth:`wait_idle`, ``cortex.requests`` (method, path, status).

    with FakeCortex() as cortex:
        worker = cortex.enable("Socflow_LogIOC")
        requests.post(f"{cortex.url}/api/analyzer/{worker['id']}/run", json={...}, headers=...)
"""

from __future__ import annotations

import copy
import email.parser
import email.policy
import hashlib
import itertools
import json
import re
import shutil
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

_TESTS = Path(__file__).resolve().parents[1]
if str(_TESTS) not in sys.path:
    sys.path.insert(0, str(_TESTS))
from support import cortexjob  # noqa: E402

STATUS = {
    "versions": {"Cortex": "4.1.0-1", "Elastic4Play": "1.13.6", "Play": "2.8.21",
                 "Elastic4s": "8.11.5", "ElasticSearch client": "8.11.0"},
    "config": {"protectDownloadsWith": "malware", "authType": ["key", "local"],
               "capabilities": ["authByKey", "changePassword", "setPassword"], "ssoAutoLogin": False},
}
AUTH_ERROR = {"type": "AuthenticationError", "message": "Authentication failure"}
RATE_UNITS = {"Second": 1, "Minute": 60, "Hour": 3600, "Day": 86400, "Month": 2592000}
RESPONDER_TYPES = ("thehive:case", "thehive:case_artifact", "thehive:alert", "thehive:case_task",
                   "thehive:case_task_log")
OUTAGE_MODES = {"refused", "500", "503", "slow", "drop"}
SAFETY_TIMEOUT = 120.0  # seconds; Cortex has no limit without jobTimeout, a test run must end
_ARTIFACT_KEYS = {"dataType", "data", "tlp", "tags", "message"}
_DURATION = re.compile(
    r"^\s*(\d+)\s*(ms|millis(?:econds?)?|milliseconds?|s|secs?|seconds?|m|mins?|minutes?|h|hours?|d|days?)\s*$"
)


class CortexError(Exception):
    def __init__(self, status: int, type_: str, message: str | None, **extra: Any) -> None:
        super().__init__(message or type_)
        body: dict[str, Any] = {"type": type_, **extra}
        if message is not None:
            body["message"] = message
        self.status, self.body = status, body


def _attribute_error(errors: list[dict[str, Any]]) -> CortexError:
    return CortexError(400, "AttributeCheckingError", None, tableName="job", errors=errors)


def _now() -> int:
    return int(time.time() * 1000)


def parse_duration(text: str) -> float:
    """Seconds of a Scala duration such as ``1minute``, ``30seconds``, ``500ms``; ValueError else."""
    m = _DURATION.match(text)
    if not m:
        raise ValueError(text)
    n, unit = int(m.group(1)), m.group(2)
    if unit.startswith("ms") or unit.startswith("milli"):
        return n / 1000
    if unit[0] == "s":
        return float(n)
    if unit[0] == "m":
        return n * 60.0
    if unit[0] == "h":
        return n * 3600.0
    return n * 86400.0


def _matches(doc: dict[str, Any], query: Any) -> bool:
    if not isinstance(query, dict) or not query:
        return True
    if "_and" in query:
        return all(_matches(doc, q) for q in query["_and"])
    if "_or" in query:
        return any(_matches(doc, q) for q in query["_or"])
    if "_not" in query:
        return not _matches(doc, query["_not"])
    if "_field" in query:
        return doc.get(query["_field"]) == query.get("_value")
    if "_string" in query:
        return str(query["_string"]).lower() in json.dumps(doc).lower()
    return all(doc.get(k) == v for k, v in query.items())


def _page(docs: list[dict[str, Any]], qs: dict[str, list[str]]) -> list[dict[str, Any]]:
    for spec in reversed(qs.get("sort", [])):
        desc, name = spec.startswith("-"), spec.lstrip("+-")
        docs.sort(key=lambda d: (d.get(name) is None, d.get(name) or 0), reverse=desc)
    rng = (qs.get("range") or ["0-10"])[0]
    if rng != "all":
        lo, _, hi = rng.partition("-")
        try:
            docs = docs[int(lo) : int(hi)]
        except ValueError:
            raise CortexError(400, "BadRequest", f"Invalid range {rng}") from None
    return docs


@dataclass
class Key:
    user: str
    org: str
    roles: tuple[str, ...]


@dataclass
class Job:
    doc: dict[str, Any]
    worker: dict[str, Any]
    report: dict[str, Any] | None = None
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    file: tuple[str, bytes, str] | None = None  # filename, bytes, content type


class FakeCortex:
    def __init__(
        self,
        *,
        api_key: str = "cortex-key-0123456789",
        user: str = "socflow",
        org: str = "socflow-org",
        concurrency: int = 2,
        env: dict[str, str] | None = None,
        keep_job_folders: bool = False,
    ) -> None:
        self.api_key, self.user, self.org = api_key, user, org
        self.keys = {api_key: Key(user, org, ("read", "analyze", "orgadmin"))}
        self.env = dict(env or {})
        self.keep_job_folders = keep_job_folders
        self.definitions = self._scan()
        self.workers: dict[str, dict[str, Any]] = {}  # id -> worker (with its configuration)
        self.jobs: dict[str, Job] = {}
        self.datastore: dict[str, tuple[str, bytes, str]] = {}
        self.executions: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str, int]] = []
        self.lock = threading.RLock()
        self.latency = 0.0
        self.start_delay = 0.0
        self.run_delay = 0.0
        self._held = threading.Event()
        self._held.set()
        self._fail: list[str] = []
        self._outage: tuple[str, int | None, float] | None = None
        self._ids = itertools.count(1)
        self._concurrency = concurrency
        self._pool = threading.Semaphore(concurrency)
        self._threads: list[threading.Thread] = []
        self._server: ThreadingHTTPServer | None = None
        self._port = 0
        self._tmp: str | None = None

    # ------------------------------------------------------------------ life cycle
    def __enter__(self) -> FakeCortex:
        self._tmp = tempfile.mkdtemp(prefix="fake-cortex-")
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
        self.release()
        self.wait_idle(30)
        if self._tmp and not self.keep_job_folders:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def start(self) -> None:
        handler = type("Handler", (_Handler,), {"cortex": self})
        server = _QuietServer(("127.0.0.1", self._port), handler)
        server.daemon_threads = True
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
        return f"http://127.0.0.1:{self._port}"

    @property
    def job_root(self) -> Path:
        assert self._tmp, "use FakeCortex as a context manager"
        return Path(self._tmp)

    # ------------------------------------------------------------------ set-up by tests
    @staticmethod
    def _scan() -> dict[str, tuple[dict[str, Any], str]]:
        """Flavor name -> (definition, "analyzer"|"responder"), as WorkerSrv.scan reads a folder."""
        found: dict[str, tuple[dict[str, Any], str]] = {}
        for root, kind in ((cortexjob.ANALYZERS, "analyzer"), (cortexjob.RESPONDERS, "responder")):
            for path in sorted(root.glob("*/*.json")):
                try:
                    data = json.loads(path.read_text())
                except ValueError:
                    continue
                for d in data if isinstance(data, list) else [data]:
                    if isinstance(d, dict) and {"name", "version", "command"} <= set(d):
                        found[d["name"]] = (d, kind)
        return found

    def enable(
        self,
        name: str,
        *,
        config: dict[str, Any] | None = None,
        rate: int | None = None,
        rate_unit: str | None = None,
        job_cache: int | None = None,
        job_timeout: int | None = None,
        job_timeout_seconds: float | None = None,
        org: str | None = None,
    ) -> dict[str, Any]:
        """Enable a flavor (by its name) in ``org``; returns the worker JSON (``id`` for /run)."""
        definition, kind = self.definitions[name]
        if rate_unit is not None and rate_unit not in RATE_UNITS:
            raise ValueError(f"rateUnit must be one of {sorted(RATE_UNITS)}")
        org = org or self.org
        wid = hashlib.md5(f"{org}_{name}_{kind}".encode()).hexdigest()
        def_id = re.sub(r"\.", "_", f"{definition['name']}_{definition['version']}")
        worker = {
            "id": wid,
            "_id": wid,
            "_type": kind,
            "name": name,
            "version": definition["version"],
            "description": definition["description"],
            "author": definition["author"],
            "url": definition["url"],
            "license": definition["license"],
            "dataTypeList": list(definition.get("dataTypeList", [])),
            "baseConfig": definition.get("baseConfig", name),
            "type": kind,
            "workerDefinitionId": def_id,
            f"{kind}DefinitionId": def_id,
            "rate": rate,
            "rateUnit": rate_unit,
            "jobCache": job_cache,
            "jobTimeout": job_timeout,
            "createdBy": self.user,
            "createdAt": _now(),
            "organization": org,
        }
        worker = {k: v for k, v in worker.items() if v is not None}
        with self.lock:
            self.workers[wid] = dict(worker, configuration=dict(config or {}),
                                     _timeout=job_timeout_seconds if job_timeout_seconds is not None
                                     else (job_timeout * 60 if job_timeout else None))
        return worker

    def add_key(self, key: str, *, user: str, roles: tuple[str, ...], org: str | None = None) -> None:
        """Another API key: e.g. ``roles=("read",)``, or ``("superadmin",)`` in org ``cortex``."""
        self.keys[key] = Key(user, org or self.org, roles)

    def current_user(self) -> dict[str, Any]:
        return {"id": self.user, "name": self.user, "organization": self.org,
                "roles": ["read", "analyze"], "status": "Ok", "hasKey": True, "hasPassword": False}

    def hold(self) -> None:
        """New and queued jobs stay ``Waiting`` until :meth:`release`."""
        self._held.clear()

    def release(self) -> None:
        self._held.set()

    def fail_next(self, count: int = 1, message: str = "Worker cannot be run") -> None:
        """The next ``count`` jobs end ``Failure`` with ``message`` (a runner error; nothing runs)."""
        with self.lock:
            self._fail.extend([message] * count)

    def outage(self, mode: str, *, count: int | None = None, delay: float = 2.0) -> None:
        if mode not in OUTAGE_MODES:
            raise ValueError(f"unknown outage mode {mode!r}")
        with self.lock:
            self._outage = (mode, count, delay)
        if mode == "refused":
            self.stop()

    def recover(self) -> None:
        with self.lock:
            was, self._outage = self._outage, None
        if (was and was[0] == "refused") or self._server is None:
            self.start()

    def _take_outage(self) -> tuple[str, float] | None:
        with self.lock:
            if not self._outage:
                return None
            mode, count, delay = self._outage
            if count is not None:
                self._outage = (mode, count - 1, delay) if count > 1 else None
            return mode, delay

    def wait_idle(self, timeout: float = 60) -> bool:
        """Every job that can end has ended (jobs left InProgress by a bad output do not count)."""
        end = time.monotonic() + timeout
        for t in list(self._threads):
            t.join(max(0.0, end - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)

    def job(self, job_id: str) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self.jobs[job_id].doc)

    # ------------------------------------------------------------------ jobs
    def _worker(self, key: Key, wid: str, kind: str | None = None) -> dict[str, Any]:
        w = self.workers.get(wid)
        if w is None or w["organization"] != key.org or (kind and w["type"] != kind):
            raise CortexError(404, "NotFoundError", f"worker {wid} not found")
        return w

    @staticmethod
    def worker_json(w: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in w.items() if k != "configuration" and not k.startswith("_t")}

    def create_job(self, key: Key, wid: str, kind: str, fields: dict[str, Any],
                   file: tuple[str, bytes, str] | None) -> dict[str, Any]:
        if "analyze" not in key.roles:
            raise CortexError(403, "AuthorizationError", "Your role doesn't allow this operation")
        worker = self._worker(key, wid, kind)
        if any(k.startswith("_") for k in fields):
            raise CortexError(400, "BadRequest", "Field starting with '_' is forbidden")
        if isinstance(fields.get("attributes"), dict):  # Cortex 1 form
            fields = {**fields["attributes"], **{k: v for k, v in fields.items() if k != "attributes"}}
        errors: list[dict[str, Any]] = []
        data_type = fields.get("dataType")
        if not isinstance(data_type, str):
            errors.append({"name": "dataType", "type": "MissingAttributeError",
                           "message": "Attribute dataType is missing"})
        data = fields.get("data")
        if file is None and data is None:
            errors.append({"name": "data/attachment", "type": "MissingAttributeError",
                           "message": "Attribute data/attachment is missing"})
        for name in ("tlp", "pap"):
            value = fields.get(name, 2)
            if isinstance(value, str) and value.isdigit():
                value = int(value)
            if type(value) is not int or not 0 <= value <= 3:
                errors.append({"name": name, "type": "InvalidFormatAttributeError",
                               "message": f"Invalid format for {name}: {value!r}", "value": value})
            fields[name] = value
        if errors:
            raise _attribute_error(errors)
        if kind == "responder":
            data = json.dumps(data)  # the controller keeps the JSON as a string (A.3)
        elif file is None and not isinstance(data, str):
            raise _attribute_error([{"name": "data", "type": "InvalidFormatAttributeError",
                                     "message": "data must be a string", "value": data}])
        parameters = fields.get("parameters") if isinstance(fields.get("parameters"), dict) else {}
        force = str(fields.get("force", "false")).lower() in ("1", "true")
        tlp = fields["tlp"]
        attachment_id = hashlib.sha256(file[1]).hexdigest() if file else None
        cache_tag = hashlib.md5(
            f"{wid}|{data_type}|{tlp}|{attachment_id or data}|{json.dumps(parameters, separators=(',', ':'))}"
            .encode()).hexdigest()
        now = _now()
        with self.lock:
            window = (worker.get("jobCache") if worker.get("jobCache") is not None else 10) * 60_000
            if kind == "analyzer" and not force and window:
                hits = [j for j in self.jobs.values()
                        if j.doc.get("cacheTag") == cache_tag and j.doc["status"] not in ("Failure", "Deleted")
                        and j.doc.get("startDate", 0) >= now - window]
                if hits:
                    newest = max(hits, key=lambda j: j.doc["createdAt"])
                    return dict(copy.deepcopy(newest.doc), fromCache=True)
            if worker.get("rate") and worker.get("rateUnit"):
                since = now - RATE_UNITS[worker["rateUnit"]] * 1000
                count = sum(1 for j in self.jobs.values()
                            if j.doc["workerId"] == wid and j.doc["createdAt"] >= since)
                if count >= worker["rate"]:
                    raise CortexError(
                        429, "RateLimitExceeded",
                        f"Rate limit of {worker['rate']} per {worker['rateUnit']} reached for the "
                        f"{kind} {worker['name']}. Job cannot be started")
            job_id = f"AY{next(self._ids):06d}{hashlib.md5(str(now).encode()).hexdigest()[:8]}"
            doc: dict[str, Any] = {
                "id": job_id,
                "_id": job_id,
                "_type": "job",
                "workerDefinitionId": worker["workerDefinitionId"],
                "workerId": wid,
                "workerName": worker["name"],
                "analyzerId": wid,
                "analyzerName": worker["name"],
                "analyzerDefinitionId": worker["workerDefinitionId"],
                "organization": key.org,
                "status": "Waiting",
                "dataType": data_type,
                "tlp": tlp,
                "pap": fields["pap"],
                "message": fields.get("message", "") if isinstance(fields.get("message", ""), str) else "",
                "parameters": parameters,
                "type": kind,
                "cacheTag": cache_tag,
                "createdBy": key.user,
                "createdAt": now,
                "date": now,
            }
            if isinstance(fields.get("label"), str):
                doc["label"] = fields["label"]
            if file is not None:
                self.datastore[attachment_id] = file  # type: ignore[index]
                doc["attachment"] = {"id": attachment_id, "name": file[0], "contentType": file[2],
                                     "size": len(file[1])}
            else:
                doc["data"] = data
            job = Job(doc, worker, file=file)
            self.jobs[job_id] = job
            thread = threading.Thread(target=self._run, args=(job,), daemon=True)
            self._threads.append(thread)
            thread.start()
            return self.job_json(job)

    def job_json(self, job: Job) -> dict[str, Any]:
        out = copy.deepcopy(job.doc)
        if out["type"] == "responder" and "data" in out:
            try:
                out["data"] = json.loads(out["data"])
            except ValueError:
                pass
        return out

    def _run(self, job: Job) -> None:
        self._held.wait()
        if self.start_delay:
            time.sleep(self.start_delay)
        with self._pool:
            self._held.wait()
            with self.lock:
                if job.doc["status"] == "Deleted":
                    job.done.set()
                    return
                job.doc.update(status="InProgress", startDate=_now(), updatedAt=_now())
                forced = self._fail.pop(0) if self._fail else None
            if self.run_delay:
                time.sleep(self.run_delay)
            if forced is not None:
                self._end(job, {"success": False, "errorMessage": forced, "input": None})
                return
            try:
                self._execute(job)
            except Exception as exc:  # a runner error: Failure with its message (A.9)
                self._end(job, {"success": False, "errorMessage": f"{type(exc).__name__}: {exc}",
                                "input": None})

    def _execute(self, job: Job) -> None:
        worker, doc = job.worker, job.doc
        file_path = None
        kwargs: dict[str, Any] = {}
        if job.file is not None:
            file_path = self.job_root / f"upload-{doc['id']}"
            file_path.write_bytes(job.file[1])
            kwargs = {"file": file_path, "filename": job.file[0], "content_type": job.file[2]}
        else:
            kwargs = {"data": json.loads(doc["data"]) if doc["type"] == "responder" else doc["data"]}
        result = cortexjob.run_job(
            worker["name"],
            data_type=doc["dataType"],
            tlp=doc["tlp"],
            pap=doc["pap"],
            message=doc["message"],
            parameters=doc["parameters"],
            config=worker["configuration"],
            env=self.env,
            timeout=worker.get("_timeout") or SAFETY_TIMEOUT,
            base_dir=self.job_root,
            keep=True,
            job_id=doc["id"],
            on_timeout="fail",
            **kwargs,
        )
        with self.lock:
            self.executions.append({"job": doc["id"], "worker": worker["name"], "input": result.input,
                                    "timed_out": result.timed_out})
        try:
            self._extract(job, result.output, result.job_dir)
        finally:
            if not self.keep_job_folders:
                shutil.rmtree(result.job_dir, ignore_errors=True)
                if file_path:
                    file_path.unlink(missing_ok=True)

    def _extract(self, job: Job, output: Any, job_dir: Path) -> None:
        """Cortex 4.1 ``JobRunnerSrv.extractReport`` (A.9)."""
        if not isinstance(output, dict) or output.get("success") is not True:
            output = output if isinstance(output, dict) else {}
            message = output.get("errorMessage")
            self._end(job, {"success": False,
                            "errorMessage": message if isinstance(message, str) else "no output",
                            "input": json.dumps(output["input"]) if "input" in output else None})
            return
        full = output.get("full")
        if not isinstance(full, dict):
            return  # the exception escapes before the job ends: it stays InProgress (A.9)
        summary = output.get("summary") if isinstance(output.get("summary"), dict) else {}
        operations = output.get("operations") if isinstance(output.get("operations"), list) else []
        raw_artifacts = output.get("artifacts")
        artifacts: list[dict[str, Any]] = []
        if isinstance(raw_artifacts, list) and all(isinstance(a, dict) for a in raw_artifacts):
            for art in raw_artifacts:
                if not isinstance(art.get("dataType"), str):
                    continue
                art = dict(art)
                if art["dataType"] == "file":
                    name, fname = art.pop("filename", None), art.pop("file", None)
                    ctype = art.pop("contentType", "application/octet-stream")
                    path = (job_dir / "output" / str(fname)) if fname else None
                    if not name or not path or path.parent != job_dir / "output" or not path.is_file():
                        continue
                    payload = path.read_bytes()
                    sha = hashlib.sha256(payload).hexdigest()
                    self.datastore[sha] = (str(name), payload, str(ctype))
                    art["attachment"] = {"contentType": ctype, "id": sha, "name": name, "size": len(payload)}
                problem = self._artifact_problem(art)
                if problem:
                    self._end(job, {"success": False, "errorMessage": f"Report creation failure: {problem}",
                                    "input": None})
                    return
                art.setdefault("tlp", 2)
                art.setdefault("tags", [])
                art.setdefault("message", None)
                artifacts.append(art)
        job.artifacts = artifacts
        self._end(job, {"summary": summary, "full": full, "success": True, "artifacts": artifacts,
                        "operations": operations})

    @staticmethod
    def _artifact_problem(art: dict[str, Any]) -> str:
        extra = set(art) - _ARTIFACT_KEYS - {"attachment"}
        if extra:
            return f"unknown attribute(s) {sorted(extra)}"
        if "data" in art and not isinstance(art["data"], str):
            return "data must be a string"
        tlp = art.get("tlp", 2)
        if type(tlp) is not int or not 0 <= tlp <= 3:
            return f"invalid tlp {tlp!r}"
        tags = art.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            return "tags must be strings"
        if "message" in art and not isinstance(art["message"], (str, type(None))):
            return "message must be a string"
        return ""

    def _end(self, job: Job, report: dict[str, Any]) -> None:
        with self.lock:
            if job.doc["status"] != "Deleted":
                job.doc["status"] = "Success" if report.get("success") else "Failure"
            job.doc.update(endDate=_now(), updatedAt=_now())
            if not report.get("success"):
                job.doc["errorMessage"] = report["errorMessage"]
            job.report = report
        job.done.set()

    def report_json(self, job: Job) -> dict[str, Any]:
        out = self.job_json(job)
        status = job.doc["status"]
        if status in ("Success", "Failure") and job.report is not None:
            report = copy.deepcopy(job.report)
            if report.get("success"):
                report["artifacts"] = [
                    {k: v for k, v in a.items() if k in ("data", "dataType", "message", "tags", "tlp", "attachment")}
                    for a in report["artifacts"]]
            out["report"] = report
        else:
            out["report"] = {"InProgress": "Running"}.get(status, status)
        return out

    def get_job(self, key: Key, job_id: str) -> Job:
        if "superadmin" in key.roles or not ({"read", "analyze"} & set(key.roles)):
            raise CortexError(403, "AuthorizationError", "Your role doesn't allow this operation")
        job = self.jobs.get(job_id)
        if job is None or job.doc["organization"] != key.org:
            raise CortexError(404, "NotFoundError", f"job {job_id} not found")
        return job


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    cortex: FakeCortex
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None,
              raw: bytes | None = None) -> None:
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        self.cortex.requests.append((self.command, self.path, status))  # before the answer leaves
        self.send_response(status)
        if raw is None and body is not None:
            self.send_header("Content-Type", "application/json")
        if status == 503:
            self.send_header("Retry-After", "1")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _die(self) -> None:
        self.cortex.requests.append((self.command, self.path, 0))
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _dispatch(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        cortex = self.cortex
        if self.server is not cortex._server:  # "refused": kept-alive connections die too
            return self._die()
        if cortex.latency:
            time.sleep(cortex.latency)
        outage = cortex._take_outage()
        if outage and outage[0] == "slow":
            time.sleep(outage[1])
        elif outage and outage[0] == "drop":
            return self._die()
        elif outage and outage[0] in ("500", "503"):
            code = int(outage[0])
            return self._send(code, {"type": "InternalError" if code == 500 else "ServiceUnavailable",
                                     "message": "injected outage"})
        url = urlsplit(self.path)
        try:
            answer = self._route(method, url.path, parse_qs(url.query), raw)
        except CortexError as exc:
            answer = (exc.status, exc.body)
        if len(answer) == 4:
            self._send(answer[0], None, answer[2], raw=answer[3])  # type: ignore[misc]
        else:
            self._send(answer[0], answer[1], answer[2] if len(answer) > 2 else None)  # type: ignore[misc]

    def _key(self) -> Key:
        header = self.headers.get("Authorization", "")
        key = self.cortex.keys.get(header[7:]) if header.startswith("Bearer ") else None
        if key is None:
            raise CortexError(401, "AuthenticationError", "Authentication failure")
        return key

    def _fields(self, raw: bytes, qs: dict[str, list[str]]) -> tuple[dict[str, Any], tuple | None]:
        ctype = self.headers.get("Content-Type", "")
        file = None
        if ctype.startswith("multipart/form-data"):
            msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + raw)
            fields: Any = {}
            for part in msg.iter_parts():
                name = part.get_param("name", header="content-disposition")
                payload = part.get_payload(decode=True) or b""
                if name == "_json":
                    try:
                        fields = json.loads(payload)
                    except ValueError:
                        raise CortexError(400, "BadRequest", "Invalid JSON in _json") from None
                elif name in ("data", "attachment") and part.get_filename() is not None:
                    file = (part.get_filename(), payload, part.get_content_type())
        elif raw:
            try:
                fields = json.loads(raw)
            except ValueError:
                raise CortexError(400, "BadRequest", "Invalid JSON body") from None
        else:
            fields = {}
        if not isinstance(fields, dict):
            raise CortexError(400, "BadRequest", "The body must be a JSON object")
        for k, v in qs.items():  # query parameters are merged into the fields (A.3)
            if k not in ("range", "sort"):
                fields.setdefault(k, v[0])
        return fields, file

    def _json(self, raw: bytes) -> Any:
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            raise CortexError(400, "BadRequest", "Invalid JSON body") from None

    def _route(self, method: str, path: str, qs: dict[str, list[str]], raw: bytes) -> tuple:
        cortex = self.cortex
        if path == "/api/status" and method == "GET":
            return 200, STATUS
        key = self._key()
        if path == "/api/user/current" and method == "GET":
            return 200, dict(cortex.current_user(), id=key.user, name=key.user, organization=key.org,
                             roles=list(key.roles))
        m = re.fullmatch(r"/api/(analyzer|responder)(?:/(_search|type/[^/]+|[^/]+)(?:/(run))?)?", path)
        if m:
            kind, sub, run = m.group(1), m.group(2), m.group(3)
            if run and method == "POST":
                fields, file = self._fields(raw, qs)
                return 200, cortex.create_job(key, unquote(sub), kind, fields, file)
            if "superadmin" in key.roles:
                raise CortexError(403, "AuthorizationError", "Your role doesn't allow this operation")
            with cortex.lock:
                mine = [cortex.worker_json(w) for w in cortex.workers.values()
                        if w["organization"] == key.org and w["type"] == kind]
            if sub is None and method == "GET":
                return 200, _page(mine, qs), {"X-Total": str(len(mine))}
            if sub == "_search" and method == "POST":
                query = self._json(raw).get("query", {})
                found = [w for w in mine if _matches(w, query)]
                return 200, _page(found, qs), {"X-Total": str(len(found))}
            if sub and sub.startswith("type/") and method == "GET":
                dt = unquote(sub[5:])
                return 200, [w for w in mine if dt in w["dataTypeList"]]
            if sub and method == "GET":
                return 200, cortex.worker_json(cortex._worker(key, unquote(sub), kind))
        if path == "/api/job/_search" and method == "POST":
            query = self._json(raw).get("query", {})
            if "superadmin" in key.roles:
                raise CortexError(403, "AuthorizationError", "Your role doesn't allow this operation")
            with cortex.lock:
                docs = [cortex.job_json(j) for j in cortex.jobs.values()
                        if j.doc["organization"] == key.org and j.doc["status"] != "Deleted"]
            found = [d for d in docs if _matches(d, query)]
            return 200, _page(found, qs), {"X-Total": str(len(found))}
        if path == "/api/job/status" and method == "POST":
            ids = self._json(raw).get("jobIds", [])
            out = {}
            for jid in ids if isinstance(ids, list) else []:
                try:
                    out[str(jid)] = cortex.get_job(key, str(jid)).doc["status"]
                except CortexError:
                    out[str(jid)] = "NotFound"
            return 200, out
        m = re.fullmatch(r"/api/job/([^/]+)(?:/(report|waitreport|artifacts))?", path)
        if m:
            job = cortex.get_job(key, unquote(m.group(1)))
            sub = m.group(2)
            if sub is None and method == "GET":
                with cortex.lock:
                    return 200, cortex.job_json(job)
            if sub is None and method == "DELETE":
                with cortex.lock:
                    job.doc["status"] = "Deleted"
                return 204, None
            if sub == "report" and method == "GET":
                with cortex.lock:
                    return 200, cortex.report_json(job)
            if sub == "waitreport" and method == "GET":
                at_most = (qs.get("atMost") or ["1minute"])[0]
                if job.doc["status"] in ("Waiting", "InProgress"):
                    try:
                        seconds = parse_duration(at_most)
                    except ValueError:
                        raise CortexError(400, "BadRequest",
                                          f"atMost must be a finite duration, not {at_most!r}") from None
                    job.done.wait(seconds)
                with cortex.lock:
                    return 200, cortex.report_json(job)
            if sub == "artifacts" and method == "GET":
                with cortex.lock:
                    arts = [dict(a, id=f"{job.doc['id']}-{i}", _type="artifact", createdAt=job.doc.get("endDate"))
                            for i, a in enumerate(job.artifacts)]
                return 200, arts, {"X-Total": str(len(arts))}
        m = re.fullmatch(r"/api/datastore/([^/]+)", path)
        if m and method == "GET":
            entry = cortex.datastore.get(m.group(1))
            if entry is None:
                raise CortexError(404, "NotFoundError", f"attachment {m.group(1)} not found")
            return 200, None, {"Content-Type": entry[2],
                               "Content-Disposition": f'attachment; filename="{entry[0]}"'}, entry[1]
        raise CortexError(404, "NotFoundError", f"{path} not found")
