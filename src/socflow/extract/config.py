"""Typed extraction settings (validated once, at the edge that loads them)."""

from __future__ import annotations

import ipaddress
from functools import cached_property

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..models import IocType


class ExtractConfig(BaseModel):
    """What to extract and what to keep. Defaults suit a SOC looking at external threats."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    types: frozenset[IocType] = Field(default_factory=lambda: frozenset(IocType))
    include_private: bool = False
    allowlist: tuple[str, ...] = ()  # CIDRs, IPs and domains (a domain covers its sub-domains)
    max_line_bytes: int = Field(default=1 << 20, ge=256)
    max_samples: int = Field(default=2, ge=0, le=100)
    # Memory is bounded by distinct indicators (~1.5 kB each with samples), not by input size:
    # 40 000 keep a run near 130 MB peak RSS (bench/extract.py). Indicators beyond the cap are
    # counted and reported, never silently lost.
    max_iocs: int = Field(default=40_000, ge=1)
    hashes_in_query_strings: bool = False  # session ids look like MD5s
    format: str | None = None  # force a log format instead of auto-detection

    @field_validator("allowlist")
    @classmethod
    def _check_allowlist(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = []
        for entry in value:
            entry = entry.strip().lower().rstrip(".")
            if not entry:
                continue
            if any(c in entry for c in "/:") or entry.replace(".", "").isdigit():
                try:
                    ipaddress.ip_network(entry, strict=False)
                except ValueError:
                    raise ValueError(f"allowlist entry {entry!r} is not a valid IP or CIDR") from None
            cleaned.append(entry)
        return tuple(cleaned)

    @cached_property
    def allowed_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(
            ipaddress.ip_network(e, strict=False)
            for e in self.allowlist
            if any(c in e for c in "/:") or e.replace(".", "").isdigit()
        )

    @cached_property
    def allowed_domains(self) -> tuple[str, ...]:
        nets = {str(n) for n in self.allowed_networks}
        return tuple(e for e in self.allowlist if e not in nets and not _is_ip_like(e))


def _is_ip_like(entry: str) -> bool:
    try:
        ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return False
    return True
