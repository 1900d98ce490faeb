"""Private state (issue 11 §7): one per-user location for every command and analyzer, created
0700/0600, and refused on open when another user owns it or may write it.

The attack the checks stop: the intel cache used to default to world-writable /var/tmp/socflow, so
another local user could swap in a cache file saying a malicious address is safe.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from fakes.cti import FakeVirusTotal
from intel.conftest import job

from socflow import state
from socflow.errors import ConfigError, PrivateStateError

REPO = Path(__file__).resolve().parents[2]
SOCFLOW = [sys.executable, "-m", "socflow.adapters.cli.main"]
GET = "analyzers/VirusTotal/Socflow_VirusTotal_GetReport.json"
NOBODY = 65534
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_default_location_and_its_precedence(tmp_path):
    home = str(tmp_path)
    assert state.default_dir({"HOME": home}) == Path(os.path.expanduser("~")) / ".local/state/socflow"
    assert state.default_dir({"XDG_STATE_HOME": "/x"}) == Path("/x/socflow")
    assert state.default_dir({"XDG_STATE_HOME": "/x", "SOCFLOW_STATE_DIR": "/y"}) == Path("/y")
    assert state.default_dir({"XDG_STATE_HOME": "", "SOCFLOW_STATE_DIR": ""}).name == "socflow"


def test_created_private(tmp_path):
    path = state.private_file(tmp_path / "a" / "b" / "cache.sqlite")
    assert mode(path.parent) == 0o700 and mode(path) == 0o600 and path.stat().st_size == 0
    assert state.private_dir(tmp_path / "a" / "b") == tmp_path / "a" / "b"  # twice is fine


@pytest.mark.parametrize("bits", [0o777, 0o1777, 0o757])
def test_a_dir_others_may_write_is_refused(tmp_path, bits):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(bits)
    with pytest.raises(PrivateStateError) as err:
        state.private_file(shared / "intel-cache.sqlite")
    message = str(err.value)
    assert str(shared) in message and "\n" not in message
    if bits & 0o1000:  # /tmp-like: chmod 700 would break it for everyone else
        assert "is shared" in message and f"{shared}/socflow-{os.geteuid()}" in message
    else:
        assert f"chmod 700 {shared}" in message
    assert not (shared / "intel-cache.sqlite").exists()  # refused before anything is created


def test_a_file_others_may_write_or_a_planted_link_is_refused(tmp_path):
    planted = tmp_path / "intel-cache.sqlite"
    planted.touch()
    planted.chmod(0o666)
    with pytest.raises(PrivateStateError, match=r"writable by everyone .*chmod 600"):
        state.private_file(planted)
    link = tmp_path / "outbox.sqlite"
    link.symlink_to(planted)
    with pytest.raises(PrivateStateError, match="symbolic link"):
        state.private_file(link)


@as_root
def test_state_another_user_owns_is_refused(tmp_path):
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, NOBODY, NOBODY)
    with pytest.raises(PrivateStateError, match=r"belongs to nobody, not to the user running"):
        state.private_dir(theirs)
    mine = tmp_path / "mine"
    mine.mkdir(mode=0o700)
    (mine / "intel-cache.sqlite").touch(mode=0o600)
    os.chown(mine / "intel-cache.sqlite", NOBODY, NOBODY)
    with pytest.raises(PrivateStateError, match="state file .*intel-cache.sqlite belongs to nobody"):
        state.private_file(mine / "intel-cache.sqlite")


def test_an_impossible_location_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="state dir /proc/socflow-none cannot be created"):
        state.private_dir("/proc/socflow-none")


# ---- every command, as a user runs it -------------------------------------------------------


PLANTED = {"outbox.sqlite", "blocklist.sqlite3"}


def _unsafe_env(tmp_path: Path) -> tuple[dict[str, str], Path]:
    shared = tmp_path / "shared-state"
    shared.mkdir()
    for name in PLANTED:  # state the commands that only read expect to find
        (shared / name).touch(mode=0o600)
    shared.chmod(0o777)
    env = dict(os.environ, SOCFLOW_STATE_DIR=str(shared), SOCFLOW_VT_KEY="k" * 64)
    env.pop("SOCFLOW_THEHIVE_URL", None)
    return env, shared


@pytest.mark.parametrize(
    "args",
    [
        ["ingest", "--no-progress", str(REPO / "examples" / "logs")],
        ["alerts", "list"],
        ["enrich", "--vt-url", "http://127.0.0.1:9/api/v3", "45.1.1.1"],
        ["blocklist", "add", "45.1.1.1", "--reason", "test"],
        ["blocklist", "list"],
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_every_command_refuses_a_state_dir_others_may_write(tmp_path, args):
    env, shared = _unsafe_env(tmp_path)
    proc = subprocess.run(
        [*SOCFLOW, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(shared) in lines[0] and "chmod 700" in lines[0], proc.stderr
    assert set(os.listdir(shared)) == PLANTED and not (tmp_path / ".socflow").exists()
    assert all((shared / name).stat().st_size == 0 for name in PLANTED)  # nothing written


def test_every_command_shares_the_one_default_location(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = dict(os.environ, HOME=str(home), XDG_STATE_HOME="", SOCFLOW_STATE_DIR="")
    env.pop("SOCFLOW_THEHIVE_URL", None)
    where = home / ".local" / "state" / "socflow"
    for args in (
        ["ingest", "--no-progress", str(REPO / "examples" / "logs")],
        ["blocklist", "add", "45.1.1.1", "--reason", "test"],
    ):
        proc = subprocess.run([*SOCFLOW, *args], env=env, cwd=tmp_path, capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
    assert {"outbox.sqlite", "blocklist.sqlite3"} <= set(os.listdir(where))
    assert mode(where) == 0o700 and mode(where / "outbox.sqlite") == 0o600
    assert mode(where / "blocklist.sqlite3") == 0o600
    assert not (tmp_path / ".socflow").exists()  # the block list's old ./.socflow


# ---- the analyzers, as Cortex runs them ------------------------------------------------------


def test_analyzer_cache_defaults_to_the_users_state_dir(tmp_path):
    where = tmp_path / "state"
    with FakeVirusTotal() as vt:
        vt.set_object("ip_addresses", "45.1.1.1", malicious=9)
        result = job(GET, vt, None, "45.1.1.1", cache_path=None,
                     env={"SOCFLOW_STATE_DIR": str(where)})
    assert result.output["success"] is True, result.output
    cache = where / "intel-cache.sqlite"
    assert mode(where) == 0o700 and mode(cache) == 0o600
    rows = sqlite3.connect(cache).execute("SELECT indicator, level FROM verdicts").fetchall()
    assert rows == [("45.1.1.1", "malicious")]


def _plant_safe_verdict(tmp_path: Path) -> Path:
    """Another user's doing: a cache in a shared folder that calls a malicious address safe."""
    shared = tmp_path / "var-tmp-socflow"
    with FakeVirusTotal() as vt:
        vt.set_object("ip_addresses", "45.1.1.1", harmless=70)
        job(GET, vt, shared / "intel-cache.sqlite", "45.1.1.1")
    return shared


