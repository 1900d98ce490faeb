"""Aggregate indicators over a stream of line batches.

Per line the hot path is: split into tokens (C), drop tokens already known to hold nothing
(a bounded set, C), classify the few new tokens (cached), and count each indicator once per line.
Timestamps, contexts of positional fields and sample lines are only computed for the lines where
an indicator is first seen (and, for last seen, once per source), so their cost follows the
number of distinct indicators, not the number of lines.
"""

from __future__ import annotations

import gc
import re
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

from ..models import Ioc, IocType, IpClass
from ..native import NATIVE
from ..parse.base import LogFormat
from ..read.positions import lines_with
from ..read.sources import decode
from .config import ExtractConfig
from .refang import refang_lines
from .tokens import HASH_PARAMETERS, QUERY_STRING, Found, classify_token, tokens_of
from .validate import FILE_LIKE_TLDS, OBJECT_ROOTS, classify_ip, icann_tlds

# The per-line loop and the version-word test in C when the extension is there (same results).
_native_scan = NATIVE.scan_lines if NATIVE else None
_native_after_version_word = NATIVE.after_version_word if NATIVE else None
_native_count_findings = getattr(NATIVE, "count_findings", None)  # (an older build lacks it)

Key = tuple[IocType, str]
SAMPLE_CHARS = 512  # a sample line is for the eye; longer ones are cut
HUGE_LINE = 64 * 1024  # bytes; see Extractor._resolve_tokens
_CACHE_LIMIT = 100_000  # distinct tokens remembered (noise and hits each); bounded memory
_IP_TYPES = (IocType.IPV4, IocType.IPV6)
_HOST_TYPES = frozenset({IocType.IPV4, IocType.IPV6, IocType.DOMAIN, IocType.URL, IocType.MAIL})
JSON_KEY = "json-key"  # the context LogFormat.context_of gives a JSON object's key
_TIME_CHARS = b"0123456789-:.TZ+"
# What the C loop classifies itself, in the order it expects.
_NATIVE_KINDS = (IocType.IPV4, IocType.MD5, IocType.SHA1, IocType.SHA256, IocType.DOMAIN)


@dataclass
class ExtractCounters:
    """Indicators seen but not reported, by reason (nothing is dropped silently)."""

    excluded_private: int = 0
    excluded_allowlist: int = 0
    excluded_type: int = 0
    query_string_hashes: int = 0
    dropped_over_limit: int = 0  # sightings (indicator per batch) past ``max_iocs``

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class _Batch:
    counts: dict[Key, int] = field(default_factory=dict)
    first: dict[Key, int] = field(default_factory=dict)
    last: dict[Key, int] = field(default_factory=dict)
    contexts: dict[tuple[Key, str], int] = field(default_factory=dict)
    # token -> [count, first line, last line, what it holds]
    tokens: dict[bytes, list] = field(default_factory=dict)
    dropped: set[Key] = field(default_factory=set)  # untracked indicators seen past max_iocs


def count_findings_py(indices: list[int], lines: list[bytes],
                      findings: Callable[[bytes], list[tuple[IocType, str, str]]],
                      counted: set[tuple[IocType, str]], counts: dict[tuple[IocType, str], int],
                      firsts: dict[tuple[IocType, str], int], lasts: dict[tuple[IocType, str], int],
                      ) -> list[tuple[IocType, str, str]]:
    """Each line's findings counted once per line into counts/firsts/lasts, but for the
    (kind, value) pairs in ``counted``; every finding returned in order. The twin of
    ``_native.count_findings``."""
    every: list[tuple[IocType, str, str]] = []
    for idx in indices:
        found = findings(lines[idx])
        every += found
        for kind, value, _ in found:
            key = (kind, value)
            if key in counted:
                continue
            seen = counts.get(key)
            if seen is None:
                counts[key], firsts[key], lasts[key] = 1, idx, idx
            elif lasts[key] != idx:
                counts[key], lasts[key] = seen + 1, idx
    return every


