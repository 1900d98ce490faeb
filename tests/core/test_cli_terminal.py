"""The CLI as a user meets it (issue 11 §9): Ctrl-C prints what was found so far and exits 130,
a closed stdout (``| head``) ends quietly with 0, an unreachable TheHive is reported while the
command waits, and secrets given as flags earn a warning while files and the environment work.

Everything runs as a process: real SIGINT, a pseudo-terminal where a person would type ^C, pipes
whose reader goes away."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakes.thehive import FakeTheHive

from bridge.samples import write_logs

REPO = Path(__file__).resolve().parents[2]
SOCFLOW = [sys.executable, "-m", "socflow.adapters.cli.main"]
LINE = "Oct 10 14:00:02 bastion sshd[{n}]: Failed password for root from 45.9.{a}.{b} port 4000 ssh2\n"
SECRET = "Sup3rSecretKeyValue0123"


def _lines(count: int) -> str:
    return "".join(LINE.format(n=i, a=i // 250, b=i % 250 + 1) for i in range(count))


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ, SOCFLOW_STATE_DIR=str(tmp_path / "state"))
    for name in ("SOCFLOW_THEHIVE_URL", "SOCFLOW_THEHIVE_KEY", "SOCFLOW_DEBUG"):
        env.pop(name, None)
    return {**env, **extra}


class OpenPipe:
    """A named pipe the test writes some lines into and keeps open: the command has read
    them and waits for more when the interrupt comes."""

    def __init__(self, path: Path, text: str) -> None:
        os.mkfifo(path)
        self.path, self.text, self.fd = path, text, -1

    def feed(self) -> None:
        self.fd = os.open(self.path, os.O_WRONLY)  # returns once the command opened it
        os.write(self.fd, self.text.encode())

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)


def _read_all(fd: int, until: float) -> bytes:
    out = b""
    while time.monotonic() < until:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
    return out


def test_ctrl_c_in_a_terminal_prints_the_indicators_so_far_and_exits_130(tmp_path):
    stream = OpenPipe(tmp_path / "live.log", _lines(300))
    pid, master = pty.fork()
    if pid == 0:  # the child: a session whose controlling terminal is the pty
        os.chdir(tmp_path)
        os.execve(sys.executable, [*SOCFLOW, "extract", "--limit", "500", str(stream.path)],
                  _env(tmp_path, COLUMNS="200"))
    try:
        stream.feed()
        seen = _read_all(master, time.monotonic() + 3)  # reads, then waits on the open pipe
        os.write(master, b"\x03")  # the user types ^C
        seen += _read_all(master, time.monotonic() + 20)
        _, status = os.waitpid(pid, 0)
    finally:
        stream.close()
        os.close(master)
    text = seen.decode("utf-8", "replace")
    assert os.waitstatus_to_exitcode(status) == 130, text
    assert "ipv4 (300)" in text and "45.9.1.50" in text  # the table of what was read so far
    assert "socflow: interrupted" in text and "Traceback" not in text


def test_sigint_during_ingest_reports_the_outbox_and_exits_130(tmp_path):
    stream = OpenPipe(tmp_path / "live.log", _lines(300))
    proc = subprocess.Popen([*SOCFLOW, "ingest", "--no-progress", str(stream.path)],
                            env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        stream.feed()
        time.sleep(2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        stream.close()
    assert proc.returncode == 130, err
    assert "socflow: warning: interrupted: the outbox" in err and "pending" in err, err
    assert err.rstrip().endswith("socflow: interrupted") and "Traceback" not in err


def test_sigint_stops_follow_mode_with_130_and_sigterm_with_0(tmp_path):
    log = tmp_path / "auth.log"
    log.write_text(_lines(10))
    for sig, code in ((signal.SIGINT, 130), (signal.SIGTERM, 0)):
        proc = subprocess.Popen([*SOCFLOW, "ingest", "--follow", str(log)], env=_env(tmp_path),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(3)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == code, err
        assert '"event": "stopped"' in err


@pytest.fixture(scope="module")
def busy_state(tmp_path_factory):
    """An outbox with some hundred alerts and a log with thousands of indicators: every listing
    below is far larger than a pipe's buffer, so the writer meets the closed pipe."""
    tmp = tmp_path_factory.mktemp("busy")
    files, _ = write_logs(tmp, brute_forcers=400, web_attackers=50, noise=2000)
    env = _env(tmp)
    subprocess.run([*SOCFLOW, "ingest", "--no-progress", *map(str, files)], env=env,
                   capture_output=True, check=True, timeout=300)
    big = tmp / "many.log"
    big.write_text(_lines(20_000))
    return tmp, env, big, files


