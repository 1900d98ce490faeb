"""Turn detections and extraction results into what analysts see: findings, taxonomies and
importable observables (the LogIOC analyzer).

Pure functions; the Cortex adapter only wraps them. The verdict comes from the *detections* of
the rule engine (the bridge's rules): a rule's severity gives the level (1 LOW → info,
2 MEDIUM → suspicious, 3 HIGH and 4 CRITICAL → malicious), and a source of a rule tagged
``brute-force`` with at least ``brute_force_threshold`` events is malicious. Indicator counts are
info. Warning lists never change a level.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .models import Ioc, IocType, IpClass, Level

if TYPE_CHECKING:
    from .classify.engine import Detection

NAMESPACE = "LogIOC"
DETECTION_TAG = "socflow:detection="
_FAILED_LOGIN_USER = {"ssh-failed-login", "pam-auth-failure", "su-failed", "sudo-failed"}
_PREDICATES = (
    ("PublicIPs", (IocType.IPV4, IocType.IPV6)),
    ("Domains", (IocType.DOMAIN,)),
    ("URLs", (IocType.URL,)),
    ("Mails", (IocType.MAIL,)),
    ("Hashes", (IocType.MD5, IocType.SHA1, IocType.SHA256)),
    ("CVEs", (IocType.CVE,)),
)
_SEVERITY_LEVEL = {1: Level.INFO, 2: Level.SUSPICIOUS, 3: Level.MALICIOUS, 4: Level.MALICIOUS}
MAX_EVIDENCE_CHARS = 500
MAX_VALUES = 50
MAX_VALUE_CHARS = 300


@dataclass(frozen=True)
class Taxonomy:
    level: Level
    namespace: str
    predicate: str
    value: str

    def to_dict(self) -> dict[str, str]:
        return {"level": self.level.value, "namespace": self.namespace,
                "predicate": self.predicate, "value": self.value}


@dataclass
class Finding:
    """One rule's detections for one group (who), merged over every window it fired in."""

    rule_id: str
    name: str
    severity: int
    tags: list[str]
    group: dict[str, str]
    count: int = 0
    windows: int = 0
    first_seen: float | None = None
    last_seen: float | None = None
    evidence: list[str] = field(default_factory=list)
    values: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    level: Level = Level.INFO

    @property
    def who(self) -> str:
        return ", ".join(v for v in self.group.values() if v) or "(no group)"

    def to_dict(self, max_evidence: int, warninglisted: dict[str, list[str]]) -> dict[str, Any]:
        values = {k: [printable(v, MAX_VALUE_CHARS) for _, v in pairs]
                  for k, pairs in self.values.items()}
        shown = self.evidence[:max_evidence]
        return {
            "rule": self.rule_id,
            "name": self.name,
            "level": self.level.value,
            "severity": self.severity,
            "tags": list(self.tags),
            "group": {k: printable(v, MAX_VALUE_CHARS) for k, v in self.group.items()},
            "who": printable(self.who, MAX_VALUE_CHARS),
            "count": self.count,
            "windows": self.windows,
            "first_seen": _iso(self.first_seen),
            "last_seen": _iso(self.last_seen),
            "values": {k: v[:MAX_VALUES] for k, v in values.items()},
            "values_not_listed": {k: len(v) - MAX_VALUES for k, v in values.items()
                                  if len(v) > MAX_VALUES},
            "evidence": [printable(line, MAX_EVIDENCE_CHARS) for line in shown],
            "evidence_not_listed": self.count - len(shown),
            "warninglists": {printable(v, MAX_VALUE_CHARS): warninglisted[v]
                             for v in self.group.values() if v in warninglisted},
        }


def findings(detections: Iterable[Detection], brute_force_threshold: int = 10) -> list[Finding]:
    """Detections merged per (rule, group), worst first, then busiest."""
    merged: dict[tuple[str, tuple[str, ...]], Finding] = {}
    for det in detections:
        rule = det.rule
        key = (rule.id, tuple(det.group.values()))
        f = merged.get(key)
        if f is None:
            f = merged[key] = Finding(rule.id, rule.name, rule.severity, list(rule.tags),
                                      dict(det.group))
        f.count += det.count
        f.windows += 1
        if det.first_seen is not None:
            f.first_seen = det.first_seen if f.first_seen is None else min(f.first_seen, det.first_seen)
        if det.last_seen is not None:
            f.last_seen = det.last_seen if f.last_seen is None else max(f.last_seen, det.last_seen)
        f.evidence.extend(det.samples[: max(0, rule.samples - len(f.evidence))])
        for k, pairs in det.values.items():
            bucket = f.values.setdefault(k, [])
            bucket.extend(p for p in pairs if p not in bucket)
    for f in merged.values():
        f.level = _SEVERITY_LEVEL.get(f.severity, Level.SUSPICIOUS)
        if "brute-force" in f.tags and f.count >= brute_force_threshold:
            f.level = Level.MALICIOUS
    return sorted(merged.values(), key=lambda f: (-f.level.rank, -f.severity, -f.count, f.rule_id, f.who))


