"""An IMAP mailbox of reported mail, through IMAPClient (BSD-3-Clause): UIDs, IDLE, MOVE.

TLS is required: implicit TLS (``tls``, port 993) or ``starttls`` (port 143, STARTTLS must be
offered — never a silent plaintext fallback). ``plain`` is refused unless the user allows it
*and* the server is on a loopback address (a test server on the same host). Certificates are
verified against the system store, or a CA file.

A message is named by (mailbox, UIDVALIDITY, UID) — RFC 9051 §2.3.1.1: UIDs never come back
while UIDVALIDITY stays; sequence numbers shift on expunge and are never used. Messages are read
with ``BODY.PEEK[]`` (their \\Seen flag is left to people) and at most ``max_bytes`` of each.
Errors become one line: AuthError for a refused login, UnavailableError for a server that cannot
be reached or drops the connection, ConfigError for TLS and folder problems. Nothing here ever
prints the password.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ...errors import AuthError, ConfigError, UnavailableError

SECURITY = ("tls", "starttls", "plain")
DEFAULT_FLAG = "$SocflowIntake"
_SYSTEM_FLAGS = {"\\seen": "UNSEEN", "\\flagged": "UNFLAGGED", "\\answered": "UNANSWERED"}
SERVICE = "IMAP"
IDLE_RENEW = 300.0  # seconds one IDLE lasts at most (RFC 2177: servers may end it after 30 min)


@dataclass
class ImapSettings:
    host: str
    user: str
    password: str = field(repr=False)
    port: int | None = None
    folder: str = "INBOX"
    security: str = "tls"
    allow_plaintext: bool = False
    ca_file: str | None = None
    timeout: float = 30.0
    flag: str = DEFAULT_FLAG
    move_to: str | None = None
    idle: bool = True  # use IDLE when the server offers it
    poll_interval: float = 60.0

    def __post_init__(self) -> None:
        if self.security not in SECURITY:
            raise ConfigError(f"IMAP security {self.security!r}: use one of {', '.join(SECURITY)}")
        if self.port is None:
            self.port = 993 if self.security == "tls" else 143
        if not self.user:
            raise ConfigError("no IMAP user (--imap-user or SOCFLOW_IMAP_USER)")
        if not self.password:
            raise ConfigError("no IMAP password (SOCFLOW_IMAP_PASSWORD or --imap-password-file)")
        if self.security == "plain":
            if not self.allow_plaintext:
                raise ConfigError(
                    "--imap-security plain sends the password in clear text: only with "
                    "--allow-plaintext, and only to a server on this host (loopback)")
            if not _loopback(self.host):
                raise ConfigError(
                    f"--allow-plaintext is for a server on this host only; {self.host} is not a "
                    "loopback address (use --imap-security tls or starttls)")
        flag = self.flag.strip()
        atom = all(" " < c < "\x7f" and c not in '(){%*"]' for c in flag)  # RFC 9051 atom
        if not flag or not atom or (flag.startswith("\\") and flag.lower() not in _SYSTEM_FLAGS):
            raise ConfigError(
                f"--flag {self.flag!r}: a keyword (letters, digits, $, -, _) or \\Seen, "
                "\\Flagged, \\Answered")

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def mailbox(self) -> str:
        """The name the outbox keys this mailbox's messages by (no secret in it)."""
        return f"imap://{self.user}@{self.host}:{self.port}/{self.folder}"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _context(settings: ImapSettings) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if settings.ca_file:
        try:
            context.load_verify_locations(cafile=settings.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"--imap-ca-file {settings.ca_file}: cannot be used: "
                              f"{getattr(exc, 'strerror', None) or exc}") from None
    return context


@dataclass
class Fetched:
    uid: int
    data: bytes
    size: int  # the message's full size (RFC822.SIZE)
    date_ms: int | None  # INTERNALDATE: when the server received it


