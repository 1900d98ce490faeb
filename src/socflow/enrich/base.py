"""Shared pieces of the intel layer: the time budget, the raw envelope and the provider contract.

How to add a provider: write ``enrich/<name>.py`` with a pure ``normalise(raw, settings) ->
Verdict``, ``taxonomies(verdict, settings)`` and ``details(raw)``, plus a class following
:class:`Provider` whose ``fetch`` returns a raw envelope (see :func:`envelope`); then add one line
to ``PROVIDERS`` in ``enrich/enricher.py`` and a settings model in ``enrich/config.py``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import UnavailableError
from ..models import IocType, Level, Verdict

if TYPE_CHECKING:
    from .settings import ProviderSettings


class Deadline:
    """Wall-clock budget of one lookup: every wait and every timeout is cut to what is left."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def wall_at(self) -> float:
        """The deadline as an epoch second (what other processes can compare against)."""
        return time.time() + self.remaining()

    def check(self, service: str) -> float:
        left = self.remaining()
        if left <= 0.05:
            raise UnavailableError(
                f"{service}: no answer within the time budget of {self.seconds:g} s", service=service
            )
        return left


@dataclass(frozen=True, slots=True)
class Taxonomy:
    """One TheHive taxonomy label (namespace:predicate=value, coloured by level)."""

    level: Level
    namespace: str
    predicate: str
    value: str | int | float


def envelope(
    service: str,
    ioc_type: IocType,
    indicator: str,
    data: Any,
    *,
    found: bool = True,
    local: str = "",
    fetched_at: float | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The raw record a provider returns and the cache stores: the API body plus what we asked."""
    return {
        "service": service,
        "type": ioc_type.value,
        "indicator": indicator,
        "found": found,
        "local": local,
        "fetched_at": time.time() if fetched_at is None else fetched_at,
        "data": data,
        **extra,
    }


def verdict_from(raw: dict[str, Any], level: Level, score: float | None, summary: str) -> Verdict:
    return Verdict(
        service=raw["service"],
        indicator=raw["indicator"],
        level=level,
        score=score,
        summary=summary,
        raw=raw,
        fetched_at=float(raw.get("fetched_at") or 0.0),
    )


class Provider(Protocol):
    """One threat-intel service. ``fetch`` does I/O; everything else is pure."""

    name: str
    title: str
    supported: frozenset[IocType]
    settings: ProviderSettings
    client: Any  # the ServiceClient (its ``stats`` feed ``Enricher.usage``)
    cache_scope: str  # settings that change the answer, appended to the cache key ("" if none)

    def local_answer(self, ioc_type: IocType, value: str) -> dict[str, Any] | None:
        """A raw envelope answered without a call (private IPs, blacklist snapshot), or None."""

    def fetch(self, ioc_type: IocType, value: str, deadline: Deadline) -> dict[str, Any]:
        """Call the service; raise ``NotFoundError`` when it does not know the indicator."""

    def normalise(self, raw: dict[str, Any]) -> Verdict: ...

    def taxonomies(self, verdict: Verdict) -> list[Taxonomy]: ...

    def details(self, raw: dict[str, Any]) -> dict[str, Any]: ...


def dict_at(value: Any, *path: str) -> dict[str, Any]:
    """``value[path...]`` when every step is a dict, else ``{}`` (answers can be any JSON)."""
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, dict) else {}


def list_at(value: Any, *path: str) -> list[Any]:
    """Like :func:`dict_at` for a list."""
    *head, last = path
    found = dict_at(value, *head).get(last)
    return found if isinstance(found, list) else []


def as_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return 0
