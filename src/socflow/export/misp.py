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

UUIDs are what make a push idempotent (MISP knows an event and an attribute by its UUID): a case
read from a known TheHive (its base URL and the case's ``_id``) gets the event UUID
``uuid5(EVENT_NAMESPACE, "<instance>\\n<_id>")``, the same in every process and run, and each
attribute ``uuid5(<event uuid>, "<type>\\n<value>")``; the file written with ``--output`` carries
the same ones, so a MISP import de-duplicates too. A case nothing identifies (a case file without
``_id`` or without the TheHive it came from) keeps pymisp's random event UUID and the export says
so (``MispExport.idempotent`` false).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from .indicators import TLP_NAMES, CaseIndicators, Indicator, clean_text, exportable, hash_kind

# A fixed namespace for socflow's MISP event UUIDs: changing it would give every case a new event.
EVENT_NAMESPACE = uuid.UUID("61c4e687-7a03-4531-a793-73786d545db7")
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
    idempotent: bool = False  # the event UUID comes from the case: a re-push updates, never duplicates

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


def event_uuid(case: CaseIndicators) -> str | None:
    """The case's stable event UUID, or None when nothing identifies the case (no ``_id`` or no
    TheHive instance): the same case of the same TheHive always gets the same UUID."""
    if not case.case_id or not case.instance:
        return None
    return str(uuid.uuid5(EVENT_NAMESPACE, f"{case.instance}\n{case.case_id}"))


def attribute_uuid(event: str, kind: str, value: str) -> str:
    """An attribute's UUID from its event's and its (MISP type, value): one per pair and event."""
    return str(uuid.uuid5(uuid.UUID(event), f"{kind}\n{value}"))


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
    stable = event_uuid(case)
    if stable is not None:
        event.uuid = stable
    # MISP refuses an event whose info is blank once stripped (pymisp strips it): a case titled
    # only with spaces is named by its reference, or "case"
    title = clean_text(case.title).strip()
    event.info = (f"{title} ({case.reference})" if title and case.reference
                  else title or clean_text(case.reference).strip() or "case")
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
            attribute = event.add_attribute(kind, ind.value, to_ids=ind.ioc, comment=ind.message or None,
                                            Tag=[{"name": t} for t in tags] or None)
            attribute.uuid = attribute_uuid(event.uuid, kind, ind.value)
        except PyMISPError as exc:  # pymisp refused the value: reported, never fatal
            skipped.append((ind, f"refused by pymisp: {exc}"[:200]))
            continue
        exported.append(ind)
    return MispExport(event, exported, skipped, idempotent=stable is not None)