class ImapMailbox:
    """One connection to one folder. ``connect()`` before use; ``close()`` at the end."""

    def __init__(self, settings: ImapSettings, *, max_bytes: int) -> None:
        self.settings = settings
        self.max_bytes = max_bytes
        self.client: Any = None
        self.uidvalidity: int | None = None
        self.idle_supported = False
        self._lock = threading.Lock()

    @property
    def uses_idle(self) -> bool:
        return self.settings.idle and self.idle_supported

    @property
    def mailbox(self) -> str:
        return self.settings.mailbox

    # ---- life cycle
    def connect(self) -> None:
        from imapclient import IMAPClient
        from imapclient.exceptions import IMAPClientError, LoginError

        s = self.settings
        context = _context(s) if s.security != "plain" else None
        try:
            client = IMAPClient(s.host, port=s.port, ssl=s.security == "tls",
                                ssl_context=context, timeout=s.timeout)
        except ssl.SSLError as exc:
            raise ConfigError(f"TLS with the IMAP server {s.where} failed: "
                              f"{exc.reason or exc} (--imap-ca-file names the CA)") from None
        except (OSError, socket.timeout) as exc:
            raise UnavailableError(f"cannot reach the IMAP server {s.where}: {_why(exc)}",
                                   service=SERVICE) from None
        try:
            if s.security == "starttls":
                if not client.has_capability("STARTTLS"):
                    raise ConfigError(
                        f"the IMAP server {s.where} does not offer STARTTLS; refusing to log in "
                        "in clear text (use --imap-security tls)")
                client.starttls(context)
            try:
                client.login(s.user, s.password)
            except LoginError:
                raise AuthError(f"the IMAP server {s.where} refused the login of user {s.user!r}",
                                service=SERVICE) from None
            self.client = client
            self._select()
        except ssl.SSLError as exc:
            _quietly_close(client)
            raise ConfigError(f"TLS with the IMAP server {s.where} failed: "
                              f"{exc.reason or exc} (--imap-ca-file names the CA)") from None
        except (AuthError, ConfigError):
            _quietly_close(client)
            raise
        except (IMAPClientError, OSError, socket.timeout) as exc:
            _quietly_close(client)
            raise UnavailableError(f"IMAP server {s.where}: {_why(exc)}", service=SERVICE) from None

    def _select(self) -> None:
        s = self.settings
        try:
            info = self.client.select_folder(s.folder)
        except Exception as exc:  # noqa: BLE001 - IMAPClientError: NO [NONEXISTENT] …
            raise ConfigError(f"IMAP folder {s.folder!r} on {s.where}: {_why(exc)}") from None
        self.uidvalidity = int(info[b"UIDVALIDITY"])
        permanent = [f.decode("ascii", "replace").lower() for f in info.get(b"PERMANENTFLAGS", ())]
        flag = s.flag
        if not flag.startswith("\\") and "\\*" not in permanent and flag.lower() not in permanent:
            raise ConfigError(
                f"the IMAP server does not keep the keyword {flag!r} on {s.folder!r} "
                "(use --flag '\\Flagged' or --move-to FOLDER)")
        caps = {c.upper() for c in self.client.capabilities()}
        self.idle_supported = b"IDLE" in caps
        self._move = b"MOVE" in caps
        if s.move_to and not self.client.folder_exists(s.move_to):
            raise ConfigError(f"IMAP folder {s.move_to!r} (--move-to) does not exist on {s.where}")

    def close(self) -> None:
        if self.client is not None:
            _quietly_close(self.client)
            self.client = None

    # ---- what is waiting
    def pending(self) -> list[int]:
        """UIDs of the messages not marked done yet, oldest first."""
        flag = self.settings.flag
        system = _SYSTEM_FLAGS.get(flag.lower())
        criteria: list[Any] = [system] if system else ["UNKEYWORD", flag]
        return sorted(int(u) for u in self._call(self.client.search, criteria))

    def fetch(self, uid: int) -> Fetched | None:
        """The message (at most ``max_bytes`` + 1 bytes of it), or None when it is gone."""
        meta = self._call(self.client.fetch, [uid], ["RFC822.SIZE", "INTERNALDATE"]).get(uid)
        if not meta:
            return None
        size = int(meta.get(b"RFC822.SIZE", 0))
        if size > self.max_bytes:
            part = f"BODY.PEEK[]<0.{self.max_bytes + 1}>"
            answer = self._call(self.client.fetch, [uid], [part]).get(uid, {})
            data = next((v for k, v in answer.items() if k.startswith(b"BODY[]")), b"")
        else:
            answer = self._call(self.client.fetch, [uid], ["BODY.PEEK[]"]).get(uid, {})
            data = answer.get(b"BODY[]", b"")
        when = meta.get(b"INTERNALDATE")
        date_ms = int(when.timestamp() * 1000) if isinstance(when, datetime) else None
        return Fetched(uid, bytes(data or b""), size, date_ms)

    def mark_done(self, uid: int) -> None:
        """Flag the message, then move it when asked (after its alert is committed)."""
        s = self.settings
        self._call(self.client.add_flags, [uid], [s.flag], silent=True)
        if s.move_to:
            if self._move:
                self._call(self.client.move, [uid], s.move_to)
            else:  # RFC 4315 fallback: copy, then delete this one message only
                self._call(self.client.copy, [uid], s.move_to)
                self._call(self.client.delete_messages, [uid], silent=True)
                self._call(self.client.uid_expunge, [uid])

    # ---- waiting for new mail
    def wait(self, stop: threading.Event) -> None:
        """Until new mail may be there or ``stop`` is set: IDLE when the server offers it
        (checked every second, so a stop is seen; renewed every ``IDLE_RENEW`` seconds, well
        within the server's 29-minute limit), else ``poll_interval`` seconds."""
        if not self.uses_idle:
            stop.wait(self.settings.poll_interval)
            return
        deadline = time.monotonic() + IDLE_RENEW
        self._call(self.client.idle)
        try:
            while not stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                responses = self._call(self.client.idle_check, timeout=min(left, 1.0))
                if any(isinstance(r, tuple) and len(r) > 1 and r[1] in (b"EXISTS", b"RECENT")
                       for r in responses):
                    break
        finally:
            self._call(self.client.idle_done)

    def _call(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        from imapclient.exceptions import IMAPClientError

        try:
            return method(*args, **kwargs)
        except (IMAPClientError, OSError, socket.timeout) as exc:
            raise UnavailableError(
                f"IMAP server {self.settings.where}: {_why(exc)}", service=SERVICE) from None


def _why(exc: BaseException) -> str:
    text = exc.args[0] if exc.args else exc
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = " ".join(str(text).split()) or type(exc).__name__
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    return text[:200]


def _quietly_close(client: Any) -> None:
    try:
        client.logout()
    except Exception:  # noqa: BLE001 - closing a broken connection
        try:
            client.shutdown()
        except Exception:  # noqa: BLE001
            pass
