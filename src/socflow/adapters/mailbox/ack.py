"""Acknowledging a report to the person who sent it, through the Notify responder's mail path.

The settings are Socflow_Notify_Mail's (``smtp_host``, ``smtp_port``, ``smtp_security``,
``allow_plaintext``, ``smtp_user``, ``from_address``, ``verify_tls``, ``timeout``,
``body_format``) plus its ``subject_template`` / ``body_template`` and ``cacerts``, read from a
YAML file (``--ack-config``); the SMTP password comes from ``SOCFLOW_SMTP_PASSWORD``. Templates
are rendered by the responder's sandbox (``_render``: every value escaped for the destination,
bounded time and size) with the alert as the TheHive object and three more values:
``verdict``, ``subject`` (the reported message's) and ``reporter``. The message goes only to
the reporter's address, TLS required as for the responder — and only when that address is in one
of ``reporter_domains`` (default: the mail policy's ``own_domains``): anyone on the Internet can
write to a reporting mailbox, and a forged "report" must not make socflow mail a stranger.
"""

from __future__ import annotations

import os
from typing import Any

from ...classify import yamlfile
from ...config import convert
from ...errors import ConfigError
from ..cortex.responders import _mail, _render

DEFAULT_SUBJECT = "Thank you for your report: {{ subject }}"
DEFAULT_BODY = (
    "Thank you for reporting this message to the security team.\n\n"
    "Subject: {{ subject }}\n"
    "First assessment: {{ verdict }}\n\n"
    "An analyst will look at it. Please do not open its links or attachments, and delete it.\n"
)
_SETTINGS = set(_mail.MailSettings.__struct_fields__) - {"to", "recipients_from_tags",
                                                         "smtp_password"}
_EXTRA = {"subject_template", "body_template", "cacerts", "reporter_domains"}


class Acknowledger:
    def __init__(self, settings: _mail.MailSettings, subject: str, body: str,
                 cacerts: str | None, reporter_domains: list[str]) -> None:
        self.settings, self.subject, self.body, self.cacerts = settings, subject, body, cacerts
        self.reporter_domains = [d.lower().strip(".") for d in reporter_domains]

    def allowed(self, reporter: str) -> bool:
        """Whether ``reporter`` is one plain address (what the Notify mail path writes to) in one
        of the organisation's domains (sub-domains included): the check Socflow_Notify_Mail
        makes of an observable's address against its ``recipient_domains``."""
        return _mail.observable_recipient(reporter, self.reporter_domains)[0] is not None

    @classmethod
    def from_file(cls, path: str, default_domains: list[str] = ()) -> Acknowledger:  # type: ignore[assignment]
        data, lines = yamlfile.load_file(path)
        if not isinstance(data, dict):
            raise ConfigError(f"{path}:1: the acknowledgement config must be a mapping "
                              "(smtp_host:, from_address:, …)")
        unknown = sorted(set(data) - _SETTINGS - _EXTRA)
        if unknown:
            line = lines.get((unknown[0],), 1) if isinstance(lines, dict) else 1
            raise ConfigError(f"{path}:{line}: {unknown[0]}: unknown setting (known: "
                              f"{', '.join(sorted(_SETTINGS | _EXTRA))})")
        values = {k: v for k, v in data.items() if k in _SETTINGS}
        password = os.environ.get("SOCFLOW_SMTP_PASSWORD") or None
        if password:
            values["smtp_password"] = password
        if values.get("smtp_user") and not password:  # before the settings' own check, whose
            # "smtp_user and smtp_password go together" names a setting this file may not hold
            raise ConfigError(f"{path}: smtp_user is set: the password comes from "
                              "SOCFLOW_SMTP_PASSWORD")
        settings = convert(values, _mail.MailSettings, f"{path}: ")
        for key in ("subject_template", "body_template", "cacerts"):
            if key in data and not isinstance(data[key], str):
                raise ConfigError(f"{path}: {key} must be text")
        domains = data.get("reporter_domains", list(default_domains))
        if not isinstance(domains, list) or not all(isinstance(d, str) and d for d in domains):
            raise ConfigError(f"{path}: reporter_domains must be a list of domains")
        if "reporter_domains" in data:  # checked as Socflow_Notify_Mail's recipient_domains: a
            # '*.contoso.com' or 'contoso.com ' would otherwise never match and skip everyone
            bad = [d for d in domains if not _mail._DOMAIN.fullmatch(d.strip().lower())]
            if bad:
                raise ConfigError(f"{path}: reporter_domains: {bad[0]!r} is not a domain name")
            domains = [d.strip().lower().rstrip(".") for d in domains]
        if not domains:
            raise ConfigError(
                f"{path}: reporter_domains is empty and the mail policy names no own_domains: "
                "acknowledgements go only to your organisation's addresses")
        ack = cls(settings, data.get("subject_template") or DEFAULT_SUBJECT,
                  data.get("body_template") or DEFAULT_BODY, data.get("cacerts"), domains)
        ack.render({"title": "check", "severity": 1, "tags": [], "description": ""},
                   {"verdict": "safe", "subject": "check", "reporter": "a@example.org"})
        return ack

    def render(self, alert: dict[str, Any], extra: dict[str, str]) -> tuple[str, str]:
        values = _render.context(alert, "thehive:alert", None, None)
        values.update(extra)
        escape = "html" if self.settings.body_format == "html" else "plain"
        subject = _render.render(self.subject, values, "header", item="subject_template")
        subject = _render.header(subject)[: _render.MAX_SUBJECT]
        body = _render.render(self.body, values, escape, item="body_template")
        return subject, body

    def send(self, reporter: str, alert: dict[str, Any], extra: dict[str, str]) -> None:
        """Raises DeliveryError / UnavailableError / AuthError (one line) when it fails."""
        recipients, _ = _mail.split_recipients([reporter])
        if not recipients:
            raise ConfigError(f"the reporter's address {reporter!r} is not one to write to")
        subject, body = self.render(alert, extra)
        msg = _mail.build_message(self.settings, recipients, subject, body, "")
        _mail.send(self.settings, msg, recipients, self.cacerts)

