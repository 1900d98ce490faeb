"""The block-list service over HTTP, started as a real ``socflow blocklist serve`` process."""

from __future__ import annotations

import base64
import hashlib
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from .service import TOKEN, Service, start_service

# --- authentication --------------------------------------------------------------------------

@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token-0123456789"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Bearer {TOKEN[:-1]}"},
        {"Authorization": "Basic " + base64.b64encode(f"u:{TOKEN}".encode()).decode()},
        {"Authorization": TOKEN},
    ],
)
def test_api_refuses_missing_or_wrong_token(readonly_service: Service, headers: dict[str, str]) -> None:
    service = readonly_service
    for method, path in (("POST", "/api/v1/entries"), ("GET", "/api/v1/entries"),
                         ("DELETE", "/api/v1/entries?value=1.2.3.4"), ("GET", "/api/v1/audit")):
        resp = requests.request(method, service.url + path, headers=headers,
                                json={"value": "1.2.3.4"}, timeout=10)
        assert resp.status_code == 401, (method, path, resp.text)
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        assert resp.json()["status"] == "unauthorized"
        assert TOKEN not in resp.text
    assert service.edl("ip") == []  # nothing got in


def test_lists_and_health_need_no_token_by_default(readonly_service: Service) -> None:
    service = readonly_service
    assert requests.get(service.url + "/healthz", timeout=5).json() == {"status": "ok"}
    assert requests.get(service.url + "/edl/domain", timeout=5).status_code == 200


def test_token_never_in_the_service_log(service: Service) -> None:
    service.add("1.2.3.4")
    service.api("POST", "/api/v1/entries", token="bad-token-abcdefghijklmnop", json={"value": "5.6.7.8"})
    service.stop()
    log = "".join(service.log)
    assert "POST /api/v1/entries" in log
    assert TOKEN not in log and "bad-token-abcdefghijklmnop" not in log


# --- refusals --------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("value", "type_", "refusal"),
    [
        ("10.0.0.1", None, "private"),
        ("172.16.5.4", "ip", "private"),
        ("192.168.1.0/24", None, "private"),
        ("fc00::1", None, "private"),
        ("127.0.0.1", None, "loopback"),
        ("::1", None, "loopback"),
        ("169.254.1.1", None, "link-local"),
        ("fe80::1", "ip", "link-local"),
        ("100.64.0.1", None, "cgnat"),
        ("239.1.1.1", None, "multicast"),
        ("192.0.2.1", None, "documentation"),
        ("198.51.100.0/24", None, "documentation"),
        ("2001:db8::1", None, "documentation"),
        ("240.1.2.3", None, "reserved"),
        ("198.18.0.1", None, "reserved"),
        ("0.0.0.0", None, "reserved"),
        ("5.0.0.0/16", None, "too-wide"),
        ("2a00:1450::/40", None, "too-wide"),
        ("8.8.8.8", None, "allowlisted"),
        ("8.8.8.0/24", None, "allowlisted"),
        ("good.example-corp.com", "domain", "allowlisted"),
        ("api.good.example-corp.com", "fqdn", "allowlisted"),
        ("example-corp.com", "domain", "allowlisted"),
        ("https://good.example-corp.com/login", "url", "allowlisted"),
        ("co.uk", "domain", "public-suffix"),
        ("www.example.org", "domain", "documentation"),
        ("nas.local", "domain", "reserved"),
        ("1.2.3.999", "ip", "malformed"),
        ("1.2.3.4\n10.0.0.0/8", None, "malformed"),
        ("evil.com\r\n8.8.8.8", "domain", "malformed"),
        ("not a domain", "domain", "malformed"),
        ("javascript:alert(1)", "url", "malformed"),
        ("*.evil.com", "domain", "malformed"),
    ],
)
def test_every_refusal_rule(readonly_service: Service, value: str, type_: str | None, refusal: str) -> None:
    service = readonly_service
    body = {"value": value} if type_ is None else {"value": value, "type": type_}
    resp = service.api("POST", "/api/v1/entries", json=body)
    assert resp.status_code == 422, resp.text
    out = resp.json()
    assert out["status"] == "refused" and out["refusal"] == refusal, out
    assert out["reason"]
    assert service.api("GET", "/api/v1/entries").json()["count"] == 0


