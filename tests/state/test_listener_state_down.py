"""A syslog listener whose shared state (Redis) goes away: RELP messages are not acknowledged
until a commit goes through, the process waits instead of dying, and nothing is lost."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.redisserver import RedisServer

from socflow.emit.outbox import Outbox

pytestmark = pytest.mark.skipif(not shutil.which("redis-server"), reason="redis-server not installed")

SOCFLOW = [sys.executable, "-m", "socflow.adapters.cli.main"]


def _relp_frame(txnr: int, command: bytes, data: bytes = b"") -> bytes:
    return b"%d %s %d" % (txnr, command, len(data)) + (b" " + data if data else b"") + b"\n"


def _read_until(sock: socket.socket, needle: bytes, timeout: float) -> bytes:
    sock.settimeout(0.2)
    buf, deadline = b"", time.monotonic() + timeout
    while needle not in buf and time.monotonic() < deadline:
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            continue
        if not chunk:
            break
        buf += chunk
    return buf


def test_relp_is_not_acknowledged_while_redis_is_down(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCFLOW_STATE")}
    (tmp_path / "bridge.yml").write_text("window_grace: 0\n")
    proc = subprocess.Popen(
        [*SOCFLOW, "ingest", "--config", str(tmp_path / "bridge.yml"), "--listen", "relp://127.0.0.1:0",
         "--state-dir", str(tmp_path / "w"), "--state-url", server.url],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        first = json.loads(proc.stderr.readline())  # type: ignore[union-attr]
        port = int(first["listeners"][0].rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(_relp_frame(1, b"open", b"relp_version=0\ncommands=syslog"))
            assert b"commands=syslog" in _read_until(s, b"commands=syslog\n", 10)
            server.kill()
            for k in range(6):
                line = (f"<38>2026-03-10T00:00:0{k}+00:00 web1 sshd[1]: Failed password for root "
                        f"from 45.33.1.{1 if k < 5 else 2} port {k} ssh2")
                s.sendall(_relp_frame(2 + k, b"syslog", line.encode()))
            assert _read_until(s, b" rsp ", 3) == b""  # state down: nothing acknowledged
            assert proc.poll() is None  # waiting, not dead
            server.start()
            acks = _read_until(s, b"7 rsp 6 200 OK\n", 40)
            assert acks == b"".join(b"%d rsp 6 200 OK\n" % t for t in range(2, 8))
            late = "<38>2026-03-10T01:00:00+00:00 web1 sshd[1]: Failed password for x from 10.0.0.1 port 1 ssh2"
            s.sendall(_relp_frame(8, b"syslog", late.encode()))  # closes the window
            assert b"8 rsp 6 200 OK\n" in _read_until(s, b"8 rsp", 20)
            deadline = time.monotonic() + 20
            found: list[dict] = []
            while time.monotonic() < deadline and not found:
                time.sleep(0.3)
                if (tmp_path / "w" / "outbox.sqlite").exists():
                    with Outbox(tmp_path / "w" / "outbox.sqlite") as box:
                        found = [a.payload for a in box.list()]
        assert [a["title"] for a in found] == [
            "SSH brute force from 45.33.1.1 (5 failed or invalid login events)"
        ]
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        server.stop()
    text = err.decode()
    assert "Traceback" not in text
    assert '"event": "state-unavailable"' in text
