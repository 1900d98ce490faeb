"""Which lines of a block can interest which rules — decided without parsing them.

Every rule may carry a ``prefilter`` regex (RE2 syntax, matched case-insensitively against the
raw line). All prefilters of the rules that apply to a log format are joined into one RE2
pattern; RE2 runs a DFA over the whole block in C, so the cost hardly grows with the number of
rules (Python's backtracking ``re`` slows down with every alternative). Only the lines it hits are
then tested rule by rule. Rules without a prefilter see every line (the slow path).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import re2

if TYPE_CHECKING:
    from .rules import Rule

Hit = tuple[int, int, "list[Rule]"]


def options() -> re2.Options:
    opts = re2.Options()
    opts.log_errors = False  # RE2 would print parse errors to stderr; we raise them instead
    opts.case_sensitive = False
    opts.max_mem = 64 << 20
    return opts


def compile_pattern(pattern: str | bytes) -> re2._Regexp:
    """Compile for prefiltering; raises ValueError with RE2's reason."""
    raw = pattern.encode() if isinstance(pattern, str) else pattern
    try:
        return re2.compile(raw, options())
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise ValueError(f"prefilter is not a valid RE2 pattern: {reason}") from None


class LineFilter:
    """Built once per log format from the rules that apply to it (and the intel pre-filter).

    ``combined`` (one RE2 alternation) finds the next interesting line; ``which`` (an RE2 set of
    the same patterns) then says in one call which rules' pre-filters that line matches.
    """

    def __init__(self, rules: Sequence[Rule], intel_pattern: bytes | None = None) -> None:
        self.always: list[Rule] = []
        self.filtered: list[Rule] = []
        patterns: list[bytes] = []
        for rule in rules:
            pattern = rule.prefilter_source
            if pattern is None and rule.indicators and rule.indicators.intel:
                pattern = intel_pattern
            if pattern is None:
                self.always.append(rule)
            else:
                compile_pattern(pattern)  # a clear error for a bad one, before joining
                self.filtered.append(rule)
                patterns.append(pattern)
        self.combined = None
        self.which = re2.Set.SearchSet(options())
        if patterns:
            self.combined = compile_pattern(b"|".join(b"(?:" + p + b")" for p in patterns))
            for pattern in patterns:
                self.which.Add(pattern)
            self.which.Compile()

    def rules_of(self, line: bytes) -> list[Rule]:
        """The filtered rules whose pre-filter ``line`` matches, in rule order."""
        if not self.filtered:
            return []
        # RE2's Set.Match answers None, not an empty list, when no pattern matches.
        return [self.filtered[i] for i in sorted(self.which.Match(line) or ())]

    def hits(self, data: bytes) -> list[Hit]:
        """(start, end, rules) of the lines of ``data`` worth parsing, in order."""
        if self.always:
            return self._every_line(data)
        if self.combined is None:
            return []
        out: list[Hit] = []
        search, rfind, find = self.combined.search, data.rfind, data.find
        single = self.filtered if len(self.filtered) == 1 else None
        pos = 0
        while True:
            m = search(data, pos)
            if m is None:
                return out
            start = rfind(b"\n", 0, m.start()) + 1
            end = find(b"\n", m.end())
            if end < 0:
                end = len(data)
            rules = single or self.rules_of(data[start:end])
            if rules:
                out.append((start, end, rules))
            pos = end + 1

    def _every_line(self, data: bytes) -> list[Hit]:
        out: list[Hit] = []
        start, size = 0, len(data)
        while start < size:
            end = data.find(b"\n", start)
            end = size if end < 0 else end
            if end > start:
                out.append((start, end, self.always + self.rules_of(data[start:end])))
            start = end + 1
        return out
