"""Bounded work on hostile input (issue 11 §8, the reading part): named pipes, sockets and broken
links inside scanned folders are skipped with a counted note instead of hanging ``extract`` and
``ingest``; a named pipe given by name is read as a stream; a config or allowlist error never
prints the file's contents (a secrets file passed by mistake)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socflow.adapters.thehive.config import load_config
from socflow.classify import load_rule_files
from socflow.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
SOCFLOW = [sys.executable, "-m", "socflow.adapters.cli.main"]
LOG = "Oct 10 14:00:02 bastion sshd[2000]: Failed password for root from 45.9.9.9 port 4000 ssh2\n"


def run(*args: str, cwd: Path, timeout: float = 60, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*SOCFLOW, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **env}, stdin=subprocess.DEVNULL, check=False,
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    logs = tmp_path / "logs"
    (logs / "sub").mkdir(parents=True)
    (logs / "auth.log").write_text(LOG)
    os.mkfifo(logs / "pipe")
    os.mkfifo(logs / "sub" / "pipe2")
    (logs / "broken").symlink_to(tmp_path / "nowhere")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(logs / "sock"))
    yield logs
    sock.close()


@pytest.mark.parametrize("spec", ["logs", "logs/*"])
def test_extract_skips_special_files_and_says_so(folder, spec):
    proc = run("extract", "--no-progress", "--json", spec, cwd=folder.parent, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert "45.9.9.9" in proc.stdout
    notes = [line for line in proc.stderr.splitlines() if "skipped" in line]
    count = 4 if spec == "logs" else 3  # the glob does not descend into sub/
    assert len(notes) == 1 and f"skipped {count} entries that are not a regular file" in notes[0]
    assert "logs/pipe (named pipe)" in notes[0] and "logs/sock (socket)" in notes[0]
    assert "logs/broken (broken link)" in notes[0]


def test_ingest_skips_special_files_and_says_so(folder, tmp_path):
    proc = run("ingest", "--no-progress", "logs", cwd=tmp_path, timeout=60,
               SOCFLOW_STATE_DIR=str(tmp_path / "state"))
    assert proc.returncode == 0, proc.stderr
    assert "socflow: warning: skipped 4 entries that are not a regular file" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_named_pipe_given_by_name_is_read_as_a_stream(tmp_path):
    pipe = tmp_path / "stream"
    os.mkfifo(pipe)

    def writer() -> None:
        with open(pipe, "w") as fh:
            fh.write(LOG * 3)

    thread = threading.Thread(target=writer)
    thread.start()
    proc = run("extract", "--no-progress", "--json", str(pipe), cwd=tmp_path, timeout=30)
    thread.join(5)
    assert proc.returncode == 0, proc.stderr
    assert '"value": "45.9.9.9", "count": 3' in proc.stdout


def test_a_socket_given_by_name_is_a_clear_error(folder):
    proc = run("extract", "--no-progress", "logs/sock", cwd=folder.parent, timeout=30)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "socflow: error: logs/sock: a socket cannot be read (give files, folders or -)"


# ---- config errors never show the file --------------------------------------------------------

SECRET = "Zq7SECRETvalue93"
VALUE_POSITIONS = [
    "{s}",
    "{s}\nother",
    "SOCFLOW_THEHIVE_KEY={s}\nSOCFLOW_VT_KEY={s}",
    "key: *{s}",
    "key: !{s} x",
    "key: &{s}",
    "key: '{s}",
    'key: "{s}',
    'key: "\\{s}"',
    "key: [{s}",
    "key: {{a: {s}",
    "- {s}\n  x: :",
    "thehive:\n  url: {s}",
    "thehive:\n  verify: {s}",
    "thehive:\n  organisation: [{s}]",
    "alerts:\n  severity: {s}",
    "rules: {s}",
    "rules:\n  - {s}",
    "window_grace: {s}",
    "state_dir: [{s}",
    "\t{s}",
    "key: |\n  {s}\n bad",
    "%YAML {s}\n---\na: 1",
    "!!python/object:{s} {{}}",
    "key: !!binary {s}",
    "key: !!timestamp {s}",
    "key: !!int {s}",
]


def _error_of(load, path: Path) -> str | None:
    try:
        load(path)
    except ConfigError as exc:
        return str(exc)
    return None


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(VALUE_POSITIONS),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=8),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=8),
)
def test_config_errors_never_quote_the_file(tmp_path_factory, template, before, after):
    path = tmp_path_factory.mktemp("cfg") / "secrets.env"
    path.write_text(template.format(s=before + SECRET + after), encoding="utf-8")
    for load in (load_config, lambda p: load_rule_files([p], defaults=False)):
        message = _error_of(load, path)
        if message is not None:
            assert SECRET not in message, message
            assert "\n" not in message


def test_a_secrets_file_given_as_config_or_allowlist_stays_unprinted(tmp_path):
    secrets = tmp_path / "secrets.env"
    secrets.write_text(f"SOCFLOW_THEHIVE_KEY={SECRET}\n# {SECRET}\nKEY2={SECRET}\n")
    env = {"SOCFLOW_STATE_DIR": str(tmp_path / "state")}
    for args in (
        ["ingest", "--config", str(secrets), "--dry-run", str(REPO / "examples" / "logs")],
        ["ingest", "--rules", str(secrets), "--dry-run", str(REPO / "examples" / "logs")],
        ["alerts", "list", "--config", str(secrets)],
        ["blocklist", "serve", "--allowlist", str(secrets), "--port", "1"],
    ):
        proc = run(*args, cwd=tmp_path, SOCFLOW_BLOCKLIST_TOKEN="t" * 32, **env)
        assert proc.returncode in (1, 2), (args, proc.stderr)
        assert SECRET not in proc.stderr + proc.stdout, (args, proc.stderr)
        assert str(secrets.name) in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
