"""The durable outbox: alerts, read positions and rule state in one SQLite file.

Exactly-once rests on two facts. (1) :meth:`Outbox.commit` writes new alerts, the read checkpoints
of the files they came from and the rule engine's open groups in **one transaction**: after a
kill -9, either all of a batch is on disk or none of it, and reading resumes at the checkpoint
that matches the alerts already stored. (2) An alert's ``sourceRef`` is deterministic and unique
here (``INSERT OR IGNORE``) and in TheHive, so re-sending after a crash between "TheHive accepted"
and "marked delivered" gets TheHive's duplicate answer, which counts as delivered.
The database runs in WAL mode with ``synchronous=NORMAL``: a kill -9 loses nothing committed; a
power loss may undo the last commits, but whole ones — alerts and checkpoints step back together
and re-reading rebuilds the same alerts with the same sourceRefs.

States: ``pending`` (to send; ``next_attempt_at`` holds the back-off), ``delivered``, ``dead``
(TheHive refused it for good; ``last_error`` says why).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from ..errors import ConfigError, InputError
from ..read.follow import Checkpoint
from ..state import private_file

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
STATES = (PENDING, DELIVERED, DEAD)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY,
    source_ref TEXT NOT NULL UNIQUE,
    rule TEXT NOT NULL,
    title TEXT NOT NULL,
    severity INTEGER NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    last_error TEXT,
    thehive_id TEXT,
    created_at REAL NOT NULL,
    delivered_at REAL
);
CREATE INDEX IF NOT EXISTS alerts_due ON alerts (state, next_attempt_at);
CREATE TABLE IF NOT EXISTS checkpoints (
    source TEXT PRIMARY KEY,
    device INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    head TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS groups (gid TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS mail_messages (
    mailbox TEXT NOT NULL,
    item TEXT NOT NULL,
    source_ref TEXT NOT NULL,
    state TEXT NOT NULL,
    acked INTEGER NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL,
    PRIMARY KEY (mailbox, item)
);
"""

# mail intake: a message is ``committed`` (its alert is in the outbox) before the mailbox is told
# (flag or move), then ``done``
COMMITTED, DONE = "committed", "done"


@dataclass(frozen=True)
class OutboxAlert:
    id: int
    source_ref: str
    rule: str
    title: str
    severity: int
    state: str
    attempts: int
    next_attempt_at: float
    last_error: str | None
    thehive_id: str | None
    created_at: float
    delivered_at: float | None
    payload: dict[str, Any]

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "sourceRef": self.source_ref,
            "rule": self.rule,
            "title": self.title,
            "severity": self.severity,
            "state": self.state,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "thehive_id": self.thehive_id,
            "created_at": self.created_at,
            "delivered_at": self.delivered_at,
            "observables": len(self.payload.get("observables", [])),
        }


