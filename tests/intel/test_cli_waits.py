"""``socflow enrich``: the waits a user sees, counted failures, Ctrl-C (issue 11 item 9).

Before: at default settings (budget 60 s) a VirusTotal quota wait of 60.25 s never fitted, so
20 IPs gave 4 answers and 16 instant failures while the usage table said 0 failures; nothing
showed that the command was waiting; Ctrl-C lost everything. These tests run the command as a
user does — in a terminal (a pty: rich's live countdown) or with pipes (plain lines) — against
the VirusTotal fake. The fake itself allows 100 calls a minute here: what is under test is the
client keeping to the free tier's 4 a minute, its default.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from fakes.cti import FakeVirusTotal

SOCFLOW = str(Path(sys.executable).parent / "socflow")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


def command(vt: FakeVirusTotal, state: Path, *args: str) -> tuple[list[str], dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCFLOW_")}
    env.update(SOCFLOW_VT_KEY=vt.key, TERM="xterm-256color", COLUMNS="140", LINES="40")
    env.pop("NO_COLOR", None)
    argv = [SOCFLOW, "enrich", *args, "--provider", "virustotal", "--vt-url", vt.url,
            "--state-dir", str(state), "--allow-private-targets"]
    return argv, env


def ips(vt: FakeVirusTotal, n: int) -> list[str]:
    values = [f"45.0.0.{i}" for i in range(1, n + 1)]
    for ip in values:
        vt.set_object("ip_addresses", ip, malicious=4)
    return values


def run_in_terminal(argv: list[str], env: dict[str, str], timeout: float) -> tuple[int, str]:
    """Run ``argv`` with a pty as its terminal (stdin, stdout, stderr); all it drew, and its exit."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 140, 0, 0))
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the terminal's other side is closed
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    return code, b"".join(chunks).decode("utf-8", "replace")


def test_default_settings_wait_for_the_free_quota_with_a_countdown_in_a_terminal(tmp_path: Path) -> None:
    """Five IPs at defaults (4 a minute): the fifth waits about a minute, counted down, and is answered."""
    with FakeVirusTotal(per_minute=100) as vt:
        argv, env = command(vt, tmp_path, *ips(vt, 5))
        started = time.monotonic()
        code, screen = run_in_terminal(argv, env, timeout=150)
        elapsed = time.monotonic() - started
        assert vt.count() == 5
    text = ANSI.sub("", screen)
    assert code == 0, text[-3000:]
    assert elapsed >= 55  # it really waited for the minute window
    countdown = [int(n) for n in re.findall(r"VirusTotal quota \(4 calls per 60 s\): waiting\s.*?(\d+) s left", text)]
    assert countdown and max(countdown) >= 55 and min(countdown) <= 5, text[-3000:]
    assert len(set(countdown)) > 10  # it counted down, it did not just print once
    assert text.count("malicious 4/74 engines flag it as malicious") == 5
    table = text[text.index("Calls and quota"):]
    assert re.search(r"VirusTotal\s*│\s*5\s*│\s*0\s*│\s*0\s*│\s*0\s*│\s*0\s*│", table), table  # 5 calls, 0 failures


def test_ctrl_c_prints_what_was_gathered_and_exits_130(tmp_path: Path) -> None:
    """With pipes the wait is one plain line; Ctrl-C during it keeps the four answers."""
    with FakeVirusTotal(per_minute=100) as vt:
        argv, env = command(vt, tmp_path, *ips(vt, 6))
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        assert proc.stderr is not None
        line = proc.stderr.readline()  # blocks until the command says it waits
        assert re.fullmatch(r"socflow: VirusTotal quota \(4 calls per 60 s\): waiting (59|60) s, "
                            r"until \d\d:\d\d:\d\d\n", line), line
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        assert vt.count() == 4
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == "socflow: warning: interrupted: 4 of 6 indicator(s) looked up"
    assert out.count("malicious 4/74 engines flag it as malicious") == 4
    assert "45.0.0.5" not in out and "Calls and quota" in out


def test_ctrl_c_with_json_output_is_valid_json_marked_interrupted(tmp_path: Path) -> None:
    with FakeVirusTotal(per_minute=100) as vt:
        argv, env = command(vt, tmp_path, *ips(vt, 5), "--json")
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        assert proc.stderr is not None
        assert "waiting" in proc.stderr.readline()
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    data = json.loads(out)
    assert proc.returncode == 130 and data["interrupted"] is True
    assert [r["indicator"] for r in data["results"]] == ["45.0.0.1", "45.0.0.2", "45.0.0.3", "45.0.0.4"]


def test_failed_lookups_are_counted_in_the_usage_table(tmp_path: Path) -> None:
    """The daily quota spent after one call: two failures, in the JSON and in the table."""
    with FakeVirusTotal(per_day=1) as vt:
        values = ips(vt, 3)
        argv, env = command(vt, tmp_path, *values, "--json")
        data = json.loads(subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60).stdout)
        assert data["usage"]["virustotal"]["failures"] == 2 and data["usage"]["virustotal"]["calls"] == 2
        errors = [r["errors"][0]["error"] for r in data["results"] if r["errors"]]
        assert len(errors) == 2 and all("quota exhausted, resets at" in e and "00:00:00 UTC" in e for e in errors)
        argv, env = command(vt, tmp_path, *values)  # the block is remembered: no call at all now
        table = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        assert vt.count() == 2
    assert table.returncode == 1
    quota = table.stdout[table.stdout.index("Calls and quota"):]
    assert re.search(r"VirusTotal\s*│\s*0\s*│\s*1\s*│\s*0\s*│\s*0\s*│\s*2\s*│", quota), quota  # 1 cached, 2 failed
