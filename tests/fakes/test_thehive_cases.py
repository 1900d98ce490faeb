"""The TheHive 5 emulator's cases, templates, tasks, task logs, promotion/merge, query API and
notifications, driven through the real thehive4py 2.1.0 (``thehive-cortex-response.md`` R1–R5, R8)."""

from __future__ import annotations

import time

import pytest
import requests
from fakes.thehive import FakeTheHive
from fakes.webhook import FakeWebhook
from thehive4py import TheHiveApi
from thehive4py.errors import TheHiveError
from thehive4py.query.filters import Eq, Gt, In
from thehive4py.query.page import Paginate
from thehive4py.query.sort import Asc, Desc

PHISHING = {
    "name": "IRM-16-Phishing",
    "displayName": "Phishing (CERT-SG IRM16)",
    "titlePrefix": "[Phishing] ",
    "severity": 1,
    "tags": ["phishing"],
    "tlp": 2,
    "pap": 2,
    "tasks": [
        {"title": "Identification", "group": "Identification", "order": 1},
        {"title": "Containment", "group": "Containment", "order": 2, "mandatory": True},
        {"title": "Preparation", "order": 0},
    ],
}


def _alert(ref: str = "r1", **extra):
    return {"type": "mail", "source": "socflow", "sourceRef": ref, "title": "Reported mail",
            "description": "a reported phishing mail", **extra}


@pytest.fixture()
def hive():
    with FakeTheHive() as h:
        yield h


@pytest.fixture()
def api(hive):
    return TheHiveApi(hive.url, apikey=hive.api_key, organisation="main-org", max_retries=0)


def _error(call, *args):
    with pytest.raises(TheHiveError) as err:
        call(*args)
    return err.value.response.status_code, err.value.response.json()


# ---------------------------------------------------------------- cases
def test_case_create_get_by_id_and_number_with_defaults(api):
    case = api.case.create({"title": "Intrusion", "description": "d"})
    assert case["_type"] == "Case" and case["number"] == 1
    assert (case["severity"], case["tlp"], case["pap"], case["flag"]) == (2, 2, 2, False)
    assert (case["status"], case["stage"], case["severityLabel"]) == ("New", "New", "MEDIUM")
    assert case["access"] == {"_kind": "OrganisationAccessKind"}
    assert case["assignee"] == "bridge@thehive.local"  # the caller when none is given
    second = api.case.create({"title": "Other", "description": "d", "severity": 4, "tlp": 4})
    assert second["number"] == 2 and second["tlpLabel"] == "RED"
    assert api.case.get(case["_id"])["title"] == "Intrusion"
    assert api.case.get("2")["_id"] == second["_id"]  # the number works instead of the id
    assert _error(api.case.get, "~nope") == (404, {"type": "NotFoundError", "message": "Case ~nope not found"})


@pytest.mark.parametrize("body,name", [
    ({"description": "d"}, "title"),
    ({"title": "t"}, "description"),
    ({"title": "t", "description": "d", "severity": 5}, "severity"),
    ({"title": "t", "description": "d", "tlp": 5}, "tlp"),
    ({"title": "t", "description": "d", "pap": 4}, "pap"),
    ({"title": "x" * 513, "description": "d"}, "title"),
    ({"title": "t", "description": "d", "tags": ["a", "a"]}, "tags"),
    ({"title": "t", "description": "d", "tasks": [{"group": "g"}]}, "tasks[0].title"),
])
def test_case_field_rules_answer_attribute_checking_error(api, body, name):
    status, err = _error(api.case.create, body)
    assert status == 400 and err["type"] == "AttributeCheckingError"
    assert name in [e["name"] for e in err["errors"]]


def test_case_update_severity_tags_assignee_and_unknown_status(api, hive):
    hive.add_user("l2@thehive.local")
    case = api.case.create({"title": "t", "description": "d", "tags": ["a", "b"]})
    assert api.case.update(case["_id"], {"severity": 3, "addTags": ["c"], "removeTags": ["a"],
                                         "assignee": "l2@thehive.local"}) == ""
    got = api.case.get(case["_id"])
    assert (got["severity"], got["severityLabel"], got["tags"]) == (3, "HIGH", ["b", "c"])
    assert got["assignee"] == "l2@thehive.local" and got["_updatedBy"] == "bridge@thehive.local"
    assert _error(api.case.update, case["_id"], {"status": "Resolved"})[0] == 400  # TH3/4 model
    status, err = _error(api.case.update, case["_id"], {"assignee": "nobody@x"})
    assert (status, err["type"]) == (404, "NotFoundError")
    assert _error(api.case.update, case["_id"], {"impactStatus": "Huge"})[0] == 400


