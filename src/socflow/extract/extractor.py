"""Aggregate indicators over a stream of line batches.

Per line the hot path is: split into tokens (C), drop tokens already known to hold nothing
(a bounded set, C), classify the few new tokens (cached), and count each indicator once per line.
Timestamps, contexts of positional fields and sample lines are only computed for the lines where
an indicator is first or last seen in a batch, so their cost follows the number of distinct
indicators, not the number of lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ..models import Ioc, IocType, IpClass
from ..parse.base import LogFormat
from ..read.sources import decode
from .config import ExtractConfig
from .refang import needs_refang, refang
from .tokens import DELIMITER_TABLE, QUERY_STRING, Found, classify_token
from .validate import classify_ip

Key = tuple[IocType, str]
_CACHE_LIMIT = 200_000  # distinct tokens remembered (noise and hits each); bounded memory
_IP_TYPES = (IocType.IPV4, IocType.IPV6)


@dataclass
class ExtractCounters:
    """Indicators seen but not reported, by reason (nothing is dropped silently)."""

    excluded_private: int = 0
    excluded_allowlist: int = 0
    excluded_type: int = 0
    query_string_hashes: int = 0
    dropped_over_limit: int = 0

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class _Batch:
    counts: dict[Key, int] = field(default_factory=dict)
    first: dict[Key, int] = field(default_factory=dict)
    last: dict[Key, int] = field(default_factory=dict)
    contexts: dict[tuple[Key, str], int] = field(default_factory=dict)


class Extractor:
    """Feed it batches of byte lines with their format; ask for ``results()`` at the end."""

    def __init__(self, config: ExtractConfig | None = None) -> None:
        self.config = config or ExtractConfig()
        self._iocs: dict[Key, Ioc] = {}
        self._noise: set[bytes] = set()
        self._hits: dict[bytes, tuple[Found, ...]] = {}
        self.counters = ExtractCounters()

    # -- hot path --------------------------------------------------------------------------
    def feed(self, lines: list[bytes], fmt: LogFormat) -> None:
        if needs_refang(b"\n".join(lines)):
            lines = [refang(line) if needs_refang(line) else line for line in lines]
        batch = _Batch()
        triggers = fmt.finding_triggers
        whole_line = type(fmt).segments is LogFormat.segments
        positional = type(fmt).context_of is not LogFormat.context_of
        for idx, line in enumerate(lines):
            if whole_line:
                self._scan(line, idx, fmt.default_context, line if positional else None, fmt, batch)
            else:
                for text, context in fmt.segments(line) or ():
                    self._scan(text, idx, context, None, fmt, batch)
            if triggers and any(t in line for t in triggers):
                for kind, value, context in fmt.findings(line):
                    self._count((kind, value), context, idx, batch)
        self._merge(batch, lines, fmt)

    def _scan(
        self, text: bytes, idx: int, context: str, line: bytes | None, fmt: LogFormat,
        batch: _Batch,
    ) -> None:
        tokens = set(text.translate(DELIMITER_TABLE).split())
        tokens -= self._noise
        for token in tokens:
            found = self._hits.get(token)
            if found is None:
                found = self._classify(token)
                if not found:
                    continue
            ctx = fmt.context_of(line, token) if line is not None else context
            for kind, value, qualifier in found:
                if qualifier == QUERY_STRING and not self.config.hashes_in_query_strings:
                    self.counters.query_string_hashes += 1
                    continue
                self._count((kind, value), qualifier or ctx, idx, batch)

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

    @staticmethod
    def _count(key: Key, context: str, idx: int, batch: _Batch) -> None:
        contexts = batch.contexts
        pair = (key, context)
        contexts[pair] = contexts.get(pair, 0) + 1
        last = batch.last.get(key)
        if last == idx:  # an indicator counts once per line
            return
        if last is None:
            batch.first[key] = idx
            batch.counts[key] = 1
        else:
            batch.counts[key] += 1
        batch.last[key] = idx

    # -- per batch -------------------------------------------------------------------------
    def _merge(self, batch: _Batch, lines: list[bytes], fmt: LogFormat) -> None:
        times: dict[int, datetime | None] = {}

        def time_of(idx: int) -> datetime | None:
            if idx not in times:
                times[idx] = fmt.timestamp(decode(lines[idx]))
            return times[idx]

        max_samples = self.config.max_samples
        for key, count in batch.counts.items():
            ioc = self._iocs.get(key)
            if ioc is None:
                if len(self._iocs) >= self.config.max_iocs:
                    self.counters.dropped_over_limit += 1
                    continue
                ioc = self._iocs[key] = Ioc(type=key[0], value=key[1])
            ioc.count += count
            first, last = time_of(batch.first[key]), time_of(batch.last[key])
            for ts in (first, last):
                if ts is not None:
                    if ioc.first_seen is None or ts < ioc.first_seen:
                        ioc.first_seen = ts
                    if ioc.last_seen is None or ts > ioc.last_seen:
                        ioc.last_seen = ts
            if len(ioc.samples) < max_samples:
                sample = decode(lines[batch.first[key]])[:2048]
                if sample not in ioc.samples:
                    ioc.samples.append(sample)
        for (key, context), seen in batch.contexts.items():
            ioc = self._iocs.get(key)
            if ioc is not None:
                ioc.contexts[context] = ioc.contexts.get(context, 0) + seen

    # -- results ---------------------------------------------------------------------------
    def results(self) -> list[Ioc]:
        """Indicators kept by the configuration, most frequent first."""
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
