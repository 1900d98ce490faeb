"""``socflow.export.export_case`` to a file or, through ``socflow.adapters.misp.push_from_env``,
to MISP; and the engine's services exporting a case read from the TheHive emulator (thehive4py),
the event pushed with PyMISP to the MISP fake."""

from __future__ import annotations

import json

import pytest
from fakes.misp import FakeMisp
from fakes.thehive import FakeTheHive

from socflow.adapters.misp import push_from_env
from socflow.adapters.playbook.services import MispSettings, TheHiveCortex
from socflow.adapters.thehive.sender import TheHiveSettings
from socflow.errors import ConfigError, InputError, PolicyError
from socflow.export import build, export_case

CASE = {"_id": "~1", "number": 3, "title": "Phishing", "tlp": 2, "severity": 2}
OBS = [{"dataType": "domain", "data": "evil.example", "ioc": True},
       {"dataType": "url", "data": "http://evil.example/login", "ioc": False},
       {"dataType": "hash", "data": "xyz", "ioc": True}]


@pytest.mark.parametrize("fmt,key", [("misp", "Event"), ("stix", "objects")])
def test_export_case_writes_the_document_atomically(tmp_path, fmt, key):
    out = tmp_path / f"case.{fmt}.json"
    out.write_text("old")
    result = export_case(CASE, OBS, fmt=fmt, output=str(out))
    assert result == {"format": fmt, "exported": 1, "output": str(out), "skipped": 2,
                      "skipped_reasons": {"not flagged as IOC": 1, "not an MD5/SHA-1/SHA-2 hex digest": 1},
                      **({"idempotent": False} if fmt == "misp" else {})}  # an _id, but no TheHive URL
    assert key in json.loads(out.read_text())
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary file left
    every = export_case(CASE, OBS, fmt=fmt, output=str(out), ioc_only=False)
    assert every["exported"] == 2


def test_export_case_refuses_what_it_cannot_do(tmp_path):
    with pytest.raises(InputError, match="unknown export format 'csv'"):
        export_case(CASE, OBS, fmt="csv", output=str(tmp_path / "x"))
    with pytest.raises(ConfigError, match="nowhere to export to: give an output file$"):
        export_case(CASE, OBS, fmt="stix")
    with pytest.raises(ConfigError, match="SOCFLOW_MISP_URL"):
        export_case(CASE, OBS, fmt="misp")
    with pytest.raises(InputError, match="does not exist"):
        export_case(CASE, OBS, fmt="misp", output=str(tmp_path / "no" / "x.json"))
    with pytest.raises(InputError, match="is a directory"):
        export_case(CASE, OBS, fmt="misp", output=str(tmp_path))


def test_engine_services_export_a_thehive_case_to_misp(monkeypatch, tmp_path):
    """The engine's services (their MispSettings wiring) with this module: case from the TheHive
    emulator through thehive4py, event to the MISP fake through PyMISP, key from the environment."""
    with FakeTheHive() as hive, FakeMisp() as misp:
        settings = TheHiveSettings(url=hive.url, api_key=hive.api_key)
        services = TheHiveCortex(settings, None, MispSettings(url=misp.url, allow_private=True))
        case = services.hive.case.create({"title": "SSH brute force", "description": "d", "tlp": 1,
                                          "tags": ["ssh"]})
        services.hive.case.create_observable(case["_id"], {"dataType": "ip", "data": "193.32.162.157",
                                                           "ioc": True, "tags": ["attacker"]})
        services.hive.case.create_observable(case["_id"], {"dataType": "other", "data": "root"})
        monkeypatch.setenv("SOCFLOW_MISP_KEY", misp.api_key)
        result = services.export(case["_id"], "misp", None, True)
        assert result["exported"] == 1 and result["skipped"] == 1
        event = misp.events[result["misp_event"]]
        assert event["info"] == "SSH brute force (TheHive case #1)" and event["published"] is False
        assert [(a["type"], a["value"], a["to_ids"]) for a in event["Attribute"]] == [
            ("ip-dst", "193.32.162.157", True)]
        assert [t["name"] for t in event["Tag"]] == ["tlp:green", "ssh"]
        stix = services.export(case["_id"], "stix", str(tmp_path / "case-{case}.json"), False)
        assert stix["exported"] == 1 and (tmp_path / "case-1.json").is_file()  # "other": no pattern


def test_push_from_env(monkeypatch):
    with FakeMisp() as misp:
        export = build({"title": "t"}, [{"dataType": "domain", "data": "evil.example", "ioc": True}], fmt="misp")
        monkeypatch.delenv("SOCFLOW_MISP_URL", raising=False)
        with pytest.raises(ConfigError, match="SOCFLOW_MISP_URL"):
            push_from_env(export)
        monkeypatch.setenv("SOCFLOW_MISP_URL", misp.url)
        monkeypatch.setenv("SOCFLOW_MISP_KEY", misp.api_key)
        with pytest.raises(PolicyError):  # loopback needs SOCFLOW_MISP_ALLOW_PRIVATE
            push_from_env(export)
        monkeypatch.setenv("SOCFLOW_MISP_ALLOW_PRIVATE", "true")
        monkeypatch.setenv("SOCFLOW_MISP_PUBLISH", "1")
        pushed = push_from_env(export)
        assert pushed["published"] is True and misp.events[pushed["event_id"]]["published"] is True
        result = export_case({"title": "t"}, [{"dataType": "ip", "data": "1.2.3.4", "ioc": True}],
                             push=push_from_env)
        assert result["misp"]["attributes"] == 1 and result["exported"] == 1
        monkeypatch.setenv("SOCFLOW_MISP_ALLOW_PRIVATE", "maybe")
        with pytest.raises(ConfigError, match="SOCFLOW_MISP_ALLOW_PRIVATE must be true or false"):
            push_from_env(export)


def test_export_case_with_the_cases_thehive_pushes_once(monkeypatch):
    """``instance=`` (the TheHive the case came from) with the case ``_id``: the second
    ``export_case(…, push=push_from_env)`` updates the event the first one added."""
    with FakeMisp() as misp:
        for name, value in (("URL", misp.url), ("KEY", misp.api_key), ("ALLOW_PRIVATE", "1")):
            monkeypatch.setenv(f"SOCFLOW_MISP_{name}", value)
        monkeypatch.delenv("SOCFLOW_MISP_PUBLISH", raising=False)
        first, second = (export_case(CASE, OBS, push=push_from_env, instance="https://thehive.example")
                         for _ in range(2))
        assert first["idempotent"] and second["idempotent"]
        assert (first["misp"]["updated"], second["misp"]["updated"]) == (False, True)
        assert first["misp"]["event_id"] == second["misp"]["event_id"] and len(misp.events) == 1
        anonymous = export_case(CASE, OBS, push=push_from_env)  # an _id, but from which TheHive?
        assert anonymous["idempotent"] is False and anonymous["misp"]["idempotent"] is False
        assert len(misp.events) == 2