class Outbox:
    """One SQLite file (WAL). Open one per thread; writers wait up to ``busy_timeout`` seconds."""

    def __init__(self, path: str | Path, *, busy_timeout: float = 30.0) -> None:
        self.path = Path(path)
        in_memory = str(path) == ":memory:"
        try:
            if not in_memory:  # alerts quote log lines: the owner's alone (socflow.state)
                private_file(self.path)
            self.db = sqlite3.connect(
                self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")  # WAL: atomic on crash; see module doc
            self.db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"{self.path}: cannot open the outbox: {exc}") from None

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- the ingestion transaction
    def commit(
        self,
        alerts: Iterable[dict[str, Any]],
        rules: Iterable[str] = (),
        *,
        checkpoints: Iterable[Checkpoint] = (),
        groups: dict[str, str] | None = None,
        deleted_groups: Iterable[str] = (),
        watermark: float | None = None,
        messages: Iterable[tuple[str, str, str]] = (),
    ) -> set[str]:
        """Store new alerts, checkpoints and rule state atomically; return the new alerts' sourceRefs.

        ``messages`` are the mail intake's checkpoints: ``(mailbox, item, sourceRef)`` of each
        message whose alert is in this transaction (state ``committed``)."""
        now = time.time()
        new: set[str] = set()
        with self._transaction() as db:
            for alert, rule in zip(alerts, rules):
                cur = db.execute(
                    "INSERT OR IGNORE INTO alerts (source_ref, rule, title, severity, payload, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        alert["sourceRef"],
                        rule,
                        alert["title"],
                        alert["severity"],
                        json.dumps(alert),
                        now,
                    ),
                )
                if cur.rowcount:
                    new.add(alert["sourceRef"])
            for cp in checkpoints:
                db.execute(
                    "INSERT OR REPLACE INTO checkpoints VALUES (?, ?, ?, ?, ?, ?)",
                    (cp.source, cp.device, cp.inode, cp.offset, cp.head, now),
                )
            if groups:
                db.executemany("INSERT OR REPLACE INTO groups VALUES (?, ?)", groups.items())
            db.executemany("DELETE FROM groups WHERE gid = ?", [(g,) for g in deleted_groups])
            if watermark is not None:
                db.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('watermark', ?)", (repr(watermark),)
                )
            for mailbox, item, ref in messages:
                db.execute(
                    "INSERT INTO mail_messages (mailbox, item, source_ref, state, updated_at)"
                    " VALUES (?, ?, ?, 'committed', ?) ON CONFLICT (mailbox, item) DO NOTHING",
                    (mailbox, item, ref, now),
                )
        return new

    # ---- the mail intake's checkpoints (mailbox, item): IMAP "<UIDVALIDITY>.<UID>", maildir file
    def message_state(self, mailbox: str, item: str) -> tuple[str, str, bool] | None:
        """(state, sourceRef, acknowledged) of a message already taken in, or None."""
        row = self.db.execute(
            "SELECT state, source_ref, acked FROM mail_messages WHERE mailbox = ? AND item = ?",
            (mailbox, item),
        ).fetchone()
        return (row[0], row[1], bool(row[2])) if row else None

    def set_message_state(self, mailbox: str, item: str, *, state: str | None = None,
                          acked: bool | None = None) -> None:
        if state is not None:
            self.db.execute(
                "UPDATE mail_messages SET state = ?, updated_at = ? WHERE mailbox = ? AND item = ?",
                (state, time.time(), mailbox, item),
            )
        if acked is not None:
            self.db.execute(
                "UPDATE mail_messages SET acked = ? WHERE mailbox = ? AND item = ?",
                (int(acked), mailbox, item),
            )

    def messages_in(self, mailbox: str, state: str | None = None) -> list[tuple[str, str, str]]:
        """(item, sourceRef, state) of the messages of ``mailbox`` taken in, oldest first."""
        sql = "SELECT item, source_ref, state FROM mail_messages WHERE mailbox = ?"
        args: tuple[Any, ...] = (mailbox,)
        if state:
            sql += " AND state = ?"
            args += (state,)
        return [tuple(r) for r in self.db.execute(sql + " ORDER BY rowid", args)]  # type: ignore[misc]

    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    class _Tx:
        def __init__(self, db: sqlite3.Connection) -> None:
            self.db = db

        def __enter__(self) -> sqlite3.Connection:
            self.db.execute("BEGIN IMMEDIATE")
            return self.db

        def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
            self.db.execute("ROLLBACK" if exc_type else "COMMIT")

    def _transaction(self) -> Outbox._Tx:
        return Outbox._Tx(self.db)

    def checkpoint(self, source: str) -> Checkpoint | None:
        row = self.db.execute(
            "SELECT source, device, inode, offset, head FROM checkpoints WHERE source = ?",
            (source,),
        ).fetchone()
        return Checkpoint(*row) if row else None

    def worker_id(self) -> str:
        """This outbox's worker identity (made once, kept): alert claims and event identities in
        shared windows use it, so a restarted worker is recognised as the same one."""
        import os

        self.db.execute("INSERT OR IGNORE INTO meta VALUES ('worker_id', ?)", (os.urandom(8).hex(),))
        return str(self.db.execute("SELECT value FROM meta WHERE key = 'worker_id'").fetchone()[0])

    def engine_state(self) -> tuple[list[str], float]:
        rows = [r[0] for r in self.db.execute("SELECT data FROM groups")]
        wm = self.db.execute("SELECT value FROM meta WHERE key = 'watermark'").fetchone()
        return rows, float(wm[0]) if wm else 0.0

    # ---- delivery bookkeeping
    def due(self, limit: int = 100, now: float | None = None) -> list[OutboxAlert]:
        now = time.time() if now is None else now
        return self._select(
            "WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY id LIMIT ?", (now, limit)
        )

    def next_due_at(self) -> float | None:
        row = self.db.execute(
            "SELECT MIN(next_attempt_at) FROM alerts WHERE state = 'pending'"
        ).fetchone()
        return row[0]

    def mark_delivered(
        self, alert_id: int, thehive_id: str | None, note: str | None = None
    ) -> None:
        self.db.execute(
            "UPDATE alerts SET state = 'delivered', thehive_id = ?, delivered_at = ?,"
            " last_error = ?, attempts = attempts + 1 WHERE id = ?",
            (thehive_id, time.time(), note, alert_id),
        )

    def mark_retry(self, alert_id: int, reason: str, next_attempt_at: float) -> None:
        self.db.execute(
            "UPDATE alerts SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?"
            " WHERE id = ? AND state = 'pending'",
            (reason, next_attempt_at, alert_id),
        )

    def postpone_all(self, next_attempt_at: float) -> None:
        """TheHive is down: nothing pending is due before ``next_attempt_at``."""
        self.db.execute(
            "UPDATE alerts SET next_attempt_at = MAX(next_attempt_at, ?) WHERE state = 'pending'",
            (next_attempt_at,),
        )

    def make_due(self) -> None:
        self.db.execute("UPDATE alerts SET next_attempt_at = 0 WHERE state = 'pending'")

    def mark_dead(self, alert_id: int, reason: str) -> None:
        self.db.execute(
            "UPDATE alerts SET state = 'dead', last_error = ?, attempts = attempts + 1"
            " WHERE id = ?",
            (reason, alert_id),
        )

    def requeue(self, ids: Iterable[int] | None = None) -> int:
        """Dead (or given) alerts back to pending, due now; returns how many."""
        if ids is None:
            cur = self.db.execute(
                "UPDATE alerts SET state = 'pending', next_attempt_at = 0 WHERE state = 'dead'"
            )
        else:
            cur = self.db.executemany(
                "UPDATE alerts SET state = 'pending', next_attempt_at = 0"
                " WHERE id = ? AND state != 'delivered'",
                [(i,) for i in ids],
            )
        return cur.rowcount

    # ---- reading
    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATES, 0)
        out.update(
            dict(self.db.execute("SELECT state, COUNT(*) FROM alerts GROUP BY state").fetchall())
        )
        return out

    def list(
        self, state: str | None = None, rule: str | None = None, limit: int | None = None
    ) -> list[OutboxAlert]:
        where, args = [], []
        if state:
            where.append("state = ?")
            args.append(state)
        if rule:
            where.append("rule = ?")
            args.append(rule)
        sql = ("WHERE " + " AND ".join(where) if where else "") + " ORDER BY id"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return self._select(sql, tuple(args))

    def get(self, ref: str) -> OutboxAlert:
        """By outbox id or sourceRef."""
        rows = self._select(
            "WHERE id = ? OR source_ref = ?", (int(ref) if ref.isdecimal() else -1, ref)
        )
        if not rows:
            raise InputError(f"no alert {ref!r} in the outbox {self.path}")
        return rows[0]

    def iter_payloads(self, state: str | None = None) -> Iterator[dict[str, Any]]:
        sql = "SELECT payload FROM alerts" + (" WHERE state = ?" if state else "") + " ORDER BY id"
        for (payload,) in self.db.execute(sql, (state,) if state else ()):
            yield json.loads(payload)

    def _select(self, clause: str, args: tuple[Any, ...]) -> list[OutboxAlert]:
        rows = self.db.execute(
            "SELECT id, source_ref, rule, title, severity, state, attempts, next_attempt_at, last_error,"
            f" thehive_id, created_at, delivered_at, payload FROM alerts {clause}",
            args,
        ).fetchall()
        return [OutboxAlert(*row[:-1], json.loads(row[-1])) for row in rows]