class Extractor:
    """Feed it batches of byte lines with their format; ask for ``results()`` at the end."""

    def __init__(self, config: ExtractConfig | None = None, *, native: bool = True) -> None:
        self.config = config or ExtractConfig()
        self.native = native  # False: the pure-Python loop (tests compare the two)
        self._iocs: dict[Key, Ioc] = {}
        self._noise: set[bytes] = set()
        self._hits: dict[bytes, tuple[Found, ...]] = {}
        self._pending_last: dict[Key, tuple[bytes, LogFormat]] = {}
        self.counters = ExtractCounters()

    # -- hot path --------------------------------------------------------------------------
    def feed(self, lines: list[bytes], fmt: LogFormat) -> None:
        blob = b"\n".join(lines)
        prepared = fmt.prepare(lines, blob)
        refanged = refang_lines(prepared, blob if prepared is lines else b"\n".join(prepared))
        if refanged is not lines:
            lines, blob = refanged, b"\n".join(refanged)
        batch = _Batch()
        self._scan_lines(lines, batch)
        self._resolve_tokens(batch, lines, fmt)
        if fmt.finding_triggers:
            self._count_findings(lines, blob, fmt, batch)
        self._merge(batch, lines, fmt)

    def _scan_lines(self, lines: list[bytes], batch: _Batch) -> None:
        """Per line: distinct tokens not known as noise; remember where hit tokens are."""
        if _native_scan is not None and self.native:
            _native_scan(lines, self._noise, self._hits, batch.tokens, self._classify,
                         _NATIVE_KINDS, _domain_tlds(), HASH_PARAMETERS, QUERY_STRING,
                         _CACHE_LIMIT, OBJECT_ROOTS)
            return
        noise, hits, seen = self._noise, self._hits, batch.tokens
        classify = self._classify
        for idx, line in enumerate(lines):
            # A new set minus noise walks the few tokens of the line ("-=" would walk noise).
            for token in {*tokens_of(line)} - noise:
                record = seen.get(token)
                if record is not None:
                    record[0] += 1
                    record[2] = idx
                elif token in hits:
                    seen[token] = [1, idx, idx, hits[token]]
                elif token.isdigit() or (
                    b"-" in token and b":" in token and not token.translate(None, _TIME_CHARS)
                ):
                    continue  # ports, pids, sizes, ISO timestamps: unique, not worth caching
                elif (
                    # Inline filter for tokens that cannot hold an indicator (numbers, clock
                    # times, words): no classifier call, straight into the noise set.
                    len(token) < 32
                    and b"." not in token
                    and b"@" not in token
                    and b"%" not in token
                    and b"-" not in token
                    and b"_" not in token  # CVE_2024_21887 (Emerging Threats spelling)
                    and not (b"::" in token or token.count(b":") >= 7)  # could be IPv6
                ):
                    if len(noise) >= _CACHE_LIMIT:
                        noise.clear()
                    noise.add(token)
                elif found := classify(token):
                    seen[token] = [1, idx, idx, found]

    def _resolve_tokens(self, batch: _Batch, lines: list[bytes], fmt: LogFormat) -> None:
        """Turn the batch's hit tokens into indicator counts; the context of a token is taken
        from the line where it first appears in the batch (positional formats only).

        Both the context and the version-word test look for the token in its line, so on a huge
        line (over ``HUGE_LINE`` bytes, with thousands of indicators) they would cost time
        quadratic in the line's length: such a line gets the format's default context and no
        version-word test.

        Once ``max_iocs`` indicators are tracked, a token holding only untracked indicators
        cannot be reported: its sightings are counted as dropped, with no further bookkeeping."""
        positional = type(fmt).context_of is not LogFormat.context_of
        iocs, full = self._iocs, len(self._iocs) >= self.config.max_iocs
        version_word = (
            _native_after_version_word if self.native and _native_after_version_word
            else _after_version_word
        )
        # Inlined (no method calls, no generators): this loop runs once per token and batch.
        skip_query_strings = not self.config.hashes_in_query_strings
        query_string_hashes = 0
        counts, firsts, lasts, contexts = batch.counts, batch.first, batch.last, batch.contexts
        for token, (count, first, last, found) in batch.tokens.items():
            line = lines[first]
            huge = len(line) > HUGE_LINE
            if huge or not positional:
                context = fmt.default_context
            else:
                context = fmt.context_of(line, token)
                if context is None:
                    continue
            if context == JSON_KEY:
                # A JSON key is read for hosts only ("www.example.com": {...}, "10.0.0.1:80")
                found = tuple(f for f in found if f[0] in _HOST_TYPES)
                if not found:
                    continue
            if found[0][0] is IocType.IPV4 and not huge and version_word(line, token):
                continue
            if full:
                for kind, value, _ in found:
                    if (kind, value) in iocs:
                        break
                else:  # nothing here is tracked
                    for kind, value, qualifier in found:
                        if qualifier == QUERY_STRING and skip_query_strings:
                            query_string_hashes += count
                        else:
                            batch.dropped.add((kind, value))
                    continue
            for kind, value, qualifier in found:
                if qualifier == QUERY_STRING and skip_query_strings:
                    query_string_hashes += count
                    continue
                key = (kind, value)
                pair = (key, qualifier or context)
                contexts[pair] = contexts.get(pair, 0) + count
                seen = counts.get(key)
                if seen is None:
                    counts[key], firsts[key], lasts[key] = count, first, last
                else:
                    counts[key] = seen + count
                    if first < firsts[key]:
                        firsts[key] = first
                    if last > lasts[key]:
                        lasts[key] = last
        self.counters.query_string_hashes += query_string_hashes

    def _classify(self, token: bytes) -> tuple[Found, ...]:
        found = classify_token(token)
        store = self._hits if found else self._noise
        if len(store) >= _CACHE_LIMIT:
            store.clear()
        if found:
            self._hits[token] = found
        else:
            self._noise.add(token)
        return found

    def _count_findings(self, lines: list[bytes], blob: bytes, fmt: LogFormat, batch: _Batch) -> None:
        """Count the indicators only the format knows (failed-login usernames and sources) once
        per line; an address the token scan already counted only gains the context."""
        counted_by_scan = set(batch.counts)
        counts, firsts, lasts, contexts = batch.counts, batch.first, batch.last, batch.contexts
        indices = lines_with(lines, blob, fmt.finding_triggers)  # ascending
        if _native_count_findings is not None and self.native:
            every = _native_count_findings(indices, lines, fmt.findings, counted_by_scan,
                                           counts, firsts, lasts)
        else:
            every = count_findings_py(indices, lines, fmt.findings, counted_by_scan,
                                      counts, firsts, lasts)
        # Contexts counted in C, in order of first sight as the loop above would add them
        for (kind, value, context), seen in Counter(every).items():
            pair = ((kind, value), context)
            contexts[pair] = contexts.get(pair, 0) + seen

    # -- per batch -------------------------------------------------------------------------
    def _merge(self, batch: _Batch, lines: list[bytes], fmt: LogFormat) -> None:
        """Fold the batch into the running indicators. Timestamps are parsed when an indicator
        is new (first seen) and, for last seen, once per source in ``end_source``."""
        max_samples = self.config.max_samples
        pending = self._pending_last
        times: dict[int, datetime | None] = {}  # several new indicators often share a line
        for key, count in batch.counts.items():
            ioc = self._iocs.get(key)
            if ioc is None:
                if len(self._iocs) >= self.config.max_iocs:
                    self.counters.dropped_over_limit += 1
                    continue
                ioc = self._iocs[key] = Ioc(type=key[0], value=key[1])
            if key not in pending:  # first time in this source: its first line may be earliest
                first = batch.first[key]
                if first not in times:
                    times[first] = fmt.timestamp(decode(lines[first]))
                self._see(ioc, times[first])
            ioc.count += count
            pending[key] = (lines[batch.last[key]], fmt)
            if len(ioc.samples) < max_samples:
                # Decode only what the sample keeps: a long line holding many indicators
                # must not be decoded once per indicator.
                sample = decode(lines[batch.first[key]][: SAMPLE_CHARS * 4])[:SAMPLE_CHARS]
                if sample not in ioc.samples:
                    ioc.samples.append(sample)
        for (key, context), seen in batch.contexts.items():
            ioc = self._iocs.get(key)
            if ioc is not None:
                ioc.contexts[context] = ioc.contexts.get(context, 0) + seen
        self.counters.dropped_over_limit += len(batch.dropped.difference(batch.counts))

    def end_source(self) -> None:
        """Settle last-seen times of the source just read (one timestamp parse per line that
        is some indicator's last)."""
        times: dict[int, datetime | None] = {}  # by id(): indicators often share their last line
        for key, (line, fmt) in self._pending_last.items():
            ioc = self._iocs.get(key)
            if ioc is not None:
                if id(line) not in times:
                    times[id(line)] = fmt.timestamp(decode(line))
                self._see(ioc, times[id(line)])
        self._pending_last.clear()

    @staticmethod
    def _see(ioc: Ioc, ts: datetime | None) -> None:
        if ts is None:
            return
        if ioc.first_seen is None or ts < ioc.first_seen:
            ioc.first_seen = ts
        if ioc.last_seen is None or ts > ioc.last_seen:
            ioc.last_seen = ts

    # -- parallel runs ---------------------------------------------------------------------
    def snapshot(self) -> tuple[dict[Key, Ioc], ExtractCounters]:
        """Everything seen so far (unfiltered), to be absorbed by another extractor."""
        self.end_source()
        return self._iocs, self.counters

    def absorb(self, iocs: dict[Key, Ioc], counters: ExtractCounters) -> None:
        """Fold in what a worker process saw (counts add up, times widen, samples fill up)."""
        for field_name, value in counters.to_dict().items():
            setattr(self.counters, field_name, getattr(self.counters, field_name) + value)
        for key, theirs in iocs.items():
            mine = self._iocs.get(key)
            if mine is None:
                if len(self._iocs) >= self.config.max_iocs:
                    self.counters.dropped_over_limit += 1
                else:
                    self._iocs[key] = theirs
                continue
            mine.count += theirs.count
            for ts in (theirs.first_seen, theirs.last_seen):
                self._see(mine, ts)
            for context, seen in theirs.contexts.items():
                mine.contexts[context] = mine.contexts.get(context, 0) + seen
            room = self.config.max_samples - len(mine.samples)
            mine.samples.extend([x for x in theirs.samples if x not in mine.samples][:max(room, 0)])

    # -- results ---------------------------------------------------------------------------
    def results(self) -> list[Ioc]:
        """Indicators kept by the configuration, most frequent first."""
        self.end_source()
        kept = [ioc for ioc in self._iocs.values() if self._keep(ioc)]
        kept.sort(key=lambda i: (-i.count, i.type.value, i.value))
        return kept

    def _keep(self, ioc: Ioc) -> bool:
        cfg = self.config
        if ioc.type in _IP_TYPES:
            ioc.ip_class = classify_ip(ioc.value)
        if ioc.type not in cfg.types:
            self.counters.excluded_type += 1
            return False
        if ioc.type in _IP_TYPES:
            if ioc.ip_class is not IpClass.PUBLIC and not cfg.include_private:
                self.counters.excluded_private += 1
                return False
            if cfg.allowed_networks and _in_networks(ioc.value, cfg):
                self.counters.excluded_allowlist += 1
                return False
        elif cfg.allowed_domains and _allowlisted_name(ioc, cfg.allowed_domains):
            self.counters.excluded_allowlist += 1
            return False
        return True


