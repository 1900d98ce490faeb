"""The verdict: findings weighted by the policy into safe / suspicious / malicious.

Each finding code counts once (the heaviest of its findings), so ten mismatched links weigh what
one does; the score is the sum, the verdict the highest threshold it reaches. Reasons are the
findings that raised the score, heaviest first.
"""

from __future__ import annotations

from .model import MailReport
from .policy import MailPolicy

SAFE, SUSPICIOUS, MALICIOUS = "safe", "suspicious", "malicious"
RANK = {SAFE: 0, SUSPICIOUS: 1, MALICIOUS: 2}


def decide(report: MailReport, policy: MailPolicy) -> None:
    best: dict[str, float] = {}
    for finding in report.findings:
        finding.weight = policy.weight(finding.code)
        best[finding.code] = max(best.get(finding.code, finding.weight), finding.weight)
    report.score = round(sum(best.values()), 2)
    if report.score >= policy.thresholds.malicious:
        report.verdict = MALICIOUS
    elif report.score >= policy.thresholds.suspicious:
        report.verdict = SUSPICIOUS
    else:
        report.verdict = SAFE
    report.findings.sort(key=lambda f: (-f.weight, f.code))
