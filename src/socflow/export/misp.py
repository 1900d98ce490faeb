"""A case's indicators as a MISP event, built offline with pymisp's ``MISPEvent``.

Mapping (TheHive dataType → MISP type, category from pymisp's ``describeTypes.json`` sane
defaults): ``ip`` → ``ip-dst`` (``ip-src`` with the observable tag ``misp.type="ip-src"``, the tag
TheHive's MISP import writes), ``domain`` → ``domain``, ``fqdn``/``hostname`` → ``hostname``,
``url`` → ``url``, ``mail`` → ``email-src`` (``email-dst`` with ``misp.type="email-dst"``),
``mail-subject`` → ``email-subject``, ``hash`` → ``md5``/``sha1``/``sha224``/``sha256``/``sha384``/
``sha512`` by length, ``filename`` → ``filename``, ``user-agent`` → ``user-agent``, ``uri_path`` →
``uri``, ``registry`` → ``regkey``, ``autonomous-system`` → ``AS``, ``other`` → ``text``; anything
else (``file``, custom types) is refused with its reason. ``to_ids`` = the observable's IOC flag;
the case TLP becomes the event tag ``tlp:<clear|green|amber|amber+strict|red>`` and an observable
whose TLP differs carries its own ``tlp:`` tag; observable tags become attribute tags, case tags
event tags (``case_tags``); the observable message is the attribute comment. ``threat_level_id`` =
4 − severity clamped to 1..3 (TheHive's own export: severity 1 → 3 low … 4 → 1 high), ``analysis``
0, ``distribution`` 0 (this organisation only) unless given, unpublished. Duplicate (type, value)
pairs are exported once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from .indicators import TLP_NAMES, CaseIndicators, Indicator, clean_text, exportable, hash_kind

DISTRIBUTIONS = {0: "your organisation only", 1: "this community only", 2: "connected communities",
                 3: "all communities"}
_SIMPLE = {
    "ip": "ip-dst",
    "domain": "domain",
    "fqdn": "hostname",
    "hostname": "hostname",
    "url": "url",
    "mail": "email-src",
    "mail-subject": "email-subject",
    "filename": "filename",
    "user-agent": "user-agent",
    "uri_path": "uri",
    "registry": "regkey",
    "autonomous-system": "AS",
    "other": "text",
}
_OVERRIDES = {"ip": {"ip-src", "ip-dst"}, "mail": {"email-src", "email-dst", "email"}}


@dataclass
class MispExport:
    event: Any  # pymisp.MISPEvent
    exported: list[Indicator]
    skipped: list[tuple[Indicator | str, str]]

    def document(self) -> dict[str, Any]:
        """The MISP JSON document (``{"Event": …}``, what MISP and TheHive import)."""
        return {"Event": json.loads(self.event.to_json())}

    def to_json(self) -> str:
        return json.dumps(self.document(), indent=2, ensure_ascii=False, sort_keys=True)


def misp_type(indicator: Indicator) -> str | None:
    kind = indicator.data_type
    if kind == "hash":
        return hash_kind(indicator.value)
    wanted = _OVERRIDES.get(kind, set())
    for tag in indicator.tags:
        if tag.startswith("misp.type="):
            chosen = tag.split("=", 1)[1].strip('"')
            if chosen in wanted:
                return chosen
    return _SIMPLE.get(kind)


def misp_event(
    case: CaseIndicators,
    *,
    distribution: int = 0,
    only_ioc: bool = False,
    case_tags: bool = True,
) -> MispExport:
    """Build the event; nothing is sent anywhere (pymisp's ``PyMISP`` is not used here)."""
    from pymisp import MISPEvent
    from pymisp.exceptions import PyMISPError

    if type(distribution) is not int or distribution not in DISTRIBUTIONS:
        raise InputError(f"distribution must be 0–3 ({', '.join(f'{k} {v}' for k, v in DISTRIBUTIONS.items())})")
    event = MISPEvent()
    event.info = clean_text(f"{case.title} ({case.reference})" if case.reference else case.title) or "case"
    event.distribution = distribution
    event.threat_level_id = min(3, max(1, 4 - case.severity))
    event.analysis = 0
    event.published = False
    event.add_tag(f"tlp:{TLP_NAMES[case.tlp]}")
    if case_tags:
        for tag in case.tags:
            if not tag.lower().startswith("tlp:"):
                event.add_tag(tag)
    exported: list[Indicator] = []
    skipped: list[tuple[Indicator | str, str]] = list(case.refused)
    seen: set[tuple[str, str]] = set()
    def key_of(ind: Indicator) -> tuple[str, str] | None:
        kind = misp_type(ind)
        return None if kind is None else (kind, ind.value)

    for ind, key in exportable(case, only_ioc, key_of, "MISP type", skipped, seen):
        kind = key[0]
        seen.add(key)
        tags = [t for t in ind.tags if not t.startswith("misp.type=") and not t.lower().startswith("tlp:")]
        if ind.tlp != case.tlp:
            tags.append(f"tlp:{TLP_NAMES[ind.tlp]}")
        try:
            event.add_attribute(kind, ind.value, to_ids=ind.ioc, comment=ind.message or None,
                                Tag=[{"name": t} for t in tags] or None)
        except PyMISPError as exc:  # pymisp refused the value: reported, never fatal
            skipped.append((ind, f"refused by pymisp: {exc}"[:200]))
            continue
        exported.append(ind)
    return MispExport(event, exported, skipped)
