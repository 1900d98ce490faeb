"""Typed configuration of the block-list service, built once by the CLI."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from ...errors import ConfigError
from ...policy import BlockPolicy

MIN_TOKEN_LENGTH = 16
# docker/env.example ships SOCFLOW_BLOCKLIST_TOKEN=change-me-at-least-16-chars: a copied example
# file would otherwise start a service anyone who read the example can write to.
PLACEHOLDER_TOKENS = ("change-me",)
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str | int | None) -> int | None:
    """``"3600"``, ``"90m"``, ``"12h"``, ``"7d"`` → seconds; ``0``/``"never"``/None → None."""
    if text is None:
        return None
    if isinstance(text, int):
        return text or None
    if text.strip().lower() in ("", "0", "never", "none"):
        return None
    match = _DURATION.match(text)
    if not match:
        raise ConfigError(
            f"duration {text!r} is not understood (use e.g. 3600, 90m, 12h, 7d, never)"
        )
    return int(match.group(1)) * _UNITS[match.group(2).lower()] or None


class ServiceSettings(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    db_path: Path
    token: SecretStr
    allowlist: tuple[str, ...] = ()
    widest_v4: int = Field(24, ge=0, le=32)
    widest_v6: int = Field(48, ge=0, le=128)
    default_ttl_seconds: int | None = Field(None, ge=1)
    max_ttl_seconds: int | None = Field(None, ge=1)
    max_entries: int | None = Field(None, ge=1)
    edl_user: str | None = None
    edl_password: SecretStr | None = None

    @field_validator("token")
    @classmethod
    def _token_long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < MIN_TOKEN_LENGTH:
            raise ValueError(f"the API token must be at least {MIN_TOKEN_LENGTH} characters")
        if any(p in value.get_secret_value().lower() for p in PLACEHOLDER_TOKENS):
            raise ValueError(
                "the API token is the placeholder of docker/env.example; generate one "
                "(openssl rand -hex 24)"
            )
        return value

    def policy(self) -> BlockPolicy:
        return BlockPolicy(
            allowlist=self.allowlist, widest_v4=self.widest_v4, widest_v6=self.widest_v6
        )

    def stored_policy(self) -> dict[str, Any]:
        """What the service stores with its state for ``socflow blocklist add`` (no secrets)."""
        return {
            "allowlist": list(self.allowlist),
            "widest_v4": self.widest_v4,
            "widest_v6": self.widest_v6,
            "default_ttl_seconds": self.default_ttl_seconds,
            "max_ttl_seconds": self.max_ttl_seconds,
            "max_entries": self.max_entries,
        }


class StoredPolicy(BaseModel):
    """The policy read back from the database (defaults: a service started with no options)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    allowlist: tuple[str, ...] = ()
    widest_v4: int = Field(24, ge=0, le=32)
    widest_v6: int = Field(48, ge=0, le=128)
    default_ttl_seconds: int | None = Field(7 * 86400, ge=1)
    max_ttl_seconds: int | None = Field(None, ge=1)
    max_entries: int | None = Field(None, ge=1)

    def policy(self) -> BlockPolicy:
        return BlockPolicy(
            allowlist=self.allowlist, widest_v4=self.widest_v4, widest_v6=self.widest_v6
        )

    def ttl(self, requested: int | None, *, use_default: bool) -> int | None:
        """The expiry the service would give: its default when none is asked, capped."""
        ttl = self.default_ttl_seconds if use_default else requested
        if self.max_ttl_seconds and (ttl is None or ttl > self.max_ttl_seconds):
            ttl = self.max_ttl_seconds
        return ttl


def read_allowlist(path: Path) -> list[str]:
    """One IP, CIDR or domain per line; ``#`` starts a comment.

    A bad line is named by its number, never quoted: the wrong file (a secrets file) may have been
    given, and its contents must not end up on a terminal or in a log.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"cannot read allowlist {path}: {reason or exc}") from None
    entries = []
    for number, line in enumerate(lines, 1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        try:
            BlockPolicy(allowlist=[entry])
        except ConfigError:
            raise ConfigError(
                f"allowlist {path}, line {number}: not an IP, CIDR or domain (line not shown)"
            ) from None
        entries.append(entry)
    return entries
