"""Which lines of a batch hold a needle, decided with C substring search on the joined batch
instead of a Python-level test on every line."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from itertools import accumulate


def find_all(blob: bytes, needles: Iterable[bytes]) -> list[int]:
    """Start offsets of every occurrence of every needle in ``blob``."""
    positions = []
    for needle in needles:
        pos = blob.find(needle)
        while pos >= 0:
            positions.append(pos)
            pos = blob.find(needle, pos + 1)
    return positions


def lines_at(lines: list[bytes], positions: Iterable[int]) -> list[int]:
    """Sorted indexes of the lines (joined by single newlines) containing these offsets."""
    ends = list(accumulate(len(line) + 1 for line in lines))
    return sorted({bisect_right(ends, pos) for pos in positions})