def test_close_ends_open_tasks_and_mandatory_task_blocks(api):
    case = api.case.create({"title": "t", "description": "d", "tasks": [
        {"title": "busy"}, {"title": "idle"}, {"title": "must", "mandatory": True}]})
    tasks = {t["title"]: t for t in api.case.find_tasks(case["_id"])}
    api.task.update(tasks["busy"]["_id"], {"status": "InProgress"})
    status, err = _error(api.case.close, case["_id"], "TruePositive", "done")
    assert status == 400 and "must" in err["message"]
    status, err = _error(api.task.update, tasks["must"]["_id"], {"status": "Completed"})
    assert status == 400 and "log" in err["message"]  # a mandatory task needs a log first
    api.task_log.create(tasks["must"]["_id"], {"message": "done by hand"})
    api.task.update(tasks["must"]["_id"], {"status": "Completed"})
    api.case.close(case["_id"], "TruePositive", "phishing confirmed", impact_status="WithImpact")
    got = api.case.get(case["_id"])
    assert (got["status"], got["stage"], got["impactStatus"]) == ("TruePositive", "Closed", "WithImpact")
    assert got["summary"] == "phishing confirmed" and got["endDate"] and got["closedDate"]
    after = {t["title"]: t["status"] for t in api.case.find_tasks(case["_id"])}
    assert after == {"busy": "Completed", "idle": "Cancel", "must": "Completed"}
    api.case.open(case["_id"])
    assert api.case.get(case["_id"])["stage"] == "InProgress"


def test_reopen_needs_the_reopen_permission(hive, api):
    case = api.case.create({"title": "t", "description": "d"})
    api.case.close(case["_id"], "FalsePositive", "fp")
    hive.add_user("junior@thehive.local", api_key="junior-key-0123456789",
                  permissions=frozenset({"manageCase/update"}))
    junior = TheHiveApi(hive.url, apikey="junior-key-0123456789", max_retries=0)
    status, err = _error(junior.case.open, case["_id"])
    assert (status, err["type"]) == (403, "AuthorizationError")


# ---------------------------------------------------------------- templates, tasks, logs
def test_template_gives_prefix_tasks_tags_and_defaults(api):
    tpl = api.case_template.create(PHISHING)
    assert tpl["_type"] == "CaseTemplate" and api.case_template.get("IRM-16-Phishing")["_id"] == tpl["_id"]
    case = api.case.create({"title": "Invoice mail", "description": "d", "caseTemplate": "IRM-16-Phishing",
                            "tags": ["reported"], "severity": 3, "tasks": [{"title": "Extra"}]})
    assert case["title"] == "[Phishing] Invoice mail"
    assert case["tags"] == ["phishing", "reported"] and case["severity"] == 3  # request wins
    tasks = api.case.find_tasks(case["_id"])
    assert [t["title"] for t in tasks] == ["Identification", "Containment", "Preparation", "Extra"]
    first = tasks[0]
    assert (first["status"], first["flag"], first["mandatory"]) == ("Waiting", False, False)
    assert tasks[2]["group"] == "default" and tasks[1]["mandatory"] is True
    by_order = api.case.find_tasks(case["_id"], sortby=Asc("order"))
    assert by_order[0]["title"] == "Preparation"
    by_id = api.case.create({"title": "x", "description": "d", "caseTemplate": tpl["_id"]})
    assert by_id["severity"] == 1  # template value where the request says nothing
    assert _error(api.case.create, {"title": "x", "description": "d", "caseTemplate": "nope"})[0] == 404
    assert _error(api.case_template.create, PHISHING)[1]["type"] == "CreateError"
    assert [t["name"] for t in api.case_template.find()] == ["IRM-16-Phishing"]


