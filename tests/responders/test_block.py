"""Socflow_Block / Socflow_Unblock run the way Cortex runs them, against the real service process."""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from blocklist.service import TOKEN, Service, start_service
from support.cortexjob import JobResult, assert_cortex_accepts, run_job

from socflow import refusal
from socflow.adapters.cortex.responders.block import POLICY_REFUSALS
from socflow.policy.block import Refusal

from .conftest import PARAMETERS, fixture


def respond(flavor: str, service_url: str, data: Any, data_type: str, **config: Any) -> JobResult:
    result = run_job(flavor, data=data, data_type=data_type, parameters=PARAMETERS,
                     config={"api_url": service_url, "api_token": TOKEN, **config}, timeout=60)
    assert result.output_written, result.stderr
    assert_cortex_accepts(result.output)
    assert TOKEN not in result.stdout + result.stderr + str(result.output)
    return result


def test_block_an_observable_tags_it_and_lists_it(blocklist_service: Service) -> None:
    artifact = fixture("case_artifact_ip")
    out = respond("Socflow_Block", blocklist_service.url, artifact, "thehive:case_artifact").output
    assert out["success"] is True, out
    assert out["operations"] == [{"type": "AddTagToArtifact", "tag": "socflow:blocked"}]
    [result] = out["full"]["results"]
    assert (result["status"], result["value"]) == ("added", "185.220.101.47")
    assert blocklist_service.edl("ip") == ["185.220.101.47"]
    [entry] = blocklist_service.api("GET", "/api/v1/entries").json()["entries"]
    assert entry["requested_by"] == "analyst@soc.example-corp.com"
    assert (entry["observable_ref"], entry["case_ref"]) == ("~41025601", "~40964096")
    assert entry["expires_at"] is not None  # default TTL of 168 h


def test_blocking_twice_is_fine(blocklist_service: Service) -> None:
    artifact = fixture("case_artifact_ip")
    first = respond("Socflow_Block", blocklist_service.url, artifact, "thehive:case_artifact").output
    second = respond("Socflow_Block", blocklist_service.url, artifact, "thehive:case_artifact").output
    assert first["success"] and second["success"]
    assert second["full"]["results"][0]["status"] in {"exists", "extended"}
    assert second["operations"] == first["operations"]
    assert blocklist_service.edl("ip") == ["185.220.101.47"]


def test_private_address_is_refused_with_the_reason(blocklist_service: Service) -> None:
    artifact = fixture("case_artifact_ip") | {"data": "192.168.10.5"}
    out = respond("Socflow_Block", blocklist_service.url, artifact, "thehive:case_artifact").output
    assert out["success"] is False
    assert "192.168.10.5" in out["errorMessage"] and "private" in out["errorMessage"]
    assert blocklist_service.edl("ip") == []
    # the one part of a failed job Cortex keeps says it was the policy, in a form a playbook reads
    assert out["errorMessage"].startswith("refused by policy [private]: nothing was blocked")
    found = refusal.parse(out["errorMessage"])
    assert found is not None and found.codes == ("private",) and "192.168.10.5" in found.reason


def test_every_refusal_code_of_the_policy_is_marked_as_a_refusal() -> None:
    assert POLICY_REFUSALS == {r.value for r in Refusal}


def test_a_full_list_is_not_a_policy_refusal(tmp_path) -> None:
    svc = start_service(tmp_path / "bl.sqlite3", "--max-entries", "1")
    try:
        first = respond("Socflow_Block", svc.url, fixture("case_artifact_ip"), "thehive:case_artifact")
        assert first.output["success"] is True
        other = fixture("case_artifact_ip") | {"data": "45.155.205.234"}
        out = respond("Socflow_Block", svc.url, other, "thehive:case_artifact").output
    finally:
        svc.stop()
    assert out["success"] is False and "45.155.205.234" in out["errorMessage"]
    assert refusal.parse(out["errorMessage"]) is None  # capacity: someone must act, not a policy


def test_alert_blocks_every_eligible_observable_and_reports_the_rest(blocklist_service: Service) -> None:
    out = respond("Socflow_Block", blocklist_service.url, fixture("alert"), "thehive:alert",
                  default_ttl_hours=0).output
    assert out["success"] is True, out
    assert out["operations"] == [{"type": "AddTagToAlert", "tag": "socflow:blocked"}]
    by_data = {r["data"]: r for r in out["full"]["results"]}
    assert by_data["45.155.205.233"]["status"] == "added"
    assert by_data["login-micros0ft-support.com"]["status"] == "added"
    assert by_data["hxxps://login-micros0ft-support.com/owa/auth.php?u=1"]["status"] == "added"
    assert (by_data["10.20.30.40"]["status"], by_data["10.20.30.40"]["refusal"]) == ("refused", "private")
    assert by_data["api.good.example-corp.com"]["refusal"] == "allowlisted"
    assert by_data["44d88612fea8a8f36de82e1278abb02f"]["status"] == "skipped"
    assert by_data["phisher@login-micros0ft-support.com"]["status"] == "skipped"
    assert out["full"]["counts"] == {"added": 3, "refused": 2, "skipped": 2}
    refused = {r["data"]: r for r in out["full"]["refused"]}
    assert sorted(refused) == ["10.20.30.40", "api.good.example-corp.com"]
    assert (refused["10.20.30.40"]["refusal"], refused["10.20.30.40"]["dataType"]) == ("private", "ip")
    assert refused["api.good.example-corp.com"]["reason"]
    assert blocklist_service.edl("url") == ["login-micros0ft-support.com/owa/auth.php?u=1"]
    entries = blocklist_service.api("GET", "/api/v1/entries").json()["entries"]
    assert {e["alert_ref"] for e in entries} == {"~8224"}
    assert all(e["expires_at"] is None for e in entries)  # 0 hours: until unblocked