@contextmanager
def gc_paused() -> Iterator[None]:
    """Run an extraction with the cyclic garbage collector off; its state is restored after.

    Every batch allocates ~10^5 containers (token records, classifications) next to large
    long-lived caches, and the collector kept walking them: ~13 % of a run at the default
    threshold, still ~7 % at a 100k-allocation one (perf). Extraction builds no reference
    cycles (a test checks that it leaves nothing for the collector), so reference counting
    frees everything as before. Wrap a whole run, not one batch: the pass due after each
    batch would walk all the batch allocated."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@lru_cache(maxsize=1)
def _domain_tlds() -> frozenset[str]:
    """Top-level labels that make a bare name a domain (what ``is_domain`` accepts)."""
    return frozenset(icann_tlds() - FILE_LIKE_TLDS)


# A version word right before the token: "version 4.12.0.3", swVersion="…", "build is 7.1.2.15",
# "fw 1.0.0.2". Short words must stand alone, so "server", "resolver" and "via" do not count.
_VERSION_WORD = re.compile(
    rb"(?:(?i:version|build|release|firmware)[\w-]{0,12}|(?<![A-Za-z])(?i:ver|fw|v)"
    rb"|(?<=[a-z])(?:Version|Build|Release))(?:\s+(?:is|was))?[\s=:\"']{0,3}$"
)


def _after_version_word(line: bytes, token: bytes) -> bool:
    """``version 4.12.0.3``, ``swVersion="4.12.0.3"``: a dotted quad that is a version number."""
    pos = line.find(token)
    return pos > 0 and _VERSION_WORD.search(line, max(pos - 32, 0), pos) is not None


def _in_networks(value: str, cfg: ExtractConfig) -> bool:
    import ipaddress

    ip = ipaddress.ip_address(value)
    return any(ip.version == net.version and ip in net for net in cfg.allowed_networks)


def _allowlisted_name(ioc: Ioc, domains: tuple[str, ...]) -> bool:
    if ioc.type is IocType.DOMAIN:
        host = ioc.value
    elif ioc.type is IocType.MAIL:
        host = ioc.value.rpartition("@")[2]
    elif ioc.type is IocType.URL:
        from urllib.parse import urlsplit

        try:
            host = (urlsplit(ioc.value).hostname or "").lower()
        except ValueError:
            return False
    else:
        return False
    return any(host == d or host.endswith("." + d) for d in domains)
