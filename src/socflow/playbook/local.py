"""socflow's own analysis, in process: ``analyzers: [socflow:mail]`` in an analyze step.

No Cortex job, no process: the core's mail analysis (``socflow.mail.analyze_bytes``, the same
engine the Socflow_MailAnalysis analyzer runs) reads a ``file`` observable's bytes (fetched from
TheHive by the services) and gives the same taxonomies the analyzer reports. Useful where Cortex
is not deployed, or to save a job per reported mail.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MAX_BYTES = 64 << 20


def _mail(data: bytes, name: str) -> list[dict[str, Any]]:
    from ..mail import analyze_bytes
    from ..mail.observables import taxonomies

    return [t.to_dict() for t in taxonomies(analyze_bytes(data, name or "message.eml"))]


# name -> (data types it reads, function(bytes, file name) -> taxonomies)
LOCAL: dict[str, tuple[frozenset[str], Callable[[bytes, str], list[dict[str, Any]]]]] = {
    "socflow:mail": (frozenset({"file"}), _mail),
}


def is_local(name: str) -> bool:
    return name.startswith("socflow:")
