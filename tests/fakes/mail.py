"""A real SMTP server for the tests (aiosmtpd) with STARTTLS or implicit TLS.

The certificate chain (a CA and a ``localhost``/``127.0.0.1`` server certificate) is generated at
test time with ``cryptography``; ``FakeSMTP.ca_pem`` is what a client must trust. Modes:
``starttls`` (STARTTLS offered and required before AUTH/MAIL), ``tls`` (implicit TLS) and
``plain`` (no TLS at all — the server a client must refuse to talk to). Every accepted message
is kept with whether it travelled over TLS and which login was used.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import tempfile
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

USER, PASSWORD = "notifier", "smtp-secret-Pa55w0rd"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_certificates(folder: Path) -> tuple[str, Path, Path]:
    """(CA PEM text, server cert file, server key file)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("socflow test CA")).issuer_name(_name("socflow test CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    san = x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                       x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    cert = (x509.CertificateBuilder().subject_name(_name("localhost")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(san, critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_file, key_file = folder / "server.pem", folder / "server.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return ca.public_bytes(serialization.Encoding.PEM).decode("ascii"), cert_file, key_file


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    tls: bool
    login: str | None

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.raw, policy=policy.default)  # type: ignore[return-value]


class _Handler:
    def __init__(self, box: list[Received], implicit_tls: bool) -> None:
        self.box = box
        self.implicit_tls = implicit_tls  # aiosmtpd leaves session.ssl empty for SMTPS sessions
        self.logins: list[tuple[str, bool]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        self.box.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content
                                 or envelope.content, self.implicit_tls or bool(session.ssl), login))
        return "250 Message accepted for delivery"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == (USER, PASSWORD)
        self.logins.append((data.login.decode() if isinstance(data, LoginPassword) else "?",
                            self.implicit_tls or bool(session.ssl)))
        return AuthResult(success=ok, handled=False, auth_data=data)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FakeSMTP:
    """``with FakeSMTP("starttls") as smtp: … smtp.port, smtp.ca_pem, smtp.received``."""

    def __init__(self, mode: str = "starttls") -> None:
        assert mode in ("starttls", "tls", "plain")
        self.mode = mode
        self.received: list[Received] = []
        self.handler = _Handler(self.received, implicit_tls=mode == "tls")
        self._tmp = tempfile.TemporaryDirectory(prefix="socflow-smtp-")
        self.ca_pem, cert, key = make_certificates(Path(self._tmp.name))
        self.server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.server_context.load_cert_chain(cert, key)
        self.host, self.port = "127.0.0.1", _free_port()
        kwargs: dict[str, Any] = {"authenticator": self.handler.authenticate, "auth_required": False,
                                  "auth_require_tls": True}
        if mode == "starttls":
            kwargs.update(tls_context=self.server_context, require_starttls=True)
        elif mode == "tls":
            # aiosmtpd only counts STARTTLS as "TLS" for AUTH; the whole session is TLS here.
            kwargs.update(ssl_context=self.server_context, server_hostname="localhost",
                          auth_require_tls=False)
        else:
            kwargs.update(auth_require_tls=False)
        self.controller = Controller(self.handler, hostname=self.host, port=self.port, **kwargs)

    @property
    def logins(self) -> list[tuple[str, bool]]:
        return self.handler.logins

    def __enter__(self) -> FakeSMTP:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()
        self._tmp.cleanup()
