"""A refusal by policy, as a Cortex worker says it and as the playbook engine recognises it.

The block list refuses some values by design (own, protected or allowlisted networks and
domains, private and documentation ranges, malformed values): that is the policy working, an
outcome to document, not a fault to fix. But Cortex keeps nothing of a failed job except its
``errorMessage`` string (cortex-thehive-protocol.md A.9/A.10: no report, no extra field), so a
worker whose job ends because everything it was asked was refused writes that message as

    refused by policy [private]: nothing was blocked, every value was refused: 10.0.0.1: …

The mark comes first and is written by socflow's own code, before any observable text, so a
value cannot forge it; the bracket holds the refusal codes of the block list's policy
(``socflow.policy.block.Refusal``). Any other message (service down, token refused, timeout,
Cortex's "no output") is an operational failure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

MARK = "refused by policy"
_CODE = r"[a-z0-9][a-z0-9-]{0,31}"
_PATTERN = re.compile(rf"{MARK} \[({_CODE}(?:,{_CODE}){{0,15}})\]: ")


@dataclass(frozen=True)
class Refused:
    codes: tuple[str, ...]  # the policy's refusal codes (private, allowlisted, …)
    reason: str  # the worker's sentence after the mark: the values and why


def message(codes: Iterable[str], text: str) -> str:
    """The errorMessage of a job that refused everything it was asked, for ``codes``."""
    listed = sorted({c for c in codes if re.fullmatch(_CODE, c)})
    if not listed:
        raise ValueError("a refusal names at least one refusal code")
    return f"{MARK} [{','.join(listed)}]: {text}"


def parse(error: object) -> Refused | None:
    """The refusal a job's errorMessage states, or None when it is any other failure."""
    if not isinstance(error, str):
        return None
    found = _PATTERN.match(error)
    if found is None:
        return None
    return Refused(tuple(found.group(1).split(",")), error[found.end():])
