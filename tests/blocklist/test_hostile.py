"""Issue 11 item 5: the service authenticates before it reads, and every way into the lists
applies one policy (the one the service stored with its state)."""

from __future__ import annotations

import json
import os
import re
import socket
import time
from pathlib import Path

import requests

from socflow.adapters.blocklist.store import BlockStore

from .service import REPO_ROOT, TOKEN, Service, start_service
from .test_cli import socflow


def _raw(url: str, head: str, body: bytes = b"", *, wait: float = 5.0) -> tuple[int, str, float]:
    """Send ``head`` (and ``body``) on a raw socket; (status, whole answer, seconds to answer)."""
    host, port = url.removeprefix("http://").split(":")
    start = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=wait) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        elapsed = time.monotonic() - start
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except OSError:
            pass
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
    return status, data.decode("latin-1"), elapsed


def _post_head(content_length: int | None, auth: str | None) -> str:
    lines = ["POST /api/v1/entries HTTP/1.1", "Host: blocklist", "Content-Type: application/json"]
    if auth:
        lines.append(f"Authorization: {auth}")
    lines.append(f"Content-Length: {content_length}" if content_length is not None
                 else "Transfer-Encoding: chunked")
    return "\n".join(lines) + "\n"


def test_unauthenticated_upload_is_answered_401_without_reading_it(readonly_service: Service) -> None:
    # 200 MB announced, not one byte sent: the answer must not wait for the body.
    for auth in (None, "Bearer wrong-token-0123456789abc", "Basic dTpw"):
        status, answer, elapsed = _raw(readonly_service.url, _post_head(200_000_000, auth), wait=5)
        assert status == 401, answer
        assert elapsed < 3
        assert re.search(r"(?im)^www-authenticate: Bearer", answer)
        assert TOKEN not in answer


def test_oversized_body_is_answered_413_even_with_the_token(readonly_service: Service) -> None:
    status, answer, _ = _raw(readonly_service.url, _post_head(10_000_000, f"Bearer {TOKEN}"), wait=5)
    assert status == 413 and "larger than 65536 bytes" in answer
    # No declared length: read up to the cap, then 413.
    chunk = b"a" * 70_000
    body = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n0\r\n\r\n"
    status, answer, _ = _raw(readonly_service.url, _post_head(None, f"Bearer {TOKEN}"), body)
    assert status == 413, answer
    # A normal chunked request still works.
    payload = json.dumps({"value": "10.9.9.9", "dry_run": True}).encode()
    body = f"{len(payload):x}\r\n".encode() + payload + b"\r\n0\r\n\r\n"
    status, answer, _ = _raw(readonly_service.url, _post_head(None, f"Bearer {TOKEN}"), body)
    assert status == 422 and '"refusal":"private"' in answer


def _peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]


def test_a_200_mb_unauthenticated_post_leaves_memory_flat(tmp_path: Path) -> None:
    svc = start_service(tmp_path / "bl.sqlite3")
    try:
        assert requests.get(svc.url + "/healthz", timeout=5).ok
        before = _peak_rss_mb(svc.proc.pid)
        block = b"x" * (1 << 20)

        def upload():  # 200 MiB, streamed (chunked) like a client that never stops
            for _ in range(200):
                yield block

        status = 401
        try:
            status = requests.post(svc.url + "/api/v1/entries", data=upload(), timeout=60,
                                   headers={"Content-Type": "application/json"}).status_code
        except requests.ConnectionError:
            pass  # the service answered 401 and closed the connection while we were still sending
        assert requests.get(svc.url + "/healthz", timeout=5).ok
        grown = _peak_rss_mb(svc.proc.pid) - before
        assert grown < 20, f"peak RSS grew by {grown:.0f} MB"
        assert status == 401
    finally:
        svc.stop()


