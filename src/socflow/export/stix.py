"""A case's indicators as a STIX 2.1 bundle built with the ``stix2`` library.

One ``indicator`` per exportable observable, with a STIX pattern: ``ip`` → ``ipv4-addr:value`` /
``ipv6-addr:value``, ``domain``/``fqdn``/``hostname`` → ``domain-name:value``, ``url`` →
``url:value``, ``mail`` → ``email-addr:value``, ``mail-subject`` → ``email-message:subject``,
``hash`` → ``file:hashes.MD5`` / ``'SHA-1'`` / ``'SHA-256'`` / ``'SHA-512'`` (SHA-224/384 have no
STIX hash name: refused), ``filename`` → ``file:name``. Values are quoted with ``\\`` and ``\\'``
escaped, then stix2 validates the pattern; a value it rejects is refused with the reason.
``indicator_types`` is ``malicious-activity`` for IOCs, ``unknown`` otherwise; observable tags are
``labels``; the message is the ``description``. TLP is carried as the TLP 2.0 marking definitions
of the OASIS extension ``extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d`` (fixed ids,
included in the bundle): each indicator is marked with its observable's TLP. An ``identity``
(``identity_name``) is the ``created_by_ref`` of every indicator.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .indicators import TLP_NAMES, CaseIndicators, Indicator, exportable, hash_kind, ip_kind

TLP2_EXTENSION = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
TLP2_CREATED = "2022-10-01T00:00:00.000Z"
TLP2_IDS = {
    "clear": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "green": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "amber": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "amber+strict": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "red": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
_HASH_PATHS = {"md5": "file:hashes.MD5", "sha1": "file:hashes.'SHA-1'",
               "sha256": "file:hashes.'SHA-256'", "sha512": "file:hashes.'SHA-512'"}
_PATHS = {"domain": "domain-name:value", "fqdn": "domain-name:value", "hostname": "domain-name:value",
          "url": "url:value", "mail": "email-addr:value", "mail-subject": "email-message:subject",
          "filename": "file:name"}
_NAMESPACE = uuid.UUID("8c1f6d0e-4a0b-5a53-9d1e-5f6c0c0a5f10")  # socflow identities (uuid5)


@dataclass
class StixExport:
    bundle: Any  # stix2.Bundle
    exported: list[Indicator]
    skipped: list[tuple[Indicator | str, str]]

    def document(self) -> dict[str, Any]:
        return json.loads(self.bundle.serialize())

    def to_json(self) -> str:
        return self.bundle.serialize(pretty=True)


def quote(value: str) -> str:
    """A STIX pattern string literal: backslash and quote escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def pattern(indicator: Indicator) -> str | None:
    kind, value = indicator.data_type, indicator.value
    if kind == "ip":
        version = ip_kind(value)
        path = {4: "ipv4-addr:value", 6: "ipv6-addr:value"}.get(version or 0)
    elif kind == "hash":
        path = _HASH_PATHS.get(hash_kind(value) or "")
    else:
        path = _PATHS.get(kind)
    return f"[{path} = {quote(value)}]" if path else None


def marking(level: str) -> Any:
    from stix2 import MarkingDefinition

    return MarkingDefinition(
        id=TLP2_IDS[level], created=TLP2_CREATED, name=f"TLP:{level.upper()}",
        extensions={TLP2_EXTENSION: {"extension_type": "property-extension", "tlp_2_0": level}},
    )


def stix_bundle(
    case: CaseIndicators,
    *,
    only_ioc: bool = False,
    identity_name: str = "socflow",
    now: datetime | None = None,
) -> StixExport:
    import stix2
    from stix2.exceptions import STIXError

    identity = stix2.Identity(
        id=f"identity--{uuid.uuid5(_NAMESPACE, identity_name)}", name=identity_name,
        identity_class="organization", created=now or TLP2_CREATED, modified=now or TLP2_CREATED,
    )
    stamps: dict[str, Any] = {"created": now, "modified": now, "valid_from": now} if now else {}
    objects: list[Any] = []
    used: set[str] = set()
    exported: list[Indicator] = []
    skipped: list[tuple[Indicator | str, str]] = list(case.refused)
    seen: set[str] = set()
    for ind, text in exportable(case, only_ioc, pattern, "STIX pattern", skipped, seen):
        level = TLP_NAMES[ind.tlp]
        try:
            objects.append(stix2.Indicator(
                pattern=text, pattern_type="stix",
                indicator_types=["malicious-activity" if ind.ioc else "unknown"],
                name=f"{ind.data_type}: {ind.value}"[:512],
                description=ind.message or None,
                labels=list(ind.tags) or None,
                created_by_ref=identity.id,
                object_marking_refs=[TLP2_IDS[level]],
                **stamps,
            ))
        except (STIXError, ValueError) as exc:
            skipped.append((ind, f"refused by stix2: {exc}"[:200]))
            continue
        seen.add(text)
        used.add(level)
        exported.append(ind)
    markings = [marking(level) for level in TLP_NAMES.values() if level in used]
    return StixExport(stix2.Bundle(objects=[identity, *markings, *objects]), exported, skipped)
