"""A real IMAP server for the tests: Debian's dovecot-imapd, on loopback, on free ports.

Each server has its own configuration, base_dir, state and log under the test's ``tmp_path``
(no system service, no /etc/dovecot), passwd-file authentication and a throwaway maildir. It
listens with STARTTLS on one port and implicit TLS on another, with a certificate made for the
test (``ca_file`` is what a client must trust); plaintext login is allowed on loopback, where
dovecot counts the connection as secured. We run as root, and dovecot refuses uid 0 for mail
access, so mail is stored as ``nobody`` in a folder of its own (a tmp_path is not traversable by
other users). ``stop()`` (the fixture's finalizer) ends the server and removes that folder.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from imapclient import IMAPClient

from fakes.mail import make_certificates
from support.process import terminate

USER, PASSWORD = "phish", "imap-Secret-pa55"
MAIL_USER, MAIL_GROUP = "nobody", "nogroup"

CONFIG = """
protocols = imap
listen = 127.0.0.1
base_dir = {base}
state_dir = {base}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_location = maildir:{mail}/%u/Maildir
first_valid_uid = 1
mail_uid = {mail_user}
mail_gid = {mail_group}
imap_idle_notify_interval = 1 secs
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid={mail_user} gid={mail_group} home={mail}/%u
}}
service auth {{
  user = root
}}
service auth-worker {{
  user = root
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Dovecot:
    def __init__(self, root: Path, *, idle: bool = True) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        ca_pem, cert, key = make_certificates(root)
        self.ca_file = root / "ca.pem"
        self.ca_file.write_text(ca_pem)
        self.mail = Path(tempfile.mkdtemp(prefix="socflow-dovecot-mail-"))
        os.chmod(self.mail, 0o711)
        shutil.chown(self.mail, MAIL_USER, MAIL_GROUP)
        (root / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
        self.config = root / "dovecot.conf"
        self.port = self.tls_port = 0
        self.base = root / "run"
        self.idle = idle
        self.process: subprocess.Popen[bytes] | None = None

    # ---- life cycle
    def start(self) -> Dovecot:
        for _attempt in range(5):  # a free port may be taken by another test before we bind it
            self.port, self.tls_port = _free_port(), _free_port()
            text = CONFIG.format(base=self.base, root=self.root, mail=self.mail, port=self.port,
                                 tls_port=self.tls_port, cert=self.root / "server.pem",
                                 key=self.root / "server.key", mail_user=MAIL_USER,
                                 mail_group=MAIL_GROUP)
            if not self.idle:  # a server without IDLE (nor MOVE): the intake must poll (and copy)
                text += "imap_capability = IMAP4rev1 LITERAL+ UIDPLUS\n"
            self.config.write_text(text)
            self.process = subprocess.Popen(["dovecot", "-F", "-c", str(self.config)],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if self._wait_listening():
                return self
            self.stop(remove=False)
        raise RuntimeError(f"dovecot did not start: {self.log()[-2000:]}")

    def _wait_listening(self) -> bool:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    with socket.create_connection(("127.0.0.1", self.tls_port), timeout=0.5):
                        return True
            except OSError:
                time.sleep(0.02)
        return False

    def stop(self, remove: bool = True) -> None:
        terminate(self.process)
        if self.process is not None and self.process.stderr:
            self.process.stderr.close()
        self.process = None
        if remove:
            shutil.rmtree(self.mail, ignore_errors=True)

    def log(self) -> str:
        try:
            return (self.root / "dovecot.log").read_text(errors="replace")
        except OSError:
            return ""

    # ---- what tests do to the mailbox
    def client(self) -> IMAPClient:
        client = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=10)
        client.login(USER, PASSWORD)
        return client

    def append(self, message: bytes, folder: str = "INBOX") -> int:
        """Deliver ``message``; returns its UID (APPENDUID)."""
        with self.client() as client:
            answer = client.append(folder, message)
        return int(answer.split(b"APPENDUID ", 1)[1].split()[1].rstrip(b"]"))

    def create_folder(self, name: str) -> None:
        with self.client() as client:
            client.create_folder(name)

    def messages(self, folder: str = "INBOX") -> dict[int, tuple[bytes, ...]]:
        """UID → flags of every message in ``folder``."""
        with self.client() as client:
            client.select_folder(folder, readonly=True)
            uids = client.search(["ALL"])
            return {uid: tuple(d[b"FLAGS"]) for uid, d in client.fetch(uids, ["FLAGS"]).items()}

    def uidvalidity(self, folder: str = "INBOX") -> int:
        with self.client() as client:
            return int(client.folder_status(folder, ["UIDVALIDITY"])[b"UIDVALIDITY"])

    def remove_flag(self, flag: str, folder: str = "INBOX") -> None:
        with self.client() as client:
            client.select_folder(folder)
            client.remove_flags(client.search(["ALL"]), [flag])

    def change_uidvalidity(self, folder: str = "INBOX") -> int:
        """A new UIDVALIDITY for ``folder`` (what a restored or rebuilt mailbox does)."""
        new = self.uidvalidity(folder) + 1000
        subprocess.run(["doveadm", "-c", str(self.config), "mailbox", "update", "-u", USER,
                        "--uid-validity", str(new), folder], check=True, capture_output=True,
                       timeout=30)
        return new