def test_allowlist_file_and_prefix_option(tmp_path: Path) -> None:
    allow = tmp_path / "allow.txt"
    allow.write_text("# our ranges\n203.0.114.0/24\npartner-site.com  # vendor\n", encoding="utf-8")
    svc = start_service(tmp_path / "db.sqlite3", "--allowlist", str(allow), "--widest-v4", "16")
    try:
        assert svc.add("203.0.114.9").json()["refusal"] == "allowlisted"
        assert svc.add("cdn.partner-site.com").json()["refusal"] == "allowlisted"
        assert svc.add("45.33.0.0/16").status_code == 201
        assert svc.add("45.0.0.0/15").json()["refusal"] == "too-wide"
    finally:
        svc.stop()


def test_bad_requests_get_one_line_400(readonly_service: Service) -> None:
    service = readonly_service
    for body in ({}, {"value": ""}, {"value": "1.2.3.4", "ttl_seconds": -5},
                 {"value": "1.2.3.4", "type": "hash"}, {"value": 12}):
        resp = service.api("POST", "/api/v1/entries", json=body)
        assert resp.status_code == 400, (body, resp.text)
        assert resp.json()["status"] == "invalid" and "\n" not in resp.json()["reason"]
    resp = service.api("POST", "/api/v1/entries", data=b"{not json", headers={"Content-Type": "application/json"})
    assert resp.status_code == 400


# --- adding, listing, removing ----------------------------------------------------------------

def test_add_is_idempotent_and_records_metadata(service: Service) -> None:
    first = service.add("1.2.3.4", reason="C2 beacon", requested_by="analyst@soc", case_ref="~4096",
                        alert_ref="~8192", observable_ref="~12", ttl_seconds=3600)
    assert first.status_code == 201 and first.json()["status"] == "added"
    again = service.add("1.2.3.4", ttl_seconds=60)  # shorter TTL: nothing changes
    assert again.status_code == 200 and again.json()["status"] == "exists"
    longer = service.add("1.2.3.4/32", ttl_seconds=0)  # never expires: extends
    assert longer.status_code == 200 and longer.json()["status"] == "extended"
    entries = service.api("GET", "/api/v1/entries").json()["entries"]
    assert len(entries) == 1
    entry = entries[0]
    assert entry["value"] == "1.2.3.4" and entry["expires_at"] is None
    assert (entry["reason"], entry["requested_by"], entry["case_ref"], entry["alert_ref"],
            entry["observable_ref"]) == ("C2 beacon", "analyst@soc", "~4096", "~8192", "~12")
    actions = [e["action"] for e in service.api("GET", "/api/v1/audit").json()["events"]]
    assert actions == ["policy", "add", "extend"]  # the policy the service started with first


def test_dry_run_changes_nothing(service: Service) -> None:
    resp = service.add("evil-domain.com", dry_run=True)
    assert resp.status_code == 200 and resp.json()["status"] == "would-add"
    assert service.add("10.1.1.1", dry_run=True).json()["refusal"] == "private"
    assert service.edl("domain") == []
    events = service.api("GET", "/api/v1/audit").json()["events"]
    assert [e["action"] for e in events] == ["policy"]