def test_tasks_status_assign_and_first_log_starts_the_task(api, hive):
    hive.add_user("l2@thehive.local")
    case = api.case.create({"title": "t", "description": "d"})
    task = api.case.create_task(case["_id"], {"title": "Containment"})
    assert task["_type"] == "Task" and task["status"] == "Waiting" and task["order"] == 0
    assert _error(api.task.update, task["_id"], {"status": "Done"})[0] == 400
    api.task.update(task["_id"], {"assignee": "l2@thehive.local"})
    log = api.task_log.create(task["_id"], {"message": "blocked **evil.example**"})
    assert log["_type"] == "Log" and log["owner"] == "bridge@thehive.local" and "date" in log
    got = api.task.get(task["_id"])
    assert got["status"] == "InProgress" and got["startDate"] and got["assignee"] == "l2@thehive.local"
    api.task.update(task["_id"], {"status": "Completed"})
    assert api.task.get(task["_id"])["endDate"]
    assert [lg["message"] for lg in api.task.find_logs(task["_id"])] == ["blocked **evil.example**"]
    assert api.task_log.get(log["_id"])["message"] == "blocked **evil.example**"  # query getLog
    api.task_log.update(log["_id"], {"message": "edited"})
    assert api.task_log.get(log["_id"])["message"] == "edited"
    assert api.task.count(filters=Eq("status", "Completed")) == 1
    assert _error(api.task_log.create, task["_id"], {"message": ""})[0] == 400
    assert _error(api.task.get, "~404")[1]["type"] == "NotFoundError"


def test_task_log_with_attachments_multipart(api, tmp_path):
    case = api.case.create({"title": "t", "description": "d"})
    task = api.case.create_task(case["_id"], {"title": "Evidence"})
    paths = []
    for name in ("a.txt", "b.eml"):
        (tmp_path / name).write_text(name)
        paths.append(str(tmp_path / name))
    log = api.task_log.create(task["_id"], {"message": "files", "attachments": paths})
    assert [a["name"] for a in log["attachments"]] == ["a.txt", "b.eml"]
    assert log["attachments"][0]["size"] == 5


def test_case_observables_and_update(api, tmp_path):
    case = api.case.create({"title": "t", "description": "d"})
    made = api.case.create_observable(case["_id"], {"dataType": "domain", "data": ["evil.example", "bad.example"],
                                                    "ioc": True, "tlp": 3, "tags": ["phish"]})
    assert isinstance(made, list) and len(made) == 2 and made[0]["tlpLabel"] == "AMBER+STRICT"
    dup = api.case.create_observable(case["_id"], {"dataType": "domain", "data": "evil.example"})
    assert dup["failure"][0]["type"] == "CreateError"  # 207 multi-status, as TheHive answers
    (tmp_path / "mail.eml").write_bytes(b"From: x")
    files = api.case.create_observable(case["_id"], {"dataType": "file"}, observable_path=str(tmp_path / "mail.eml"))
    assert files[0]["attachment"]["name"] == "mail.eml"
    api.observable.update(made[0]["_id"], {"ioc": False, "addTags": ["checked"]})
    got = api.observable.get(made[0]["_id"])
    assert got["ioc"] is False and got["tags"] == ["phish", "checked"]
    assert len(api.case.find_observables(case["_id"])) == 3
    assert [o["data"] for o in api.case.find_observables(case["_id"], filters=Eq("ioc", True))] == ["bad.example"]
    assert _error(api.case.create_observable, case["_id"], {"dataType": "nosuch", "data": "x"})[0] == 404


# ---------------------------------------------------------------- promote, merge, unlink
def test_promote_with_template_copies_the_alert_and_is_idempotent(api, hive):
    api.case_template.create(PHISHING)
    alert = api.alert.create(_alert(tags=["mail"], severity=3, tlp=1, observables=[
        {"dataType": "mail", "data": "boss@evil.example", "ioc": True},
        {"dataType": "url", "data": "http://evil.example/login"}]))
    case = api.alert.promote_to_case(alert["_id"], {"caseTemplate": "IRM-16-Phishing"})
    assert case["title"] == "[Phishing] Reported mail" and case["description"] == "a reported phishing mail"
    assert (case["severity"], case["tlp"], case["tags"]) == (3, 1, ["phishing", "mail"])
    assert len(api.case.find_tasks(case["_id"])) == 3
    assert sorted(o["data"] for o in api.case.find_observables(case["_id"])) == [
        "boss@evil.example", "http://evil.example/login"]
    got = api.alert.get(alert["_id"])
    assert (got["caseId"], got["status"], got["stage"]) == (case["_id"], "Imported", "Imported")
    again = api.alert.promote_to_case(alert["_id"], {"caseTemplate": "IRM-16-Phishing"})
    assert again["_id"] == case["_id"] and len(hive.orgs["main-org"].cases) == 1
    linked = api.query.run([{"_name": "getAlert", "idOrName": alert["_id"]}, {"_name": "case"}])
    assert [c["_id"] for c in linked] == [case["_id"]]
    back = api.query.run([{"_name": "getCase", "idOrName": case["_id"]}, {"_name": "alerts"}])
    assert [a["_id"] for a in back] == [alert["_id"]]
    overridden = api.alert.promote_to_case(api.alert.create(_alert("r2"))["_id"], {"title": "Own title"})
    assert overridden["title"] == "Own title"
    assert _error(api.alert.promote_to_case, "~missing")[0] == 404


