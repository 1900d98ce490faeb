"""The playbook journal's run lock through the state interface: runners on two hosts (each its
own journal file) sharing one Redis never drive one run at once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support.redisserver import RedisServer

from socflow.playbook.journal import RunBusyError, SqliteJournal
from socflow.statestore import open_leases, parse_state_url

SOCFLOW = str(Path(sys.executable).parent / "socflow")


def journal(tmp_path: Path, host: str, server: RedisServer) -> SqliteJournal:
    leases = open_leases(parse_state_url(server.url), None)
    j = SqliteJournal(tmp_path / host / "playbooks.sqlite", leases=leases)
    j.open_run("ssh:alert:~1", "ssh", "d1", "alert", "~1")
    return j


def test_one_runner_at_a_time_across_hosts(redis_server: RedisServer, tmp_path: Path) -> None:
    a, b = journal(tmp_path, "a", redis_server), journal(tmp_path, "b", redis_server)
    with a.lease("ssh:alert:~1"):
        with pytest.raises(RunBusyError, match="being driven by another process"):
            with b.lease("ssh:alert:~1"):
                pass
        with a.lease("ssh:alert:~1"):  # the holder may take it again (a resumed step)
            pass
    with b.lease("ssh:alert:~1"):  # released: the other host may drive it now
        pass
    a.close()
    b.close()


def test_a_lease_of_a_dead_runner_expires(redis_server: RedisServer, tmp_path: Path) -> None:
    a, b = journal(tmp_path, "a", redis_server), journal(tmp_path, "b", redis_server)
    assert a.leases is not None
    assert a.leases.take("playbook-run:ssh:alert:~1", a.owner, 0.2) is None  # then "killed"
    with pytest.raises(RunBusyError):
        with b.lease("ssh:alert:~1"):
            pass
    import time

    time.sleep(0.3)
    with b.lease("ssh:alert:~1"):
        pass
    a.close()
    b.close()


def test_playbook_commands_take_state_url() -> None:
    for command in ("run", "watch"):
        out = subprocess.run([SOCFLOW, "playbook", command, "--help"], capture_output=True, text=True,
                             timeout=60, check=True).stdout
        assert "--state-url" in out and "SOCFLOW_STATE_URL" in out


def test_playbook_run_takes_its_lock_in_the_state_backend(tmp_path: Path) -> None:
    """The run lock is taken before anything else: a down Redis stops the run with one line."""
    import os

    from support.redisserver import free_port

    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCFLOW_")}
    env.update(SOCFLOW_STATE_DIR=str(tmp_path / "s"), SOCFLOW_THEHIVE_KEY="hive-key-0123456789")
    playbook = Path(__file__).resolve().parents[2] / "src" / "socflow" / "data" / "playbooks" / "phishing.yml"
    proc = subprocess.run([SOCFLOW, "playbook", "run", str(playbook), "--alert", "~1",
                           "--state-url", f"redis://127.0.0.1:{free_port()}/0",
                           "--thehive-url", f"http://127.0.0.1:{free_port()}/"],
                          capture_output=True, text=True, timeout=60, env=env, stdin=subprocess.DEVNULL)
    assert proc.returncode == 1
    assert "state backend redis://127.0.0.1:" in proc.stderr and "is unreachable" in proc.stderr
    assert "Traceback" not in proc.stderr
