"""The rule engine: events in, detections out, with state that can be saved and restored.

Events are grouped per rule by the ``group_by`` values and a tumbling time window aligned on the
epoch (``window_start = ts // window * window``), so a group's identity is the same whoever reads
the log and however often. A group becomes a :class:`Detection` when its window has closed (the
newest event time seen, the watermark, is ``grace`` seconds past its end) or at :meth:`flush`, if
it counted at least ``threshold`` events. Events without a time share window 0, closed by flush.

State (open groups) is exported as JSON rows (:meth:`take_changes`) so that the caller can store it
in the same transaction as its read position; a restart then resumes exactly where it stopped.

Shared windows (``shared``: ``socflow.statestore`` windows on Redis or one SQLite file): several
bridge workers, each reading its own logs, count into the same groups. Each event is added by its
identity (``eid``: source and line offset), so a worker that replays uncommitted lines after a
crash adds the same set members again and counts nothing twice. Whether a group crossed its
threshold, and what its alert says, is read from the shared state when the group closes; the
alert is then *claimed* (``claim(gid, owner)``), so the first worker to close it over the
threshold raises it and every other worker (or a replay by someone else) does not.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import unquote_plus

from ..extract import find_iocs
from ..extract.validate import classify_ip
from ..models import Event, IocType, IpClass
from .rules import Condition, ObservableSpec, Rule

MAX_VALUES = 200  # distinct values kept per observable per group
SEP = "\x1f"


def group_id(rule_id: str, window_start: int, key: tuple[str, ...]) -> str:
    """One string per (rule, window, group key), never the same for two different keys.

    Joined with the unit separator as always (so ids and alert references of existing groups do
    not change); a key that holds the separator itself - attacker text can - is written as JSON
    instead, behind a record separator that no joined id starts with (rule ids start with
    [a-z0-9]): ("a\x1fb", "c") and ("a", "b\x1fc") stay two groups."""
    if any(SEP in part for part in key):
        return "\x1e" + json.dumps([rule_id, window_start, *key], ensure_ascii=False)
    return SEP.join((rule_id, str(window_start), *key))


class IntelSource(Protocol):
    """Says whether an indicator is known bad (a local feed, enrichment verdicts, or both)."""

    def is_bad(self, ioc_type: IocType, value: str) -> bool: ...


@dataclass
class Group:
    rule_id: str
    key: tuple[str, ...]
    window_start: int
    count: int = 0
    first_seen: float | None = None
    last_seen: float | None = None
    samples: list[str] = field(default_factory=list)
    values: dict[str, list[tuple[str, str]]] = field(
        default_factory=dict
    )  # key -> [(ioc type, value)]

    @property
    def gid(self) -> str:
        return group_id(self.rule_id, self.window_start, self.key)

    def to_json(self) -> str:
        return json.dumps(
            {
                "r": self.rule_id,
                "k": list(self.key),
                "w": self.window_start,
                "c": self.count,
                "f": self.first_seen,
                "l": self.last_seen,
                "s": self.samples,
                "v": {k: [list(p) for p in v] for k, v in self.values.items()},
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Group:
        d = json.loads(text)
        return cls(
            d["r"],
            tuple(d["k"]),
            d["w"],
            d["c"],
            d["f"],
            d["l"],
            d["s"],
            {k: [tuple(p) for p in v] for k, v in d["v"].items()},
        )  # type: ignore[misc]


@dataclass(frozen=True)
class Detection:
    """A group that crossed its rule's threshold: what the alert is built from."""

    rule: Rule
    group: dict[str, str]
    window_start: int
    count: int
    first_seen: float | None
    last_seen: float | None
    samples: list[str]
    values: dict[str, list[tuple[str, str]]]

    @property
    def window_end(self) -> int:
        return self.window_start + self.rule.window if self.window_start else 0


