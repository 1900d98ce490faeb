"""Which lines of a batch hold a needle, decided by searching the joined batch (C substring
search) instead of testing every line in Python."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from itertools import accumulate

from ..native import NATIVE

# socflow._native.lines_with: the same answer without a Python step per occurrence.
_native_lines_with = NATIVE.lines_with if NATIVE else None


def lines_with(lines: list[bytes], blob: bytes, needles: tuple[bytes, ...]) -> list[int]:
    """Sorted indexes of the lines (``blob``: them joined by newlines) holding any needle."""
    if _native_lines_with is not None:
        return _native_lines_with(blob, needles)
    return lines_with_python(lines, blob, needles)


def lines_with_python(lines: list[bytes], blob: bytes, needles: tuple[bytes, ...]) -> list[int]:
    return lines_at(lines, find_all(blob, needles))


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
