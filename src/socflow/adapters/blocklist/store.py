"""SQLite store of block-list entries and their audit trail.

One short-lived connection per operation (the web server calls us from a thread pool), WAL mode so
firewalls polling the lists never wait for a writer, and every write inside ``BEGIN IMMEDIATE`` so
two responders adding the same value at once serialise instead of racing. ``synchronous=FULL``
makes a committed entry survive a crash or restart of the service.

The block policy the service runs with (allowlist, widest prefixes, list size, TTLs) is stored in
the ``settings`` table when the service starts, so ``socflow blocklist add`` on the same file
applies exactly the service's rules: one source of truth, kept with the entries it governs.

Expired entries are filtered out of every read by time, and deleted (with an ``expire`` audit row)
by the next write or list read — so they leave the lists on their own, even if nobody purges.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ...errors import ConfigError
from ...state import private_file

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    type TEXT NOT NULL,
    value TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    requested_by TEXT NOT NULL DEFAULT '',
    case_ref TEXT,
    alert_ref TEXT,
    observable_ref TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    expires_at REAL,
    PRIMARY KEY (type, value)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entries_expiry ON entries (expires_at);
CREATE TABLE IF NOT EXISTS settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    action TEXT NOT NULL,
    type TEXT NOT NULL,
    value TEXT NOT NULL,
    actor TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '{}'
);
"""

_ENTRY_COLUMNS = (
    "type, value, reason, requested_by, case_ref, alert_ref, observable_ref, "
    "created_at, updated_at, expires_at"
)


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class Entry:
    type: str
    value: str
    reason: str = ""
    requested_by: str = ""
    case_ref: str | None = None
    alert_ref: str | None = None
    observable_ref: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    expires_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("created_at", "updated_at", "expires_at"):
            out[key] = iso(out[key])
        return out


@dataclass(frozen=True, slots=True)
class AuditEvent:
    id: int
    at: float
    action: str
    type: str
    value: str
    actor: str
    detail: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["at"] = iso(self.at)
        return out


class ListFull(Exception):
    """The list reached its configured size; firewalls would silently skip what is beyond."""