def field_value(event: Event, name: str) -> Any:
    """An event attribute (``client_ip``), a parser field (``fields.auth``) or the raw line (``line``)."""
    if name.startswith("fields."):
        return event.fields.get(name[7:])
    if name == "line":
        return event.raw
    return getattr(event, name, None)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def condition_holds(cond: Condition, event: Event) -> bool:
    value = field_value(event, cond.field)
    return _evaluate(cond, value) != cond.negate


def _evaluate(cond: Condition, value: Any) -> bool:
    present = value not in (None, "")
    if cond.exists is not None and present != cond.exists:
        return False
    if not present:
        return cond.exists is False
    text = _text(value)
    for _ in cond.decode:  # url: twice, for double-encoded payloads
        text = unquote_plus(unquote_plus(text))
    folded = text.lower() if cond.ignore_case else text
    if cond.equals is not None:
        wanted = {str(v).lower() if cond.ignore_case else str(v) for v in cond.equals}
        if folded not in wanted:
            return False
    if cond.contains is not None and not any(
        (c.lower() if cond.ignore_case else c) in folded for c in cond.contains
    ):
        return False
    if cond.startswith is not None and not any(
        folded.startswith(c.lower() if cond.ignore_case else c) for c in cond.startswith
    ):
        return False
    if cond._regex is not None and not cond._regex.search(text):
        return False
    if cond.gte is not None or cond.lte is not None:
        try:
            number = float(value)
        except (TypeError, ValueError):
            return False
        if (cond.gte is not None and number < cond.gte) or (
            cond.lte is not None and number > cond.lte
        ):
            return False
    return True


