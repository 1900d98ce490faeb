"""Property: with shared windows, attacker-written text (the grouped user name, the line) decides
nothing the rules do not decide. Two workers counting into one shared state raise exactly the
alerts one worker with no shared state raises: the same groups (a name holding separators, quotes
or JSON does not merge two groups or split one), the same counts, the same values, each once."""

from __future__ import annotations

import tempfile
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from socflow.classify import Engine, load_rules
from socflow.models import Event
from socflow.statestore import SqliteWindows

T0 = datetime(2026, 3, 10, 8, 0, 0, tzinfo=UTC)
RULE = """\
rules:
  - id: r1
    name: test rule
    match:
      - {field: fields.auth, equals: failed}
    group_by: [user, host]
    threshold: 3
    window: 10m
    title: "x {{ group.user }}"
    observables:
      - {field: user, name: who}
      - {field: client_ip}
"""

# separators, JSON and control characters, or any text
HOSTILE = st.one_of(
    st.sampled_from(["a\x1fb", "a", "b\x1fc", "c", "\x1e", '["r1",0,"x"]', "root\n", "", " ", "\x00", "${jndi:x}"]),
    st.text(max_size=40),
)


def _event(user: str, host: str, minute: int, ip: str) -> Event:
    return Event(raw=f"{host} sshd: Failed password for {user} from {ip}", fmt="syslog",
                 timestamp=T0 + timedelta(minutes=minute), client_ip=ip, user=user, host=host,
                 fields={"auth": "failed"})


def _view(detections: list) -> list[tuple]:
    return sorted((tuple(sorted(d.group.items())), d.window_start, d.count,
                   tuple(sorted(d.values.get("who", []))), tuple(sorted(d.values.get("client_ip", []))))
                  for d in detections)


@example(["a\x1fb", "a", "c", "b\x1fc"], [(0, 2, 0, 0), (0, 2, 1, 1), (1, 3, 2, 0), (1, 3, 3, 1)] * 2)
@settings(max_examples=60, deadline=None)
@given(st.lists(HOSTILE, min_size=1, max_size=4, unique=True),
       st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(min_value=0, max_value=25),
                          st.integers(0, 1)), max_size=30))
def test_two_shared_workers_raise_what_one_unshared_worker_raises(names, picks):
    """``names`` are the user and host names the attacker writes; ``picks`` the events."""
    events = [(names[u % len(names)], names[h % len(names)], minute, ("45.1.1.1", "45.2.2.2")[ip])
              for u, h, minute, ip in picks]
    rule = load_rules(textwrap.dedent(RULE), "rules.yml")[0]
    alone = Engine([rule], grace=0)
    for user, host, minute, ip in events:
        alone.observe(_event(user, host, minute, ip), [rule])
    expected = _view(alone.flush())
    # an oracle that knows nothing of group ids: one group per (user, host, 10-minute window)
    counts: dict[tuple[str, str, int], int] = {}
    for user, host, minute, _ in events:
        group = (user, host, int((T0 + timedelta(minutes=minute)).timestamp()) // 600 * 600)
        counts[group] = counts.get(group, 0) + 1
    assert sorted(((("host", h), ("user", u)), w, c) for (u, h, w), c in counts.items() if c >= 3) == [
        v[:3] for v in expected]

    with tempfile.TemporaryDirectory() as tmp:
        windows = SqliteWindows(Path(tmp) / "state.sqlite")
        try:
            workers = [Engine([rule], grace=0, shared=windows, owner=f"w{n}") for n in range(2)]
            for n, (user, host, minute, ip) in enumerate(events):  # split over the workers
                workers[n % 2].observe(_event(user, host, minute, ip), [rule], eid=f"file:{n}")
            for worker in workers:
                worker.sync()
            raised = workers[0].flush() + workers[1].flush()
        finally:
            windows.close()
    assert _view(raised) == expected