def test_lists_challenge_with_basic_and_answer_head(tmp_path: Path) -> None:
    svc = start_service(tmp_path / "db.sqlite3", "--edl-user", "fw", "--edl-password", "pull-secret-123")
    try:
        svc.add("45.9.8.7")
        for path in ("/edl/ip", "/edl/ip.md5"):
            denied = requests.get(svc.url + path, timeout=5)
            assert denied.status_code == 401
            assert denied.headers["WWW-Authenticate"].startswith("Basic realm=")
            got = requests.get(svc.url + path, auth=("fw", "pull-secret-123"), timeout=5)
            head = requests.head(svc.url + path, auth=("fw", "pull-secret-123"), timeout=5)
            assert head.status_code == 200 and head.content == b""
            assert head.headers["Content-Length"] == str(len(got.content))
            assert head.headers.get("ETag") == got.headers.get("ETag")
            assert requests.head(svc.url + path, timeout=5).status_code == 401
        assert got.text and requests.get(svc.url + "/edl/ip", auth=("fw", "pull-secret-123"),
                                          timeout=5).text == "45.9.8.7\n"
    finally:
        svc.stop()


def test_the_env_example_placeholder_token_is_refused_at_start(tmp_path: Path) -> None:
    example = (REPO_ROOT / "docker" / "env.example").read_text()
    placeholder = re.search(r"^SOCFLOW_BLOCKLIST_TOKEN=(.+)$", example, re.M).group(1)  # type: ignore[union-attr]
    assert len(placeholder) >= 16  # long enough: the length rule alone would let it through
    # from the environment, as env.example is meant to be used (a --token flag adds a ps warning)
    proc = socflow("serve", "--db", str(tmp_path / "a.sqlite3"),
                   env={**os.environ, "SOCFLOW_BLOCKLIST_TOKEN": placeholder})
    assert proc.returncode == 1 and "placeholder of docker/env.example" in proc.stderr
    assert placeholder not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "a.sqlite3").exists()