class Engine:
    def __init__(
        self,
        rules: Sequence[Rule],
        *,
        intel: IntelSource | None = None,
        grace: int = 300,
        max_groups: int = 200_000,
        shared: Any | None = None,
        owner: str = "",
    ) -> None:
        self.rules = {
            r.id: r for r in rules if not (r.indicators and r.indicators.intel and intel is None)
        }
        self.skipped = [r.id for r in rules if r.id not in self.rules]  # intel rules without intel
        self.intel = intel
        self.grace = grace
        self.max_groups = max_groups
        self.groups: dict[str, Group] = {}
        self.watermark = 0.0
        self.matched: dict[str, int] = {}  # rule id -> events that matched
        self._dirty: set[str] = set()
        self._deleted: set[str] = set()
        self._evicted: list[Detection] = []
        self._next_close = float("inf")  # earliest window end among open groups
        self.shared = shared  # statestore windows (RedisWindows / SqliteWindows) or None
        self.owner = owner  # this worker's identity for alert claims
        self._pending: list[Any] = []  # WindowEvents not yet in the shared state

    # ---- which rules look at a format
    def rules_for(self, fmt: str) -> list[Rule]:
        return [r for r in self.rules.values() if r.formats is None or fmt in r.formats]

    # ---- matching
    def observe(self, event: Event, rules: Iterable[Rule], eid: str | None = None) -> None:
        """Count ``event`` for every rule of ``rules`` it matches; ``eid`` identifies it in
        shared windows (the same line read twice has the same eid)."""
        ts = event.timestamp.timestamp() if event.timestamp else None
        if ts is not None and ts > self.watermark:
            self.watermark = ts
        for rule in rules:
            found = self._match(rule, event)
            if found is None:
                continue
            self.matched[rule.id] = self.matched.get(rule.id, 0) + 1
            for key in self._keys(rule, event, found):
                self._add(rule, key, ts, event, found, eid)

    def _match(self, rule: Rule, event: Event) -> list[tuple[str, str]] | None:
        """None when the rule does not match; else the matching indicators (may be empty)."""
        if not all(condition_holds(c, event) for c in rule.match):
            return None
        if rule.any_of and not any(condition_holds(c, event) for c in rule.any_of):
            return None
        if rule.indicators is None:
            return []
        spec = rule.indicators
        hits = []
        for kind, value in find_iocs(event.raw):
            if kind not in spec.types:
                continue
            if (
                spec.public_only
                and kind in (IocType.IPV4, IocType.IPV6)
                and classify_ip(value) != IpClass.PUBLIC
            ):
                continue
            if spec.tlds and _tld(kind, value) not in spec.tlds:
                continue
            if spec.intel and not (self.intel and self.intel.is_bad(kind, value)):
                continue
            hits.append((kind.value, value))
        return hits or None

    def _keys(
        self, rule: Rule, event: Event, found: list[tuple[str, str]]
    ) -> list[tuple[str, ...]]:
        if "indicator" in rule.group_by:
            at = rule.group_by.index("indicator")
            base = [_text(field_value(event, f)) if f != "indicator" else "" for f in rule.group_by]
            return [tuple(base[:at] + [value] + base[at + 1 :]) for _, value in found]
        return [tuple(_text(field_value(event, f)) for f in rule.group_by)]

    def _add(
        self,
        rule: Rule,
        key: tuple[str, ...],
        ts: float | None,
        event: Event,
        found: list[tuple[str, str]],
        eid: str | None = None,
    ) -> None:
        window = int(ts // rule.window * rule.window) if ts is not None else 0
        gid = group_id(rule.id, window, key)
        group = self.groups.get(gid)
        if group is None:
            if len(self.groups) >= self.max_groups:
                self._evict()
            group = self.groups[gid] = Group(rule.id, key, window)
            if window:
                self._next_close = min(self._next_close, window + rule.window)
        group.count += 1
        if ts is not None:
            group.first_seen = ts if group.first_seen is None else min(group.first_seen, ts)
            group.last_seen = ts if group.last_seen is None else max(group.last_seen, ts)
        if len(group.samples) < rule.samples:
            group.samples.append(event.raw[:2000])
        for spec in rule.observables:
            self._collect(group, spec, event, found)
        self._dirty.add(gid)
        if self.shared is not None and eid is not None:
            self._share(rule, gid, window, ts, event, found, eid)

    def _share(self, rule: Rule, gid: str, window: int, ts: float | None, event: Event,
               found: list[tuple[str, str]], eid: str) -> None:
        from ..statestore import WindowEvent

        values = []
        for spec in rule.observables:
            for kind, value in self._pairs(spec, event, found):
                values.append(json.dumps([spec.key, kind, value], ensure_ascii=False))
        self._pending.append(WindowEvent(
            gid, eid, ts, event.raw[:2000] if rule.samples else None, tuple(values[:MAX_VALUES]),
            rule.samples, float(rule.window + self.grace + 86400)))

    @staticmethod
    def _pairs(spec: ObservableSpec, event: Event, found: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """The (ioc type, value) pairs observable ``spec`` takes from one event."""
        if spec.field is not None:
            value = _text(field_value(event, spec.field))
            return [(_ioc_type_of(value), value)] if value else []
        if spec.indicators:
            return found
        wanted = set(spec.extract or ())
        return [(k.value, v) for k, v in find_iocs(event.raw) if k in wanted]

    def sync(self) -> None:
        """Send the events counted since the last call to the shared windows (idempotent; raises
        UnavailableError when the state backend is down, keeping them for the next call)."""
        if self.shared is not None and self._pending:
            self.shared.add(self._pending)
            self._pending = []

    @staticmethod
    def _collect(
        group: Group, spec: ObservableSpec, event: Event, found: list[tuple[str, str]]
    ) -> None:
        bucket = group.values.setdefault(spec.key, [])
        if len(bucket) >= MAX_VALUES:
            return
        for pair in Engine._pairs(spec, event, found):
            if pair not in bucket and len(bucket) < MAX_VALUES:
                bucket.append(pair)

    # ---- closing windows
    def advance(self, ts: float) -> None:
        """Move the watermark (follow mode: wall-clock time while the logs are quiet)."""
        self.watermark = max(self.watermark, ts)

    def close(self) -> list[Detection]:
        """Detections of the groups whose window closed before the watermark (minus grace)."""
        limit = self.watermark - self.grace
        if limit < self._next_close:  # nothing can close yet: skip the scan (called once per block)
            return []
        self.sync()
        closed, self._next_close = [], float("inf")
        for g in self.groups.values():
            if not g.window_start:
                continue
            end = g.window_start + self.rules[g.rule_id].window
            if end <= limit:
                closed.append(g)
            else:
                self._next_close = min(self._next_close, end)
        return self._finish(closed)

    def flush(self) -> list[Detection]:
        """End of input: every group over its threshold becomes a detection; the others stay."""
        if self.shared is not None:
            self.sync()
            counts = self.shared.counts(list(self.groups))
            ready = [g for gid, g in self.groups.items()
                     if max(g.count, counts.get(gid, 0)) >= self.rules[g.rule_id].threshold]
            return self._finish(ready)
        ready = [g for g in self.groups.values() if g.count >= self.rules[g.rule_id].threshold]
        return self._finish(ready)

    def _finish(self, groups: list[Group]) -> list[Detection]:
        if self.shared is not None:
            groups = self._shared_view(groups)
        out = []
        for g in sorted(groups, key=lambda g: (g.window_start, g.rule_id, g.key)):
            rule = self.rules[g.rule_id]
            if g.count >= rule.threshold and (
                self.shared is None or self.shared.claim(g.gid, self.owner)
            ):
                out.append(
                    Detection(
                        rule,
                        dict(zip(rule.group_by, g.key)),
                        g.window_start,
                        g.count,
                        g.first_seen,
                        g.last_seen,
                        list(g.samples),
                        dict(g.values),
                    )
                )
            self._drop(g.gid)
        return out

    def _shared_view(self, groups: list[Group]) -> list[Group]:
        """The groups as every worker saw them (count, times, samples, values from the shared
        state; this worker's own view where the shared one has nothing yet)."""
        self.sync()
        shared = self.shared.groups([g.gid for g in groups]) if self.shared is not None else {}
        out = []
        for g in groups:
            sg = shared.get(g.gid)
            if sg is None or sg.count == 0:
                out.append(g)
                continue
            out.append(Group(g.rule_id, g.key, g.window_start, sg.count, sg.first_seen,
                             sg.last_seen, (sg.samples or [])[: self.rules[g.rule_id].samples],
                             sg.values or {}))
        return out

    def _evict(self) -> None:
        """Too many open groups: the oldest tenth is closed early (memory stays bounded)."""
        oldest = sorted(self.groups.values(), key=lambda g: g.window_start)[
            : max(1, self.max_groups // 10)
        ]
        self._evicted.extend(self._finish(oldest))

    def take_evicted(self) -> list[Detection]:
        out, self._evicted = self._evicted, []
        return out

    def _drop(self, gid: str) -> None:
        self.groups.pop(gid, None)
        self._dirty.discard(gid)
        self._deleted.add(gid)

    # ---- state
    def take_changes(self) -> tuple[dict[str, str], list[str], float]:
        """(groups to upsert as JSON, group ids to delete, watermark) since the last call."""
        upserts = {gid: self.groups[gid].to_json() for gid in self._dirty if gid in self.groups}
        deleted = sorted(self._deleted)
        self._dirty, self._deleted = set(), set()
        return upserts, deleted, self.watermark

    def restore(self, rows: Iterable[str], watermark: float) -> None:
        for text in rows:
            group = Group.from_json(text)
            if group.rule_id in self.rules:
                self.groups[group.gid] = group
                if group.window_start:
                    end = group.window_start + self.rules[group.rule_id].window
                    self._next_close = min(self._next_close, end)
            else:  # its rule was removed since: forget the group
                self._deleted.add(group.gid)
        self.watermark = max(self.watermark, watermark)


def _tld(kind: IocType, value: str) -> str:
    host = value
    if kind == IocType.URL:
        host = value.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    elif kind == IocType.MAIL:
        host = value.rsplit("@", 1)[-1]
    return host.rstrip(".").rsplit(".", 1)[-1].lower()


def _ioc_type_of(value: str) -> str:
    kind = classify_ip(value)
    if kind is not None:
        return IocType.IPV6.value if ":" in value else IocType.IPV4.value
    return ""
