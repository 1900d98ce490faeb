"""Blocks of log lines → the rule engine: the detection loop the bridge and the LogIOC analyzer share.

Each block of whole lines is searched once with the joined pre-filters of the rules that apply to
its format (RE2, in C, see ``prefilter.py``); only the lines it hits are decoded, parsed and
handed to the :class:`~socflow.classify.engine.Engine` with just the rules whose pre-filter hit
them. :meth:`Detector.feed` returns the detections whose windows closed (or were evicted) while
the block was read; :meth:`Detector.flush` the rest at the end of the input.
"""

from __future__ import annotations

from hashlib import blake2b

from ..parse import PARSERS, detect_format
from .engine import Detection, Engine
from .prefilter import LineFilter

DETECT_LINES = 50


def format_of(data: bytes) -> str:
    """The log format of a block's first lines (what the bridge detects per file)."""
    head = data[: 64 * 1024].split(b"\n", DETECT_LINES)[:DETECT_LINES]
    return detect_format([line.decode("utf-8", "replace") for line in head])


class Detector:
    def __init__(self, engine: Engine, intel_prefilter: bytes | None = None) -> None:
        self.engine = engine
        self.intel_prefilter = intel_prefilter
        self._filters: dict[str, LineFilter] = {}

    def filter_for(self, fmt: str) -> LineFilter:
        if fmt not in self._filters:
            self._filters[fmt] = LineFilter(self.engine.rules_for(fmt), self.intel_prefilter)
        return self._filters[fmt]

    def observe(self, data: bytes, fmt: str, origin: str | None = None, base: int | None = 0) -> int:
        """Run the rules over a block of whole lines in format ``fmt``; return the lines parsed.

        ``origin`` (the file's identity) and ``base`` (the block's offset in it) name each line
        for shared windows: ``origin:offset`` is the same whenever that line is read again
        (``base`` None: lines without a position, named by a hash of their bytes)."""
        parse = PARSERS[fmt].parse
        observe = self.engine.observe
        parsed = 0
        if origin is not None and self.engine.shared is not None:
            for start, end, rules in self.filter_for(fmt).hits(data):
                raw = data[start:end]
                where = base + start if base is not None else blake2b(raw, digest_size=10).hexdigest()
                observe(parse(raw.decode("utf-8", "replace").rstrip("\r")), rules, f"{origin}:{where}")
                parsed += 1
            return parsed
        for start, end, rules in self.filter_for(fmt).hits(data):
            observe(parse(data[start:end].decode("utf-8", "replace").rstrip("\r")), rules)
            parsed += 1
        return parsed

    def closed(self) -> list[Detection]:
        """Detections whose window closed, or that were closed early to bound memory."""
        return self.engine.close() + self.engine.take_evicted()

    def feed(
        self, data: bytes, fmt: str, origin: str | None = None, base: int | None = 0
    ) -> tuple[int, list[Detection]]:
        """:meth:`observe` then :meth:`closed`: (lines parsed, detections ready)."""
        parsed = self.observe(data, fmt, origin, base)
        return parsed, self.closed()

    def flush(self) -> list[Detection]:
        """End of input: every group over its threshold becomes a detection."""
        return self.engine.flush() + self.engine.take_evicted()
