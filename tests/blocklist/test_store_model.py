"""The SQLite store against a plain-dict model, by random sequences of operations (hypothesis)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from socflow.adapters.blocklist.store import BlockStore, Entry

VALUES = st.sampled_from(["45.1.1.1", "45.1.1.2", "evil-a.com", "evil-b.com", "https://x.org/a"])
TTL = st.one_of(st.none(), st.integers(min_value=1, max_value=50))


def kind(value: str) -> str:
    return "url" if "://" in value else ("ip" if value[0].isdigit() else "domain")


class StoreMachine(RuleBasedStateMachine):
    """Model: (type, value) -> expiry (None = never). Time is a fake clock the rules move."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 1_000_000.0
        shm = Path("/dev/shm")  # the model checks logic, not fsync: keep the file in memory if we can
        self.tmp = tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else None)
        self.store = BlockStore(Path(self.tmp.name) / "bl.sqlite3", clock=lambda: self.now)
        self.model: dict[tuple[str, str], float | None] = {}
        self.changes = 0

    def teardown(self) -> None:
        self.tmp.cleanup()

    def _expire_model(self) -> None:
        for key, expiry in list(self.model.items()):
            if expiry is not None and expiry <= self.now:
                del self.model[key]
                self.changes += 1

    @rule(value=VALUES, ttl=TTL)
    def add(self, value: str, ttl: int | None) -> None:
        self._expire_model()
        key = (kind(value), value)
        new = None if ttl is None else self.now + ttl
        status, entry = self.store.add(Entry(key[0], value, requested_by="t"), ttl)
        if key not in self.model:
            assert status == "added"
            self.model[key] = new
            self.changes += 1
        else:
            old = self.model[key]
            later = old is not None and (new is None or new > old)
            assert status == ("extended" if later else "exists")
            if later:
                self.model[key] = new
                self.changes += 1
        assert entry.expires_at == self.model[key]

    @rule(value=VALUES)
    def remove(self, value: str) -> None:
        self._expire_model()
        key = (kind(value), value)
        gone = self.store.remove(key[0], value, actor="t")
        assert gone == (key in self.model)
        if gone:
            del self.model[key]
            self.changes += 1

    @rule(seconds=st.integers(min_value=0, max_value=30))
    def wait(self, seconds: int) -> None:
        self.now += seconds

    @rule()
    def reopen(self) -> None:
        """A restart: a new store object on the same file sees the same state."""
        self.store = BlockStore(self.store.path, clock=lambda: self.now)

    @invariant()
    def lists_match_the_model(self) -> None:
        live = {k for k, exp in self.model.items() if exp is None or exp > self.now}
        for list_type in ("ip", "domain", "url"):
            assert sorted(self.store.values(list_type)) == sorted(v for t, v in live if t == list_type)

    @invariant()
    def every_change_is_audited(self) -> None:
        self.store.active()  # purges what expired, like any read of the service
        self._expire_model()
        assert len(self.store.audit(limit=100000)) == self.changes


StoreMachine.TestCase.settings = settings(max_examples=30, stateful_step_count=25, deadline=None)
TestStore = StoreMachine.TestCase