def taxonomies(iocs: list[Ioc], found: Sequence[Finding] = ()) -> list[Taxonomy]:
    """One taxonomy per rule that fired (its level, the number of sources), then info counts."""
    result: list[Taxonomy] = []
    per_rule: dict[str, list[Finding]] = {}
    for f in found:
        per_rule.setdefault(f.rule_id, []).append(f)
    for rule_id, group in per_rule.items():
        worst = max((f.level for f in group), key=lambda lv: lv.rank)
        result.append(Taxonomy(worst, NAMESPACE, rule_id, str(len(group))))
    result.sort(key=lambda t: -t.level.rank)
    per_type = Counter(
        ioc.type for ioc in iocs
        if ioc.type not in (IocType.IPV4, IocType.IPV6) or ioc.ip_class in (None, IpClass.PUBLIC)
    )
    result += [
        Taxonomy(Level.INFO, NAMESPACE, name, str(sum(per_type[t] for t in types)))
        for name, types in _PREDICATES
        if any(per_type[t] for t in types)
    ]
    failed = sum(failed_logins(ioc) for ioc in iocs if ioc.type is IocType.USERNAME)
    if failed:
        result.append(Taxonomy(Level.INFO, NAMESPACE, "FailedLogins", str(failed)))
    if not result:
        result.append(Taxonomy(Level.SAFE, NAMESPACE, "IOCs", "0"))
    return result


def verdict(taxes: Sequence[Taxonomy]) -> Level:
    return max((t.level for t in taxes), key=lambda lv: lv.rank, default=Level.INFO)


def failed_logins(username: Ioc) -> int:
    """Login attempts of a username: sshd logs "Invalid user X" and then "Failed password for
    invalid user X" for the same attempt, so the two are not added up."""
    failed = sum(n for ctx, n in username.contexts.items() if ctx in _FAILED_LOGIN_USER)
    return max(failed, username.contexts.get("ssh-invalid-user", 0))


def detection_index(found: Iterable[Finding]) -> dict[str, list[str]]:
    """Value (lower-case) → ids of the rules whose findings name it (group or observable values)."""
    index: dict[str, list[str]] = {}
    for f in found:
        values = [*f.group.values(), *(v for pairs in f.values.values() for _, v in pairs)]
        for value in values:
            ids = index.setdefault(value.lower(), [])
            if value and f.rule_id not in ids:
                ids.append(f.rule_id)
    return {k: v for k, v in index.items() if k and v}


def observable_tags(ioc: Ioc, origin: str, detections: Sequence[str] = ()) -> list[str]:
    """Tags for a TheHive observable: where it came from, the detections that name it, its type,
    the warning lists it is on, and every context."""
    tags = [f"socflow:{origin}", *(f"{DETECTION_TAG}{r}" for r in detections),
            f"ioc-type:{ioc.type.value}"]
    if ioc.ip_class is not None:
        tags.append(f"ip-class:{ioc.ip_class.value}")
    tags.extend(f"warninglist:{name}" for name in ioc.warninglists)
    tags.extend(f"context:{c}" for c in sorted(ioc.contexts))
    return [t[:128] for t in tags]


def observable_message(ioc: Ioc, source: str, detections: Sequence[str] = ()) -> str:
    span = ""
    if ioc.first_seen and ioc.last_seen:
        span = f", {ioc.first_seen.isoformat(timespec='seconds')} to " \
               f"{ioc.last_seen.isoformat(timespec='seconds')}"
    found = f"; named by detection(s) {', '.join(detections)}" if detections else ""
    return f"Seen in {ioc.count} line(s) of {printable(source, 200)}{span}{found}"


def printable(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with "…", control and format characters (terminal
    escapes, bidi overrides, NUL) shown as ``\\xNN``/``\\uNNNN`` so a log line cannot disguise
    itself; markup is left to the viewer's escaping (TheHive's templates bind text, never HTML)."""
    out = []
    for ch in text[:limit]:
        if ch == "\t" or unicodedata.category(ch)[0] != "C":
            out.append(ch)
        else:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
    cut = "".join(out)
    return cut + "…" if len(text) > limit else cut


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat() if ts else None
