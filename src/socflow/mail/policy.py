"""The mail policy: organisation settings, finding weights and verdict thresholds (YAML).

The shipped defaults live in ``socflow/data/mail/policy.yml``; an organisation's file is laid over
them (``weights``, ``lists``, ``thresholds``, ``limits`` and ``organisation.protected_names``
merge key by key; other ``organisation`` fields replace the default field). Every problem is reported as ``file:line: key: problem``
(``socflow.classify.yamlfile``, the same loader the detection rules use).
"""

from __future__ import annotations

from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..classify import yamlfile
from ..errors import ConfigError

DEFAULT_POLICY = "policy.yml"

# Every finding code the mail stage can emit; a weight for an unknown code is a typo.
FINDING_CODES = frozenset({
    # authentication
    "auth.dmarc_fail", "auth.dmarc_pass", "auth.spf_fail", "auth.spf_softfail", "auth.dkim_fail",
    "auth.not_aligned", "auth.compauth_fail", "auth.none", "auth.forged_results",
    "auth.dkim_body_hash_mismatch", "auth.dkim_length_tag", "auth.own_domain_spoof",
    # origin
    "origin.no_received", "origin.time_travel", "origin.private_relay", "origin.first_external",
    # identity
    "identity.reply_to_mismatch", "identity.reply_to_freemail", "identity.return_path_mismatch",
    "identity.sender_mismatch", "identity.display_name_address", "identity.display_name_brand",
    "identity.lookalike_domain", "identity.punycode_domain", "identity.mixed_script_domain",
    "identity.allowlisted_sender", "identity.no_from",
    # content
    "content.link_mismatch", "content.shortener", "content.data_uri", "content.credential_form",
    "content.form", "content.html_smuggling", "content.ip_url", "content.lookalike_url",
    "content.punycode_url", "content.lure", "content.meta_refresh", "content.qr_code",
    # attachments
    "attachment.executable", "attachment.script", "attachment.double_extension",
    "attachment.type_mismatch", "attachment.disk_image", "attachment.shortcut",
    "attachment.onenote", "attachment.html", "attachment.archive_encrypted",
    "attachment.archive_password_in_body", "attachment.archive_nested",
    "attachment.archive_executable", "attachment.archive_unread", "attachment.macro",
    "attachment.macro_suspicious", "attachment.pdf_javascript", "attachment.pdf_action",
    "attachment.bidi_filename", "attachment.office_encrypted",
    # threat intel (only with enrichment)
    "intel.malicious", "intel.suspicious",
    # message / report
    "message.defects", "message.truncated", "report.multiple_messages",
})


class Thresholds(BaseModel):
    model_config = ConfigDict(extra="forbid")
    suspicious: float = 3.0
    malicious: float = 6.0

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.malicious < self.suspicious:
            raise ValueError("malicious must not be lower than suspicious")
        return self


def _domains(values: list[str]) -> list[str]:
    out = []
    for value in values:
        value = str(value).strip().lower().rstrip(".")
        if not value or " " in value or "/" in value:
            raise ValueError(f"{value!r} is not a domain name")
        try:
            value = value.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValueError(f"{value!r} is not a domain name") from None
        out.append(value)
    return out