def test_merge_bulk_merge_and_unlink(api):
    case = api.case.create({"title": "Campaign", "description": "first", "tags": ["c"]})
    a1 = api.alert.create(_alert("m1", tags=["x"], observables=[{"dataType": "ip", "data": "198.51.100.7"}]))
    merged = api.alert.merge_into_case(a1["_id"], case["_id"])
    assert merged["_id"] == case["_id"] and merged["tags"] == ["c", "x"]
    assert merged["description"] == ("first\n  \n#### Merged with alert #m1 Reported mail\n\n"
                                      "a reported phishing mail")
    assert [o["data"] for o in api.case.find_observables(case["_id"])] == ["198.51.100.7"]
    status, err = _error(api.alert.merge_into_case, a1["_id"], case["_id"])
    assert (status, err) == (400, {"type": "BadRequest", "message": "Alert is already imported"})
    ids = [api.alert.create(_alert(f"b{i}"))["_id"] for i in range(3)]
    api.alert.bulk_merge_into_case(case["_id"], ids)
    assert all(api.alert.get(i)["caseId"] == case["_id"] for i in ids)
    too_many = [api.alert.create(_alert(f"z{i}"))["_id"] for i in range(51)]
    assert _error(api.alert.bulk_merge_into_case, case["_id"], too_many)[0] == 400
    api.case.unlink_alert(case["_id"], a1["_id"])
    got = api.alert.get(a1["_id"])
    assert "caseId" not in got and (got["status"], got["stage"]) == ("New", "New")


def test_alert_status_rules(api, hive):
    alert = api.alert.create(_alert())
    api.alert.update(alert["_id"], {"status": "InProgress"})
    assert api.alert.get(alert["_id"])["stage"] == "InProgress"
    assert _error(api.alert.update, alert["_id"], {"status": "New"})[0] == 400
    assert _error(api.alert.update, alert["_id"], {"status": "Imported"})[0] == 400
    assert _error(api.alert.update, alert["_id"], {"status": "Bogus"})[0] == 400
    api.alert.update(alert["_id"], {"status": "Ignored", "summary": "noise"})
    assert api.alert.get(alert["_id"])["stage"] == "Closed"
    statuses = api.query.run([{"_name": "listAlertStatus"}])
    assert {s["value"]: s["stage"] for s in statuses}["Ignored"] == "Closed"
    hive.add_user("junior@thehive.local", api_key="junior-key-0123456789",
                  permissions=frozenset({"manageAlert/update"}))
    junior = TheHiveApi(hive.url, apikey="junior-key-0123456789", max_retries=0)
    assert _error(junior.alert.update, alert["_id"], {"status": "InProgress"})[0] == 403


# ---------------------------------------------------------------- query API
def test_query_cases_filters_sort_page_total_count(api, hive):
    for i in range(5):
        api.case.create({"title": f"case {i}", "description": "d", "severity": 1 + i % 4,
                         "tags": ["even" if i % 2 == 0 else "odd"]})
        time.sleep(0.002)
    t0 = api.case.get("1")["_createdAt"]
    found = api.case.find(filters=Eq("tags", "even") & Gt("_createdAt", t0), sortby=Desc("_createdAt"),
                          paginate=Paginate(0, 10))
    assert [c["title"] for c in found] == ["case 4", "case 2"]
    assert api.case.count(filters=In("severity", [1, 2])) == 3
    resp = requests.post(f"{hive.url}/api/v1/query", timeout=5,
                         headers={"Authorization": f"Bearer {hive.api_key}"},
                         json={"query": [{"_name": "listCase"}, {"_name": "sort", "_fields": [{"number": "asc"}]},
                                         {"_name": "page", "from": 1, "to": 3, "extraData": ["total"]}],
                               "excludeFields": ["description"]})
    assert resp.headers["X-Total"] == "5" and [c["number"] for c in resp.json()] == [2, 3]
    assert "description" not in resp.json()[0]
    waiting = api.query.run([{"_name": "listCaseStatus"}])
    assert {s["value"]: s["stage"] for s in waiting}["TruePositive"] == "Closed"
    status, err = _error(api.query.run, [{"_name": "listNothing"}])
    assert (status, err["type"]) == (400, "BadRequest")


