"""Where socflow keeps state, and the check that nobody else can change it (issue 11 §7).

State decides verdicts and actions: the intel cache says which address is safe, the outbox holds
alerts before TheHive has them, the block list says what firewalls drop. Another local user who
can write that state (a world-writable ``/var/tmp`` folder, a file they own) can make a malicious
address "safe". So every command keeps its state in one per-user place and checks it on open:

- the location: ``$SOCFLOW_STATE_DIR``, else ``$XDG_STATE_HOME/socflow``, else
  ``~/.local/state/socflow`` (``default_dir``); ``--state-dir``/``--db`` flags and config items
  choose another;
- a folder socflow creates is mode 0700, a database file 0600;
- on open, the folder and the file must belong to the user running socflow and must not be
  writable by group or others (a group that is the user's own private group excepted); otherwise a
  ``PrivateStateError`` names the path and the fix.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from collections.abc import Mapping
from pathlib import Path

from .errors import ConfigError, PrivateStateError

ENV = "SOCFLOW_STATE_DIR"


def default_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$SOCFLOW_STATE_DIR``, ``$XDG_STATE_HOME/socflow`` or ``~/.local/state/socflow``."""
    env = os.environ if environ is None else environ
    if env.get(ENV):
        return Path(env[ENV]).expanduser()
    if env.get("XDG_STATE_HOME"):
        return Path(env["XDG_STATE_HOME"]).expanduser() / "socflow"
    return Path(os.path.expanduser("~")) / ".local" / "state" / "socflow"


def _own_private_group(gid: int) -> bool:
    """True for a user private group (named like the user, no other member): umask 002 setups."""
    try:
        user = pwd.getpwuid(os.geteuid()).pw_name
        group = grp.getgrgid(gid)
    except KeyError:
        return False
    return gid == os.getegid() and group.gr_name == user and set(group.gr_mem) <= {user}


def _problem(path: Path, st: os.stat_result, kind: str) -> str | None:
    me = os.geteuid()
    if st.st_uid != me:
        try:
            owner = pwd.getpwuid(st.st_uid).pw_name
        except KeyError:
            owner = f"uid {st.st_uid}"
        return (
            f"{kind} {path} belongs to {owner}, not to the user running socflow (uid {me}): "
            f"use a {kind} of your own (--state-dir or {ENV})"
        )
    writable = st.st_mode & (stat.S_IWOTH | stat.S_IWGRP)
    if st.st_mode & stat.S_IWGRP and not st.st_mode & stat.S_IWOTH and _own_private_group(
        st.st_gid
    ):
        writable = 0
    if writable:
        who = "everyone" if st.st_mode & stat.S_IWOTH else "its group"
        mode = f"mode {stat.S_IMODE(st.st_mode):04o}"
        if kind == "state dir" and st.st_mode & stat.S_ISVTX:  # /tmp, /var/tmp: shared on purpose
            return (
                f"{kind} {path} is shared, writable by {who} ({mode}): use a folder of your "
                f"own (--state-dir or {ENV}), e.g. {path}/socflow-{me}, which socflow creates 0700"
            )
        fix = "700" if kind == "state dir" else "600"
        return f"{kind} {path} is writable by {who} ({mode}): run chmod {fix} {path}"
    return None


def private_dir(path: Path | str | None = None) -> Path:
    """``path`` (default: ``default_dir()``), created 0700 if missing, checked to be private."""
    directory = Path(path).expanduser() if path is not None else default_dir()
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = directory.stat()
    except OSError as exc:
        raise ConfigError(
            f"state dir {directory} cannot be created: {exc.strerror or exc} "
            f"(pass --state-dir or set {ENV})"
        ) from None
    if not stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"state dir {directory} is not a folder")
    problem = _problem(directory, st, "state dir")
    if problem:
        raise PrivateStateError(problem)
    return directory


def private_file(path: Path | str) -> Path:
    """A state file's folder made and checked (``private_dir``); the file, if there, checked too.

    A missing file is created empty with mode 0600, so SQLite's later ``-wal``/``-shm`` siblings
    sit in a checked folder next to a file only the user can read. An existing file is only
    looked at (``lstat``), never opened: closing any descriptor of a database would drop the
    POSIX locks SQLite holds on it elsewhere in this process.
    """
    path = Path(path).expanduser()
    private_dir(path.parent)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
        except FileExistsError:
            pass  # made meanwhile by a parallel run: looked at below like any existing file
        except OSError as exc:
            raise ConfigError(f"state file {path} cannot be created: {exc.strerror or exc}") from None
        st = os.lstat(path)
    except OSError as exc:
        raise ConfigError(f"state file {path} cannot be used: {exc.strerror or exc}") from None
    if stat.S_ISLNK(st.st_mode):  # a symbolic link planted where the database should be
        raise PrivateStateError(
            f"state file {path} is a symbolic link: remove it or pass another path"
        )
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"state file {path} is not a regular file")
    problem = _problem(path, st, "state file")
    if problem:
        raise PrivateStateError(problem)
    return path
