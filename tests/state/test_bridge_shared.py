"""Several ``socflow ingest`` workers sharing rule windows and alert claims through ``state_url``
(Redis, or one SQLite file for workers of one host): the same alerts as one process reading all
the input, each alert created once, replays after kill -9 never counted twice."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.redisserver import RedisServer

from socflow.classify.engine import group_id
from socflow.emit.outbox import Outbox
from socflow.statestore import open_windows, parse_state_url

SOCFLOW = str(Path(sys.executable).parent / "socflow")
ATTACKER = "45.33.0.9"
# ssh-brute-force: 5 failures from one address within one 10-minute window
WINDOW = 1773100800  # 2026-03-10T00:00:00Z, a multiple of 600


def failures(n: int, first: int, pid: int = 500) -> str:
    lines = []
    for k in range(n):
        minute, second = divmod(first + k, 60)
        lines.append(f"2026-03-10T00:0{minute}:{second:02d}+00:00 web{pid} sshd[{pid}]: Failed password "
                     f"for root from {ATTACKER} port {40000 + first + k} ssh2")
    return "\n".join(lines) + "\n"


def noise(n: int, pid: int) -> str:
    return "".join(f"2026-03-10T00:05:{k % 60:02d}+00:00 web{pid} sshd[{pid}]: Accepted publickey for "
                   f"deploy from 10.0.0.{k % 200 + 1} port {30000 + k} ssh2\n" for k in range(n))


def ingest(state: Path, files: list[Path], state_url: str | None, env: dict[str, str] | None = None,
           *extra: str) -> subprocess.CompletedProcess[str]:
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("SOCFLOW_STATE")}
    run_env.update(env or {})
    args = [SOCFLOW, "ingest", *map(str, files), "--state-dir", str(state), "--json", "--no-progress", *extra]
    if state_url:
        args += ["--state-url", state_url]
    return subprocess.run(args, env=run_env, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, check=False)


def alerts(state: Path) -> list[dict]:
    if not (state / "outbox.sqlite").exists():
        return []
    with Outbox(state / "outbox.sqlite") as box:
        return [a.payload for a in box.list()]


def brute_force(found: list[dict]) -> list[dict]:
    return [a for a in found if "socflow:rule=ssh-brute-force" in a["tags"]]


def split_attack(tmp_path: Path) -> list[Path]:
    """Six failures (threshold 5) spread over three hosts' logs: two each, none enough alone."""
    files = []
    for n in range(3):
        path = tmp_path / f"host{n}" / "auth.log"
        path.parent.mkdir()
        path.write_text(noise(20, n) + failures(2, 10 * n, pid=n), encoding="utf-8")
        files.append(path)
    return files


def single_worker_alert(tmp_path: Path, files: list[Path]) -> dict:
    combined = tmp_path / "all" / "auth.log"
    combined.parent.mkdir()
    combined.write_text("".join(f.read_text() for f in files), encoding="utf-8")
    run = ingest(tmp_path / "single", [combined], None)
    assert run.returncode == 0, run.stderr
    (alert,) = brute_force(alerts(tmp_path / "single"))
    return alert


def summary(alert: dict) -> tuple:
    return (alert["sourceRef"], alert["title"], alert["date"], alert["severity"],
            sorted((o["dataType"], o["data"]) for o in alert["observables"]),
            "6 event(s)" in alert["description"])


def test_three_workers_raise_the_single_alert_one_worker_would(state_url: str, tmp_path: Path) -> None:
    files = split_attack(tmp_path)
    expected = single_worker_alert(tmp_path, files)
    # the three documented ways to give it: the config file's state_url, the environment, the flag
    config = tmp_path / "bridge.yml"
    config.write_text(f"state_url: {state_url}\n", encoding="utf-8")
    runs = [ingest(tmp_path / "worker0", [files[0]], None, None, "--config", str(config)),
            ingest(tmp_path / "worker1", [files[1]], None, {"SOCFLOW_STATE_URL": state_url}),
            ingest(tmp_path / "worker2", [files[2]], state_url)]
    assert all(run.returncode == 0 for run in runs), [run.stderr for run in runs]
    raised = [a for n in range(3) for a in brute_force(alerts(tmp_path / f"worker{n}"))]
    assert len(raised) == 1, raised
    assert brute_force(alerts(tmp_path / "worker2")) == raised  # the worker that saw all six
    assert summary(raised[0]) == summary(expected)
    assert summary(expected)[-1] is True  # both counted six events


