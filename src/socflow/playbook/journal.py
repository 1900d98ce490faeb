"""The run journal: every run, every step's inputs, outcome and external ids, durable.

A run is identified by the playbook and its target (``run_id``), so running the same playbook on
the same alert again finds the same run and resumes it. Steps are keyed within the run
(``decide``, ``contain/1``, ``contain/1/~4242`` for one responder run on one observable); each
key is ``started`` before its effect and ``done`` (or ``failed``/``skipped``) after, in its own
transaction. A key left ``started`` by a crash tells the engine to look in TheHive/Cortex for the
effect (by the idempotency key) before doing it again.

``Journal`` is the interface the engine uses; ``SqliteJournal`` (the default, one private file
under the state dir, per ``socflow.state``) implements it. ``lease`` keeps two processes (a
watch and a manual run) from driving one run at once; another backend (issue 15's Redis) can
implement the same methods with its own locks.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, SocflowError
from ..state import private_file

JOURNAL_FILE = "playbooks.sqlite"


class RunBusyError(SocflowError):
    """Another live process holds the run's lease."""


@dataclass
class RunRecord:
    run_id: str
    playbook: str
    digest: str
    target_kind: str
    target_id: str
    status: str  # running | done | failed
    reason: str = ""
    state: dict[str, Any] = field(default_factory=dict)
    started: float = 0.0
    ended: float | None = None
    attempts: int = 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "run": self.run_id,
            "playbook": self.playbook,
            "digest": self.digest,
            "target": f"{self.target_kind}:{self.target_id}",
            "status": self.status,
            "reason": self.reason,
            "started": self.started,
            "ended": self.ended,
            "attempts": self.attempts,
            "case": self.state.get("case_id"),
            "verdict": self.state.get("verdict"),
            "refused": self.state.get("refused") or [],
        }


@dataclass
class StepRecord:
    key: str
    status: str  # started | done | failed | skipped
    kind: str = ""
    inputs: dict[str, Any] = field(default_factory=dict)
    outcome: dict[str, Any] = field(default_factory=dict)
    external: dict[str, Any] = field(default_factory=dict)
    attempts: int = 0
    started: float = 0.0
    ended: float | None = None
    error: str = ""
    seq: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "status": self.status,
            "attempts": self.attempts,
            "inputs": self.inputs,
            "outcome": self.outcome,
            "external": self.external,
            "error": self.error,
            "started": self.started,
            "ended": self.ended,
        }


class Journal(ABC):
    """What the engine needs from a journal backend."""

    @abstractmethod
    def open_run(
        self, run_id: str, playbook: str, digest: str, target_kind: str, target_id: str
    ) -> RunRecord: ...

    @abstractmethod
    def run(self, run_id: str) -> RunRecord | None: ...

    @abstractmethod
    def set_state(self, run_id: str, state: dict[str, Any]) -> None: ...

    @abstractmethod
    def finish_run(self, run_id: str, status: str, reason: str = "") -> None: ...

    @abstractmethod
    def step(self, run_id: str, key: str) -> StepRecord | None: ...

    @abstractmethod
    def begin(self, run_id: str, key: str, kind: str, inputs: dict[str, Any]) -> StepRecord: ...

    @abstractmethod
    def end(
        self,
        run_id: str,
        key: str,
        status: str,
        outcome: dict[str, Any] | None = None,
        external: dict[str, Any] | None = None,
        error: str = "",
    ) -> None: ...

    @abstractmethod
    def steps(self, run_id: str) -> list[StepRecord]: ...

    @abstractmethod
    def runs(self, limit: int = 50, playbook: str | None = None) -> list[RunRecord]: ...

    @abstractmethod
    def get_meta(self, key: str) -> str | None:
        """A small value the runner keeps (the watch's cursor)."""

    @abstractmethod
    def set_meta(self, key: str, value: str) -> None: ...

    @abstractmethod
    def lease(self, run_id: str, ttl: float = 300.0) -> Any:
        """A context manager holding the run for this process; raises RunBusyError."""

    def close(self) -> None:  # noqa: B027 - optional
        pass


