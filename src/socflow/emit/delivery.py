"""Moving alerts from the outbox to a destination, with back-off and a dead-letter list.

The destination is a :class:`Transport` (the TheHive adapter implements it). What a transport
raises decides the alert's fate:

* ``UnavailableError`` — the destination is down or slow: nothing more is sent now; every pending
  alert waits ``backoff`` seconds (doubling per consecutive failure, capped, with jitter).
* ``DeliveryError(permanent=True)`` — refused for good (a field rule, an unknown type): dead letter
  with the reason.
* ``DeliveryError(permanent=False)`` — this alert failed, others may pass (e.g. an answered 500):
  retried later, dead-lettered after ``max_attempts``; three such failures in a row count as the
  destination being down.
* ``AuthError`` / ``ConfigError`` — nobody can be delivered until a person fixes the setup: raised.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import DeliveryError, UnavailableError
from .outbox import Outbox, OutboxAlert

# An alert payload may carry files for its ``file`` observables: ``{part name: absolute path}``
# under this key (never sent as a field; the transport sends each file as a multipart part).
FILES = "x-socflow-files"


@dataclass(frozen=True)
class Sent:
    thehive_id: str | None
    duplicate: bool = False
    note: str | None = None  # something worth keeping about an accepted alert


class Transport(Protocol):
    def send(self, alert: dict[str, Any]) -> Sent: ...


@dataclass
class DeliveryReport:
    delivered: int = 0
    duplicates: int = 0
    dead: int = 0
    retried: int = 0
    unavailable: str = ""
    errors: list[str] = field(default_factory=list)

    def add(self, other: DeliveryReport) -> None:
        self.delivered += other.delivered
        self.duplicates += other.duplicates
        self.dead += other.dead
        self.retried += other.retried
        self.unavailable = other.unavailable
        self.errors.extend(other.errors)


class Deliverer:
    def __init__(
        self,
        outbox: Outbox,
        transport: Transport,
        *,
        backoff_base: float = 1.0,
        backoff_cap: float = 300.0,
        max_attempts: int = 20,
        batch: int = 100,
        parallel: int = 4,
        clock: Callable[[], float] = time.time,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.outbox, self.transport = outbox, transport
        self.backoff_base, self.backoff_cap = backoff_base, backoff_cap
        self.max_attempts, self.batch = max_attempts, batch
        self.parallel = max(1, parallel)
        self._failed_in_row = 0
        self.clock = clock
        self.on_event = on_event or (lambda kind, data: None)
        self.down_streak = 0
        self._down_until: float | None = None

    def backoff(self) -> float:
        delay = min(self.backoff_cap, self.backoff_base * 2 ** max(0, self.down_streak - 1))
        return delay * random.uniform(0.8, 1.0)

    def run_once(self) -> DeliveryReport:
        """One pass over the alerts that are due; stops early when the destination is down.

        Up to ``parallel`` alerts are in flight at once (network waits overlap); their outcomes
        are recorded here, in the caller's thread, which owns the outbox connection.
        """
        report = DeliveryReport()
        self._failed_in_row = 0
        self._down_until = None  # set by the pass's first "destination down"
        due = self.outbox.due(self.batch, self.clock())
        with ThreadPoolExecutor(max_workers=self.parallel) as pool:
            for start in range(0, len(due), self.parallel):
                chunk = due[start : start + self.parallel]
                outcomes = list(pool.map(self._attempt, chunk))  # AuthError/ConfigError raise here
                stop = False
                for alert, outcome in zip(chunk, outcomes):
                    stop = self._settle(alert, outcome, report) or stop
                if stop:
                    break
        return report

    def _attempt(self, alert: OutboxAlert) -> Sent | UnavailableError | DeliveryError:
        try:
            return self.transport.send(alert.payload)
        except (UnavailableError, DeliveryError) as exc:
            return exc

    def _settle(
        self, alert: OutboxAlert, outcome: Sent | Exception, report: DeliveryReport
    ) -> bool:
        """Record one outcome; True when the destination looks down (stop this pass)."""
        if isinstance(outcome, UnavailableError):
            # Alerts sent in parallel fail together: one failed attempt of the destination, one
            # step of back-off and one event, however many alerts were in flight.
            first = self._down_until is None
            if first:
                self.down_streak += 1
                self._down_until = self.clock() + self.backoff()
            wait_until = self._down_until
            self.outbox.mark_retry(alert.id, str(outcome), wait_until)
            self.outbox.postpone_all(wait_until)
            report.unavailable = str(outcome)
            report.retried += 1
            if first:
                retry_in = round(wait_until - self.clock(), 1)
                self.on_event(
                    "unavailable",
                    {"error": str(outcome), "retry_in": retry_in, "attempt": self.down_streak},
                )
            return True
        if isinstance(outcome, DeliveryError):
            report.errors.append(str(outcome))
            if outcome.permanent or alert.attempts + 1 >= self.max_attempts:
                self.outbox.mark_dead(alert.id, str(outcome))
                report.dead += 1
                self.on_event("dead", {"sourceRef": alert.source_ref, "reason": str(outcome)})
                return False
            delay = min(self.backoff_cap, self.backoff_base * 2**alert.attempts)
            self.outbox.mark_retry(alert.id, str(outcome), self.clock() + delay)
            report.retried += 1
            self._failed_in_row += 1
            if self._failed_in_row >= 3:
                self.down_streak += 1
                self.outbox.postpone_all(self.clock() + self.backoff())
                report.unavailable = str(outcome)
                return True
            return False
        assert isinstance(outcome, Sent)
        self._failed_in_row = 0
        self.down_streak = 0
        note = "already in TheHive (duplicate answer)" if outcome.duplicate else outcome.note
        self.outbox.mark_delivered(alert.id, outcome.thehive_id, note)
        report.delivered += 1
        report.duplicates += int(outcome.duplicate)
        event = {"sourceRef": alert.source_ref, "thehive_id": outcome.thehive_id}
        self.on_event("delivered", {**event, "duplicate": outcome.duplicate})
        return False

    def run_until(self, deadline: float, stop: threading.Event | None = None) -> DeliveryReport:
        """Deliver until nothing is pending, ``deadline`` (epoch seconds) passes or ``stop`` is set."""
        total = DeliveryReport()
        stop = stop or threading.Event()
        while not stop.is_set():
            report = self.run_once()
            total.add(report)
            next_due = self.outbox.next_due_at()
            if next_due is None:
                break
            now = self.clock()
            if next_due > deadline:
                break
            if next_due > now:
                stop.wait(min(next_due - now, max(0.0, deadline - now)))
            if self.clock() >= deadline:
                break
        return total
