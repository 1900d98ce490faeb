"""Typed settings of alert building (what the bridge's config file says under ``alerts:``)."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Hygiene = Literal["exclude", "tag", "keep"]


class AlertSettings(BaseModel):
    """How detections become TheHive alerts.

    ``private``: observables that are not public IP addresses (RFC 1918, loopback, CGNAT, …) are
    dropped (``exclude``), kept with the tag ``socflow:non-public`` and ``ignoreSimilarity``
    (``tag``, the default: they explain the alert but must not link unrelated cases) or kept as is.
    ``allowlist``: addresses, networks (CIDR) and domains (with their sub-domains) you trust;
    ``allowlisted`` says what happens to matching observables.
    """

    model_config = ConfigDict(extra="forbid")
    type: str = Field(default="socflow", min_length=1, max_length=32)
    source: str = Field(default="socflow", min_length=1, max_length=32)
    max_observables: int = Field(default=100, ge=1, le=10_000)
    sample_lines: int = Field(default=10, ge=0, le=100)
    private: Hygiene = "tag"
    allowlist: list[str] = Field(default_factory=list)
    allowlisted: Literal["exclude", "tag"] = "exclude"
    tags: list[str] = Field(default_factory=list, description="added to every alert")

    @field_validator("allowlist")
    @classmethod
    def _entries(cls, value: list[str]) -> list[str]:
        out = []
        for entry in value:
            entry = entry.strip().lower().rstrip(".")
            if "/" in entry:
                try:
                    ipaddress.ip_network(entry, strict=False)
                except ValueError:
                    raise ValueError(f"allowlist entry {entry!r} is not a valid network") from None
            if not entry:
                raise ValueError("allowlist entries must not be empty")
            out.append(entry)
        return out

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        for tag in value:
            if not 1 <= len(tag) <= 128:
                raise ValueError("tags must be 1-128 characters")
        return value
