"""Turn extraction results into what analysts see: taxonomies and importable observables.

Pure functions; the Cortex adapter only wraps them. Levels follow TheHive's colours:
info (blue) = a count worth knowing, suspicious (orange) = failed logins seen,
malicious (red) = a source with enough failed logins to be a brute force.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from .models import Ioc, IocType, Level

NAMESPACE = "LogIOC"
_FAILED_LOGIN_SOURCE = {"ssh-failed-login-source", "ssh-invalid-user-source",
                        "pam-auth-failure-source"}
_FAILED_LOGIN_USER = {"ssh-failed-login", "pam-auth-failure", "su-failed", "sudo-failed"}
_PREDICATES = (
    ("PublicIPs", (IocType.IPV4, IocType.IPV6)),
    ("Domains", (IocType.DOMAIN,)),
    ("URLs", (IocType.URL,)),
    ("Mails", (IocType.MAIL,)),
    ("Hashes", (IocType.MD5, IocType.SHA1, IocType.SHA256)),
    ("CVEs", (IocType.CVE,)),
)


@dataclass(frozen=True)
class Taxonomy:
    level: Level
    namespace: str
    predicate: str
    value: str

    def to_dict(self) -> dict[str, str]:
        return {"level": self.level.value, "namespace": self.namespace,
                "predicate": self.predicate, "value": self.value}


def taxonomies(iocs: list[Ioc], brute_force_threshold: int = 10) -> list[Taxonomy]:
    """Counts per indicator family, failed logins and brute-force sources."""
    per_type = Counter(ioc.type for ioc in iocs)
    result = [
        Taxonomy(Level.INFO, NAMESPACE, name, str(sum(per_type[t] for t in types)))
        for name, types in _PREDICATES
        if any(per_type[t] for t in types)
    ]
    failed = sum(failed_logins(ioc) for ioc in iocs if ioc.type is IocType.USERNAME)
    if failed:
        result.append(Taxonomy(Level.SUSPICIOUS, NAMESPACE, "FailedLogins", str(failed)))
    brute = [ioc for ioc in brute_force_sources(iocs) if ioc.count >= brute_force_threshold]
    if brute:
        result.append(Taxonomy(Level.MALICIOUS, NAMESPACE, "BruteForceSources", str(len(brute))))
    if not result:
        result.append(Taxonomy(Level.SAFE, NAMESPACE, "IOCs", "0"))
    return result


def failed_logins(username: Ioc) -> int:
    """Login attempts of a username: sshd logs "Invalid user X" and then "Failed password for
    invalid user X" for the same attempt, so the two are not added up."""
    failed = sum(n for ctx, n in username.contexts.items() if ctx in _FAILED_LOGIN_USER)
    return max(failed, username.contexts.get("ssh-invalid-user", 0))


def brute_force_sources(iocs: list[Ioc]) -> list[Ioc]:
    """Addresses seen as the source of failed or invalid logins, busiest first."""
    return sorted(
        (i for i in iocs
         if i.type in (IocType.IPV4, IocType.IPV6) and i.contexts.keys() & _FAILED_LOGIN_SOURCE),
        key=lambda i: -i.count,
    )


def observable_tags(ioc: Ioc, origin: str) -> list[str]:
    """Tags for a TheHive observable: where it came from, its type, and every context."""
    tags = [f"socflow:{origin}", f"ioc-type:{ioc.type.value}"]
    if ioc.ip_class is not None:
        tags.append(f"ip-class:{ioc.ip_class.value}")
    tags.extend(f"context:{c}" for c in sorted(ioc.contexts))
    return [t[:128] for t in tags]


def observable_message(ioc: Ioc, source: str) -> str:
    span = ""
    if ioc.first_seen and ioc.last_seen:
        span = f", {ioc.first_seen.isoformat(timespec='seconds')} to " \
               f"{ioc.last_seen.isoformat(timespec='seconds')}"
    return f"Seen in {ioc.count} line(s) of {source}{span}"
