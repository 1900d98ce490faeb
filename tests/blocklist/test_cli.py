"""``socflow blocklist`` sub-commands as a user runs them (real processes, real exit codes)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from .service import SOCFLOW, TOKEN, start_service


def socflow(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SOCFLOW), "blocklist", *args], capture_output=True, text=True,
                          timeout=60, env=env, stdin=subprocess.DEVNULL)


def test_every_subcommand_has_help() -> None:
    for sub in ("serve", "list", "add", "remove", "audit"):
        proc = socflow(sub, "--help")
        assert proc.returncode == 0 and "Usage:" in proc.stdout, sub
    assert "--json" in socflow("list", "--help").stdout


def test_add_list_remove_audit_on_the_same_database(tmp_path: Path) -> None:
    db = str(tmp_path / "bl.sqlite3")
    added = socflow("add", "hxxp://Evil-Site.net/x", "--db", db, "--ttl", "12h", "--reason", "phish", "--json")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["entry"]["value"] == "http://evil-site.net/x"
    assert socflow("add", "45.9.8.7", "--db", db, "--ttl", "never").returncode == 0

    listed = json.loads(socflow("list", "--db", db, "--json").stdout)
    assert [(e["type"], e["value"], e["expires_at"] is None) for e in listed] == [
        ("ip", "45.9.8.7", True), ("url", "http://evil-site.net/x", False)]
    table = socflow("list", "--db", db)
    assert "45.9.8.7" in table.stdout

    assert socflow("remove", "45.9.8.7", "--db", db).stdout.strip() == "removed: ip 45.9.8.7"
    assert socflow("remove", "45.9.8.7", "--db", db).stdout.strip() == "absent: ip 45.9.8.7"
    events = json.loads(socflow("audit", "--db", db, "--json").stdout)
    assert [e["action"] for e in events] == ["add", "add", "remove"]
    assert events[0]["detail"]["reason"] == "phish"


def test_refusals_and_errors_are_one_line_with_exit_codes(tmp_path: Path) -> None:
    db = str(tmp_path / "bl.sqlite3")
    refused = socflow("add", "10.1.2.3", "--db", db)
    assert refused.returncode == 1
    assert refused.stderr.strip() == "socflow: error: refused (private): 10.1.2.3 is in private address space"
    allow = socflow("add", "192.0.2.7", "--db", db)
    assert allow.returncode == 1 and "documentation" in allow.stderr
    missing = socflow("list", "--db", str(tmp_path / "nope.sqlite3"))
    assert missing.returncode == 1 and "no block-list database" in missing.stderr
    assert socflow("add", "1.2.3.4", "--db", db, "--ttl", "soon").returncode == 1
    assert socflow("list", "--type", "hash", "--db", db).returncode == 2
    for proc in (refused, allow, missing):
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_serve_refuses_bad_settings_before_listening(tmp_path: Path) -> None:
    env = {"PATH": str(SOCFLOW.parent)}
    no_token = socflow("serve", "--db", str(tmp_path / "a.sqlite3"), env=env)
    assert no_token.returncode == 2 and "token is required" in no_token.stderr
    short = socflow("serve", "--db", str(tmp_path / "a.sqlite3"), "--token", "short", env=env)
    assert short.returncode == 1 and "at least 16 characters" in short.stderr and "short" not in short.stdout
    bad_allow = socflow("serve", "--db", str(tmp_path / "a.sqlite3"), "--token", TOKEN, "--allow", "no way", env=env)
    assert bad_allow.returncode == 1 and "allowlist entry 'no way'" in bad_allow.stderr
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro" / "bl.sqlite3").write_text("this is not a database")
    broken = socflow("serve", "--db", str(tmp_path / "ro" / "bl.sqlite3"), "--token", TOKEN, env=env)
    assert broken.returncode == 1 and "cannot open the block-list database" in broken.stderr


def test_entries_added_by_the_cli_are_served(tmp_path: Path) -> None:
    db = tmp_path / "bl.sqlite3"
    assert socflow("add", "evil-cli.com", "--db", str(db)).returncode == 0
    svc = start_service(db)
    try:
        assert svc.edl("domain") == ["evil-cli.com"]
    finally:
        svc.stop()
