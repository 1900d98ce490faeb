"""Pushing a case's MISP event twice leaves one event: the event UUID comes from the TheHive
instance and the case ``_id`` (uuid5), attribute UUIDs from the event and (type, value); the push
asks MISP for the UUID (``HEAD events/view/{uuid}``) and edits the event it holds
(``events/edit/{uuid}``) instead of adding a second one. Real PyMISP against the loopback fake."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest
import requests
from fakes.misp import FakeMisp

from socflow.adapters.misp import push_event
from socflow.errors import ProviderError
from socflow.export import attribute_uuid, event_uuid, from_thehive, instance_key, misp_event

HIVE = "https://thehive.example-corp.com"
CASE = {"_id": "~40964096", "number": 42, "title": "Invoice phishing", "tlp": 2, "severity": 3,
        "tags": ["phishing"]}
FIRST = [{"dataType": "domain", "data": "invoice-portal.example", "ioc": True},
         {"dataType": "ip", "data": "193.32.162.157", "ioc": True, "message": "first hop"}]
LATER = [*FIRST[:1],
         {"dataType": "ip", "data": "193.32.162.157", "ioc": True, "message": "first hop, confirmed",
          "tags": ["confirmed"]},
         {"dataType": "url", "data": "https://invoice-portal.example/login", "ioc": True}]
# the UUID of CASE on HIVE, pinned: a change here gives every case already pushed a second event
PINNED = "5a891f19-2ba9-5436-8c8a-da10b00fed08"


@pytest.fixture()
def misp():
    with FakeMisp() as fake:
        yield fake


def _export(observables, case=CASE, instance=HIVE):
    return misp_event(from_thehive(case, observables, instance=instance))


def _push(misp, export, **kw):
    return push_event(export, url=misp.url, key=misp.api_key, allow_private=True, **kw)


def _calls(misp, since=4):  # after the four constructor calls of each PyMISP
    return [(m, p) for m, p, _, _ in misp.requests[since:]]


def test_the_event_uuid_comes_from_the_thehive_instance_and_the_case_id():
    export = _export(FIRST)
    assert export.idempotent and export.event.uuid == PINNED == event_uuid(from_thehive(CASE, [], instance=HIVE))
    assert _export(LATER).event.uuid == PINNED  # other observables, same case: same event
    assert _export(FIRST, dict(CASE, title="renamed", number=43)).event.uuid == PINNED
    other_case = _export(FIRST, dict(CASE, _id="~40968192"))
    other_hive = _export(FIRST, instance="https://thehive-2.example-corp.com")
    assert len({PINNED, other_case.event.uuid, other_hive.event.uuid}) == 3
    # one instance however its URL is written (case, trailing slash, default port, http → https)
    for same in ("https://TheHive.example-corp.com/", "http://thehive.example-corp.com:80",
                 "https://thehive.example-corp.com:443"):
        assert _export(FIRST, instance=same).event.uuid == PINNED
    assert instance_key("https://thehive.example-corp.com:9000/thehive/") == "thehive.example-corp.com:9000/thehive"
    assert _export(FIRST, instance="https://thehive.example-corp.com/thehive").event.uuid != PINNED
    attrs = {(a.type, a.value): a.uuid for a in export.event.attributes}
    assert attrs == {(k, v): attribute_uuid(PINNED, k, v) for k, v in attrs}
    assert attrs[("ip-dst", "193.32.162.157")] == str(uuid.uuid5(uuid.UUID(PINNED), "ip-dst\n193.32.162.157"))
    assert not set(attrs.values()) & {a.uuid for a in other_case.event.attributes}


@pytest.mark.parametrize("case,instance", [
    ({"title": "no id"}, HIVE),  # a case file written by hand
    (CASE, None),  # a case file, and nothing says which TheHive it came from
    (dict(CASE, _id=""), HIVE), (dict(CASE, _id=40964096), HIVE), (dict(CASE, _id="~4\n1"), HIVE),
    (CASE, "thehive.example-corp.com"),  # not a URL
])
def test_a_case_nothing_identifies_keeps_a_random_uuid(case, instance):
    one, two = _export(FIRST, case, instance), _export(FIRST, case, instance)
    assert not one.idempotent and one.event.uuid != two.event.uuid
    assert uuid.UUID(one.event.uuid).version == 4


def test_the_uuids_are_the_same_in_another_process():
    code = ("import sys, json; from socflow.export import from_thehive, misp_event; "
            "e = misp_event(from_thehive(json.loads(sys.argv[1]), json.loads(sys.argv[2]), instance=sys.argv[3])); "
            "print(json.dumps([e.event.uuid, sorted(a.uuid for a in e.event.attributes)]))")
    runs = [subprocess.run([sys.executable, "-c", code, json.dumps(CASE), json.dumps(FIRST), HIVE],
                           capture_output=True, text=True, timeout=60, check=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}) for seed in ("1", "2")]
    here = _export(FIRST)
    expected = [PINNED, sorted(a.uuid for a in here.event.attributes)]
    assert [json.loads(r.stdout) for r in runs] == [expected, expected]


def test_pushing_the_same_case_twice_leaves_one_event_with_the_union_of_attributes(misp):
    first = _push(misp, _export(FIRST))
    assert not first.updated and first.idempotent and first.uuid == PINNED and first.attributes == 2
    assert _calls(misp) == [("HEAD", f"/events/view/{PINNED}"), ("POST", "/events/add")]
    # an analyst adds an attribute in MISP meanwhile; the case gains a URL, the IP a tag and a comment
    added = requests.post(f"{misp.url}/attributes/add/{first.event_id}", timeout=10,
                          headers={"Authorization": misp.api_key},
                          json={"type": "domain", "value": "analyst-found.example"})
    assert added.status_code == 200, added.text
    mark = len(misp.requests)
    second = _push(misp, _export(LATER))
    assert second.updated and second.event_id == first.event_id and second.uuid == PINNED
    assert _calls(misp, mark + 4) == [("HEAD", f"/events/view/{PINNED}"), ("POST", f"/events/edit/{PINNED}")]
    (event,) = misp.events.values()
    values = sorted((a["type"], a["value"]) for a in event["Attribute"])
    assert values == [("domain", "analyst-found.example"), ("domain", "invoice-portal.example"),
                      ("ip-dst", "193.32.162.157"), ("url", "https://invoice-portal.example/login")]
    assert second.attributes == 4
    ip = next(a for a in event["Attribute"] if a["type"] == "ip-dst")
    assert ip["comment"] == "first hop, confirmed" and [t["name"] for t in ip["Tag"]] == ["confirmed"]
    assert sorted(t["name"] for t in event["Tag"]) == ["phishing", "tlp:amber"]  # not twice
    third = _push(misp, _export(LATER))  # nothing new: still one event, nothing repeated
    assert third.updated and third.event_id == first.event_id and len(misp.events) == 1
    assert len(misp.events[first.event_id]["Attribute"]) == 4


def test_publish_only_when_asked_and_an_update_leaves_the_event_unpublished(misp):
    first = _push(misp, _export(FIRST), publish=True)
    assert first.published and misp.events[first.event_id]["published"] is True
    mark = len(misp.requests)
    again = _push(misp, _export(LATER))
    assert again.updated and not again.published
    assert misp.events[first.event_id]["published"] is False  # MISP's edit unpublishes
    assert not any("/publish/" in p for _, p in _calls(misp, mark))
    last = _push(misp, _export(LATER), publish=True)
    assert last.updated and last.published and misp.events[first.event_id]["published"] is True
    assert misp.requests[-1][1] == f"/events/publish/{first.event_id}" and len(misp.events) == 1


def test_a_case_without_an_id_still_pushes_but_each_push_is_a_new_event(misp):
    case = {"title": "hand-written case"}
    one, two = _push(misp, _export(FIRST, case)), _push(misp, _export(FIRST, case))
    assert not one.idempotent and not two.idempotent and not one.updated and not two.updated
    assert one.event_id != two.event_id and len(misp.events) == 2
    assert not any(m == "HEAD" for m, _, _, _ in misp.requests)  # nothing to look for


def test_an_event_this_key_cannot_see_or_a_deleted_one_is_a_clear_error(misp):
    pushed = _push(misp, _export(FIRST))
    misp.hidden.add(pushed.event_id)  # HEAD says 404, the add says "already exists", the edit 404
    with pytest.raises(ProviderError, match=f"holds an event with this case's UUID {PINNED} that this key "
                                            "cannot see or edit"):
        _push(misp, _export(FIRST))
    assert [s for m, p, s, _ in misp.requests if p == "/events/add"] == [200, 404]
    misp.hidden.clear()
    misp.delete_event(pushed.event_id)  # MISP keeps a deleted event's UUID on its blocklist
    with pytest.raises(ProviderError, match=r"adding the event failed \(HTTP 403\): Event blocked by event "
                                            r"blocklist\.$"):
        _push(misp, _export(FIRST))
    assert misp.events == {}


def test_an_edit_misp_refuses_says_why(misp):
    from pymisp import MISPEvent

    pushed = _push(misp, _export(FIRST))
    stored = MISPEvent()
    stored.load({"Event": dict(misp.events[pushed.event_id])})  # as read back: timestamps kept
    with pytest.raises(ProviderError, match=r"updating the event failed \(HTTP 403\): Could not edit Event: "
                                            "Event could not be saved: Event in the request not newer"):
        _push(misp, stored)
    assert len(misp.events) == 1


def test_an_add_misp_answers_already_exists_becomes_the_edit(misp):
    """A push that lost the race (the lookup said 404, another push added the UUID since) — here
    the same export of a case without an id, sent twice, so nothing is looked up first."""
    export = _export(FIRST, {"title": "no id"})
    first = _push(misp, export)
    mark = len(misp.requests)
    again = _push(misp, export)
    assert again.updated and again.event_id == first.event_id and not again.idempotent
    assert [(m, p, s) for m, p, s, _ in misp.requests[mark + 4:]] == [
        ("POST", "/events/add", 404), ("POST", f"/events/edit/{export.event.uuid}", 200)]
    assert len(misp.events) == 1 and len(misp.events[first.event_id]["Attribute"]) == 2
