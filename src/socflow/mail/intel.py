"""Optional enrichment of a message's indicators through the intel layer (socflow.enrich): its
shared cache and quota ledger. Off unless an enricher is passed; only the sender side and the
content are looked up (URLs, domains, public IPs, attachment hashes) — never the recipients, so
the victim's own address cannot make a message "malicious" (ThePhish#10)."""

from __future__ import annotations

from typing import Any

from ..errors import SocflowError
from ..models import IocType, IpClass, Level
from .model import Finding, MailReport

_ORDER = {"sha256": 0, "sha1": 1, "md5": 2, "url": 3, "domain": 4, "ipv4": 5, "ipv6": 6}


def enrichment_hook(enricher: Any, max_lookups: int = 25) -> Any:
    """A hook for :func:`socflow.mail.analyze_bytes` (``enrich=``)."""

    def hook(report: MailReport) -> None:
        wanted = [i for i in report.indicators if i["type"] in _ORDER and (
            not i["type"].startswith("ipv") or i.get("ip_class") == IpClass.PUBLIC.value)]
        wanted.sort(key=lambda i: (_ORDER[i["type"]], -i["count"]))
        bad: dict[Level, list[dict[str, Any]]] = {Level.MALICIOUS: [], Level.SUSPICIOUS: []}
        for item in wanted[:max_lookups]:
            for result in enricher.try_verdicts(IocType(item["type"]), item["value"]):
                if isinstance(result, SocflowError):
                    report.enrichment.append({"type": item["type"], "value": item["value"],
                                              "error": str(result)})
                    continue
                entry = {"type": item["type"], "value": item["value"], "service": result.service,
                         "level": result.level.value, "summary": result.summary,
                         "from_cache": result.from_cache}
                report.enrichment.append(entry)
                if result.level in bad:
                    bad[result.level].append(entry)
        if len(wanted) > max_lookups:
            report.enrichment.append({"note": f"{len(wanted) - max_lookups} indicators not looked up "
                                              f"(more than {max_lookups})"})
        for level, code in ((Level.MALICIOUS, "intel.malicious"), (Level.SUSPICIOUS, "intel.suspicious")):
            if bad[level]:
                first = bad[level][0]
                report.findings.append(Finding(
                    code, f"{first['service']} calls {first['value']} {level.value}"
                    + (f" (and {len(bad[level]) - 1} more)" if len(bad[level]) > 1 else ""),
                    {"verdicts": bad[level][:10]}))

    return hook
