"""The TheHive emulator itself, driven through the real thehive4py 2.1.0 (spec Part E)."""

from __future__ import annotations

import time

import pytest
import requests
from fakes.thehive import FakeTheHive
from thehive4py import TheHiveApi
from thehive4py.errors import TheHiveError
from thehive4py.query.filters import Eq
from thehive4py.query.page import Paginate
from thehive4py.query.sort import Desc


def _alert(ref: str = "r1", **extra):
    return {
        "type": "socflow",
        "source": "test",
        "sourceRef": ref,
        "title": "t",
        "description": "d",
        **extra,
    }


@pytest.fixture()
def hive():
    with FakeTheHive() as h:
        yield h


@pytest.fixture()
def api(hive):
    return TheHiveApi(hive.url, apikey=hive.api_key, organisation="main-org", max_retries=0)


def test_create_returns_output_alert_with_labels_and_observable_count(api, hive):
    out = api.alert.create(
        _alert(
            severity=3,
            tlp=4,
            pap=1,
            tags=["a"],
            observables=[
                {"dataType": "ip", "data": "203.0.113.9"},
                {"dataType": "domain", "data": ["a.example", "b.example"]},
            ],
        )
    )
    assert out["_type"] == "Alert" and out["_id"].startswith("~")
    assert (out["severityLabel"], out["tlpLabel"], out["papLabel"]) == ("HIGH", "RED", "GREEN")
    assert out["observableCount"] == 3 and out["stage"] == "New"
    assert api.alert.get(out["_id"])["title"] == "t"
    assert len(hive.alerts) == 1 and hive.alerts[0]["organisation"] == "main-org"


def test_defaults_follow_thehive(api):
    out = api.alert.create(_alert())
    assert (out["severity"], out["tlp"], out["pap"], out["follow"]) == (2, 2, 2, True)


def test_duplicate_is_400_create_error(api):
    api.alert.create(_alert())
    with pytest.raises(TheHiveError) as err:
        api.alert.create(_alert())
    assert err.value.response.status_code == 400
    assert err.value.response.json()["type"] == "CreateError"
    assert "socflow:test:r1 already exist in organisation main-org" in err.value.message


@pytest.mark.parametrize(
    "field,value",
    [
        ("type", "x" * 33),
        ("source", ""),
        ("sourceRef", "r" * 129),
        ("title", "t" * 513),
        ("description", "d" * (1_048_576 + 1)),
        ("externalLink", "l" * 4097),
        ("severity", 0),
        ("severity", 5),
        ("tlp", 5),
        ("tlp", -1),
        ("pap", 4),
        ("tags", ["a", "a"]),
        ("tags", ["x" * 129]),
        ("tags", [""]),
        ("date", "yesterday"),
        ("flag", "yes"),
        ("status", "s" * 65),
        ("assignee", ""),
        ("caseTemplate", "c" * 129),
    ],
)
def test_every_field_rule_gives_attribute_checking_error(api, hive, field, value):
    with pytest.raises(TheHiveError) as err:
        api.alert.create(_alert(**{field: value}))
    body = err.value.response.json()
    assert err.value.response.status_code == 400 and body["type"] == "AttributeCheckingError"
    assert any(e["name"] == field for e in body["errors"])
    assert hive.alerts == []


@pytest.mark.parametrize("missing", ["type", "source", "sourceRef", "title", "description"])
def test_required_fields(api, missing):
    body = _alert()
    del body[missing]
    with pytest.raises(TheHiveError, match="AttributeCheckingError"):
        api.alert.create(body)


def test_limits_are_inclusive(api):
    out = api.alert.create(
        _alert(
            ref="r" * 128,
            type="t" * 32,
            source="s" * 32,
            title="x" * 512,
            severity=4,
            tlp=0,
            pap=3,
            tags=["y" * 128],
        )
    )
    assert out["sourceRef"] == "r" * 128


def test_observable_rules_in_create(api):
    with pytest.raises(TheHiveError) as err:
        api.alert.create(_alert(observables=[{"dataType": "nosuchtype", "data": "x"}]))
    assert err.value.response.status_code == 404
    with pytest.raises(TheHiveError, match="Observable already exists"):
        api.alert.create(_alert(observables=[{"dataType": "ip", "data": "1.2.3.4"}] * 2))
    with pytest.raises(TheHiveError, match="AttributeCheckingError"):
        api.alert.create(_alert(observables=[{"dataType": "ip", "data": "1.2.3.4", "tlp": 9}]))


def test_auth_and_organisation(hive):
    bad = TheHiveApi(hive.url, apikey="wrong", max_retries=0)
    with pytest.raises(TheHiveError) as err:
        bad.alert.create(_alert())
    assert err.value.response.status_code == 401
    assert err.value.response.json()["type"] == "AuthenticationError"
    basic = TheHiveApi(hive.url, username="admin@thehive.local", password="secret", max_retries=0)
    assert basic.alert.create(_alert())["_createdBy"] == "admin@thehive.local"
    other = TheHiveApi(hive.url, apikey=hive.api_key, organisation="share-org", max_retries=0)
    other.alert.create(_alert())  # same identity, another organisation: not a duplicate
    assert sorted(a["organisation"] for a in hive.alerts) == ["main-org", "share-org"]
    stranger = TheHiveApi(hive.url, apikey=hive.api_key, organisation="admin", max_retries=0)
    with pytest.raises(TheHiveError) as err:
        stranger.alert.find()
    assert err.value.response.status_code == 403