# ---------------------------------------------------------------- notifications, outages
def test_webhook_notifications_are_theHive_audits(hive, api):
    with FakeWebhook() as hook:
        hive.notify_to(hook.url + "/thehive", auth=("bearer", "hook-secret"))
        alert = api.alert.create(_alert(observables=[{"dataType": "ip", "data": "198.51.100.7"},
                                                     {"dataType": "domain", "data": "evil.example"}]))
        case = api.alert.promote_to_case(alert["_id"], {"tasks": [{"title": "Triage"}]})
        task = api.case.find_tasks(case["_id"])[0]
        api.task_log.create(task["_id"], {"message": "looked"})
        api.case.close(case["_id"], "TruePositive", "done")
        assert hive.wait_notifications(5)
        bodies = [r.json for r in hook.requests]
    kinds = [(b["objectType"], b["action"]) for b in bodies]
    assert kinds[:3] == [("Alert", "create"), ("Observable", "create"), ("Observable", "create")]
    assert ("Case", "create") in kinds and ("Task", "create") in kinds and ("Log", "create") in kinds
    first = bodies[0]
    assert {"_id", "_type", "_createdBy", "_createdAt", "action", "mainAction", "requestId", "objectId",
            "objectType", "object", "details", "rootId", "organisation"} <= set(first)
    assert first["organisation"]["organisation"] == "main-org" and first["object"]["_id"] == alert["_id"]
    obs = bodies[1]
    assert obs["mainAction"] is False and obs["rootId"] == alert["_id"] and obs["context"]["_type"] == "Alert"
    assert obs["requestId"] == first["requestId"]  # one request, one requestId
    imported = next(b for b in bodies if b["objectType"] == "Alert" and b["action"] == "update")
    assert imported["details"]["stage"] == "Imported" and imported["details"]["caseId"] == case["_id"]
    closed = [b for b in bodies if b["objectType"] == "Case" and b["details"].get("stage") == "Closed"]
    assert len(closed) == 1 and closed[0]["details"]["status"] == "TruePositive"
    log = next(b for b in bodies if b["objectType"] == "Log")
    assert log["rootId"] == case["_id"] and log["context"]["_id"] == task["_id"]
    assert all(r.headers["Authorization"] == "Bearer hook-secret" for r in hook.requests)
    assert len(bodies) == len(hive.audits)


def test_notification_triggers_filter_and_failures_are_not_retried(hive, api):
    with FakeWebhook() as hook:
        hive.notify_to(hook.url + "/status/500/boom", triggers={"CaseCreated", "CaseClosed"})
        api.alert.create(_alert())
        case = api.case.create({"title": "t", "description": "d"})
        api.case.update(case["_id"], {"severity": 3})
        api.case.close(case["_id"], "Other", "x")
        assert hive.wait_notifications(5)
        assert len(hook.requests) == 2  # created + closed, each once despite the 500
    assert [d.status for d in hive.notifier.deliveries] == [500, 500]
    with pytest.raises(ValueError):
        hive.notify_to("http://192.0.2.1/hook")  # never anything but loopback
    with pytest.raises(ValueError):
        hive.notify_to(hook.url, triggers={"NoSuchTrigger"})


def test_latency_and_outages_apply_to_case_routes(hive, api):
    hive.latency = 0.2
    start = time.monotonic()
    api.case.create({"title": "t", "description": "d"})
    assert time.monotonic() - start >= 0.2
    hive.latency = 0
    hive.outage("500", count=1)
    status, err = _error(api.case.create, {"title": "t", "description": "d"})
    assert (status, err["type"]) == (500, "InternalError")
    hive.outage("refused")
    with pytest.raises(requests.exceptions.ConnectionError):
        api.case.get("1")
    hive.recover()
    assert api.case.get("1")["number"] == 1