def test_analyzer_refuses_a_cache_others_may_write(tmp_path):
    shared = _plant_safe_verdict(tmp_path)
    shared.chmod(0o777)  # what /var/tmp/socflow was: created by whoever came first
    with FakeVirusTotal() as vt:
        vt.set_object("ip_addresses", "45.1.1.1", malicious=40)
        for config, env in (
            ({"cache_path": None}, {"SOCFLOW_STATE_DIR": str(shared)}),
            ({"cache_path": str(shared / "intel-cache.sqlite")}, {}),
        ):
            result = job(GET, vt, None, "45.1.1.1", env=env, **config)
            assert result.output["success"] is False
            message = result.output["errorMessage"]
            assert str(shared) in message and "chmod 700" in message, message
        assert vt.count() == 0  # no verdict at all rather than the planted one


@as_root
def test_analyzer_refuses_a_cache_file_another_user_owns(tmp_path):
    shared = _plant_safe_verdict(tmp_path)
    os.chown(shared / "intel-cache.sqlite", NOBODY, NOBODY)
    with FakeVirusTotal() as vt:
        result = job(GET, vt, None, "45.1.1.1", cache_path=None,
                     env={"SOCFLOW_STATE_DIR": str(shared)})
    assert result.output["success"] is False
    assert "intel-cache.sqlite belongs to nobody" in result.output["errorMessage"]


def test_analyzer_without_a_usable_home_keeps_the_cache_for_the_job(tmp_path):
    """The docker runner: uid 1001, HOME=/nonexistent, no SOCFLOW_STATE_DIR (an image built
    without it): the job still answers, with a cache that lives as long as the job."""
    env = {"HOME": "/proc/socflow-no-home", "XDG_STATE_HOME": "", "SOCFLOW_STATE_DIR": ""}
    with FakeVirusTotal() as vt:
        vt.set_object("ip_addresses", "45.1.1.1", malicious=9)
        result = job(GET, vt, None, "45.1.1.1", cache_path=None, env=env)
    assert result.output["success"] is True, result.output
    assert result.output["full"]["level"] == "malicious"


def test_the_image_sets_a_private_state_dir():
    dockerfile = (REPO / "docker" / "Dockerfile").read_text()
    assert "SOCFLOW_STATE_DIR=/var/lib/socflow" in dockerfile
    assert "install -d -m 0700 -o 1001 -g 1001 /var/lib/socflow" in dockerfile


def test_checking_an_open_database_keeps_sqlites_locks(tmp_path):
    """Opening and closing a second descriptor of a file drops every POSIX lock this process
    holds on it: the check must only look at a database another connection has open."""
    db = tmp_path / "outbox.sqlite"
    conn = sqlite3.connect(state.private_file(db), isolation_level=None)
    conn.execute("CREATE TABLE t (x)")
    conn.execute("BEGIN IMMEDIATE")  # holds the write lock
    conn.execute("INSERT INTO t VALUES (1)")
    state.private_file(db)  # what a second Outbox in another thread does
    other = subprocess.run(
        [sys.executable, "-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], timeout=0);"
         " c.execute('BEGIN IMMEDIATE')", str(db)],
        capture_output=True, text=True, timeout=30,
    )
    conn.execute("COMMIT")
    assert other.returncode != 0 and "database is locked" in other.stderr
