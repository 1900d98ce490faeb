"""Extraction over several processes (``socflow extract --jobs N``).

Work units are whole compressed files or stdin, and byte ranges of large plain files (a line
belongs to the range it starts in, so nothing is read twice or lost). The format is detected
once per file in the parent and given to every range of it. Each worker returns its unfiltered
indicators; the parent folds them together, so counts, first/last seen, contexts and samples
are the same as with one process.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass

from .extract import ExtractConfig, ExtractCounters, Extractor
from .extract.extractor import gc_paused
from .extract.extractor import Key
from .models import Ioc
from .parse import PARSERS, detect_format
from .read import ReadStats, open_source, read_batches
from .read.sources import STDIN, decode

MIN_RANGE_BYTES = 8 << 20


@dataclass(frozen=True)
class _Unit:
    path: str
    fmt: str
    byte_range: tuple[int, int] | None


def _units(paths: list[str], config: ExtractConfig, jobs: int, min_range: int) -> list[_Unit]:
    units = []
    for path in paths:
        fmt = config.format if config.format not in (None, "auto") else _detect(path)
        size = os.path.getsize(path) if path != STDIN else 0
        if path == STDIN or _compressed(path) or size < 2 * min_range:
            units.append(_Unit(path, fmt, None))
            continue
        step = max(min_range, size // (jobs * 4))
        units.extend(_Unit(path, fmt, (a, min(a + step, size))) for a in range(0, size, step))
    return units


def _compressed(path: str) -> bool:
    stats = ReadStats(path)
    open_source(path, stats).close()
    return bool(stats.compression)


def _detect(path: str) -> str:
    if path == STDIN:
        return "plain"  # stdin cannot be peeked by the parent without consuming it
    first = next(read_batches(path, ReadStats(path), block_bytes=64 << 10), [])
    return detect_format([decode(x) for x in first[:50]])


def _run_unit(unit: _Unit, config: ExtractConfig) -> tuple[dict[Key, Ioc], ExtractCounters, ReadStats]:
    stats = ReadStats(source=unit.path, format=unit.fmt)
    extractor = Extractor(config)
    fmt = PARSERS[unit.fmt]
    with gc_paused():
        for batch in read_batches(unit.path, stats, max_line_bytes=config.max_line_bytes,
                                  byte_range=unit.byte_range):
            extractor.feed(batch, fmt)
    iocs, counters = extractor.snapshot()
    return iocs, counters, stats


def extract_parallel(
    paths: list[str], config: ExtractConfig, jobs: int,
    progress: Callable[[int], None] | None = None, min_range: int = MIN_RANGE_BYTES,
):  # -> ExtractResult (imported lazily to keep the module graph one-way)
    from .pipeline import ExtractResult

    units = _units(paths, config, jobs, min_range)
    merged = Extractor(config)
    per_source: dict[str, ReadStats] = {p: ReadStats(source=p) for p in paths}
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(_run_unit, unit, config) for unit in units]
        for future in as_completed(futures):
            iocs, counters, stats = future.result()
            merged.absorb(iocs, counters)
            _add_stats(per_source[stats.source], stats)
            if progress:
                progress(stats.bytes)
    return ExtractResult(merged.results(), list(per_source.values()), merged.counters)


def _add_stats(total: ReadStats, part: ReadStats) -> None:
    total.format = part.format
    total.compression = total.compression or part.compression
    for name in ("bytes", "lines", "invalid_utf8", "truncated", "events"):
        setattr(total, name, getattr(total, name) + getattr(part, name))
    total.errors.extend(part.errors)
