"""The SQLite file shared by every process on the host: verdict cache and rate ledger live in it.

Why our own table and not requests-cache: the TTL depends on the *verdict* (a malicious answer
can be kept longer than "unknown"; not-found has its own negative TTL), the cache must answer
without importing an HTTP stack (analyzer cold start), and the AbuseIPDB blacklist snapshot is
not an HTTP response we would look up by URL.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..state import private_file

_SCHEMA = """
CREATE TABLE IF NOT EXISTS verdicts (
    service TEXT NOT NULL, ioc_type TEXT NOT NULL, indicator TEXT NOT NULL,
    level TEXT NOT NULL, found INTEGER NOT NULL, raw TEXT NOT NULL,
    fetched_at REAL NOT NULL, expires_at REAL NOT NULL,
    PRIMARY KEY (service, ioc_type, indicator)
);
CREATE TABLE IF NOT EXISTS rate_calls (bucket TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS rate_calls_bucket_at ON rate_calls (bucket, at);
CREATE TABLE IF NOT EXISTS rate_blocks (bucket TEXT PRIMARY KEY, until REAL NOT NULL, reason TEXT);
CREATE TABLE IF NOT EXISTS fetch_locks (name TEXT PRIMARY KEY, owner TEXT NOT NULL, until REAL NOT NULL);
"""


def open_db(path: Path | None, busy_seconds: float = 10.0) -> sqlite3.Connection:
    """Open (and create) the shared file; ``None`` gives a private in-memory database."""
    target = ":memory:"
    if path is not None:
        private_file(path)  # the verdicts decide what is "safe": nobody else may write them
        target = str(path)
    # Jobs starting together on a new file race to switch it to WAL and create the tables; SQLite
    # answers one of them "database is locked" at once (a lock upgrade it cannot wait for, so the
    # busy timeout does not apply). That is retried within the same time, never reported.
    deadline = time.monotonic() + busy_seconds
    while True:
        conn = None
        try:
            # isolation_level=None: we issue BEGIN IMMEDIATE ourselves where atomicity matters.
            conn = sqlite3.connect(target, timeout=busy_seconds, isolation_level=None)
            if path is not None:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            return conn
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise ConfigError(f"cache file {target} cannot be used: {exc}") from None
            time.sleep(0.02)


class VerdictCache:
    """Raw envelopes keyed by (service, type, indicator) with an expiry chosen per verdict."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def get(self, service: str, ioc_type: str, indicator: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT raw FROM verdicts WHERE service=? AND ioc_type=? AND indicator=? AND expires_at>?",
            (service, ioc_type, indicator, time.time()),
        ).fetchone()
        if row is None:
            return None
        try:
            raw = json.loads(row[0])
        except ValueError:
            return None  # a torn or foreign row is a miss, not a crash
        return raw if isinstance(raw, dict) else None

    def put(
        self, service: str, ioc_type: str, indicator: str, raw: dict[str, Any], level: str, ttl: float
    ) -> None:
        if ttl <= 0:
            return
        now = time.time()
        self.conn.execute(
            "INSERT OR REPLACE INTO verdicts VALUES (?,?,?,?,?,?,?,?)",
            (service, ioc_type, indicator, level, int(bool(raw.get("found", True))),
             json.dumps(raw, separators=(",", ":")), float(raw.get("fetched_at") or now), now + ttl),
        )

    def purge_expired(self) -> int:
        return self.conn.execute("DELETE FROM verdicts WHERE expires_at<=?", (time.time(),)).rowcount

    # Single flight: the first job to miss an entry fetches it, the others wait for its answer
    # (parallel jobs for one indicator spend one lookup, not one each).
    def lock(self, service: str, ioc_type: str, indicator: str, owner: str, seconds: float) -> bool:
        name = _lock_name(service, ioc_type, indicator)
        now = time.time()
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self.conn.execute("DELETE FROM fetch_locks WHERE name=? AND until<=?", (name, now))
            got = self.conn.execute("INSERT OR IGNORE INTO fetch_locks VALUES (?,?,?)",
                                    (name, owner, now + seconds)).rowcount
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        return bool(got)

    def locked(self, service: str, ioc_type: str, indicator: str) -> bool:
        name = _lock_name(service, ioc_type, indicator)
        row = self.conn.execute("SELECT 1 FROM fetch_locks WHERE name=? AND until>?",
                                (name, time.time())).fetchone()
        return row is not None

    def unlock(self, service: str, ioc_type: str, indicator: str, owner: str) -> None:
        name = _lock_name(service, ioc_type, indicator)
        self.conn.execute("DELETE FROM fetch_locks WHERE name=? AND owner=?", (name, owner))


def _lock_name(service: str, ioc_type: str, indicator: str) -> str:
    """The fetch lock's row name (only the indicator, last, is outside text: no ambiguity)."""
    return "\x1f".join((service, ioc_type, indicator))
