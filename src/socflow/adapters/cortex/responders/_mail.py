"""Sending one notification mail: TLS required unless the admin explicitly accepts plaintext.

``starttls``: plain connection upgraded with STARTTLS; a server that does not offer STARTTLS is an
error, never a silent plaintext fallback. ``tls``: implicit TLS (SMTPS, usually port 465).
``none``: only with ``allow_plaintext``. Certificates are verified against the system store plus
the PEM text of Cortex's ``cacerts`` item when given.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Annotated, Any, Literal

from msgspec import Meta, field

from ....config import Secret
from ....errors import AuthError, ConfigError, DeliveryError, UnavailableError
from ._settings import ResponderSettings

ADDRESS = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
_DOMAIN = re.compile(
    r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+\.?$"
)
_TAG_PREFIXES = ("mail:", "mail=")
MAX_RECIPIENTS = 50  # tags are written by anyone who can edit the object: no mass mailing
_QUOTES = "\"'“”‘’«» "


class MailSettings(ResponderSettings, kw_only=True):
    smtp_host: Annotated[str, Meta(min_length=1, pattern=r"^[A-Za-z0-9.\-\[\]:]+$")]
    smtp_port: Annotated[int, Meta(ge=1, le=65535)] = 587
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    allow_plaintext: bool = False
    smtp_user: str | None = None
    smtp_password: Secret | None = None
    from_address: str
    to: list[str] = field(default_factory=list)
    recipients_from_tags: bool = True
    recipients_from_observable: bool = False
    recipient_domains: list[str] = field(default_factory=list)
    verify_tls: bool = True
    timeout: Annotated[float, Meta(gt=0, le=300)] = 30.0
    body_format: Literal["text", "html"] = "text"

    def __post_init__(self) -> None:
        if self.smtp_security == "none" and not self.allow_plaintext:
            raise ValueError(
                "smtp_security 'none' sends the message (and any password) in clear "
                "text; set allow_plaintext to true to accept that"
            )
        if not ADDRESS.fullmatch(self.from_address):
            raise ValueError(f"from_address {self.from_address!r} is not a mail address")
        bad = [a for a in self.to if not ADDRESS.fullmatch(a)]
        if bad:
            raise ValueError(f"to: {', '.join(repr(a) for a in bad)} is not a mail address")
        bad = [d for d in self.recipient_domains if not _DOMAIN.fullmatch(d.strip().lower())]
        if bad:
            raise ValueError(
                f"recipient_domains: {', '.join(repr(d) for d in bad)} is not a domain name")
        self.recipient_domains = [d.strip().lower().rstrip(".") for d in self.recipient_domains]
        password = self.smtp_password.get_secret_value() if self.smtp_password else ""
        if bool(self.smtp_user) != bool(password):
            raise ValueError("smtp_user and smtp_password go together")


def tag_recipients(tag_list: list[str]) -> list[str]:
    """Addresses from ``mail:x`` / ``mail=x`` tags; TheHive may keep quotes (``mail:"x"``)."""
    found = []
    for tag in tag_list:
        low = tag.lower()
        for prefix in _TAG_PREFIXES:
            if low.startswith(prefix):
                found.append(tag[len(prefix) :].strip(_QUOTES))
    return found


def observable_recipient(value: Any, domains: list[str]) -> tuple[str | None, str]:
    """The address a ``mail`` observable names, if it may be written to: exactly one plain
    address (no display name, no list, no line break) whose domain is one of ``domains`` or a
    subdomain of one. Observable values come from mail headers an attacker wrote, so anything
    else is refused: ``(None, reason)``."""
    if not isinstance(value, str) or not ADDRESS.fullmatch(value):
        return None, "not one plain mail address"
    domain = value.rsplit("@", 1)[1].lower()
    if not domains:
        return None, "recipient_domains is empty: no observable address may be written to"
    if not any(domain == d or domain.endswith("." + d) for d in domains):
        return None, f"{domain} is not one of the recipient_domains"
    return value, ""


def split_recipients(candidates: list[str]) -> tuple[list[str], list[str]]:
    """(valid unique addresses in order, rejected ones)."""
    good: list[str] = []
    bad: list[str] = []
    for address in candidates:
        if ADDRESS.fullmatch(address) and address.lower() not in (g.lower() for g in good):
            good.append(address)
        elif not ADDRESS.fullmatch(address):
            bad.append(address)
    return good, bad


def build_message(
    settings: MailSettings, recipients: list[str], subject: str, body: str, object_id: str
) -> EmailMessage:
    """The message; ``body`` is HTML (values already HTML-escaped) when ``body_format`` is html."""
    msg = EmailMessage()
    msg["From"] = settings.from_address
    msg["To"] = ", ".join(recipients)
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain=settings.from_address.rsplit("@", 1)[1])
    msg["Auto-Submitted"] = "auto-generated"
    if object_id:
        msg["X-TheHive-Object"] = object_id
    if settings.body_format == "html":
        msg.set_content(body, subtype="html", charset="utf-8")
    else:
        msg.set_content(body, charset="utf-8")
    return msg


def _context(settings: MailSettings, cacerts: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if cacerts and cacerts.strip():
        try:
            context.load_verify_locations(cadata=cacerts)
        except ssl.SSLError as exc:
            raise ConfigError(
                f"configuration item cacerts is not valid PEM: {exc.reason}"
            ) from None
    if not settings.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def send(
    settings: MailSettings, msg: EmailMessage, recipients: list[str], cacerts: str | None
) -> list[str]:
    """Deliver ``msg``; returns the recipients the server refused while accepting others."""
    where = f"{settings.smtp_host}:{settings.smtp_port}"
    context = _context(settings, cacerts)
    try:
        if settings.smtp_security == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                settings.smtp_host, settings.smtp_port, timeout=settings.timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.timeout)
        with smtp:
            smtp.ehlo()
            if settings.smtp_security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise DeliveryError(
                        f"the SMTP server {where} does not offer STARTTLS; refusing to "
                        "send in plaintext (use smtp_security tls, or none with "
                        "allow_plaintext)",
                        permanent=True,
                    )
                smtp.starttls(context=context)
                smtp.ehlo()
            if settings.smtp_user and settings.smtp_password:
                smtp.login(settings.smtp_user, settings.smtp_password.get_secret_value())
            refused = smtp.send_message(msg, to_addrs=recipients)
    except smtplib.SMTPAuthenticationError as exc:
        raise AuthError(
            f"the SMTP server {where} refused the login (code {exc.smtp_code})", service="smtp"
        ) from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryError(
            f"the SMTP server refused every recipient: {', '.join(exc.recipients)}", permanent=True
        ) from None
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(
            f"the SMTP server {where} answered {exc.smtp_code}: "
            f"{exc.smtp_error.decode('utf-8', 'replace')[:200]}"
        ) from None
    except ssl.SSLError as exc:
        raise DeliveryError(
            f"TLS with {where} failed: {exc.reason or exc}", permanent=True
        ) from None
    except (TimeoutError, smtplib.SMTPException, OSError) as exc:
        raise UnavailableError(
            f"cannot talk to the SMTP server {where}: {type(exc).__name__}: {exc}", service="smtp"
        ) from None
    return sorted(refused)