def test_cli_add_applies_the_policy_the_service_stored(tmp_path: Path) -> None:
    db = tmp_path / "bl.sqlite3"
    svc = start_service(db, "--allow", "partner-corp.com", "--widest-v4", "28", "--max-entries", "2",
                        "--max-ttl", "1d")
    try:
        refused = svc.add("evil.partner-corp.com", requested_by="soar")
        assert refused.status_code == 422 and refused.json()["refusal"] == "allowlisted"
    finally:
        svc.stop()
    # The same rules from the command line, with no policy option given.
    allow = socflow("add", "mail.partner-corp.com", "--db", str(db))
    assert allow.returncode == 1 and "refused (allowlisted)" in allow.stderr
    wide = socflow("add", "45.9.8.0/26", "--db", str(db))
    assert wide.returncode == 1 and "wider than the allowed /28" in wide.stderr
    ok = socflow("add", "45.9.8.7", "--db", str(db), "--ttl", "never", "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["entry"]["expires_at"] is not None  # --max-ttl 1d capped "never"
    assert socflow("add", "45.9.8.8", "--db", str(db)).returncode == 0
    full = socflow("add", "45.9.8.9", "--db", str(db))
    assert full.returncode == 1 and "refused (list-full)" in full.stderr
    # Refusals are audited like additions, from both ways in.
    events = json.loads(socflow("audit", "--db", str(db), "--json").stdout)
    refusals = [(e["value"], e["actor"].split(":")[0], e["detail"]["refusal"])
                for e in events if e["action"] == "refuse"]
    assert refusals == [("evil.partner-corp.com", "soar", "allowlisted"),
                        ("mail.partner-corp.com", "cli", "allowlisted"),
                        ("45.9.8.0/26", "cli", "too-wide"), ("45.9.8.9", "cli", "list-full")]
    assert [e["action"] for e in events].count("add") == 2


def test_cli_add_before_the_service_ever_ran_uses_its_defaults(tmp_path: Path) -> None:
    db = tmp_path / "bl.sqlite3"
    wide = socflow("add", "45.9.0.0/16", "--db", str(db))
    assert wide.returncode == 1 and "wider than the allowed /24" in wide.stderr
    ok = socflow("add", "45.9.8.7", "--db", str(db), "--json")
    entry = json.loads(ok.stdout)["entry"]
    assert entry["expires_at"] is not None  # the service's default --default-ttl 7d
    assert BlockStore(db).load_policy() is None


def test_restarting_with_another_policy_is_audited_and_replaces_it(tmp_path: Path) -> None:
    db = tmp_path / "bl.sqlite3"
    for allow in ("a-corp.com", "a-corp.com", "b-corp.com"):
        start_service(db, "--allow", allow).stop()
    assert BlockStore(db).load_policy()["allowlist"] == ["b-corp.com"]  # type: ignore[index]
    events = json.loads(socflow("audit", "--db", str(db), "--json").stdout)
    assert [e["detail"]["allowlist"] for e in events if e["action"] == "policy"] == [
        ["a-corp.com"], ["b-corp.com"]]
    assert socflow("add", "x.b-corp.com", "--db", str(db)).returncode == 1
    assert socflow("add", "x.a-corp.com", "--db", str(db)).returncode == 0


def test_idn_domains_are_blocked_as_themselves(service: Service) -> None:
    added = service.add("faß.de")
    assert added.json()["value"] == "xn--fa-hia.de"  # IDNA 2008; IDNA 2003 made it fass.de
    assert service.add("http://Faß.DE/login").json()["value"] == "http://xn--fa-hia.de/login"
    assert service.edl("domain") == ["xn--fa-hia.de"]
    gone = service.api("DELETE", "/api/v1/entries", params={"value": "fass.de"})
    assert gone.json()["status"] == "absent"  # a different domain, never on the list
    assert service.api("DELETE", "/api/v1/entries", params={"value": "FAß.de"}).json()["status"] == "removed"


def test_ipv4_mapped_ranges_do_not_bypass_the_policy(service: Service) -> None:
    # The fixture allowlists 8.8.8.8.
    for value, refusal in (("::ffff:8.8.8.0/120", "allowlisted"), ("::ffff:10.0.0.0/120", "private"),
                           ("::ffff:127.0.0.0/104", "too-wide"), ("::ffff:45.0.0.0/104", "too-wide"),
                           ("http://[::ffff:8.8.8.8]/x", "allowlisted")):
        resp = service.add(value)
        assert resp.status_code == 422 and resp.json()["refusal"] == refusal, (value, resp.text)
    ok = service.add("::ffff:45.9.8.0/120")
    assert ok.status_code == 201 and ok.json()["value"] == "45.9.8.0/24"


def test_unblocking_a_url_removes_exactly_its_own_entry(service: Service) -> None:
    assert service.add("https://evil-site.net/a").status_code == 201
    assert service.add("http://evil-site.net/a").status_code == 201
    assert service.edl("url") == ["evil-site.net/a"]
    gone = service.api("DELETE", "/api/v1/entries", params={"value": "https://evil-site.net/a"}).json()
    # The entry it named is gone, the other scheme's entry stays and the answer says the line stays.
    assert gone["status"] == "removed" and gone["still_listed"] == ["http://evil-site.net/a"]
    assert requests.get(service.url + "/edl/url?keep_scheme=true", timeout=5).text == "http://evil-site.net/a\n"
    last = service.api("DELETE", "/api/v1/entries", params={"value": "http://evil-site.net/a"}).json()
    assert last["status"] == "removed" and last["still_listed"] == []
    assert service.edl("url") == []


def test_the_docs_cli_examples_run_as_shown(tmp_path: Path) -> None:
    """Issue 11 item 10: the add/remove example of docs/responders.md is accepted, and the
    refusal it shows for a documentation address is what the command prints."""
    docs = (REPO_ROOT / "docs" / "responders.md").read_text()
    state = str(tmp_path / "state")
    add = re.search(r"^socflow blocklist add (\S+) --ttl 12h --reason \"manual\"", docs, re.M)
    assert add is not None
    done = socflow("add", add.group(1), "--ttl", "12h", "--reason", "manual", "--state-dir", state)
    assert done.returncode == 0 and done.stdout.startswith(f"added: ip {add.group(1)} "), done.stderr
    remove = re.search(r"^socflow blocklist remove (\S+) --state-dir", docs, re.M)
    assert remove is not None and remove.group(1) == add.group(1)
    assert socflow("remove", remove.group(1), "--state-dir", state).stdout.strip() == f"removed: ip {add.group(1)}"
    shown = re.search(r"^\$ socflow blocklist add (\S+) --state-dir …\n(.+)$", docs, re.M)
    assert shown is not None
    refused = socflow("add", shown.group(1), "--state-dir", state)
    assert refused.returncode == 1 and refused.stderr.strip() == shown.group(2)
