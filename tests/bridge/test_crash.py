"""kill -9 at many moments of ingestion and delivery, restart, and TheHive holds each alert once.

``socflow ingest`` runs as a real process against the TheHive emulator; it is SIGKILLed after
varied delays, then restarted, until a run completes. The emulator must then hold exactly the
expected detections — none lost, none twice (also not under two different sourceRefs) — and the
outbox must show every alert delivered. The test also checks that kills really landed in the
middle of reading and in the middle of delivering, so it cannot pass by killing too late.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from fakes.thehive import FakeTheHive

from bridge.samples import groups_of, write_logs

SOCFLOW = [sys.executable, "-m", "socflow.adapters.cli.main"]


def _run(args: list[str], env: dict[str, str], kill_after: float | None) -> int | None:
    proc = subprocess.Popen(
        [*SOCFLOW, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    if kill_after is None:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
        return 0
    time.sleep(kill_after)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    return None


def _run_until_offset(
    args: list[str], env: dict[str, str], state: Path, target: int, extra: float
) -> None:
    """Start a run, SIGKILL it ``extra`` seconds after its checkpoints pass ``target`` bytes."""
    proc = subprocess.Popen(
        [*SOCFLOW, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        _, offsets = _outbox_state(state, [])
        if sum(offsets) >= target:
            time.sleep(extra)
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def _run_until_delivered(
    args: list[str], env: dict[str, str], state: Path, target: int, extra: float
) -> None:
    """Start a run, SIGKILL it ``extra`` seconds after ``target`` alerts are marked delivered."""
    proc = subprocess.Popen(
        [*SOCFLOW, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        counts, _ = _outbox_state(state, [])
        if counts.get("delivered", 0) >= target:
            time.sleep(extra)
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def _outbox_state(state: Path, files: list[Path]) -> tuple[dict[str, int], list[int]]:
    db = state / "outbox.sqlite"
    if not db.exists():
        return {}, []
    con = sqlite3.connect(db)
    try:
        counts = dict(con.execute("SELECT state, COUNT(*) FROM alerts GROUP BY state").fetchall())
        offsets = [row[0] for row in con.execute("SELECT offset FROM checkpoints")]
    except sqlite3.OperationalError:  # killed before the schema was written
        return {}, []
    finally:
        con.close()
    return counts, offsets


def _assert_exactly_once(hive: FakeTheHive, expected: set[tuple[str, str]], state: Path) -> None:
    alerts = hive.alerts
    got = Counter(groups_of(alerts))
    assert set(got) == expected, f"missing {expected - set(got)}, unexpected {set(got) - expected}"
    assert all(n == 1 for n in got.values()), [g for g, n in got.items() if n > 1]
    assert len({a["sourceRef"] for a in alerts}) == len(alerts) == len(expected)
    counts, _ = _outbox_state(state, [])
    assert counts == {"delivered": len(expected)}


@pytest.fixture()
def logs(tmp_path):
    files, expected = write_logs(tmp_path, brute_forcers=60, web_attackers=30, noise=5_000)
    return files, expected.groups


@pytest.fixture()
def big_logs(tmp_path):
    """Enough lines that reading spans many commits (kills must land between them)."""
    files, expected = write_logs(tmp_path, brute_forcers=60, web_attackers=30, noise=40_000)
    return files, expected.groups


def _env(tmp_path: Path, hive: FakeTheHive) -> dict[str, str]:
    config = tmp_path / "bridge.yml"
    config.write_text(
        "commit_bytes: 65536\nthehive:\n  retries: 0\n  timeout: 5\ndeliver_timeout: 20\n"
    )
    env = dict(
        os.environ,
        SOCFLOW_THEHIVE_URL=hive.url,
        SOCFLOW_THEHIVE_KEY=hive.api_key,
        SOCFLOW_STATE_DIR=str(tmp_path / "state"),
    )
    env["SOCFLOW_CONFIG_FOR_TEST"] = str(config)
    return env


def test_kill_during_ingestion_at_many_points(tmp_path, big_logs):
    files, expected = big_logs
    rnd = random.Random(4)
    with FakeTheHive() as hive:
        env = _env(tmp_path, hive)
        args = [
            "ingest",
            "--config",
            env["SOCFLOW_CONFIG_FOR_TEST"],
            "--no-progress",
            *map(str, files),
        ]
        hive.outage("refused")  # TheHive down: every kill lands in reading or in retrying
        mid_file = 0
        size = sum(f.stat().st_size for f in files)
        state = tmp_path / "state"
        for k in range(1, 9):  # checkpoints pass k/9 of the input, then kill after 0-30 ms
            _run_until_offset(args, env, state, size * k // 9, rnd.uniform(0, 0.03))
            _, offsets = _outbox_state(state, files)
            if offsets and 0 < sum(offsets) < size:
                mid_file += 1
        assert mid_file >= 4, "kills did not land in the middle of reading; the test proves nothing"
        hive.recover()
        _run(args, env, kill_after=None)
        _assert_exactly_once(hive, expected, tmp_path / "state")


def test_kill_during_delivery_at_many_points(tmp_path, logs):
    files, expected = logs
    rnd = random.Random(9)
    with FakeTheHive() as hive:
        env = _env(tmp_path, hive)
        args = [
            "ingest",
            "--config",
            env["SOCFLOW_CONFIG_FOR_TEST"],
            "--no-progress",
            *map(str, files),
        ]
        hive.outage("slow", delay=0.03)  # every answer takes 30 ms: delivery lasts a while
        mid_delivery = 0
        state = tmp_path / "state"
        for i in range(1, 9):  # kill once k/9 of the alerts are delivered, 0-60 ms later
            if i % 3 == 2:  # stored by TheHive, no answer: a re-send follows
                hive.outage("accept_then_die", count=2)
            _run_until_delivered(args, env, state, len(expected) * i // 9, rnd.uniform(0, 0.06))
            counts, _ = _outbox_state(state, files)
            if counts.get("delivered") and counts.get("pending"):
                mid_delivery += 1
            if i % 3 == 2:
                hive.outage("slow", delay=0.03)
        assert mid_delivery >= 4, "kills did not land in the middle of delivering; proves nothing"
        hive.recover()
        _run(args, env, kill_after=None)
        _assert_exactly_once(hive, expected, tmp_path / "state")
        statuses = Counter(
            status for method, path, status in hive.requests if path == "/api/v1/alert"
        )
        assert statuses[201] <= len(expected)  # never created more than once…
        assert statuses[400] >= 1  # …although alerts were re-sent (answered as duplicates)


def test_thehive_down_then_back(tmp_path, logs):
    files, expected = logs
    with FakeTheHive() as hive:
        env = _env(tmp_path, hive)
        args = [
            "ingest",
            "--config",
            env["SOCFLOW_CONFIG_FOR_TEST"],
            "--no-progress",
            "--deliver-timeout",
            "1",
            *map(str, files),
        ]
        hive.outage("503")
        proc = subprocess.run(
            [*SOCFLOW, *args], env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert proc.returncode == 1
        assert "kept in the outbox" in proc.stderr and "Traceback" not in proc.stderr
        assert hive.alerts == []
        counts, _ = _outbox_state(tmp_path / "state", files)
        assert counts == {"pending": len(expected)}
        hive.recover()
        push = subprocess.run(
            [*SOCFLOW, "alerts", "push", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert push.returncode == 0, push.stderr
        _assert_exactly_once(hive, expected, tmp_path / "state")


def test_kill_while_following_a_growing_log(tmp_path):
    """The unattended mode: a log grows, the follower is SIGKILLed and restarted several times."""
    log = tmp_path / "auth.log"
    log.write_text("")
    ips = [f"45.77.{i}.9" for i in range(12)]
    with FakeTheHive() as hive:
        env = _env(tmp_path, hive)
        (tmp_path / "follow.yml").write_text("window_grace: 0\nthehive:\n  retries: 0\n")
        args = [*SOCFLOW, "ingest", "--follow", "--config", str(tmp_path / "follow.yml"), str(log)]
        rnd = random.Random(3)
        proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        proc.stderr.readline()  # "following": the file is open
        kills = 0
        for i, ip in enumerate(ips):
            with open(log, "a") as fh:
                for k in range(6):
                    fh.write(
                        f"2026-03-10T{8 + i:02d}:00:0{k}+00:00 web1 sshd[1]: Failed password for "
                        f"root from {ip} port {k} ssh2\n"
                    )
                    fh.flush()
                    time.sleep(rnd.uniform(0, 0.03))
            if i % 3 == 1:
                time.sleep(rnd.uniform(0.2, 0.8))
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=30)
                kills += 1
                proc = subprocess.Popen(
                    args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
                )
                proc.stderr.readline()
        with open(log, "a") as fh:  # a later event closes the last window
            fh.write(
                "2026-03-11T00:00:00+00:00 web1 sshd[1]: Accepted password for a from 10.0.0.1\n"
            )
        deadline = time.monotonic() + 40
        while len(hive.alerts) < len(ips) and time.monotonic() < deadline:
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
        assert kills == 4
        _assert_exactly_once(hive, {("ssh-brute-force", ip) for ip in ips}, tmp_path / "state")
