"""The Cortex emulator: its job API as the fact sheets describe it (``cortex-thehive-protocol.md``
A.3/A.9/A.10, ``thehive-cortex-response.md`` R4), running the real socflow flavors as processes."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest
import requests
from fakes.cortex import FakeCortex, parse_duration
from fakes.webhook import FakeWebhook

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "logs"
CASE = json.loads((Path(__file__).resolve().parents[1] / "responders" / "fixtures" / "case.json").read_text())
TEXT = "Dec  6 10:00:01 host sshd[1]: Failed password for admin from 193.32.162.157 port 22 ssh2\n"


@pytest.fixture()
def cortex():
    with FakeCortex() as c:
        yield c


class Client:
    def __init__(self, cortex: FakeCortex, key: str | None = None) -> None:
        self.base, self.headers = cortex.url, {"Authorization": f"Bearer {key or cortex.api_key}"}

    def get(self, path: str, **kw) -> requests.Response:
        return requests.get(self.base + path, headers=self.headers, timeout=30, **kw)

    def post(self, path: str, **kw) -> requests.Response:
        return requests.post(self.base + path, headers=self.headers, timeout=30, **kw)

    def delete(self, path: str) -> requests.Response:
        return requests.delete(self.base + path, headers=self.headers, timeout=30)

    def wait(self, job_id: str, at_most: str = "30seconds") -> dict:
        r = self.get(f"/api/job/{job_id}/waitreport", params={"atMost": at_most})
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture()
def api(cortex):
    return Client(cortex)


def test_status_auth_and_worker_listings(cortex, api):
    assert requests.get(cortex.url + "/api/status", timeout=5).json()["versions"]["Cortex"] == "4.1.0-1"
    denied = requests.get(cortex.url + "/api/analyzer", timeout=5, headers={"Authorization": "Bearer nope"})
    assert (denied.status_code, denied.json()) == (401, {"type": "AuthenticationError",
                                                         "message": "Authentication failure"})
    logioc = cortex.enable("Socflow_LogIOC", config={"max_samples": 1})
    block = cortex.enable("Socflow_Block", config={"api_url": "http://127.0.0.1:9", "api_token": "t"})
    assert logioc["id"] == hashlib.md5(b"socflow-org_Socflow_LogIOC_analyzer").hexdigest()
    assert logioc["workerDefinitionId"] == "Socflow_LogIOC_1_0"
    listed = api.get("/api/analyzer")
    assert [w["name"] for w in listed.json()] == ["Socflow_LogIOC"] and listed.headers["X-Total"] == "1"
    assert "configuration" not in listed.json()[0]  # never shown (A.3 / R4.1)
    assert [w["name"] for w in api.get("/api/analyzer/type/other").json()] == ["Socflow_LogIOC"]
    assert api.get("/api/analyzer/type/ip").json() == []
    assert [w["id"] for w in api.get("/api/responder/type/thehive:case_artifact").json()] == [block["id"]]
    assert api.get("/api/responder/type/thehive:case_task").json() == []
    by_name = api.post("/api/analyzer/_search", params={"range": "0-1"},
                       json={"query": {"_field": "name", "_value": "Socflow_LogIOC"}})
    assert [w["id"] for w in by_name.json()] == [logioc["id"]]  # cortex4py's get_by_name
    assert api.get(f"/api/analyzer/{logioc['id']}").json()["dataTypeList"] == ["file", "other"]
    assert api.get(f"/api/analyzer/{block['id']}").status_code == 404  # a responder is no analyzer


def test_analyzer_job_runs_the_real_flavor_in_a_job_folder(cortex, api):
    worker = cortex.enable("Socflow_LogIOC", config={"max_samples": 1})
    r = api.post(f"/api/analyzer/{worker['id']}/run",
                 json={"data": TEXT, "dataType": "other", "tlp": 1, "message": "case 42",
                       "parameters": {"user": "analyst"}})
    assert r.status_code == 200  # not 201 (A.3)
    job = r.json()
    assert job["status"] in ("Waiting", "InProgress") and job["analyzerId"] == worker["id"]
    assert (job["type"], job["dataType"], job["tlp"], job["pap"]) == ("analyzer", "other", 1, 2)
    done = api.wait(job["id"])
    assert done["status"] == "Success" and done["startDate"] <= done["endDate"]
    report = done["report"]
    assert set(report) == {"summary", "full", "success", "artifacts", "operations"}
    assert report["success"] is True and report["full"]["level"] in ("info", "suspicious", "malicious")
    preds = {t["predicate"] for t in report["summary"]["taxonomies"]}
    assert "FailedLogins" in preds
    pairs = {(a["dataType"], a["data"]) for a in report["artifacts"]}
    assert {("ip", "193.32.162.157"), ("other", "admin")} <= pairs
    assert set(report["artifacts"][0]) <= {"data", "dataType", "message", "tags", "tlp"}
    arts = api.get(f"/api/job/{job['id']}/artifacts").json()
    assert {(a["dataType"], a["data"]) for a in arts} == pairs and arts[0]["_type"] == "artifact"
    (ran,) = cortex.executions
    seen = ran["input"]
    assert (seen["data"], seen["message"], seen["parameters"]) == (TEXT, "case 42", {"user": "analyst"})
    assert seen["config"]["max_samples"] == 1 and seen["config"]["auto_extract_artifacts"] is False
    assert api.get(f"/api/job/{job['id']}").json()["status"] == "Success"
    assert list(cortex.job_root.iterdir()) == []  # job folders removed after the job (A.9)


def test_file_observable_multipart_with_the_data_part(cortex, api):
    worker = cortex.enable("Socflow_LogIOC")
    with open(EXAMPLES / "auth.log", "rb") as fh:
        r = api.post(f"/api/analyzer/{worker['id']}/run",
                     data={"_json": json.dumps({"dataType": "file", "tlp": 2})},
                     files={"data": ("auth.log", fh, "text/plain")})
    job = r.json()
    assert job["attachment"]["name"] == "auth.log" and "data" not in job
    done = api.wait(job["id"])
    assert done["status"] == "Success"
    taxes = {t["predicate"]: t["level"] for t in done["report"]["summary"]["taxonomies"]}
    assert taxes["ssh-brute-force"] == "malicious"
    assert cortex.executions[0]["input"]["filename"] == "auth.log"


def test_job_states_waitreport_and_at_most(cortex, api):
    worker = cortex.enable("Socflow_LogIOC")
    cortex.hold()
    job = api.post(f"/api/analyzer/{worker['id']}/run", json={"data": TEXT, "dataType": "other"}).json()
    assert api.get(f"/api/job/{job['id']}/report").json()["report"] == "Waiting"
    start = time.monotonic()
    waited = api.wait(job["id"], "200ms")
    assert waited["report"] == "Waiting" and time.monotonic() - start >= 0.2
    for bad in ("Inf", "soon"):
        r = api.get(f"/api/job/{job['id']}/waitreport", params={"atMost": bad})
        assert r.status_code == 400 and r.json()["type"] == "BadRequest"
    cortex.run_delay = 0.5
    cortex.release()
    deadline = time.monotonic() + 5
    while api.get(f"/api/job/{job['id']}").json()["status"] == "Waiting" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert api.get(f"/api/job/{job['id']}/report").json()["report"] == "Running"
    final = api.wait(job["id"], "1minute")
    assert final["status"] == "Success"
    after = api.get(f"/api/job/{job['id']}/waitreport", params={"atMost": "Inf"})  # finished: fine
    assert after.status_code == 200 and after.json()["report"]["success"] is True
    assert parse_duration("1minute") == 60 and parse_duration("30seconds") == 30


def test_cache_force_and_responders_never_cached(cortex, api):
    worker = cortex.enable("Socflow_LogIOC")
    body = {"data": TEXT, "dataType": "other"}
    first = api.post(f"/api/analyzer/{worker['id']}/run", json=body).json()
    api.wait(first["id"])
    again = api.post(f"/api/analyzer/{worker['id']}/run", json=dict(body, pap=3, message="x")).json()
    assert again["id"] == first["id"] and again["fromCache"] is True  # PAP/message not in the key
    forced = api.post(f"/api/analyzer/{worker['id']}/run", params={"force": "1"}, json=body).json()
    assert forced["id"] != first["id"]
    other_tlp = api.post(f"/api/analyzer/{worker['id']}/run", json=dict(body, tlp=3)).json()
    assert other_tlp["id"] not in (first["id"], forced["id"])
    cortex.wait_idle()
    assert len(cortex.executions) == 3


def test_responder_job_gets_the_thehive_object_and_runs(cortex, api):
    with FakeWebhook() as hook:
        worker = cortex.enable("Socflow_Notify_Webhook", config={
            "webhook_url": hook.url + "/hook", "format": "json", "allow_private_targets": True,
            "api_url": "https://thehive.example-corp.com"})
        jobs = [api.post(f"/api/responder/{worker['id']}/run",
                         json={"data": CASE, "dataType": "thehive:case", "tlp": 2}).json() for _ in range(2)]
        assert jobs[0]["id"] != jobs[1]["id"]  # responders are never served from the cache
        assert jobs[0]["data"]["_id"] == CASE["_id"]  # data comes back as JSON (A.10)
        reports = [api.wait(j["id"])["report"] for j in jobs]
        assert [r["success"] for r in reports] == [True, True]
        assert reports[0]["operations"] == [{"type": "AddTagToCase", "tag": "socflow:notified"}]
        assert len(hook.requests) == 2
    assert cortex.executions[0]["input"]["data"] == CASE  # the object, not a string


def test_errors_follow_cortex(cortex, api):
    worker = cortex.enable("Socflow_LogIOC")
    run = f"/api/analyzer/{worker['id']}/run"
    unknown = api.post("/api/analyzer/Socflow_LogIOC/run", json={"data": "x", "dataType": "other"})
    assert (unknown.status_code, unknown.json()) == (404, {"type": "NotFoundError",
                                                           "message": "worker Socflow_LogIOC not found"})
    underscore = api.post(run, json={"data": "x", "dataType": "other", "_id": "1"})
    assert underscore.status_code == 400 and underscore.json()["message"] == "Field starting with '_' is forbidden"
    missing = api.post(run, json={"tlp": 2})
    body = missing.json()
    assert missing.status_code == 400 and "message" not in body
    assert (body["type"], body["tableName"]) == ("AttributeCheckingError", "job")
    assert {e["name"] for e in body["errors"]} == {"dataType", "data/attachment"}
    red = api.post(run, json={"data": "x", "dataType": "other", "tlp": 4})
    assert red.status_code == 400 and red.json()["errors"][0]["name"] == "tlp"  # jobs take TLP 0-3
    cortex.add_key("reader-key", user="reader", roles=("read",))
    assert Client(cortex, "reader-key").post(run, json={"data": "x", "dataType": "other"}).status_code == 403
    job = api.post(run, json={"data": TEXT, "dataType": "other"}).json()
    cortex.add_key("root-key", user="admin", roles=("superadmin",), org="cortex")
    assert Client(cortex, "root-key").get(f"/api/job/{job['id']}").status_code == 403
    cortex.add_key("other-org", user="x", roles=("read", "analyze"), org="elsewhere")
    foreign = Client(cortex, "other-org").get(f"/api/job/{job['id']}")
    assert (foreign.status_code, foreign.json()["message"]) == (404, f"job {job['id']} not found")
    assert api.get("/api/job/nope").status_code == 404
    assert api.get("/api/nothing").json()["type"] == "NotFoundError"


def test_rate_limit_is_429(cortex, api):
    worker = cortex.enable("Socflow_LogIOC", rate=1, rate_unit="Minute")
    run = f"/api/analyzer/{worker['id']}/run"
    assert api.post(run, json={"data": TEXT, "dataType": "other"}).status_code == 200
    limited = api.post(run, params={"force": "true"}, json={"data": TEXT, "dataType": "other"})
    assert limited.status_code == 429 and limited.json()["type"] == "RateLimitExceeded"
    assert "Rate limit of 1 per Minute reached" in limited.json()["message"]


def test_failures_timeouts_and_forced_failures(cortex, api):
    worker = cortex.enable("Socflow_LogIOC", job_timeout_seconds=0.01)
    job = api.post(f"/api/analyzer/{worker['id']}/run", json={"data": TEXT, "dataType": "other"}).json()
    report = api.wait(job["id"])["report"]
    assert report["success"] is False and set(report) == {"errorMessage", "input", "success"}
    assert cortex.executions[0]["timed_out"] is True
    fast = cortex.enable("Socflow_Notify_Webhook", config={"webhook_url": "http://127.0.0.1:9/x"})
    cortex.fail_next(1, "Worker cannot be run")
    failed = api.post(f"/api/responder/{fast['id']}/run", json={"data": CASE, "dataType": "thehive:case"}).json()
    done = api.wait(failed["id"])
    assert (done["status"], done["report"]["errorMessage"]) == ("Failure", "Worker cannot be run")
    assert done["errorMessage"] == "Worker cannot be run"


def test_search_status_delete(cortex, api):
    worker = cortex.enable("Socflow_LogIOC")
    ids = [api.post(f"/api/analyzer/{worker['id']}/run", params={"force": "1"},
                    json={"data": TEXT, "dataType": "other"}).json()["id"] for _ in range(2)]
    cortex.wait_idle()
    assert api.delete(f"/api/job/{ids[0]}").status_code == 204
    found = api.post("/api/job/_search", params={"range": "all", "sort": "-createdAt"},
                     json={"query": {"_and": [{"status": "Success"}, {"dataType": "other"}]}})
    assert [j["id"] for j in found.json()] == [ids[1]]  # Deleted jobs are not found
    assert api.get(f"/api/job/{ids[0]}/report").json()["report"] == "Deleted"
    status = api.post("/api/job/status", json={"jobIds": [ids[1], "nope"]}).json()
    assert status == {ids[1]: "Success", "nope": "NotFound"}


def test_report_extraction_rules(cortex):
    """A.9 on outputs no socflow flavor writes: bad artifacts, missing ``full``, file artifacts."""
    from fakes.cortex import Job

    worker = cortex.enable("Socflow_LogIOC")
    out_dir = cortex.job_root / "j" / "output"
    out_dir.mkdir(parents=True)
    (out_dir / "tmpfile").write_bytes(b"MZ")

    def extract(output):
        job = Job({"id": "x", "status": "InProgress", "organization": "socflow-org", "type": "analyzer"},
                  worker)
        cortex._extract(job, output, out_dir.parent)
        return job

    ok = {"success": True, "full": {}, "summary": {}}
    assert extract(dict(ok, artifacts=[{"dataType": "ip", "data": "1.2.3.4", "ioc": True}])).report[
        "errorMessage"].startswith("Report creation failure")
    assert extract(dict(ok, artifacts=[{"dataType": "ip", "data": "1.2.3.4", "tlp": 4}])).doc["status"] == "Failure"
    assert extract(dict(ok, artifacts=[{"dataType": "ip", "data": "1.2.3.4"}, None])).report["artifacts"] == []
    stuck = extract({"success": True, "full": "text"})
    assert stuck.doc["status"] == "InProgress" and stuck.report is None  # Cortex 4.1 hangs too
    filed = extract(dict(ok, artifacts=[{"dataType": "file", "file": "tmpfile", "filename": "a.exe"},
                                        {"dataType": "file", "file": "../x", "filename": "b"}]))
    (art,) = filed.report["artifacts"]
    assert art["attachment"]["name"] == "a.exe" and art["attachment"]["size"] == 2
    assert cortex.datastore[art["attachment"]["id"]][1] == b"MZ"
    failed = extract({"success": False, "errorMessage": "boom", "input": {"data": "x"}})
    assert failed.report == {"success": False, "errorMessage": "boom", "input": '{"data": "x"}'}


def test_latency_and_outages(cortex, api):
    cortex.latency = 0.2
    start = time.monotonic()
    assert api.get("/api/analyzer").status_code == 200
    assert time.monotonic() - start >= 0.2
    cortex.latency = 0
    cortex.outage("500", count=1)
    assert api.get("/api/analyzer").json() == {"type": "InternalError", "message": "injected outage"}
    cortex.outage("refused")
    with pytest.raises(requests.exceptions.ConnectionError):
        api.get("/api/analyzer")
    cortex.recover()
    assert api.get("/api/analyzer").status_code == 200