def test_multipart_json_as_file_part_and_as_field(api, hive, tmp_path):
    evidence = tmp_path / "ev.log"
    evidence.write_text("line\n")
    out = api.alert.create(
        _alert(observables=[{"dataType": "file", "attachment": "k1"}]),
        attachment_map={"k1": str(evidence)},
    )
    assert out["observableCount"] == 1
    created = api.alert.create_observable(
        out["_id"], {"dataType": "file"}, observable_path=str(evidence)
    )
    assert created[0]["attachment"]["name"] == "ev.log"


def test_observable_endpoint_201_207_404(api):
    alert = api.alert.create(_alert(observables=[{"dataType": "ip", "data": "1.2.3.4"}]))
    created = api.alert.create_observable(
        alert["_id"], {"dataType": "domain", "data": ["a.example", "b.example"]}
    )
    assert isinstance(created, list) and len(created) == 2
    partial = api.alert.create_observable(
        alert["_id"], {"dataType": "ip", "data": ["1.2.3.4", "5.6.7.8"]}
    )
    assert partial["failure"][0]["type"] == "CreateError" and len(partial["success"]) == 1
    with pytest.raises(TheHiveError) as err:
        api.alert.create_observable(alert["_id"], {"dataType": "nosuch", "data": "x"})
    assert err.value.response.status_code == 404
    assert api.alert.get(alert["_id"])["observableCount"] == 4
    assert len(api.alert.find_observables(alert["_id"])) == 4


def test_update_delete_promote(api):
    alert = api.alert.create(_alert(tags=["a"]))
    assert api.alert.update(alert["_id"], {"title": "new", "addTags": ["b"]}) == ""
    got = api.alert.get(alert["_id"])
    assert got["title"] == "new" and got["tags"] == ["a", "b"]
    case = api.alert.promote_to_case(alert["_id"])
    assert api.alert.get(alert["_id"])["caseId"] == case["_id"]
    assert api.alert.delete(alert["_id"]) == ""
    with pytest.raises(TheHiveError) as err:
        api.alert.get(alert["_id"])
    assert err.value.response.status_code == 404


def test_query_filter_sort_page_count_and_get_by_name(api):
    for i in range(5):
        api.alert.create(_alert(ref=f"r{i}", severity=1 + i % 4))
        time.sleep(0.002)
    found = api.alert.find(
        filters=Eq("sourceRef", "r3") & Eq("source", "test"),
        sortby=Desc("_createdAt"),
        paginate=Paginate(0, 10),
    )
    assert [a["sourceRef"] for a in found] == ["r3"]
    page = api.alert.find(sortby=Desc("_createdAt"), paginate=Paginate(0, 2))
    assert [a["sourceRef"] for a in page] == ["r4", "r3"]
    assert api.alert.count(filters=Eq("severity", 1)) == 2
    assert api.alert.get("socflow;test;r2")["sourceRef"] == "r2"
    by_name = api.query.run([{"_name": "getAlert", "idOrName": "socflow;test;r1"}])
    assert by_name[0]["sourceRef"] == "r1"


def test_status_endpoints(hive, api):
    assert requests.get(f"{hive.url}/api/v1/status/public", timeout=5).status_code == 200
    assert requests.get(f"{hive.url}/api/v1/status", timeout=5).status_code == 401
    assert api.user.get_current()["login"] == "bridge@thehive.local"


def test_outages(hive, api):
    hive.outage("500", count=1)
    with pytest.raises(TheHiveError, match="InternalError"):
        api.alert.create(_alert())
    hive.outage("503", count=1)
    with pytest.raises(TheHiveError) as err:
        api.alert.create(_alert())
    assert err.value.response.headers["Retry-After"] == "1"
    hive.outage("accept_then_die", count=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        api.alert.create(_alert(ref="kept"))
    assert [a["sourceRef"] for a in hive.alerts] == ["kept"]  # stored although no answer came
    hive.outage("drop", count=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        api.alert.create(_alert(ref="lost"))
    assert len(hive.alerts) == 1
    hive.outage("refused")
    with pytest.raises(requests.exceptions.ConnectionError):
        api.alert.create(_alert(ref="x"))
    hive.recover()
    assert api.alert.create(_alert(ref="x"))["sourceRef"] == "x"
    hive.outage("slow", count=1, delay=0.5)
    start = time.monotonic()
    api.alert.create(_alert(ref="y"))
    assert time.monotonic() - start >= 0.5


def test_thehive4py_default_retry_recovers_from_a_500(hive):
    from urllib3 import Retry

    api = TheHiveApi(
        hive.url,
        apikey=hive.api_key,
        max_retries=Retry(
            total=2,
            backoff_factor=0,
            status_forcelist=[500],
            allowed_methods=["POST"],
            raise_on_status=False,
        ),
    )
    hive.outage("500", count=1)
    assert api.alert.create(_alert())["sourceRef"] == "r1"
    assert [s for _, _, s in hive.requests] == [500, 201]
