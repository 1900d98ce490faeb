"""``socflow doctor --state-url``: reachable, auth, version, persistence, and the per-job SQLite
state of containerised neurons."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from support.redisserver import RedisServer, free_port

from socflow.adapters.cli.doctor import check_state

SOCFLOW = Path(sys.executable).parent / "socflow"
REPO = Path(__file__).resolve().parents[2]


def test_redis_without_persistence_warns_with_version(redis_server: RedisServer) -> None:
    check = check_state(redis_server.url, None, containerised=True)
    assert check.status == "warn" and "redis 7." in check.detail and "appendonly off" in check.detail


def test_redis_with_aof_is_ok(redis_aof: RedisServer) -> None:
    check = check_state(redis_aof.url, None, containerised=True)
    assert check.status == "ok" and "appendonly on" in check.detail


def test_unreachable_and_wrong_password_fail(redis_auth: RedisServer) -> None:
    down = check_state(f"redis://127.0.0.1:{free_port()}/0", None, containerised=False)
    assert down.status == "fail" and "unreachable" in down.detail
    wrong = check_state(redis_auth.url, "wrong-pass-1", containerised=False)
    assert wrong.status == "fail" and "authentication failed" in wrong.detail
    assert "wrong-pass-1" not in wrong.detail + wrong.fix and redis_auth.password not in wrong.detail
    inline = check_state(f"redis://socflow:inline-pw-3318@127.0.0.1:{redis_auth.port}/0", None,
                         containerised=False)
    assert inline.status == "fail" and "must not carry a password" in inline.detail
    assert "inline-pw-3318" not in inline.detail + inline.fix
    assert check_state(redis_auth.url, redis_auth.password, containerised=False).status in ("ok", "warn")


def test_containerised_neurons_without_shared_state_are_warned(tmp_path: Path) -> None:
    assert check_state(None, None, containerised=True).status == "warn"
    sqlite = check_state(f"sqlite://{tmp_path}/s.sqlite", None, containerised=True)
    assert sqlite.status == "warn" and "do not share" in sqlite.detail
    assert check_state(None, None, containerised=False).status == "skip"


def test_doctor_command_checks_the_state_and_never_prints_its_password(redis_tls: RedisServer) -> None:
    assert redis_tls.password
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCFLOW_")}
    env["SOCFLOW_STATE_PASSWORD"] = redis_tls.password
    proc = subprocess.run([str(SOCFLOW), "doctor", "--json", "--source", str(REPO), "--state-url", redis_tls.url],
                          capture_output=True, text=True, timeout=90, env=env, stdin=subprocess.DEVNULL)
    report = json.loads(proc.stdout)
    state = next(c for c in report["checks"] if c["name"] == "state")
    assert state["status"] == "warn" and "rediss://127.0.0.1:" in state["detail"]
    assert redis_tls.password not in proc.stdout + proc.stderr
