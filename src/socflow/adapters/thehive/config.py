"""The bridge's configuration file (``socflow ingest --config FILE``), typed and validated once.

Precedence: command-line flags, then ``SOCFLOW_*`` environment variables, then this file, then the
defaults. Relative paths in the file (rule files, feeds, CA bundle, state dir) are relative to it.
Errors name the file, the line and the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from ...classify import yamlfile
from ...emit.settings import AlertSettings
from ...enrich.config import EnrichConfig
from ...errors import ConfigError
from ...warninglists import WarningListSettings
from .sender import TheHiveSettings


class WarningListsConfig(BaseModel):
    """MISP warning lists that tag alert observables (``warninglist:<name>``): the defaults (top
    domains, public resolvers, cloud/CDN ranges, documentation/RFC ranges) plus ``add`` minus
    ``disable``; ``enabled: false`` checks none."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    add: list[str] = Field(default_factory=list)
    disable: list[str] = Field(default_factory=list)

    def settings(self) -> WarningListSettings:
        return WarningListSettings(enabled=self.enabled, add=tuple(self.add), disable=tuple(self.disable))

    @model_validator(mode="after")
    def _known(self) -> WarningListsConfig:
        try:
            self.settings().names()
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return self


class EnrichmentSettings(BaseModel):
    """Enrichment before alerting (off unless ``enabled``): the intel layer's own settings below."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = False
    # Off by default: it looks up every public indicator of every line, which free quotas
    # (VirusTotal: 4 a minute) cannot sustain and the intel layer then waits for.
    intel_rule: bool = Field(
        default=False, description="let malicious verdicts fire the intel-hit rule"
    )
    # Off by default: values on a MISP warning list (google.com, 8.8.8.8) are not worth quota.
    # When on, their verdicts are tagged on the observable but never raise the alert's severity.
    warninglisted: bool = Field(
        default=False, description="also look up observables that are on a MISP warning list"
    )
    config: EnrichConfig = Field(default_factory=EnrichConfig)


class BridgeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    thehive: TheHiveSettings = Field(default_factory=TheHiveSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    rules: list[str] = Field(
        default_factory=list, description="extra rule files, after the defaults"
    )
    default_rules: bool = True
    disable_rules: list[str] = Field(default_factory=list)
    intel_feeds: list[str] = Field(default_factory=list)
    warninglists: WarningListsConfig = Field(default_factory=WarningListsConfig)
    enrichment: EnrichmentSettings = Field(default_factory=EnrichmentSettings)
    state_dir: str | None = None
    state_url: str | None = Field(
        default=None,
        description="shared rule windows and alert claims for several bridge workers: "
        "sqlite:///path (one host) or redis(s)://[user@]host:port/db; the password only in "
        "SOCFLOW_STATE_PASSWORD",
    )
    window_grace: int = Field(
        default=300, ge=0, le=86400, description="seconds late events may arrive"
    )
    max_line_bytes: int = Field(default=1 << 20, ge=256, le=64 << 20)
    commit_bytes: int = Field(
        default=8 << 20, ge=4096, description="bytes read between outbox commits"
    )
    max_alerts_per_rule: int | None = Field(
        default=10_000,
        ge=1,
        description="alerts of one rule per run before the rest are folded into one summary "
        "alert per window (null: no cap)",
    )
    deliver_timeout: float = Field(
        default=60.0,
        ge=0,
        le=86400,
        description="how long a file run keeps trying to deliver at its end",
    )


def _relative(base: Path, value: str | None) -> str | None:
    if value is None:
        return None
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else base / path)


def load_config(path: str | None) -> BridgeConfig:
    if path is None:
        return BridgeConfig()
    data, lines = yamlfile.load_file(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}:1: the config file must be a mapping (thehive:, alerts:, rules:, …)"
        )
    try:
        config = BridgeConfig.model_validate(data)
    except ValidationError as exc:
        raise yamlfile.config_error(exc, path, lines) from None
    base = Path(path).resolve().parent
    config.rules = [_relative(base, r) or r for r in config.rules]
    config.intel_feeds = [_relative(base, r) or r for r in config.intel_feeds]
    config.state_dir = _relative(base, config.state_dir)
    config.thehive.ca_bundle = _relative(base, config.thehive.ca_bundle)
    return config


def apply_overrides(config: BridgeConfig, **flags: Any) -> BridgeConfig:
    """Flags (and the environment, which click folds into them) win over the file."""
    th = config.thehive
    if flags.get("thehive_url"):
        try:
            th.url = TheHiveSettings(url=flags["thehive_url"]).url
        except ValidationError as exc:
            reason = exc.errors(include_url=False)[0]["msg"].removeprefix("Value error, ")
            raise ConfigError(f"--thehive-url / SOCFLOW_THEHIVE_URL: {reason}") from None
    if flags.get("thehive_key"):
        th.api_key = SecretStr(flags["thehive_key"])
    if flags.get("organisation"):
        th.organisation = flags["organisation"]
    if flags.get("ca_bundle"):
        th.ca_bundle = flags["ca_bundle"]
    if flags.get("state_dir"):
        config.state_dir = flags["state_dir"]
    if flags.get("state_url"):
        config.state_url = flags["state_url"]
    if th.ca_bundle and not Path(th.ca_bundle).is_file():
        raise ConfigError(f"CA bundle {th.ca_bundle}: no such file")
    return config