class Allowlist(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Mail from these addresses or domains is not scored for identity/content (only once the
    # trusted authentication results pass and align: a forged From gets no free pass).
    senders: list[str] = Field(default_factory=list)
    # Links and indicators on these domains (and sub-domains) are not flagged: your ESP, CRM…
    domains: list[str] = Field(default_factory=list)

    @field_validator("domains")
    @classmethod
    def _dom(cls, value: list[str]) -> list[str]:
        return _domains(value)

    @field_validator("senders")
    @classmethod
    def _senders(cls, value: list[str]) -> list[str]:
        return [v.strip().lower() for v in value if v.strip()]


class Organisation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    own_domains: list[str] = Field(default_factory=list)
    # authserv-ids of your own receiving MTAs (RFC 8601 §5: only these are believed)
    trusted_authserv_ids: list[str] = Field(default_factory=list)
    # ``by`` host names (or suffixes starting with ".") of your own receiving MTAs
    receiving_hosts: list[str] = Field(default_factory=list)
    # Believe Microsoft 365's id-less Authentication-Results when Exchange Online delivered the
    # message, and mx.google.com's when Gmail did (see docs/phishing.md).
    trust_microsoft365: bool = True
    trust_google: bool = True
    protected_domains: list[str] = Field(default_factory=list)
    # display name -> domains that may use it ("PayPal": [paypal.com])
    protected_names: dict[str, list[str]] = Field(default_factory=dict)
    allowlist: Allowlist = Field(default_factory=Allowlist)

    @field_validator("own_domains", "protected_domains")
    @classmethod
    def _dom(cls, value: list[str]) -> list[str]:
        return _domains(value)

    @field_validator("protected_names")
    @classmethod
    def _names(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        out = {}
        for name, domains in value.items():
            name = str(name).strip()
            if len(name) < 3:
                raise ValueError(f"protected name {name!r} is too short (3 characters or more)")
            out[name] = _domains(domains)
        return out

    @field_validator("trusted_authserv_ids", "receiving_hosts")
    @classmethod
    def _lower(cls, value: list[str]) -> list[str]:
        return [v.strip().lower() for v in value if v.strip()]


class Lists(BaseModel):
    model_config = ConfigDict(extra="forbid")
    shorteners: list[str] = Field(default_factory=list)
    freemail: list[str] = Field(default_factory=list)
    lures: list[str] = Field(default_factory=list)  # phrases, case-insensitive

    @field_validator("shorteners", "freemail")
    @classmethod
    def _dom(cls, value: list[str]) -> list[str]:
        return _domains(value)

    @field_validator("lures")
    @classmethod
    def _lures(cls, value: list[str]) -> list[str]:
        return [v.strip().lower() for v in value if v.strip()]


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_message_bytes: int = Field(default=100 << 20, ge=1 << 16)
    max_parts: int = Field(default=1000, ge=1)
    max_depth: int = Field(default=20, ge=1)
    max_attachment_scan_bytes: int = Field(default=32 << 20, ge=1 << 10)  # archive/Office/PDF
    max_archive_members: int = Field(default=1000, ge=1)
    max_html_chars: int = Field(default=2 << 20, ge=1024)
    max_links: int = Field(default=500, ge=1)


class MailPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = 1
    thresholds: Thresholds = Field(default_factory=Thresholds)
    organisation: Organisation = Field(default_factory=Organisation)
    weights: dict[str, float] = Field(default_factory=dict)
    lists: Lists = Field(default_factory=Lists)
    limits: Limits = Field(default_factory=Limits)

    @field_validator("version")
    @classmethod
    def _version(cls, value: int) -> int:
        if value != 1:
            raise ValueError("only version 1 is known")
        return value

    @field_validator("weights")
    @classmethod
    def _weights(cls, value: dict[str, float]) -> dict[str, float]:
        for code, weight in value.items():
            if code not in FINDING_CODES:
                raise ValueError(f"unknown finding {code!r} (see docs/phishing.md for the list)")
            if not -50 <= weight <= 50:
                raise ValueError(f"weight of {code} must be between -50 and 50")
        return value

    def weight(self, code: str) -> float:
        return self.weights.get(code, 0.0)

    @cached_property
    def protected(self) -> frozenset[str]:
        org = self.organisation
        names = {d for ds in org.protected_names.values() for d in ds}
        return frozenset({*org.own_domains, *org.protected_domains, *names})

    def allowed_domain(self, host: str) -> bool:
        return any(host == d or host.endswith("." + d)
                   for d in self.organisation.allowlist.domains)


def default_policy_text() -> str:
    return (resources.files("socflow") / "data" / "mail" / DEFAULT_POLICY).read_text(
        encoding="utf-8")


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if key in ("weights", "lists", "thresholds", "limits") and isinstance(value, dict) \
                and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        elif key == "organisation" and isinstance(value, dict) and isinstance(out.get(key), dict):
            merged = {**out[key], **value}
            names = value.get("protected_names")
            if isinstance(names, dict) and isinstance(out[key].get("protected_names"), dict):
                merged["protected_names"] = {**out[key]["protected_names"], **names}
            out[key] = merged
        else:
            out[key] = value
    return out


def _validate(data: Any, source: str, lines: dict) -> MailPolicy:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}:1: a mail policy is a mapping (thresholds, organisation, "
                          "weights, lists, limits)")
    try:
        return MailPolicy.model_validate(data)
    except ValidationError as exc:
        raise yamlfile.config_error(exc, source, lines) from None


def load_policy(path: str | Path | None = None, *, text: str | None = None) -> MailPolicy:
    """The shipped defaults, overlaid with ``path`` (or ``text``) when given."""
    base, base_lines = yamlfile.load(default_policy_text(), f"<default mail policy {DEFAULT_POLICY}>")
    if path is None and text is None:
        return _validate(base, "<default mail policy>", base_lines)
    if text is not None:
        source = "<policy>"
        over, lines = yamlfile.load(text, source)
    else:
        source = str(path)
        over, lines = yamlfile.load_file(path)  # type: ignore[arg-type]
    if over is None:
        over = {}
    if not isinstance(over, dict):
        raise ConfigError(f"{source}:1: a mail policy is a mapping (thresholds, organisation, "
                          "weights, lists, limits)")
    weights = over.get("weights")
    if isinstance(weights, dict):
        for code in weights:
            if code not in FINDING_CODES:
                raise ConfigError(
                    f"{source}:{yamlfile.line_of(lines, ('weights', code))}: weights.{code}: "
                    "unknown finding (docs/phishing.md lists them)")
    return _validate(_merge(base, over), source, lines)


def policy_from_settings(policy_yaml: str, organisation: dict[str, Any]) -> MailPolicy:
    """A policy from a job's settings (the analyzer's configuration items): ``policy_yaml`` laid
    over the defaults, then these ``organisation`` fields (lists of domains/ids/hosts)."""
    policy = load_policy(text=policy_yaml) if policy_yaml.strip() else load_policy()
    if not organisation:
        return policy
    data = policy.model_dump()
    data["organisation"] = {**data["organisation"], **organisation}
    try:
        return MailPolicy.model_validate(data)
    except ValidationError as exc:
        from ..errors import validation_summary

        raise ConfigError(f"invalid configuration: {validation_summary(exc)}") from None
