"""Logs → detections → alerts in the outbox, with the read position saved alongside.

The hot path is lean on purpose: each block of whole lines (1 MiB) goes through the
:class:`~socflow.classify.detect.Detector` (shared with the LogIOC analyzer): one RE2 pass with
the joined pre-filters of the rules, and only the lines it hits are decoded, parsed and handed to
the rule engine. Lines no rule can match cost their share of one DFA pass over the block.

Every ``commit_bytes`` / ``commit_seconds`` the alerts built since the last commit, the file's
checkpoint and the engine's open groups go to the outbox in one transaction (see ``outbox.py``).
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..classify.detect import Detector, format_of
from ..classify.engine import Detection, Engine
from ..classify.intel import Enricher
from ..errors import UnavailableError
from ..read.follow import Checkpoint, Chunk, FileReader, Follower, source_key
from ..read.listen import Batch, Listener
from ..read.sources import DEFAULT_MAX_LINE_BYTES, ReadStats
from .alert import AlertBuilder
from .enrichment import enrich_alert
from .outbox import Outbox
from .storm import summary_alert


@dataclass
class SourceReport:
    source: str
    format: str = ""
    bytes: int = 0
    lines: int = 0
    parsed: int = 0
    truncated: int = 0
    resumed_at: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass
class IngestReport:
    sources: list[SourceReport] = field(default_factory=list)
    alerts_by_rule: Counter[str] = field(default_factory=Counter)
    observables_by_type: Counter[str] = field(default_factory=Counter)
    new_alerts: int = 0
    already_known: int = 0
    folded_by_rule: Counter[str] = field(default_factory=Counter)  # detections in storm summaries

    def events_by_format(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for s in self.sources:
            out[s.format or "?"] += s.parsed
        return out


class Ingestor:
    def __init__(
        self,
        engine: Engine,
        builder: AlertBuilder,
        outbox: Outbox,
        *,
        enricher: Enricher | None = None,
        enrich_warninglisted: bool = False,
        intel_prefilter: bytes | None = None,
        commit_bytes: int = 8 << 20,
        commit_seconds: float = 1.0,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        on_alert: Callable[[dict[str, Any], bool], None] | None = None,
        on_progress: Callable[[int], None] | None = None,
        max_alerts_per_rule: int | None = None,
        on_state_down: Callable[[str, float], None] | None = None,
    ) -> None:
        self.on_state_down = on_state_down or (lambda error, retry_in: None)
        self.engine, self.builder, self.outbox = engine, builder, outbox
        self.max_alerts_per_rule = max_alerts_per_rule  # None: no storm cap
        self._built: Counter[str] = Counter()  # alerts built per rule in this run
        self.enricher = enricher
        self.enrich_warninglisted = enrich_warninglisted
        self.intel_prefilter = intel_prefilter
        self.commit_bytes, self.commit_seconds = commit_bytes, commit_seconds
        self.max_line_bytes = max_line_bytes
        self.on_alert = on_alert or (lambda alert, new: None)
        self.on_progress = on_progress or (lambda n: None)
        self.report = IngestReport()
        self.detector = Detector(engine, intel_prefilter)
        self._alerts: list[tuple[dict[str, Any], str]] = []
        self._since_bytes, self._since_time = 0, time.monotonic()
        rows, watermark = outbox.engine_state()
        engine.restore(rows, watermark)

    # ---- one pass over files (globs, .gz, stdin)
    def run_files(self, paths: Iterable[str]) -> IngestReport:
        for path in paths:
            self.run_file(path)
        self.finish()
        return self.report

    def run_file(self, path: str) -> SourceReport:
        stats = ReadStats(source=path)
        reader = FileReader(
            path,
            self.outbox.checkpoint(source_key(path)),
            stats,
            max_line_bytes=self.max_line_bytes,
        )
        src = SourceReport(source=path, resumed_at=reader.start)
        self.report.sources.append(src)
        last: Chunk | None = None
        for chunk in reader:
            last = chunk
            self.feed(src, chunk, self._origin(reader.checkpoint(chunk.offset)))
            if self._due():
                self.commit([reader.checkpoint(chunk.offset)])
        src.errors.extend(stats.errors)
        src.truncated = stats.truncated
        self.commit([reader.checkpoint(last.offset)] if last else [])
        return src

    def finish(self) -> None:
        """End of input: groups over their threshold become alerts (the rest stay for next time)."""
        self._build(self.detector.flush())
        self.commit([])

    # ---- follow mode
    def follow(
        self,
        follower: Follower,
        *,
        poll: float = 0.5,
        idle_close: float = 5.0,
        stop: Callable[[], bool] = lambda: False,
    ) -> None:
        sources = {path: SourceReport(source=path) for path in follower.tails}
        self.report.sources.extend(sources.values())
        idle_since = time.monotonic()
        touched: set[str] = set()  # files read since the last commit that went through
        backoff = 0.0
        while not stop():
            try:
                got = False
                for path, chunk in follower.poll():
                    got = True
                    touched.add(path)
                    self.feed(sources[path], chunk, self._origin(follower.checkpoint(path)))
                    if chunk.rotated:
                        # commit the old file's last lines before the follower moves to the new one
                        self.commit([follower.checkpoint(path)])
                    elif self._due():
                        self.commit(follower.checkpoint(p) for p in touched)
                if got:
                    idle_since = time.monotonic()
                    self.commit(follower.checkpoint(p) for p in touched)
                    touched.clear()
                    backoff = 0.0
                    continue
                if time.monotonic() - idle_since >= idle_close:
                    # quiet logs: let wall-clock time close the windows a later event would have
                    self.engine.advance(time.time())
                    self._build(self.engine.close())
                    self.commit(follower.checkpoint(p) for p in touched)
                    touched.clear()
                    idle_since = time.monotonic()
                backoff = 0.0
            except UnavailableError as exc:
                if exc.service != "state":
                    raise
                # The shared state is down: nothing was committed, so no checkpoint moved. Keep
                # what was read (its events stay queued) and try again; a kill meanwhile replays.
                backoff = min(max(backoff * 2, 1.0), 30.0)
                self.on_state_down(str(exc), backoff)
                follower.wait(backoff)
                continue
            follower.wait(poll)
        self.commit(follower.checkpoint(p) for p in follower.tails)

    # ---- syslog listeners (and, with them, followed files)
    def listen(
        self,
        listener: Listener,
        follower: Follower | None = None,
        *,
        poll: float = 0.5,
        idle_close: float = 5.0,
        stop: Callable[[], bool] = lambda: False,
        on_tick: Callable[[], None] | None = None,
        tick_seconds: float = 60.0,
    ) -> None:
        """Feed what the listener receives (and what followed files grow by) to the rules.

        A batch that owes RELP acknowledgements is committed at once and acknowledged only after
        that commit: a receiver killed at any point has either committed a message's effect or
        not acknowledged it (the sender re-sends it).
        """
        sources = {url: SourceReport(source=url, format="syslog") for url in listener.urls}
        self.report.sources.extend(sources.values())
        files = {path: SourceReport(source=path) for path in (follower.tails if follower else ())}
        self.report.sources.extend(files.values())
        idle_since = last_tick = time.monotonic()
        stopping = False
        acks: list[tuple[Any, int]] = []  # owed since the last commit that went through
        touched: set[str] = set()
        backoff = 0.0  # > 0: the shared state is down; nothing is read until a commit goes through
        while True:
            if not stopping and stop():
                stopping = True
                listener.quiesce()  # nothing more is read; what is queued is committed and acked
            batch = listener.take(0 if stopping else poll) if not backoff else Batch()
            for url, lines in batch.lines.items():
                self.feed(sources[url], Chunk(b"\n".join(lines) + b"\n", 0),
                          self._listen_origin(url), by_content=True)
            acks += batch.acks
            try:
                if follower is not None and not backoff:
                    for path, chunk in follower.poll():
                        touched.add(path)
                        self.feed(files[path], chunk, self._origin(follower.checkpoint(path)))
                        if chunk.rotated:
                            self.commit([follower.checkpoint(path)])
                active = bool(batch) or bool(touched)
                if acks or touched or stopping or backoff or self._due():
                    self.commit(follower.checkpoint(p) for p in touched) if follower else self.commit([])
                    listener.acknowledge(acks, wait=stopping)
                    acks, touched = [], set()
                now = time.monotonic()
                if active:
                    idle_since = now
                elif now - idle_since >= idle_close:
                    # a quiet network: wall-clock time closes the windows a later event would have
                    self.engine.advance(time.time())
                    self._build(self.engine.close())
                    self.commit([])
                    idle_since = now
                backoff = 0.0
            except UnavailableError as exc:
                if exc.service != "state" or stopping:
                    raise
                # The shared state is down: nothing was committed nor acknowledged. Stop taking
                # messages (the queue fills: streams stop being read, UDP drops are counted) and
                # try the commit again; a kill meanwhile loses no acknowledged message.
                backoff = min(max(backoff * 2, 1.0), 30.0)
                self.on_state_down(str(exc), backoff)
                deadline = time.monotonic() + backoff
                while time.monotonic() < deadline and not stop():
                    time.sleep(0.1)
                continue
            if on_tick is not None and now - last_tick >= tick_seconds:
                on_tick()
                last_tick = now
            if stopping and not listener.queued_bytes() and not acks:
                break
        if follower is not None:
            self.commit(follower.checkpoint(p) for p in follower.tails)

    def _origin(self, checkpoint: Checkpoint | None) -> str | None:
        """The identity of the file a chunk comes from, for shared windows: this worker, the
        path and the file's first bytes (stable across restarts; a rotated file is another)."""
        if self.engine.shared is None:
            return None
        if checkpoint is None:
            return None  # stdin: lines cannot be read again, so cannot be replayed either
        text = f"{self.engine.owner}\x1f{checkpoint.source}\x1f{checkpoint.head}"
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:20]

    def _listen_origin(self, url: str) -> str | None:
        """Shared-window identity of a listener's lines: this worker and the listener; each line
        is then named by its content, so a RELP re-send of a message is counted once (two
        byte-identical messages on one listener count once too)."""
        if self.engine.shared is None:
            return None
        text = f"{self.engine.owner}\x1f{url}"
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:20]

    # ---- the hot path
    def feed(
        self, src: SourceReport, chunk: Chunk, origin: str | None = None, by_content: bool = False
    ) -> None:
        data = chunk.data
        if not data:
            return
        if not src.format:
            src.format = format_of(data)
        src.bytes += len(data)
        src.lines += data.count(b"\n")
        self._since_bytes += len(data)
        base = None if by_content else chunk.offset - len(data)
        parsed, detections = self.detector.feed(data, src.format, origin, base)
        src.parsed += parsed
        self._build(detections)
        self.on_progress(len(data))

    # ---- alerts and commits
    def _build(self, detections: list[Detection]) -> None:
        cap = self.max_alerts_per_rule
        folded: dict[tuple[str, int], list[Detection]] = {}
        for det in detections:
            if cap is not None and self._built[det.rule.id] >= cap:
                folded.setdefault((det.rule.id, det.window_start), []).append(det)
                continue
            self._built[det.rule.id] += 1
            self._add(self.builder.build(det), det.rule.id)
        for (rule_id, _), group in folded.items():
            if len(group) == 1:  # alone in its window: a summary of one would fold nothing
                self._add(self.builder.build(group[0]), rule_id)
                continue
            self.report.folded_by_rule[rule_id] += len(group)
            self._add(summary_alert(self.builder, group, cap or 0), rule_id)

    def _add(self, alert: dict[str, Any], rule_id: str) -> None:
        if self.enricher is not None:
            alert = enrich_alert(alert, self.enricher, warninglisted=self.enrich_warninglisted)
        self._alerts.append((alert, rule_id))

    def _due(self) -> bool:
        return (
            self._since_bytes >= self.commit_bytes
            or time.monotonic() - self._since_time >= self.commit_seconds
        )

    def commit(self, checkpoints: Iterable[Checkpoint | None]) -> None:
        # shared windows first: if the state backend is down this raises and no checkpoint moves
        # (re-reading those lines later adds the same events again, counted once)
        self.engine.sync()
        upserts, deleted, watermark = self.engine.take_changes()
        alerts = self._alerts
        new = self.outbox.commit(
            [a for a, _ in alerts],
            [r for _, r in alerts],
            checkpoints=[c for c in checkpoints if c is not None],
            groups=upserts,
            deleted_groups=deleted,
            watermark=watermark,
        )
        self._alerts = []
        self._since_bytes, self._since_time = 0, time.monotonic()
        for alert, rule in alerts:
            is_new = alert["sourceRef"] in new
            if is_new:
                self.report.new_alerts += 1
                self.report.alerts_by_rule[rule] += 1
                for obs in alert.get("observables", []):
                    self.report.observables_by_type[obs["dataType"]] += 1
            else:
                self.report.already_known += 1
            self.on_alert(alert, is_new)
