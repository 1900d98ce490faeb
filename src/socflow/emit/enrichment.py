"""Verdicts of the intel layer folded into an alert before it is stored (issue 4 §4).

Per observable: a malicious verdict sets ``ioc: true``; every verdict adds a tag such as
``vt:malicious=12`` (service short name, level, score when there is one). Per alert: a malicious
verdict raises the severity to at least HIGH (one step more when it already was), a suspicious
one to at least MEDIUM; tags ``intel:malicious`` / ``intel:suspicious`` and a verdict table in the
description. Non-public and allowlisted observables are never sent out for a lookup; observables
on a MISP warning list (tag ``warninglist:<name>``) are not either, unless ``warninglisted`` is
true, and even then their verdicts never raise the alert's severity.
"""

from __future__ import annotations

from typing import Any

from .. import markdown
from ..classify.intel import Enricher
from ..errors import SocflowError
from ..models import IocType, Level, Verdict
from ..warninglists import TAG_PREFIX as WARNINGLIST_TAG
from .alert import MAX_DESCRIPTION, TAG_ALLOWLISTED, TAG_NON_PUBLIC, clean_tags

SHORT_NAMES = {"virustotal": "vt", "abuseipdb": "abuseipdb", "otx": "otx", "alienvault otx": "otx"}
_HASHES = {32: IocType.MD5, 40: IocType.SHA1, 64: IocType.SHA256}


def ioc_type_of(data_type: str, data: str) -> IocType | None:
    if data_type == "ip":
        return IocType.IPV6 if ":" in data else IocType.IPV4
    if data_type == "hash":
        return _HASHES.get(len(data))
    return {
        "domain": IocType.DOMAIN,
        "fqdn": IocType.DOMAIN,
        "url": IocType.URL,
        "mail": IocType.MAIL,
    }.get(data_type)


def verdict_tag(v: Verdict) -> str:
    name = SHORT_NAMES.get(v.service.lower(), v.service.lower().replace(" ", "-"))
    score = f"={v.score:g}" if v.score is not None else ""
    return f"{name}:{v.level.value}{score}"


def _lookup(enricher: Enricher, kind: IocType, value: str) -> tuple[list[Verdict], bool]:
    """Verdicts of every provider that answered, and whether one failed (quota, outage)."""
    try_verdicts = getattr(enricher, "try_verdicts", None)
    try:
        results = try_verdicts(kind, value) if try_verdicts else enricher.verdicts(kind, value)
    except SocflowError:
        return [], True
    verdicts = [r for r in results if isinstance(r, Verdict)]
    return verdicts, len(verdicts) != len(results)


def enrich_alert(
    alert: dict[str, Any], enricher: Enricher, *, warninglisted: bool = False
) -> dict[str, Any]:
    """A copy of ``alert`` with verdicts applied; lookups that fail leave a tag, not an error."""
    alert = dict(alert)
    worst = Level.INFO
    rows: list[str] = []
    failed = False
    observables = []
    for obs in alert.get("observables", []):
        obs = dict(obs)
        kind = ioc_type_of(obs["dataType"], obs["data"])
        tags = obs.get("tags", [])
        listed = any(t.startswith(WARNINGLIST_TAG) for t in tags)
        if kind is None or {TAG_NON_PUBLIC, TAG_ALLOWLISTED} & set(tags) or (listed and not warninglisted):
            observables.append(obs)
            continue
        verdicts, incomplete = _lookup(enricher, kind, obs["data"])
        failed = failed or incomplete
        for v in verdicts:
            obs["tags"] = clean_tags([*obs.get("tags", []), verdict_tag(v)])
            if listed:
                continue  # a warning-listed value never raises the severity nor becomes an IOC
            if v.level == Level.MALICIOUS:
                obs["ioc"] = True
            worst = v.level if v.level.rank > worst.rank else worst
            rows.append(
                f"| {markdown.code(obs['data'], table=True)} | {markdown.escape(v.service)} "
                f"| {v.level.value} | {markdown.escape(v.summary, limit=200)} |"
            )
        observables.append(obs)
    alert["observables"] = observables
    tags = list(alert.get("tags", []))
    if worst == Level.MALICIOUS:
        alert["severity"] = min(4, max(3, alert["severity"] + 1))
        tags.append("intel:malicious")
    elif worst == Level.SUSPICIOUS:
        alert["severity"] = max(2, alert["severity"])
        tags.append("intel:suspicious")
    if failed:
        tags.append("socflow:enrichment-incomplete")
    alert["tags"] = clean_tags(tags)
    if rows:
        table = "\n".join(
            [
                "",
                "#### Threat intel",
                "",
                "| indicator | service | verdict | summary |",
                "|---|---|---|---|",
                *rows,
            ]
        )
        if len(alert["description"]) + len(table) <= MAX_DESCRIPTION:
            alert["description"] += "\n" + table
    return alert
