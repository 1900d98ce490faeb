"""Client-side quota shared by every process that opens the same SQLite file.

Why not pyrate-limiter's SQLiteBucket (3.x): it counts with a SELECT and then INSERTs outside one
write transaction, so two processes can both see "3 of 4 used" and both call (it only becomes
safe with its optional ``filelock`` dependency); it cannot hold a server-imposed block after a 429
(``Retry-After``) for the other processes; and importing it pulls in asyncio (~100 ms of the
analyzer's cold start). This ledger is one ``BEGIN IMMEDIATE`` transaction per call: SQLite's
write lock makes "count the window, then record the call" atomic across processes.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ..errors import QuotaError, UnavailableError
from .base import Deadline

if TYPE_CHECKING:
    from .settings import RateLimit

# The server starts its window when the request arrives, a few ms after we record it; keeping
# each window this much longer means our count can never run ahead of the server's.
WINDOW_GUARD = 0.25


def when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def quota_error(service: str, resets_at: float | None, why: str = "") -> QuotaError:
    reset = f"resets at {when(resets_at)}" if resets_at else "reset time unknown"
    detail = f" ({why})" if why else ""
    return QuotaError(
        f"{service}: quota exhausted, {reset}{detail}", service=service, resets_at=resets_at
    )


class RateLedger:
    """Sliding-window call counts per bucket, plus blocks learnt from the server's 429s."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        on_wait: Callable[[str, float, str], None] | None = None,
    ) -> None:
        """``on_wait(service, seconds, why)``, when given, does the waiting instead of ``sleep``
        (the CLI shows a countdown); it must return once ``seconds`` have passed."""
        self.conn, self.clock, self.sleep, self.on_wait = conn, clock, sleep, on_wait

    def acquire(
        self, service: str, bucket: str, limits: Sequence[RateLimit], deadline: Deadline
    ) -> None:
        """Record one call in ``bucket``, waiting for a free slot; QuotaError past the deadline."""
        while True:
            try:
                wait, why = self._try_take(bucket, limits)
            except sqlite3.Error as exc:  # e.g. locked past the busy timeout by a stuck process
                raise UnavailableError(f"{service}: the shared quota file is unusable: {exc}",
                                       service=service) from None
            if wait <= 0:
                return
            if wait > deadline.remaining():
                raise quota_error(service, self.clock() + wait, why)
            if self.on_wait is not None:
                self.on_wait(service, wait, why)
            else:
                self.sleep(wait)

    def _try_take(self, bucket: str, limits: Sequence[RateLimit]) -> tuple[float, str]:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            now = self.clock()
            wait, why = 0.0, ""
            row = conn.execute("SELECT until, reason FROM rate_blocks WHERE bucket=?", (bucket,)).fetchone()
            if row and row[0] > now:
                wait, why = row[0] - now, f"the service said: {row[1]}" if row[1] else "the service asked us to wait"
            for lim in limits:
                window = lim.per_seconds + WINDOW_GUARD
                used = conn.execute(
                    "SELECT COUNT(*) FROM rate_calls WHERE bucket=? AND at>?", (bucket, now - window)
                ).fetchone()[0]
                if used >= lim.limit:
                    # the call that must leave the window before one more fits
                    oldest = conn.execute(
                        "SELECT at FROM rate_calls WHERE bucket=? AND at>? ORDER BY at LIMIT 1 OFFSET ?",
                        (bucket, now - window, used - lim.limit),
                    ).fetchone()[0]
                    free_at = oldest + window - now
                    if free_at > wait:
                        wait, why = free_at, f"{lim.limit} calls per {lim.per_seconds:g} s"
            if wait <= 0:
                conn.execute("INSERT INTO rate_calls VALUES (?,?)", (bucket, now))
                longest = max((lim.per_seconds for lim in limits), default=0) + WINDOW_GUARD
                conn.execute("DELETE FROM rate_calls WHERE bucket=? AND at<?", (bucket, now - longest))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return wait, why

    def block(self, bucket: str, until: float, reason: str = "") -> None:
        """Remember that the server refused calls until ``until`` (shared with other processes)."""
        self.conn.execute(
            "INSERT INTO rate_blocks VALUES (?,?,?) ON CONFLICT(bucket) DO UPDATE SET "
            "until=max(until, excluded.until), reason=excluded.reason",
            (bucket, until, reason),
        )

    def blocked_until(self, bucket: str) -> float:
        row = self.conn.execute("SELECT until FROM rate_blocks WHERE bucket=?", (bucket,)).fetchone()
        return float(row[0]) if row else 0.0

    def used(self, bucket: str, per_seconds: float) -> int:
        return int(
            self.conn.execute(
                "SELECT COUNT(*) FROM rate_calls WHERE bucket=? AND at>?",
                (bucket, self.clock() - per_seconds - WINDOW_GUARD),
            ).fetchone()[0]
        )
