"""Parse stage: log formats, their registry and per-file auto-detection.

``PARSERS`` maps a format name to its :class:`~socflow.parse.base.LogFormat`. ``detect_format``
looks at the first lines of a source and picks the format most of them match; ``plain`` is the
fallback that accepts anything.
"""

from __future__ import annotations

from collections.abc import Sequence

from .access import AccessLog
from .base import LogFormat
from .jsonl import JsonLines
from .plain import PlainText
from .syslog import Syslog

PARSERS: dict[str, LogFormat] = {
    fmt.name: fmt for fmt in (AccessLog(), Syslog(), JsonLines(), PlainText())
}
DETECTION_ORDER = ("json", "access", "syslog")
SAMPLE_LINES = 50


def detect_format(lines: Sequence[str]) -> str:
    """The format that at least half of the non-blank sample lines match, else ``plain``."""
    sample = [line for line in lines if line.strip()][:SAMPLE_LINES]
    if not sample:
        return "plain"
    best, best_hits = "plain", 0
    for name in DETECTION_ORDER:
        hits = sum(1 for line in sample if PARSERS[name].detect(line))
        if hits > best_hits:
            best, best_hits = name, hits
    return best if best_hits * 2 >= len(sample) else "plain"


__all__ = ["PARSERS", "LogFormat", "detect_format"]