def test_dry_run_changes_nothing_and_adds_no_tag(blocklist_service: Service) -> None:
    out = respond("Socflow_Block", blocklist_service.url, fixture("alert"), "thehive:alert",
                  dry_run=True).output
    assert out["success"] is True and out["operations"] == []
    statuses = {r["data"]: r["status"] for r in out["full"]["results"]}
    assert statuses["45.155.205.233"] == "would-add" and statuses["10.20.30.40"] == "refused"
    assert blocklist_service.edl("ip") == [] and blocklist_service.edl("domain") == []


def test_unblock_removes_and_is_idempotent(blocklist_service: Service) -> None:
    artifact = fixture("case_artifact_ip")
    respond("Socflow_Block", blocklist_service.url, artifact, "thehive:case_artifact")
    out = respond("Socflow_Unblock", blocklist_service.url, artifact, "thehive:case_artifact").output
    assert out["success"] is True
    assert out["operations"] == [{"type": "AddTagToArtifact", "tag": "socflow:unblocked"}]
    assert out["full"]["results"][0]["status"] == "removed"
    assert blocklist_service.edl("ip") == []
    again = respond("Socflow_Unblock", blocklist_service.url, artifact, "thehive:case_artifact").output
    assert again["success"] is True and again["full"]["results"][0]["status"] == "absent"
    events = blocklist_service.api("GET", "/api/v1/audit").json()["events"]
    assert [(e["action"], e["actor"]) for e in events if e["action"] != "policy"] == [
        ("add", "analyst@soc.example-corp.com"), ("remove", "analyst@soc.example-corp.com")]


def test_wrong_token_fails_clearly_without_echoing_it(blocklist_service: Service) -> None:
    result = run_job("Socflow_Block", data=fixture("case_artifact_ip"), data_type="thehive:case_artifact",
                     config={"api_url": blocklist_service.url, "api_token": "not-the-token-0123456789"})
    out = result.output
    assert out["success"] is False and "401" in out["errorMessage"]
    assert refusal.parse(out["errorMessage"]) is None  # a wrong token is no policy refusal
    assert "not-the-token-0123456789" not in str(out) + result.stdout + result.stderr
    assert out["input"]["config"]["api_token"] == "REMOVED"


def test_unreachable_service_fails_fast_and_clearly() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    out = respond("Socflow_Block", f"http://127.0.0.1:{port}", fixture("case_artifact_ip"),
                  "thehive:case_artifact").output
    assert out["success"] is False and "cannot reach the block-list service" in out["errorMessage"]
    assert refusal.parse(out["errorMessage"]) is None
    assert time.monotonic() - started < 30


def test_bad_input_gets_one_clear_line(blocklist_service: Service) -> None:
    cases = [
        ("thehive:case_artifact", "185.220.101.47", "must be the TheHive object"),
        ("thehive:case_artifact", fixture("case_artifact_ip") | {"dataType": "hash"}, "nothing to block"),
        ("thehive:alert", fixture("alert") | {"artifacts": []}, "nothing to block"),
        ("thehive:case", {"_id": "~1", "_type": "case"}, "not supported"),
    ]
    for data_type, data, message in cases:
        out = respond("Socflow_Block", blocklist_service.url, data, data_type).output
        assert out["success"] is False and message in out["errorMessage"], out
        assert "Traceback" not in out["errorMessage"]
    out = respond("Socflow_Block", "ftp://nope", fixture("case_artifact_ip"), "thehive:case_artifact").output
    assert out["success"] is False and "api_url" in out["errorMessage"]


@pytest.mark.slow
def test_fifty_parallel_responders_lose_nothing(blocklist_service: Service) -> None:
    values = [f"91.{200 + i // 50}.{i}.{i + 1}" for i in range(50)]

    def block(value: str) -> dict[str, Any]:
        artifact = fixture("case_artifact_ip") | {"data": value, "_id": f"~obs-{value}"}
        return respond("Socflow_Block", blocklist_service.url, artifact, "thehive:case_artifact").output

    with ThreadPoolExecutor(max_workers=16) as pool:
        outputs = list(pool.map(block, values))
    assert [o["success"] for o in outputs] == [True] * 50, [o.get("errorMessage") for o in outputs]
    assert sorted(blocklist_service.edl("ip")) == sorted(values)
    events = blocklist_service.api("GET", "/api/v1/audit", params={"limit": 200}).json()["events"]
    assert sorted(e["value"] for e in events if e["action"] == "add") == sorted(values)


def test_blockable_types_match_the_policy() -> None:
    from socflow.adapters.cortex.responders.block import THEHIVE_TYPES
    from socflow.policy.block import THEHIVE_TYPES as POLICY_TYPES

    assert set(THEHIVE_TYPES) == set(POLICY_TYPES)
