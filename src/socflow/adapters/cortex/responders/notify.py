"""Socflow_Notify_Mail and Socflow_Notify_Webhook: tell people about a case, alert or observable.

Both render the admin's Jinja2 subject/body templates (sandboxed, values escaped for the
destination, see ``_render``) from the TheHive object and tag it ``socflow:notified``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ....errors import ConfigError, InputError
from ..base import SocflowResponder
from . import _render
from ._settings import settings_from
from ._thehive import entity, tags

TAG = "socflow:notified"


class _Notify(SocflowResponder):
    DATA_TYPES = ("thehive:case", "thehive:alert", "thehive:case_artifact")
    ESCAPE: ClassVar[str] = "plain"

    def message(self) -> tuple[dict[str, Any], dict[str, Any], str, str]:
        """(TheHive object, template values, subject, body)."""
        obj = entity(self.get_data(), self.data_type)
        values = _render.context(
            obj, self.data_type, self._input.get("parameters"), self.config("api_url")
        )
        subject_source = self.config("subject_template") or _render.DEFAULT_SUBJECT
        default_body = _render.DEFAULT_HTML_BODY if self.ESCAPE == "html" else _render.DEFAULT_BODY
        body_source = self.config("body_template") or default_body
        subject_escape = "header" if self.ESCAPE in ("plain", "html") else self.ESCAPE
        subject = _render.render(subject_source, values, subject_escape, item="subject_template")
        subject = _render.header(subject)[: _render.MAX_SUBJECT]
        body = _render.render(body_source, values, self.ESCAPE, item="body_template")
        return obj, values, subject, body

    def operations(self, raw: Any) -> list[dict[str, Any]]:
        op = "AddTagToAlert" if self.data_type == "thehive:alert" else "AddTagToCase"
        return [self.build_operation(op, tag=TAG)]


class NotifyMailResponder(_Notify):
    SECRET_CONFIG = frozenset({"smtp_password"})

    @property
    def ESCAPE(self) -> str:  # type: ignore[override]  # text or HTML mail
        return "html" if self.config("body_format") == "html" else "plain"

    def respond(self) -> dict[str, Any]:
        from . import _mail  # smtplib/ssl/email: only the mail responder's process loads them

        settings = settings_from(self, _mail.MailSettings)
        obj, values, subject, body = self.message()
        if settings.recipients_from_observable and self.data_type == "thehive:case_artifact":
            return self._to_observable(settings, obj, values, subject, body)
        candidates = list(settings.to)
        if settings.recipients_from_tags:
            candidates += _mail.tag_recipients(tags(obj))
        recipients, rejected = _mail.split_recipients(candidates)
        if not recipients:
            why = f" (not addresses: {', '.join(repr(r) for r in rejected)})" if rejected else ""
            raise InputError(
                f"no recipient: set the 'to' item or tag the {values['kind']} mail:<address>{why}"
            )
        if len(recipients) > _mail.MAX_RECIPIENTS:
            raise InputError(
                f"{len(recipients)} recipients is more than {_mail.MAX_RECIPIENTS}; "
                "check the mail: tags of the object"
            )
        msg = _mail.build_message(settings, recipients, subject, body, values["id"])
        refused = _mail.send(settings, msg, recipients, self.config("cacerts"))
        return {
            "channel": "mail",
            "subject": subject,
            "sent_to": [r for r in recipients if r not in refused],
            "refused_by_server": refused,
            "ignored_recipients": rejected,
            "server": f"{settings.smtp_host}:{settings.smtp_port}",
            "security": settings.smtp_security,
        }


    def _to_observable(self, settings: Any, obj: dict[str, Any], values: dict[str, Any],
                       subject: str, body: str) -> dict[str, Any]:
        """recipients_from_observable: a ``mail`` observable is its own recipient (the reporter
        or a recipient of a reported mail), alone, and only inside ``recipient_domains``. A
        refused address is not an error: the report says why and nothing is sent."""
        from . import _mail

        result: dict[str, Any] = {"channel": "mail", "subject": subject, "sent_to": [],
                                  "refused_by_server": [], "skipped_recipients": [],
                                  "server": f"{settings.smtp_host}:{settings.smtp_port}",
                                  "security": settings.smtp_security}
        value = obj.get("data")
        if obj.get("dataType") != "mail":
            reason = f"a {str(obj.get('dataType'))[:40]} observable is not a mail address"
            address = None
        else:
            address, reason = _mail.observable_recipient(value, settings.recipient_domains)
        if address is None:
            result["skipped_recipients"] = [{"address": str(value)[:200], "reason": reason}]
            return result
        msg = _mail.build_message(settings, [address], subject, body, values["id"])
        refused = _mail.send(settings, msg, [address], self.config("cacerts"))
        result["sent_to"] = [] if refused else [address]
        result["refused_by_server"] = refused
        return result

    def operations(self, raw: Any) -> list[dict[str, Any]]:
        if isinstance(raw, dict) and raw.get("skipped_recipients") and not raw.get("sent_to"):
            return []  # nothing went out: the observable is not tagged notified
        return super().operations(raw)


class NotifyWebhookResponder(_Notify):
    SECRET_CONFIG = frozenset({"webhook_url"})

    @property
    def ESCAPE(self) -> str:  # type: ignore[override]  # depends on the configured format
        from . import _webhook

        return _webhook.ESCAPE.get(str(self.config("format", "slack")), "plain")

    def respond(self) -> dict[str, Any]:
        from . import _webhook  # requests: only the webhook responder's process loads it

        settings = settings_from(self, _webhook.WebhookSettings)
        if not settings.webhook_url.get_secret_value().startswith(("https://", "http://")):
            raise ConfigError("configuration item webhook_url must be an http(s) URL")
        _, values, subject, body = self.message()
        status = _webhook.post(settings, _webhook.payload(settings.format, subject, body, values))
        return {"channel": settings.format, "subject": subject, "http_status": status}
