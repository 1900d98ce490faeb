"""The SQLite quota ledger: never more calls than allowed in any window, across connections."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socflow.enrich.base import Deadline
from socflow.enrich.config import RateLimit
from socflow.enrich.ratelimit import WINDOW_GUARD, RateLedger
from socflow.enrich.store import open_db
from socflow.errors import QuotaError


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def max_in_window(times: list[float], per: float) -> int:
    return max((sum(1 for u in times if t <= u < t + per) for t in times), default=0)


@settings(max_examples=60, deadline=None)
@given(
    limits=st.lists(st.tuples(st.integers(1, 6), st.floats(1, 100)), min_size=1, max_size=2),
    gaps=st.lists(st.floats(0, 30), min_size=1, max_size=40),
)
def test_no_window_ever_holds_more_than_its_limit(limits: list[tuple[int, float]], gaps: list[float]) -> None:
    clock = FakeClock()
    ledger = RateLedger(open_db(None), clock=clock, sleep=clock.sleep)
    rules = [RateLimit(limit=n, per_seconds=p) for n, p in limits]
    granted = []
    for gap in gaps:
        clock.now += gap
        ledger.acquire("Svc", "svc:api", rules, Deadline(10**6))
        granted.append(clock.now)
    assert len(granted) == len(gaps)  # with an unlimited budget every call is eventually granted
    for rule in rules:
        assert max_in_window(granted, rule.per_seconds + WINDOW_GUARD) <= rule.limit


def test_a_wait_beyond_the_budget_is_a_quota_error_with_the_reset_time() -> None:
    clock = FakeClock()
    ledger = RateLedger(open_db(None), clock=clock, sleep=clock.sleep)
    rules = [RateLimit(limit=2, per_seconds=60)]
    for _ in range(2):
        ledger.acquire("VirusTotal", "vt:api", rules, Deadline(5))
    with pytest.raises(QuotaError) as err:
        ledger.acquire("VirusTotal", "vt:api", rules, Deadline(5))
    assert err.value.resets_at == pytest.approx(clock.now + 60 + WINDOW_GUARD)
    assert str(err.value).startswith("VirusTotal: quota exhausted, resets at ")
    assert "(2 calls per 60 s)" in str(err.value)


def test_server_block_delays_every_bucket_user() -> None:
    clock = FakeClock()
    ledger = RateLedger(open_db(None), clock=clock, sleep=clock.sleep)
    ledger.block("otx:api", clock.now + 3, "429")
    start = clock.now
    ledger.acquire("OTX", "otx:api", [], Deadline(10))
    assert clock.now - start == pytest.approx(3)


def test_buckets_are_independent() -> None:
    clock = FakeClock()
    ledger = RateLedger(open_db(None), clock=clock, sleep=clock.sleep)
    one = [RateLimit(limit=1, per_seconds=86400)]
    ledger.acquire("AbuseIPDB", "abuseipdb:check", one, Deadline(1))
    ledger.acquire("AbuseIPDB", "abuseipdb:check-block", one, Deadline(1))
    with pytest.raises(QuotaError):
        ledger.acquire("AbuseIPDB", "abuseipdb:check", one, Deadline(1))


def test_threads_with_their_own_connections_share_the_quota(tmp_path: Path) -> None:
    """Eight connections to one file race for 5 slots: exactly 5 win (BEGIN IMMEDIATE)."""
    path = tmp_path / "ledger.sqlite"
    rules = [RateLimit(limit=5, per_seconds=3600)]
    won, lost = [], []
    barrier = threading.Barrier(8)

    def worker() -> None:
        ledger = RateLedger(open_db(path))
        barrier.wait()
        for _ in range(3):
            try:
                ledger.acquire("Svc", "svc:api", rules, Deadline(0.5))
                won.append(1)
            except QuotaError:
                lost.append(1)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(won) == 5 and len(lost) == 19