def test_remove_is_idempotent_and_audited(service: Service) -> None:
    service.add("hxxp://evil-site.net/payload.exe", type="url")
    gone = service.api("DELETE", "/api/v1/entries",
                       params={"value": "http://EVIL-site.net/payload.exe", "requested_by": "bob", "reason": "fp"})
    assert gone.json() == {"status": "removed", "type": "url", "value": "http://evil-site.net/payload.exe",
                          "still_listed": []}
    again = service.api("DELETE", "/api/v1/entries", params={"value": "http://evil-site.net/payload.exe"})
    assert again.status_code == 200 and again.json()["status"] == "absent"
    bad = service.api("DELETE", "/api/v1/entries", params={"value": "1.2.3.4.5", "type": "ip"})
    assert bad.status_code == 422 and bad.json()["refusal"] == "malformed"
    events = service.api("GET", "/api/v1/audit").json()["events"]
    assert [(e["action"], e["actor"]) for e in events if e["action"] != "policy"] == [
        ("add", ""), ("remove", "bob")]
    assert events[-1]["detail"]["reason"] == "fp"


def test_lists_are_in_firewall_format(service: Service) -> None:
    for value in ("9.9.9.9", "2a00:1450:4001::1", "1.1.1.0/24", "45.33.32.156", "2a00:1450:4002::/48"):
        assert service.add(value).status_code == 201
    for value in ("zz-evil.com", "Bad-Site.CO.UK", "xn--bcher-kva.de"):
        assert service.add(value, type="domain").status_code == 201
    for value in ("https://evil.com/a?b=1", "http://evil.com:8080/x", "http://1.2.3.4/gate.php"):
        assert service.add(value, type="url").status_code == 201

    resp = requests.get(service.url + "/edl/ip", timeout=5)
    assert resp.headers["content-type"].startswith("text/plain")
    assert resp.text == "1.1.1.0/24\n9.9.9.9\n45.33.32.156\n2a00:1450:4001::1\n2a00:1450:4002::/48\n"
    assert service.edl("domain") == ["bad-site.co.uk", "xn--bcher-kva.de", "zz-evil.com"]
    assert service.edl("url") == ["1.2.3.4/gate.php", "evil.com/a?b=1", "evil.com:8080/x"]
    full = requests.get(service.url + "/edl/url", params={"keep_scheme": "true"}, timeout=5).text
    assert full.splitlines() == ["http://1.2.3.4/gate.php", "http://evil.com:8080/x", "https://evil.com/a?b=1"]
    md5 = requests.get(service.url + "/edl/ip.md5", timeout=5).text.strip()
    assert md5 == hashlib.md5(resp.content).hexdigest()

    cached = requests.get(service.url + "/edl/ip", headers={"If-None-Match": resp.headers["ETag"]}, timeout=5)
    assert cached.status_code == 304 and cached.content == b""
    service.add("4.4.4.4")
    changed = requests.get(service.url + "/edl/ip", headers={"If-None-Match": resp.headers["ETag"]}, timeout=5)
    assert changed.status_code == 200 and "4.4.4.4\n" in changed.text
    assert "Last-Modified" in changed.headers
    assert requests.get(service.url + "/edl/hash", timeout=5).status_code == 400


def test_edl_basic_auth_when_configured(tmp_path: Path) -> None:
    svc = start_service(tmp_path / "db.sqlite3", "--edl-user", "fw", "--edl-password", "pull-secret-123")
    try:
        assert requests.get(svc.url + "/edl/ip", timeout=5).status_code == 401
        assert requests.get(svc.url + "/edl/ip", auth=("fw", "wrong"), timeout=5).status_code == 401
        assert requests.get(svc.url + "/edl/ip", auth=("fw", "pull-secret-123"), timeout=5).status_code == 200
    finally:
        svc.stop()


# --- time, concurrency, restarts ---------------------------------------------------------------

def test_expired_entries_leave_the_lists_by_themselves(service: Service) -> None:
    assert service.add("6.6.6.6", ttl_seconds=1).status_code == 201
    assert service.add("7.7.7.7", ttl_seconds=3600).status_code == 201
    assert service.edl("ip") == ["6.6.6.6", "7.7.7.7"]
    time.sleep(1.3)
    assert service.edl("ip") == ["7.7.7.7"]
    assert [e["value"] for e in service.api("GET", "/api/v1/entries").json()["entries"]] == ["7.7.7.7"]
    events = service.api("GET", "/api/v1/audit").json()["events"]
    assert [(e["action"], e["value"]) for e in events][-1] == ("expire", "6.6.6.6")
    assert service.add("6.6.6.6", ttl_seconds=60).json()["status"] == "added"  # can be blocked again