_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    playbook TEXT NOT NULL,
    digest TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target_id TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL DEFAULT '{}',
    started REAL NOT NULL,
    ended REAL,
    attempts INTEGER NOT NULL DEFAULT 1,
    lease_owner TEXT,
    lease_until REAL
);
CREATE TABLE IF NOT EXISTS steps (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    key TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    inputs TEXT NOT NULL DEFAULT '{}',
    outcome TEXT NOT NULL DEFAULT '{}',
    external TEXT NOT NULL DEFAULT '{}',
    error TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0,
    started REAL NOT NULL,
    ended REAL,
    PRIMARY KEY (run_id, key)
);
CREATE INDEX IF NOT EXISTS runs_started ON runs(started);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def _dump(value: Any) -> str:
    return json.dumps(value or {}, ensure_ascii=False, default=str, sort_keys=True)


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _alive(owner: str) -> bool:
    """A lease of a process on this host that no longer exists is free (kill -9 left it)."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return True  # another host: trust the expiry
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class SqliteJournal(Journal):
    def __init__(self, path: str | Path, *, busy_timeout: float = 30.0, leases: Any = None) -> None:
        self.leases = leases  # statestore.RedisLeases: the run lock across hosts (state_url)
        self.path = Path(path)
        memory = str(path) == ":memory:"
        try:
            if not memory:  # inputs quote alerts: the owner's alone (socflow.state)
                private_file(self.path)
            self.db = sqlite3.connect(
                str(self.path), timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"{self.path}: cannot open the playbook journal: {exc}") from None
        self.owner = _owner()

    @classmethod
    def in_dir(cls, state_dir: str | Path) -> SqliteJournal:
        return cls(Path(state_dir) / JOURNAL_FILE)

    def close(self) -> None:
        if self.leases is not None:
            self.leases.close()
        self.db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # ---- runs
    def open_run(
        self, run_id: str, playbook: str, digest: str, target_kind: str, target_id: str
    ) -> RunRecord:
        now = time.time()
        with self._tx() as db:
            row = db.execute("SELECT status FROM runs WHERE run_id=?", (run_id,)).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO runs(run_id, playbook, digest, target_kind, target_id, status,"
                    " started) VALUES (?,?,?,?,?, 'running', ?)",
                    (run_id, playbook, digest, target_kind, target_id, now),
                )
            elif row[0] != "done":
                db.execute(
                    "UPDATE runs SET status='running', reason='', ended=NULL,"
                    " attempts=attempts+1, digest=? WHERE run_id=?",
                    (digest, run_id),
                )
        record = self.run(run_id)
        assert record is not None
        return record

    def run(self, run_id: str) -> RunRecord | None:
        row = self.db.execute(
            "SELECT run_id, playbook, digest, target_kind, target_id, status, reason, state,"
            " started, ended, attempts FROM runs WHERE run_id=?",
            (run_id,),
        ).fetchone()
        return _run(row) if row else None

    def set_state(self, run_id: str, state: dict[str, Any]) -> None:
        with self._tx() as db:
            db.execute("UPDATE runs SET state=? WHERE run_id=?", (_dump(state), run_id))

    def finish_run(self, run_id: str, status: str, reason: str = "") -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE runs SET status=?, reason=?, ended=? WHERE run_id=?",
                (status, reason[:2000], time.time(), run_id),
            )

    def runs(self, limit: int = 50, playbook: str | None = None) -> list[RunRecord]:
        sql = (
            "SELECT run_id, playbook, digest, target_kind, target_id, status, reason, state,"
            " started, ended, attempts FROM runs"
        )
        args: tuple[Any, ...] = ()
        if playbook:
            sql += " WHERE playbook=?"
            args = (playbook,)
        sql += " ORDER BY started DESC, run_id LIMIT ?"
        return [_run(r) for r in self.db.execute(sql, (*args, limit)).fetchall()]

    # ---- steps
    def step(self, run_id: str, key: str) -> StepRecord | None:
        row = self.db.execute(
            "SELECT key, status, kind, inputs, outcome, external, attempts, started, ended, error,"
            " seq FROM steps WHERE run_id=? AND key=?",
            (run_id, key),
        ).fetchone()
        return _step(row) if row else None

    def begin(self, run_id: str, key: str, kind: str, inputs: dict[str, Any]) -> StepRecord:
        now = time.time()
        with self._tx() as db:
            row = db.execute(
                "SELECT attempts FROM steps WHERE run_id=? AND key=?", (run_id, key)
            ).fetchone()
            if row is None:
                seq = db.execute(
                    "SELECT COALESCE(MAX(seq), 0) + 1 FROM steps WHERE run_id=?", (run_id,)
                ).fetchone()[0]
                db.execute(
                    "INSERT INTO steps(run_id, key, seq, kind, status, inputs, attempts, started)"
                    " VALUES (?,?,?,?, 'started', ?, 1, ?)",
                    (run_id, key, seq, kind, _dump(inputs), now),
                )
            else:
                db.execute(
                    "UPDATE steps SET status='started', attempts=attempts+1, inputs=?, error=''"
                    " WHERE run_id=? AND key=?",
                    (_dump(inputs), run_id, key),
                )
        record = self.step(run_id, key)
        assert record is not None
        return record

    def end(
        self,
        run_id: str,
        key: str,
        status: str,
        outcome: dict[str, Any] | None = None,
        external: dict[str, Any] | None = None,
        error: str = "",
    ) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE steps SET status=?, outcome=?, external=?, error=?, ended=?"
                " WHERE run_id=? AND key=?",
                (status, _dump(outcome), _dump(external), error[:2000], time.time(), run_id, key),
            )

    def steps(self, run_id: str) -> list[StepRecord]:
        rows = self.db.execute(
            "SELECT key, status, kind, inputs, outcome, external, attempts, started, ended, error,"
            " seq FROM steps WHERE run_id=? ORDER BY seq",
            (run_id,),
        ).fetchall()
        return [_step(r) for r in rows]

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    # ---- the lease
    @contextmanager
    def lease(self, run_id: str, ttl: float = 300.0) -> Iterator[None]:
        if self.leases is not None:  # runners on several hosts: one drives a run at a time
            holder = self.leases.take(f"playbook-run:{run_id}", self.owner, ttl)
            if holder is not None:
                raise RunBusyError(
                    f"run {run_id} is being driven by another process ({holder.rsplit(':', 1)[0]})"
                )
            try:
                with self._local_lease(run_id, ttl):
                    yield
            finally:
                self.leases.release(f"playbook-run:{run_id}", self.owner)
            return
        with self._local_lease(run_id, ttl):
            yield

    @contextmanager
    def _local_lease(self, run_id: str, ttl: float) -> Iterator[None]:
        now = time.time()
        with self._tx() as db:
            row = db.execute(
                "SELECT lease_owner, lease_until FROM runs WHERE run_id=?", (run_id,)
            ).fetchone()
            if row and row[0] and row[0] != self.owner and (row[1] or 0) > now and _alive(row[0]):
                raise RunBusyError(
                    f"run {run_id} is being driven by another process ({row[0].rsplit(':', 1)[0]})"
                )
            db.execute(
                "UPDATE runs SET lease_owner=?, lease_until=? WHERE run_id=?",
                (self.owner, now + ttl, run_id),
            )
        try:
            yield
        finally:
            with self._tx() as db:
                db.execute(
                    "UPDATE runs SET lease_owner=NULL, lease_until=NULL"
                    " WHERE run_id=? AND lease_owner=?",
                    (run_id, self.owner),
                )


def _run(row: tuple[Any, ...]) -> RunRecord:
    return RunRecord(
        run_id=row[0], playbook=row[1], digest=row[2], target_kind=row[3], target_id=row[4],
        status=row[5], reason=row[6], state=json.loads(row[7] or "{}"), started=row[8],
        ended=row[9], attempts=row[10],
    )


def _step(row: tuple[Any, ...]) -> StepRecord:
    return StepRecord(
        key=row[0], status=row[1], kind=row[2], inputs=json.loads(row[3] or "{}"),
        outcome=json.loads(row[4] or "{}"), external=json.loads(row[5] or "{}"),
        attempts=row[6], started=row[7], ended=row[8], error=row[9], seq=row[10],
    )
