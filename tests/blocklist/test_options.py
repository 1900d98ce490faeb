"""Issue 11 item 2: every ``socflow blocklist serve`` option behaves the same given at its
documented default (docs/responders.md) and left out, and the defaults do what the docs say."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

from .service import Service, start_service
from .test_cli import socflow

# The documented defaults, written out explicitly. --host/--port: the tests listen on an
# ephemeral loopback port (8080 may be taken on a shared machine); the host default is checked
# in the start-up line. --state-dir/--db: the database location is set per test.
EXPLICIT_DEFAULTS = ("--widest-v4", "24", "--widest-v6", "48", "--default-ttl", "7d", "--max-ttl", "never",
                     "--log-level", "info")


def _probe(svc: Service) -> dict[str, Any]:
    """What each option's default decides, observed over HTTP."""
    now = time.time()
    out: dict[str, Any] = {}
    for value in ("45.9.8.0/23", "45.9.8.0/24", "2a00:1450:4000::/47", "2a00:1450:4000::/48"):
        out[value] = svc.add(value).json().get("refusal") or "added"
    default_ttl = svc.add("45.9.7.1").json()["entry"]["expires_at"]
    out["default_ttl_days"] = round((datetime.fromisoformat(default_ttl).timestamp() - now) / 86400, 2)
    out["ttl_0"] = svc.add("45.9.7.2", ttl_seconds=0).json()["entry"]["expires_at"]
    out["ttl_10y"] = svc.add("45.9.7.3", ttl_seconds=10 * 365 * 86400).json()["entry"]["expires_at"] is not None
    out["many"] = [svc.add(f"45.9.6.{i}").status_code for i in range(1, 6)]  # --max-entries: unlimited
    out["edl_open"] = requests.get(svc.url + "/edl/ip", timeout=5).status_code  # no --edl-user
    out["allowlisted"] = svc.add("8.8.8.8").json().get("refusal")  # no --allow
    svc.stop()
    out["request_logged"] = any("POST /api/v1/entries" in line for line in svc.log)  # --log-level info
    out["host"] = next((line.split("http://")[1].split(":")[0] for line in svc.log if "Uvicorn running" in line), None)
    return out


def test_serve_options_at_their_defaults_and_absent_behave_alike(tmp_path: Path) -> None:
    explicit = _probe(start_service(tmp_path / "a.sqlite3", *EXPLICIT_DEFAULTS))
    absent = _probe(_start_without_host(tmp_path / "b.sqlite3"))
    explicit.pop("host")
    assert absent.pop("host") == "127.0.0.1"
    assert explicit == absent
    assert absent == {
        "45.9.8.0/23": "too-wide", "45.9.8.0/24": "added",
        "2a00:1450:4000::/47": "too-wide", "2a00:1450:4000::/48": "added",
        "default_ttl_days": 7.0, "ttl_0": None, "ttl_10y": True, "many": [201] * 5, "edl_open": 200,
        "allowlisted": None, "request_logged": True,
    }


def _start_without_host(db: Path) -> Service:
    """start_service always passes --host; start one with --host left out."""
    import queue
    import re
    import subprocess
    import threading

    from .service import SOCFLOW, TOKEN

    proc = subprocess.Popen([str(SOCFLOW), "blocklist", "serve", "--port", "0", "--db", str(db), "--token", TOKEN],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)
    lines: queue.Queue[str] = queue.Queue()
    log: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            log.append(line)
            lines.put(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            match = re.search(r"Uvicorn running on (http://[\d.]+:\d+)", lines.get(timeout=0.5))
        except queue.Empty:
            continue
        if match:
            return Service(proc, match.group(1), db, TOKEN, log, reader)
    proc.kill()
    raise RuntimeError("".join(log))


def test_option_defaults_are_the_documented_ones() -> None:
    help_text = " ".join(socflow("serve", "--help").stdout.split())
    for shown in ("[default: 127.0.0.1]", "[default: 8080;", "[default: 24;", "[default: 48;",
                  "[default: 7d]", "[default: never]", "[default: info]"):
        assert shown in help_text, shown
    docs = (Path(__file__).resolve().parents[2] / "docs" / "responders.md").read_text()
    for row in ("| `--widest-v4`, `--widest-v6` | 24, 48 |", "| `--default-ttl` | `7d` |",
                "| `--max-ttl` | `never` |", "| `--max-entries` | unlimited |", "| `--log-level` | `info` |"):
        assert row in docs, row


def test_wrong_option_values_are_one_line_errors_before_listening(tmp_path: Path) -> None:
    for args, message in ((("--max-ttl", "soon"), "not understood"), (("--default-ttl", "7x"), "not understood"),
                          (("--max-entries", "0"), "--max-entries"), (("--edl-user", "fw"), "--edl-password"),
                          (("--widest-v4", "33"), "--widest-v4"), (("--widest-v6", "129"), "--widest-v6")):
        proc = socflow("serve", "--db", str(tmp_path / "x.sqlite3"), "--token", "t" * 20, "--port", "0", *args)
        assert proc.returncode in (1, 2) and message in proc.stderr, (args, proc.stderr)
        assert "Traceback" not in proc.stderr and "Uvicorn running" not in proc.stdout + proc.stderr
