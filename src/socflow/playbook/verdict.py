"""Analyzer taxonomies → one verdict, with an analyst-tunable level remapping.

Each analyzer report carries taxonomies ``{level, namespace, predicate, value}`` (levels ``info``,
``safe``, ``suspicious``, ``malicious``). The remapping table says, per analyzer name, what one of
its levels counts as here — e.g. ``Socflow_MailAnalysis: {malicious: suspicious}`` — with ``"*"``
for every analyzer and ``Analyzer/Predicate`` for one finding of one analyzer
(``Socflow_MailAnalysis/DMARC: {malicious: suspicious}``). An observable's verdict is the highest level given to it; the run's verdict
is the highest over all observables. The reasons list every taxonomy that set the verdict.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .conditions import LEVELS, RANK, level_rank

_VERSION = re.compile(r"_\d+(?:_\d+)*$")


def analyzer_name(name: str) -> str:
    """``Socflow_OTX_Query_1_0`` (TheHive's report key) and ``Socflow_OTX_Query`` are one analyzer."""
    return _VERSION.sub("", str(name))


def remap_level(
    remap: Mapping[str, Mapping[str, str]], analyzer: str, level: str, predicate: str = ""
) -> str:
    """``Analyzer/Predicate`` rows win over ``Analyzer`` rows, which win over ``*``."""
    level = str(level).lower()
    if level not in RANK:
        level = "info"
    name = analyzer_name(analyzer)
    for key in (f"{name}/{predicate}", name, "*"):
        table = remap.get(key)
        if table and level in table:
            return table[level]
    return level


@dataclass
class Verdict:
    level: str = "info"
    reasons: list[str] = field(default_factory=list)
    observables: dict[str, str] = field(default_factory=dict)  # observable id -> level
    taxonomies: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "reasons": self.reasons,
            "observables": self.observables,
            "taxonomies": self.taxonomies,
        }


def aggregate(
    results: Iterable[Mapping[str, Any]], remap: Mapping[str, Mapping[str, str]]
) -> Verdict:
    """``results``: ``{"analyzer", "observable", "dataType", "taxonomies": […]}`` per analysis."""
    verdict = Verdict()
    best = 0
    reasons: list[tuple[int, str]] = []
    for res in results:
        analyzer = analyzer_name(str(res.get("analyzer", "?")))
        obs_id = str(res.get("observable", ""))
        for tax in res.get("taxonomies") or ():
            if not isinstance(tax, Mapping):
                continue
            original = str(tax.get("level", "info")).lower()
            level = remap_level(remap, analyzer, original, str(tax.get("predicate", "")))
            rank = level_rank(level)
            entry = {
                "analyzer": analyzer,
                "observable": obs_id,
                "dataType": res.get("dataType"),
                "namespace": str(tax.get("namespace", ""))[:64],
                "predicate": str(tax.get("predicate", ""))[:64],
                "value": str(tax.get("value", ""))[:128],
                "level": level,
                "original_level": original,
            }
            verdict.taxonomies.append(entry)
            if obs_id:
                if rank >= level_rank(verdict.observables.get(obs_id, "info")):
                    verdict.observables[obs_id] = level
            best = max(best, rank)
            if rank >= RANK["suspicious"]:
                note = f" (counted as {level})" if level != original else ""
                reasons.append(
                    (rank, f"{analyzer}: {entry['namespace']}:{entry['predicate']} is "
                           f"{original}{note}")
                )
    verdict.level = LEVELS[best]
    verdict.reasons = [text for rank, text in reasons if rank == best] or (
        [f"no analyzer found anything {LEVELS[best] if best else 'suspicious'}"]
    )
    return verdict