class BlockStore:
    """Entries keyed by (type, value); values must already be normalised by the block policy."""

    def __init__(self, path: str | Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.clock = clock
        try:
            private_file(self.path)  # what firewalls drop: nobody else may write it
            with self._connection() as conn:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(_SCHEMA)
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise ConfigError(
                        f"{self.path} was written by a newer socflow (schema {version})"
                    )
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot open the block-list database {self.path}: {exc}") from None

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=30000")
            yield conn
        finally:
            conn.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _audit(
        self,
        conn: sqlite3.Connection,
        now: float,
        action: str,
        type_: str,
        value: str,
        actor: str,
        **detail: Any,
    ) -> None:
        conn.execute(
            "INSERT INTO audit (at, action, type, value, actor, detail) VALUES (?, ?, ?, ?, ?, ?)",
            (now, action, type_, value, actor, json.dumps(detail, sort_keys=True)),
        )

    def _purge(self, conn: sqlite3.Connection, now: float) -> None:
        rows = conn.execute(
            "SELECT type, value, expires_at FROM entries WHERE expires_at IS NOT NULL AND expires_at <= ?",
            (now,),
        ).fetchall()
        for type_, value, expires_at in rows:
            self._audit(conn, now, "expire", type_, value, "socflow", expired_at=iso(expires_at))
        if rows:
            conn.execute(
                "DELETE FROM entries WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,)
            )

    @staticmethod
    def _row(conn: sqlite3.Connection, type_: str, value: str) -> Entry | None:
        row = conn.execute(
            f"SELECT {_ENTRY_COLUMNS} FROM entries WHERE type = ? AND value = ?", (type_, value)
        ).fetchone()
        return Entry(*row) if row else None

    def add(
        self, entry: Entry, ttl_seconds: float | None, *, max_entries: int | None = None
    ) -> tuple[str, Entry]:
        """Insert or keep ``entry``; returns ``added``, ``extended`` (later expiry) or ``exists``.

        Adding twice is harmless: the first request's metadata is kept and the expiry only ever
        moves later (``ttl_seconds=None`` means "never expires", which wins over any date).
        ``max_entries`` caps the size of the entry's list (checked inside the transaction, so
        concurrent adds cannot overshoot): a new value beyond it raises :class:`ListFull`.
        """
        with self._write() as conn:
            now = self.clock()
            self._purge(conn, now)
            expires = None if ttl_seconds is None else now + ttl_seconds
            current = self._row(conn, entry.type, entry.value)
            if current is None and max_entries is not None:
                (count,) = conn.execute(
                    "SELECT COUNT(*) FROM entries WHERE type = ?", (entry.type,)
                ).fetchone()
                if count >= max_entries:
                    raise ListFull(
                        f"the {entry.type} list already holds {count} entries (--max-entries)"
                    )
            if current is None:
                conn.execute(
                    f"INSERT INTO entries ({_ENTRY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        entry.type,
                        entry.value,
                        entry.reason,
                        entry.requested_by,
                        entry.case_ref,
                        entry.alert_ref,
                        entry.observable_ref,
                        now,
                        now,
                        expires,
                    ),
                )
                self._audit(
                    conn,
                    now,
                    "add",
                    entry.type,
                    entry.value,
                    entry.requested_by,
                    reason=entry.reason,
                    case_ref=entry.case_ref,
                    alert_ref=entry.alert_ref,
                    observable_ref=entry.observable_ref,
                    expires_at=iso(expires),
                )
                return "added", self._row(conn, entry.type, entry.value)  # type: ignore[return-value]
            if current.expires_at is not None and (expires is None or expires > current.expires_at):
                conn.execute(
                    "UPDATE entries SET expires_at = ?, updated_at = ? WHERE type = ? AND value = ?",
                    (expires, now, entry.type, entry.value),
                )
                self._audit(
                    conn,
                    now,
                    "extend",
                    entry.type,
                    entry.value,
                    entry.requested_by,
                    reason=entry.reason,
                    previous=iso(current.expires_at),
                    expires_at=iso(expires),
                )
                return "extended", self._row(conn, entry.type, entry.value)  # type: ignore[return-value]
            return "exists", current

    def refuse(self, type_: str, value: str, *, actor: str, refusal: str, reason: str) -> None:
        """Audit a refused request like an addition (who asked, what, why it was refused)."""
        with self._write() as conn:
            self._audit(
                conn, self.clock(), "refuse", type_, value, actor, refusal=refusal, reason=reason
            )

    def save_policy(self, policy: dict[str, Any], *, actor: str) -> bool:
        """Store the policy the service runs with; audited (``policy``) when it changed."""
        text = json.dumps(policy, sort_keys=True)
        with self._write() as conn:
            row = conn.execute("SELECT value FROM settings WHERE name = 'policy'").fetchone()
            if row is not None and row[0] == text:
                return False
            conn.execute(
                "INSERT INTO settings (name, value) VALUES ('policy', ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (text,),
            )
            self._audit(conn, self.clock(), "policy", "", "", actor, **policy)
            return True

    def load_policy(self) -> dict[str, Any] | None:
        """The policy the service last started with; None if it never ran on this file."""
        with self._connection() as conn:
            row = conn.execute("SELECT value FROM settings WHERE name = 'policy'").fetchone()
        if row is None:
            return None
        try:
            policy = json.loads(row[0])
        except ValueError:
            raise ConfigError(f"{self.path}: the stored block policy is not valid JSON") from None
        if not isinstance(policy, dict):
            raise ConfigError(f"{self.path}: the stored block policy is not an object")
        return policy

    def remove(self, type_: str, value: str, *, actor: str, reason: str = "") -> bool:
        """Delete one entry; False when it was not there (removing twice is harmless)."""
        with self._write() as conn:
            now = self.clock()
            self._purge(conn, now)
            gone = conn.execute(
                "DELETE FROM entries WHERE type = ? AND value = ?", (type_, value)
            ).rowcount
            if gone:
                self._audit(conn, now, "remove", type_, value, actor, reason=reason)
            return bool(gone)

    def active(self, type_: str | None = None) -> list[Entry]:
        """Unexpired entries, ordered by type then value; purges expired ones first."""
        with self._write() as conn:
            self._purge(conn, self.clock())
        with self._connection() as conn:
            query = (
                f"SELECT {_ENTRY_COLUMNS} FROM entries WHERE (expires_at IS NULL OR expires_at > ?)"
            )
            args: list[Any] = [self.clock()]
            if type_:
                query += " AND type = ?"
                args.append(type_)
            rows = conn.execute(query + " ORDER BY type, value", args).fetchall()
        return [Entry(*row) for row in rows]

    def version(self, type_: str) -> tuple[int, float | None]:
        """(id, time) of the last change to one list, after purging what has expired.

        Every change writes an audit row, so the id identifies the list's content: readers can
        cache a rendered list until it moves.
        """
        with self._write() as conn:
            self._purge(conn, self.clock())
            row = conn.execute(
                "SELECT MAX(id), MAX(at) FROM audit WHERE type = ? AND action != 'refuse'",
                (type_,),
            ).fetchone()
        return (row[0] or 0), row[1]

    def values(self, type_: str) -> list[str]:
        """Just the unexpired values of one list (what the firewalls get)."""
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT value FROM entries WHERE type = ? AND (expires_at IS NULL OR expires_at > ?)",
                (type_, self.clock()),
            ).fetchall()
        return [row[0] for row in rows]

    def last_change(self, type_: str) -> float | None:
        with self._connection() as conn:
            row = conn.execute(
                "SELECT MAX(at) FROM audit WHERE type = ? AND action != 'refuse'", (type_,)
            ).fetchone()
        return row[0] if row else None

    def audit(self, *, limit: int = 100, after_id: int = 0) -> list[AuditEvent]:
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT id, at, action, type, value, actor, detail FROM audit WHERE id > ? "
                "ORDER BY id LIMIT ?",
                (after_id, limit),
            ).fetchall()
        return [AuditEvent(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6])) for r in rows]
