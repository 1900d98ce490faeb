"""Wire the stages for adapters: read → parse (detect) → extract. No I/O of its own beyond
what the read stage does for the paths it is given."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError
from .extract import ExtractConfig, ExtractCounters, Extractor
from .extract.extractor import gc_paused
from .models import Ioc
from .parse import PARSERS, LogFormat, detect_format
from .read import ReadStats, expand_paths, read_batches
from .read.sources import decode

ProgressCallback = Callable[[int], None]  # called with bytes read since the last call
# Called with each batch of lines (newlines removed, untouched) and its format, before the
# extractor sees it: how the LogIOC analyzer runs the rule engine over the same single read.
BatchObserver = Callable[[list[bytes], LogFormat], None]


@dataclass
class ExtractResult:
    iocs: list[Ioc]
    stats: list[ReadStats]
    counters: ExtractCounters = field(default_factory=ExtractCounters)

    def to_dict(self, include_iocs: bool = True) -> dict[str, Any]:
        by_type: dict[str, list[Ioc]] = {}
        for ioc in self.iocs:
            by_type.setdefault(ioc.type.value, []).append(ioc)
        doc: dict[str, Any] = {}
        if include_iocs:
            doc["iocs"] = {kind: [i.to_dict() for i in items] for kind, items in by_type.items()}
        doc.update(
            totals={kind: len(items) for kind, items in by_type.items()},
            sources=[s.to_dict() for s in self.stats],
            not_reported=self.counters.to_dict(),
        )
        return doc


def resolve_format(name: str | None) -> LogFormat | None:
    if name is None or name == "auto":
        return None
    try:
        return PARSERS[name]
    except KeyError:
        raise ConfigError(
            f"unknown log format {name!r}; choose one of: auto, {', '.join(PARSERS)}"
        ) from None


def _formatted_batches(
    path: str, stats: ReadStats, config: ExtractConfig
) -> tuple[LogFormat, Iterator[list[bytes]]]:
    """Batches of ``path`` and the format of its first lines (or the forced one)."""
    batches = read_batches(path, stats, max_line_bytes=config.max_line_bytes)
    return _detected(batches, stats, config)


def _detected(
    batches: Iterator[list[bytes]], stats: ReadStats, config: ExtractConfig
) -> tuple[LogFormat, Iterator[list[bytes]]]:
    first = next(batches, [])
    fmt = resolve_format(config.format) or PARSERS[detect_format([decode(x) for x in first[:50]])]
    stats.format = fmt.name

    def chained() -> Iterator[list[bytes]]:
        if first:
            yield first
        yield from batches

    return fmt, chained()


def extract_paths(
    paths: Sequence[str],
    config: ExtractConfig | None = None,
    progress: ProgressCallback | None = None,
    jobs: int = 1,
    observer: BatchObserver | None = None,
) -> ExtractResult:
    """Indicators from files, globs, directories and ``-`` (stdin), streamed.

    ``jobs`` > 1 spreads the work over that many processes (see :mod:`socflow.parallel`);
    ``observer`` (one process only) sees every batch too.
    """
    config = config or ExtractConfig()
    resolve_format(config.format)
    if jobs > 1 and observer is not None:
        raise ValueError("a batch observer needs jobs=1")
    if jobs > 1:
        from .parallel import extract_parallel

        return extract_parallel(expand_paths(paths), config, jobs, progress)
    extractor = Extractor(config)
    all_stats: list[ReadStats] = []
    with gc_paused():
        try:
            for path in expand_paths(paths):
                stats = ReadStats(source=path)
                all_stats.append(stats)
                fmt, batches = _formatted_batches(path, stats, config)
                seen = 0
                for batch in batches:
                    if observer is not None:
                        observer(batch, fmt)
                    extractor.feed(batch, fmt)
                    if progress:
                        progress(stats.bytes - seen)
                        seen = stats.bytes
                extractor.end_source()
        except KeyboardInterrupt as exc:  # Ctrl-C: what was found so far travels with it
            exc.partial = ExtractResult(extractor.results(), all_stats, extractor.counters)  # type: ignore[attr-defined]
            raise
        return ExtractResult(extractor.results(), all_stats, extractor.counters)


def extract_text(
    text: str, config: ExtractConfig | None = None, observer: BatchObserver | None = None
) -> ExtractResult:
    """Indicators from a pasted text (an analyst's note, a log excerpt)."""
    config = config or ExtractConfig()
    data = text.encode("utf-8", "surrogateescape")
    lines = data.split(b"\n")
    stats = ReadStats(source="<text>", bytes=len(data), lines=len(lines))
    fmt = resolve_format(config.format) or PARSERS[detect_format([decode(x) for x in lines[:50]])]
    stats.format = fmt.name
    cap = config.max_line_bytes
    for i, line in enumerate(lines):
        if len(line) > cap:
            lines[i] = line[:cap]
            stats.truncated += 1
    extractor = Extractor(config)
    if observer is not None:
        observer(lines, fmt)
    with gc_paused():
        extractor.feed(lines, fmt)
    return ExtractResult(extractor.results(), [stats], extractor.counters)