def test_default_ttl_applies_when_request_has_none(tmp_path: Path) -> None:
    svc = start_service(tmp_path / "db.sqlite3", "--default-ttl", "1s", "--max-ttl", "1h")
    try:
        assert svc.add("5.5.5.5").status_code == 201
        capped = svc.add("5.5.5.6", ttl_seconds=0).json()["entry"]  # "never" is capped to 1h
        assert capped["expires_at"] is not None
        time.sleep(1.3)
        assert svc.edl("ip") == ["5.5.5.6"]
    finally:
        svc.stop()


def test_concurrent_adds_lose_nothing(service: Service) -> None:
    values = [f"45.{i // 200}.{i % 200}.{(i * 7) % 250 + 1}" for i in range(120)]

    def block(value: str) -> int:
        return service.add(value, requested_by="load").status_code

    with ThreadPoolExecutor(max_workers=24) as pool:
        codes = list(pool.map(block, values + values[:40]))  # 40 duplicates race with the originals
    assert codes.count(201) == 120 and set(codes) <= {200, 201}
    assert sorted(service.edl("ip")) == sorted(values)
    adds = [e for e in service.api("GET", "/api/v1/audit", params={"limit": 1000}).json()["events"]
            if e["action"] == "add"]
    assert len(adds) == 120


def test_restart_keeps_every_entry(tmp_path: Path) -> None:
    db = tmp_path / "state" / "bl.sqlite3"
    svc = start_service(db)
    values = [f"81.{i}.1.1" for i in range(30)] + ["evil-restart.com"]
    for value in values:
        assert svc.add(value, ttl_seconds=3600).status_code == 201
    before = svc.api("GET", "/api/v1/entries").json()
    svc.stop(kill=True)  # no graceful shutdown: committed entries must still be there
    svc = start_service(db)
    try:
        assert svc.api("GET", "/api/v1/entries").json() == before
        assert svc.add("81.0.1.1", ttl_seconds=60).json()["status"] == "exists"
    finally:
        svc.stop()


def test_cached_list_follows_every_change(service: Service) -> None:
    assert service.edl("domain") == []
    service.add("first-evil.com")
    assert service.edl("domain") == ["first-evil.com"]
    etag = requests.get(service.url + "/edl/domain", timeout=5).headers["ETag"]
    service.add("second-evil.com", ttl_seconds=1)
    assert service.edl("domain") == ["first-evil.com", "second-evil.com"]
    time.sleep(1.2)
    assert service.edl("domain") == ["first-evil.com"]
    service.api("DELETE", "/api/v1/entries", params={"value": "first-evil.com"})
    assert service.edl("domain") == []
    resp = requests.get(service.url + "/edl/domain", headers={"If-None-Match": etag}, timeout=5)
    assert resp.status_code == 200 and resp.text == ""
    assert requests.get(service.url + "/edl/domain.md5", timeout=5).text.strip() == hashlib.md5(b"").hexdigest()


def test_list_size_cap_holds_under_concurrency(tmp_path: Path) -> None:
    svc = start_service(tmp_path / "db.sqlite3", "--max-entries", "3")
    try:
        values = [f"46.{i}.0.1" for i in range(8)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(lambda v: svc.add(v), values))
        codes = sorted(a.status_code for a in answers)
        assert codes == [201] * 3 + [422] * 5
        full = [a.json() for a in answers if a.status_code == 422]
        assert {f["refusal"] for f in full} == {"list-full"} and "3 entries" in full[0]["reason"]
        assert len(svc.edl("ip")) == 3
        kept = svc.edl("ip")[0]
        assert svc.add(kept).status_code == 200  # re-blocking a listed value is still fine
        assert svc.add("other-list.com").status_code == 201  # the cap is per list
    finally:
        svc.stop()
