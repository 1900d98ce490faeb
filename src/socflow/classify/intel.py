"""Where the ``intel: true`` rules learn that an indicator is known bad.

* :class:`FeedIntel` — local feed files, one indicator per line (``#`` comments, blank lines and a
  trailing ``,comment`` ignored; values compared case-insensitively). Its values also give the
  line pre-filter, so only lines that contain a listed value are parsed.
* :class:`EnrichmentIntel` — asks an enricher (the intel layer) and calls an indicator bad when a
  verdict reaches ``min_level``; answers are remembered for the run (bounded).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol

from ..errors import ConfigError, SocflowError
from ..models import IocType, Level, Verdict

MAX_PREFILTER_VALUES = 20_000


class Enricher(Protocol):
    def verdicts(self, ioc_type: IocType, value: str) -> list[Verdict]: ...


class FeedIntel:
    def __init__(self, paths: Iterable[str | Path]) -> None:
        self.values: set[str] = set()
        for path in paths:
            try:
                text = Path(path).read_text(encoding="utf-8", errors="replace")
            except OSError as exc:
                raise ConfigError(
                    f"{path}: cannot read intel feed: {exc.strerror or exc}"
                ) from None
            for line in text.splitlines():
                value = line.split("#", 1)[0].split(",", 1)[0].strip().lower()
                if value:
                    self.values.add(value)

    def is_bad(self, ioc_type: IocType, value: str) -> bool:
        return value.lower() in self.values

    def prefilter(self) -> bytes | None:
        """An RE2 alternation of the listed values (None when the feed is empty or huge)."""
        if not self.values or len(self.values) > MAX_PREFILTER_VALUES:
            return None
        return b"|".join(
            sorted((re.escape(v).encode() for v in self.values), key=len, reverse=True)
        )


class EnrichmentIntel:
    def __init__(
        self,
        enricher: Enricher,
        *,
        min_level: Level = Level.MALICIOUS,
        memory: int = 50_000,
        skip: Callable[[IocType, str], bool] | None = None,
    ) -> None:
        self.enricher, self.min_level, self.memory = enricher, min_level, memory
        self.skip = skip  # e.g. values on a MISP warning list: never looked up, never "bad"
        self._seen: OrderedDict[tuple[IocType, str], bool] = OrderedDict()
        self.errors = 0

    def is_bad(self, ioc_type: IocType, value: str) -> bool:
        key = (ioc_type, value.lower())
        if key in self._seen:
            return self._seen[key]
        if self.skip is not None and self.skip(ioc_type, value):
            self._seen[key] = False
            return False
        try:
            verdicts = self.enricher.verdicts(ioc_type, value)
        except SocflowError:
            self.errors += (
                1  # quota, outage: not known bad *now*; not remembered, asked again later
            )
            return False
        bad = any(v.level.rank >= self.min_level.rank for v in verdicts)
        self._seen[key] = bad
        if len(self._seen) > self.memory:
            self._seen.popitem(last=False)
        return bad

    def prefilter(self) -> bytes | None:
        return None  # any line may hold an indicator worth asking about


class AnyIntel:
    """Bad if any source says so; the pre-filter exists only if every source has one."""

    def __init__(self, sources: list[FeedIntel | EnrichmentIntel]) -> None:
        self.sources = sources

    def is_bad(self, ioc_type: IocType, value: str) -> bool:
        return any(s.is_bad(ioc_type, value) for s in self.sources)

    def prefilter(self) -> bytes | None:
        patterns = [s.prefilter() for s in self.sources]
        if not patterns or any(p is None for p in patterns):
            return None
        return b"|".join(p for p in patterns if p)