@pytest.mark.parametrize(
    "args",
    [
        ["extract", "--no-progress", "--limit", "100000", "{big}"],
        ["extract", "--no-progress", "--json", "{big}"],
        ["alerts", "list"],
        ["alerts", "list", "--json"],
        ["alerts", "export"],
        ["ingest", "--dry-run", "--no-progress", "{first}"],
    ],
    ids=lambda a: " ".join(a[:3]),
)
def test_a_reader_that_goes_away_ends_the_command_quietly(busy_state, args):
    tmp, env, big, files = busy_state
    argv = [a.format(big=big, first=files[0]) for a in args]
    proc = subprocess.Popen([*SOCFLOW, *argv], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert len(proc.stdout.read(200)) == 200  # `| head -c 200`
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err
    if args[0] != "ingest":  # ingest --dry-run's summary goes to stderr by design
        assert err == ""


# ---- waits the user sees ----------------------------------------------------------------------


def test_ingest_says_while_it_waits_for_an_unreachable_thehive(tmp_path):
    log = tmp_path / "auth.log"
    log.write_text(_lines(10) * 12)  # ten brute-forcing addresses: ten alerts to deliver
    with FakeTheHive() as hive:
        hive.outage("503")
        env = _env(tmp_path, SOCFLOW_THEHIVE_URL=hive.url, SOCFLOW_THEHIVE_KEY=hive.api_key)
        proc = subprocess.Popen(
            [*SOCFLOW, "ingest", "--no-progress", "--deliver-timeout", "6", str(log)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        first = proc.stderr.readline()  # arrives while the command is still waiting
        waiting = proc.poll() is None
        rest = proc.communicate(timeout=60)[1]
    assert waiting, first
    assert first.startswith("socflow: warning: TheHive unreachable, attempt 1: "), first
    assert "next retry in" in first
    notes = [line for line in (first + rest).splitlines() if "TheHive unreachable" in line]
    assert len(notes) >= 3 and "attempt 3:" in "".join(notes)
    assert proc.returncode == 1 and "kept in the outbox" in rest


# ---- secrets on the command line ------------------------------------------------------------


def test_a_secret_flag_warns_and_the_file_and_environment_do_not(tmp_path):
    logs = str(REPO / "examples" / "logs")
    key_file = tmp_path / "thehive.key"
    key_file.write_text(SECRET + "\n")
    key_file.chmod(0o600)
    with FakeTheHive(api_key=SECRET) as hive:
        for how, extra, env_extra in (
            ("flag", ["--thehive-key", SECRET], {}),
            ("file flag", ["--thehive-key-file", str(key_file)], {}),
            ("file env", [], {"SOCFLOW_THEHIVE_KEY_FILE": str(key_file)}),
            ("env", [], {"SOCFLOW_THEHIVE_KEY": SECRET}),
        ):
            env = _env(tmp_path / how.replace(" ", "-"), SOCFLOW_THEHIVE_URL=hive.url, **env_extra)
            proc = subprocess.run(
                [*SOCFLOW, "ingest", "--no-progress", "--json", *extra, logs],
                env=env, capture_output=True, text=True, timeout=120,
            )
            assert proc.returncode == 0, (how, proc.stderr)
            assert json.loads(proc.stdout)["delivery"]["delivered"] > 0, how  # the key worked
            warned = [line for line in proc.stderr.splitlines() if "visible to other users" in line]
            assert len(warned) == (1 if how == "flag" else 0), (how, proc.stderr)
            assert SECRET not in proc.stderr + proc.stdout
    assert warned == [] and "--thehive-key on the command line" in _flag_warning(tmp_path)


def _flag_warning(tmp_path: Path) -> str:
    proc = subprocess.run(
        [*SOCFLOW, "enrich", "--vt-key", SECRET, "--vt-url", "http://127.0.0.1:9/api/v3",
         "--no-cache", "--budget", "1", "45.1.1.1"],
        env=_env(tmp_path), capture_output=True, text=True, timeout=60,
    )
    first = proc.stderr.splitlines()[0]
    assert first == (
        "socflow: warning: --vt-key on the command line is visible to other users "
        "(ps, shell history); prefer SOCFLOW_VT_KEY or --vt-key-file"
    )
    return "--thehive-key on the command line"


@pytest.mark.parametrize(
    ("content", "problem"),
    [(b"", "the file is empty"), (f"{SECRET}\nsecond\n".encode(), "holds one line"),
     (b"\xff\xfe" + SECRET.encode(), "not UTF-8")],
)
def test_a_bad_secret_file_is_named_never_shown(tmp_path, content, problem):
    key_file = tmp_path / "key"
    key_file.write_bytes(content)
    proc = subprocess.run(
        [*SOCFLOW, "alerts", "push", "--thehive-url", "http://127.0.0.1:9",
         "--thehive-key-file", str(key_file)],
        env=_env(tmp_path), capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and problem in proc.stderr and str(key_file) in proc.stderr
    assert SECRET not in proc.stderr and "second" not in proc.stderr


@pytest.mark.parametrize(
    ("command", "flags"),
    [
        (["ingest"], ["--thehive-key", "--thehive-key-file"]),
        (["alerts", "push"], ["--thehive-key", "--thehive-key-file"]),
        (["enrich"], ["--vt-key-file", "--abuseipdb-key-file", "--otx-key-file"]),
        (["mail", "analyze"], ["--vt-key-file", "--abuseipdb-key-file", "--otx-key-file"]),
        (["doctor"], ["--thehive-key-file", "--cortex-key-file"]),
        (["blocklist", "serve"], ["--token-file", "--edl-password-file"]),
    ],
)
def test_every_secret_flag_has_a_file_option(command, flags):
    out = subprocess.run([*SOCFLOW, *command, "--help"], capture_output=True, text=True,
                         timeout=60, env=dict(os.environ, COLUMNS="200")).stdout
    for flag in flags:
        assert f"{flag} " in out, (command, flag)