def in_parallel(files: list[Path], tmp_path: Path, state_url: str, env: dict[str, str], timeout: float) -> None:
    """One ``socflow ingest`` per file, all at once, worker n in tmp_path/worker{n}; each must succeed."""
    procs = [subprocess.Popen([SOCFLOW, "ingest", str(p), "--state-dir", str(tmp_path / f"worker{n}"),
                               "--json", "--no-progress", "--state-url", state_url],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for n, p in enumerate(files)]
    try:
        for proc in procs:
            _, err = proc.communicate(timeout=timeout)
            assert proc.returncode == 0, err
    finally:
        for proc in procs:  # a failed or timed-out worker leaves no process behind
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


def test_three_workers_in_parallel_raise_it_once(state_url: str, tmp_path: Path) -> None:
    files = split_attack(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCFLOW_STATE")}
    in_parallel(files, tmp_path, state_url, env, timeout=60)
    raised = [a for n in range(3) for a in brute_force(alerts(tmp_path / f"worker{n}"))]
    assert len(raised) == 1  # the last worker to finish sees all six; only one claim wins


def test_without_shared_state_each_worker_sees_too_little(tmp_path: Path) -> None:
    """The problem the issue describes: split over three bridges, the attack stays hidden."""
    for n, path in enumerate(split_attack(tmp_path)):
        assert ingest(tmp_path / f"worker{n}", [path], None).returncode == 0
    assert not [a for n in range(3) for a in brute_force(alerts(tmp_path / f"worker{n}"))]


def shared_count(state_url: str) -> int:
    windows = open_windows(parse_state_url(state_url), None)
    try:
        return windows.counts([group_id("ssh-brute-force", WINDOW, (ATTACKER,))])[
            group_id("ssh-brute-force", WINDOW, (ATTACKER,))]
    finally:
        windows.close()


def test_a_replay_after_a_crash_before_the_commit_counts_nothing_twice(state_url: str, tmp_path: Path) -> None:
    """The events reached the shared state, the outbox commit did not (kill -9 between them):
    the restarted worker reads the same lines again and adds the same identities."""
    log = tmp_path / "a" / "auth.log"
    log.parent.mkdir()
    log.write_text(noise(5, 1), encoding="utf-8")
    state = tmp_path / "worker-a"
    assert ingest(state, [log], state_url).returncode == 0  # the worker exists (its identity is kept)
    before = tmp_path / "outbox-before.sqlite"
    shutil.copyfile(state / "outbox.sqlite", before)
    with log.open("a", encoding="utf-8") as fh:
        fh.write(failures(3, 0, pid=1))
    assert ingest(state, [log], state_url).returncode == 0
    assert shared_count(state_url) == 3
    for suffix in ("", "-wal", "-shm"):  # back to the last commit before the lines were read
        Path(f"{state / 'outbox.sqlite'}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(before, state / "outbox.sqlite")
    assert ingest(state, [log], state_url).returncode == 0  # replays the three lines
    assert shared_count(state_url) == 3
    other = tmp_path / "b" / "auth.log"
    other.parent.mkdir()
    other.write_text(failures(2, 20, pid=2), encoding="utf-8")
    assert ingest(tmp_path / "worker-b", [other], state_url).returncode == 0
    raised = brute_force(alerts(state)) + brute_force(alerts(tmp_path / "worker-b"))
    assert len(raised) == 1 and "5 event(s)" in raised[0]["description"]


def test_worker_killed_by_sigkill_and_restarted_counts_each_line_once(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    log = tmp_path / "a" / "auth.log"
    log.parent.mkdir()
    log.write_text(failures(3, 0, pid=1), encoding="utf-8")
    state = tmp_path / "worker-a"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCFLOW_STATE")}
    proc = subprocess.Popen([SOCFLOW, "ingest", str(log), "--follow", "--state-dir", str(state),
                             "--state-url", redis_server.url], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while shared_count(redis_server.url) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert shared_count(redis_server.url) == 3
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    with log.open("a", encoding="utf-8") as fh:
        fh.write(failures(1, 30, pid=1))
    assert ingest(state, [log], redis_server.url).returncode == 0
    assert shared_count(redis_server.url) == 4  # the three again (maybe replayed) plus one new
    other = tmp_path / "b" / "auth.log"
    other.parent.mkdir()
    other.write_text(failures(1, 40, pid=2), encoding="utf-8")
    assert ingest(tmp_path / "worker-b", [other], redis_server.url).returncode == 0
    raised = brute_force(alerts(state)) + brute_force(alerts(tmp_path / "worker-b"))
    assert len(raised) == 1 and "5 event(s)" in raised[0]["description"]


def test_redis_down_stops_the_checkpoint_and_a_rerun_resumes(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis")
    try:
        log = tmp_path / "a" / "auth.log"
        log.parent.mkdir()
        log.write_text(failures(3, 0, pid=1), encoding="utf-8")
        state = tmp_path / "worker-a"
        server.kill()
        down = ingest(state, [log], server.url)
        assert down.returncode == 1
        assert "state backend redis://127.0.0.1:" in down.stderr and "unreachable" in down.stderr
        assert "Traceback" not in down.stderr
        with Outbox(state / "outbox.sqlite") as box:  # nothing committed: no checkpoint moved
            assert box.checkpoint(str(log.resolve())) is None
        server.start()
        assert ingest(state, [log], server.url).returncode == 0
        assert shared_count(server.url) == 3
    finally:
        server.stop()


@pytest.mark.parametrize("persistent", [True, False])
def test_redis_restart_with_and_without_persistence(persistent: bool, tmp_path: Path) -> None:
    """kill -9 of Redis: with appendonly, the windows survive; without, their counts are lost
    (documented) — and an alert already raised is never raised again by its worker."""
    server = RedisServer(tmp_path / "redis", appendonly=persistent)
    try:
        first = tmp_path / "a" / "auth.log"
        first.parent.mkdir()
        first.write_text(failures(5, 0, pid=1), encoding="utf-8")
        state = tmp_path / "worker-a"
        assert ingest(state, [first], server.url).returncode == 0
        assert len(brute_force(alerts(state))) == 1
        server.restart()  # kill -9, then start again on the same folder
        assert shared_count(server.url) == (5 if persistent else 0)
        run = ingest(state, [first], server.url)  # the same input again: nothing new
        assert run.returncode == 0
        assert len(brute_force(alerts(state))) == 1
    finally:
        server.stop()


def test_follow_mode_waits_for_redis_and_resumes_without_loss(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis")  # no persistence: what counts is what arrives after
    log = tmp_path / "a" / "auth.log"
    log.parent.mkdir()
    log.write_text(noise(3, 1), encoding="utf-8")
    state, errors = tmp_path / "worker-a", tmp_path / "stderr.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCFLOW_STATE")}
    try:
        with errors.open("w") as err:
            proc = subprocess.Popen([SOCFLOW, "ingest", str(log), "--follow", "--state-dir", str(state),
                                     "--state-url", server.url], env=env, stdout=subprocess.DEVNULL, stderr=err)
        try:
            deadline = time.monotonic() + 20
            while "following" not in errors.read_text() and time.monotonic() < deadline:
                time.sleep(0.05)
            server.kill()
            with log.open("a", encoding="utf-8") as fh:
                fh.write(failures(3, 0, pid=1))
            while "state-unavailable" not in errors.read_text() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert "state-unavailable" in errors.read_text()
            assert proc.poll() is None  # still running, waiting for the state backend
            server.start()
            while time.monotonic() < deadline:
                try:
                    if shared_count(server.url) == 3:
                        break
                except Exception:  # noqa: BLE001 - the server may still be starting
                    pass
                time.sleep(0.1)
            assert shared_count(server.url) == 3
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
        assert proc.returncode == 0, errors.read_text()
        with Outbox(state / "outbox.sqlite") as box:
            checkpoint = box.checkpoint(str(log.resolve()))
        assert checkpoint is not None and checkpoint.offset == log.stat().st_size
        text = errors.read_text()
        assert "Traceback" not in text
    finally:
        server.stop()


def test_two_syslog_listeners_share_windows(redis_server: RedisServer, tmp_path: Path) -> None:
    """Two ``socflow ingest --listen`` workers, three failures each over UDP: one alert."""
    import json as _json
    import socket

    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCFLOW_STATE")}
    workers = []
    for n in range(2):
        proc = subprocess.Popen([sys.executable, "-m", "socflow.adapters.cli.main", "ingest",
                                 "--listen", "udp://127.0.0.1:0", "--state-dir", str(tmp_path / f"w{n}"),
                                 "--state-url", redis_server.url], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        first = _json.loads(proc.stderr.readline())  # type: ignore[union-attr]
        assert first["event"] == "listening", first
        workers.append((proc, int(first["listeners"][0].rsplit(":", 1)[1])))
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for n, (_, port) in enumerate(workers):
                for k in range(3):
                    line = (f"<38>Dec  7 00:00:{10 * n + k:02d} web{n} sshd[{n}]: Failed password for root "
                            f"from 45.77.9.9 port {2200 + 10 * n + k} ssh2")
                    sock.sendto(line.encode(), ("127.0.0.1", port))
        deadline = time.monotonic() + 30
        raised: list[dict] = []
        while time.monotonic() < deadline and not raised:
            time.sleep(0.5)
            raised = [a for n in range(2) for a in brute_force(alerts(tmp_path / f"w{n}"))]
        time.sleep(1.0)  # a second alert, if any, would come now
    finally:
        for proc, _ in workers:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=60)
    raised = [a for n in range(2) for a in brute_force(alerts(tmp_path / f"w{n}"))]
    assert len(raised) == 1 and "6 event(s)" in raised[0]["description"], raised


def test_listener_waits_for_redis_and_acknowledges_nothing_meanwhile(tmp_path: Path) -> None:
    """A listener worker whose Redis is down keeps running (state-unavailable events) and counts
    what it received once Redis is back."""
    import json as _json
    import socket

    server = RedisServer(tmp_path / "redis")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCFLOW_STATE")}
    errors = tmp_path / "stderr.jsonl"
    try:
        with errors.open("w") as err:
            proc = subprocess.Popen([sys.executable, "-m", "socflow.adapters.cli.main", "ingest", "--listen",
                                     "udp://127.0.0.1:0", "--state-dir", str(tmp_path / "w"), "--state-url",
                                     server.url], env=env, stdout=subprocess.DEVNULL, stderr=err,
                                    stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while "listening" not in errors.read_text() and time.monotonic() < deadline:
                time.sleep(0.05)
            first = _json.loads(errors.read_text().splitlines()[0])
            port = int(first["listeners"][0].rsplit(":", 1)[1])
            server.kill()
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                for k in range(3):
                    sock.sendto((f"<38>Dec  7 00:01:{k:02d} web1 sshd[1]: Failed password for root from "
                                 f"45.77.8.8 port {2300 + k} ssh2").encode(), ("127.0.0.1", port))
            while "state-unavailable" not in errors.read_text() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert "state-unavailable" in errors.read_text() and proc.poll() is None
            server.start()
            windows = open_windows(parse_state_url(server.url), None)
            gid = group_id("ssh-brute-force", 1796601600, ("45.77.8.8",))
            count = 0
            while time.monotonic() < deadline and count < 3:
                time.sleep(0.2)
                try:
                    count = windows.counts([gid])[gid]
                except Exception:  # noqa: BLE001 - starting
                    pass
            windows.close()
            assert count == 3
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
        assert proc.returncode == 0 and "Traceback" not in errors.read_text()
    finally:
        server.stop()


def test_three_parallel_workers_create_the_alert_in_thehive_once(state_url: str, tmp_path: Path) -> None:
    """The issue's "done when": one attack split over three bridge workers reaches TheHive as the
    single alert one worker would make, created by one POST (the claim), not three refused ones."""
    from fakes.thehive import FakeTheHive

    files = split_attack(tmp_path)
    key = "hive-key-5566778899"
    with FakeTheHive(api_key=key) as hive:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SOCFLOW_")}
        env.update(SOCFLOW_THEHIVE_URL=hive.url, SOCFLOW_THEHIVE_KEY=key)
        in_parallel(files, tmp_path, state_url, env, timeout=90)
        created = [a for a in hive.alerts if "socflow:rule=ssh-brute-force" in a["tags"]]
        posts = [r for r in hive.requests if r[0] == "POST" and r[1].rstrip("/").endswith("/alert")]
        assert len(created) == 1 and len(posts) == 1, hive.requests
        from socflow.emit.alert import source_ref

        assert created[0]["sourceRef"] == source_ref("ssh-brute-force", (ATTACKER,), WINDOW)


def test_sqlite_windows_forget_expired_groups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from socflow.statestore import SqliteWindows, WindowEvent

    windows = SqliteWindows(tmp_path / "w.sqlite")
    windows.add([WindowEvent("g-old", "e1", 1.0, "line", ('["k","ip","1.2.3.4"]',), 5, -1.0)])
    monkeypatch.setattr(os, "urandom", lambda n: b"\x00" * n)  # the cleanup's turn
    windows.add([WindowEvent("g-new", "e2", 2.0, "line", (), 5, 60.0)])
    assert windows.counts(["g-old", "g-new"]) == {"g-old": 0, "g-new": 1}
    rows = {t: windows.db.execute(f"SELECT COUNT(*) FROM {t} WHERE gid='g-old'").fetchone()[0]  # noqa: S608
            for t in ("win_meta", "win_samples", "win_values")}
    assert rows == {"win_meta": 0, "win_samples": 0, "win_values": 0}
    windows.close()


@pytest.mark.parametrize(("url", "words"), [
    ("memcached://x", "unknown scheme 'memcached'"),
    ("redis://socflow:hunter2-inline@127.0.0.1:6379/0", "must not carry a password"),
    ("redis://127.0.0.1:6379/0?socket_timeout=soon", "socket_timeout must be a number"),
])
def test_ingest_refuses_a_wrong_state_url_in_one_line(tmp_path: Path, url: str, words: str) -> None:
    log = tmp_path / "auth.log"
    log.write_text(failures(1, 0), encoding="utf-8")
    run = ingest(tmp_path / "w", [log], url)
    assert run.returncode == 1 and run.stderr.startswith("socflow: error: state_url")
    assert words in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert "hunter2-inline" not in run.stdout + run.stderr


def test_ingest_state_password_wrong_absent_and_right(redis_auth: RedisServer, tmp_path: Path) -> None:
    """The password comes from SOCFLOW_STATE_PASSWORD only; a wrong or missing one is one line
    that never shows it, the right one counts the lines in the shared windows."""
    log = tmp_path / "auth.log"
    log.write_text(failures(3, 0), encoding="utf-8")
    wrong = ingest(tmp_path / "w1", [log], redis_auth.url, {"SOCFLOW_STATE_PASSWORD": "wrong-pw-5521"})
    absent = ingest(tmp_path / "w2", [log], redis_auth.url)
    for run in (wrong, absent):
        assert run.returncode == 1 and "authentication failed" in run.stderr, run.stderr
        assert len(run.stderr.strip().splitlines()) == 1 and "Traceback" not in run.stderr
    right = ingest(tmp_path / "w3", [log], redis_auth.url, {"SOCFLOW_STATE_PASSWORD": redis_auth.password})
    assert right.returncode == 0, right.stderr
    for run in (wrong, absent, right):
        assert redis_auth.password not in run.stdout + run.stderr and "wrong-pw-5521" not in run.stdout + run.stderr
    windows = open_windows(parse_state_url(redis_auth.url), redis_auth.password)
    try:
        gid = group_id("ssh-brute-force", WINDOW, (ATTACKER,))
        assert windows.counts([gid]) == {gid: 3}
    finally:
        windows.close()


def test_dry_run_neither_counts_nor_claims_in_the_shared_state(tmp_path: Path) -> None:
    """``--dry-run`` with a state URL: the alerts it shows are this input's alone; an unreachable
    Redis does not stop it, and a SQLite state file is not even created."""
    from support.redisserver import free_port

    log = tmp_path / "auth.log"
    log.write_text(failures(6, 0), encoding="utf-8")
    shared = tmp_path / "shared" / "state.sqlite"
    for url in (f"sqlite://{shared}", f"redis://127.0.0.1:{free_port()}/0"):
        run = ingest(tmp_path / "dry", [log], url, None, "--dry-run")
        assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
        assert "ssh-brute-force" in run.stdout
    assert not shared.exists()
    real = ingest(tmp_path / "real", [log], f"sqlite://{shared}")
    assert real.returncode == 0 and len(brute_force(alerts(tmp_path / "real"))) == 1  # nothing claimed before
