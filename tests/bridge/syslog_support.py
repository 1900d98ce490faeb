"""Helpers for the syslog listener tests: Debian's rsyslogd as a real client, the listener as a
``socflow ingest --listen`` process, the configs as docs/syslog.md shows them, a throwaway CA."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "syslog.md"
SOCFLOW = [sys.executable, "-m", "socflow.adapters.cli.main"]
RSYSLOGD = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"


def doc_snippet(name: str) -> str:
    """The rsyslog config block of docs/syslog.md marked ``<!-- rsyslog: NAME -->``."""
    text = DOC.read_text(encoding="utf-8")
    m = re.search(rf"<!-- rsyslog: {re.escape(name)} -->\n```[^\n]*\n(.*?)^```", text, re.S | re.M)
    assert m, f"no rsyslog snippet {name!r} in {DOC}"
    return m.group(1)


def doc_listen_commands() -> list[list[str]]:
    """The ``socflow ingest --listen`` command lines of docs/syslog.md, as words."""
    text = DOC.read_text(encoding="utf-8")
    out = []
    for block in re.findall(r"^```sh\n(.*?)^```", text, re.S | re.M):
        for line in block.splitlines():
            if line.startswith("socflow ingest") and "--listen" in line:
                out.append(shlex.split(line))
    assert out, "docs/syslog.md shows no socflow ingest --listen command"
    return out


def for_test(words: list[str], files: dict[str, str], config: Path) -> list[str]:
    """A documented command made safe to run here: loopback only, free ports, test files, and
    the test's bridge config (short rule-window grace, no delivery retries)."""
    out = ["ingest", "--config", str(config)]
    for word in words[2:]:  # without the leading "socflow ingest"
        word = re.sub(r"^(\w+)://0\.0\.0\.0:\d+$", r"\1://127.0.0.1:0", word)
        out.append(files.get(word, word))
    return [*SOCFLOW, *out]


def point_at(snippet: str, port: int, paths: dict[str, str] | None = None) -> str:
    """A documented rsyslog action aimed at our listener: target, port and file paths replaced."""
    snippet = re.sub(r'target="[^"]*"', 'target="127.0.0.1"', snippet)
    snippet = re.sub(r'port="\d+"', f'port="{port}"', snippet)
    for old, new in (paths or {}).items():
        snippet = snippet.replace(old, new)
    return snippet


class Rsyslog:
    """One private rsyslogd: its own config, work dir, pid file and input socket; no system service."""

    def __init__(self, root: Path, action: str) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.sock = root / "in.sock"
        self.conf = root / "rsyslog.conf"
        self.conf.write_text(
            f'global(workDirectory="{root}")\n'
            'module(load="imuxsock" SysSock.Use="off")\n'
            f'input(type="imuxsock" Socket="{self.sock}" IgnoreTimestamp="off" UseSysTimeStamp="off" RateLimit.Interval="0")\n'
            + action
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.out = open(root / "rsyslogd.out", "wb")  # noqa: SIM115 - closed in stop()

    def start(self) -> Rsyslog:
        check = subprocess.run([RSYSLOGD, "-N1", "-f", str(self.conf)], capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stderr + check.stdout
        self.proc = subprocess.Popen(
            [RSYSLOGD, "-n", "-f", str(self.conf), "-i", str(self.root / "rsyslogd.pid")],
            stdout=self.out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not self.sock.exists():
            assert self.proc.poll() is None, (self.root / "rsyslogd.out").read_text()
            assert time.monotonic() < deadline, "rsyslogd did not create its input socket"
            time.sleep(0.02)
        self.client = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        return self

    def log(self, message: str, *, when: dt.datetime | None = None, tag: str = "sshd[4242]") -> None:
        """One message as a local program's syslog() call writes it (BSD timestamp, no host)."""
        when = when or dt.datetime.now()
        stamp = f"{when:%b} {when.day:2d} {when:%H:%M:%S}"
        self.client.sendto(f"<38>{stamp} {tag}: {message}".encode(), str(self.sock))

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if hasattr(self, "client"):
            self.client.close()
        self.out.close()


class ListenerProcess:
    """``socflow ingest --listen …`` as a process; reads its JSON log lines."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
        )
        line = self.proc.stderr.readline()  # type: ignore[union-attr]
        try:
            first = json.loads(line)
        except ValueError:
            rest = self.proc.communicate(timeout=30)[1]
            raise AssertionError((line + rest).decode(errors="replace")) from None
        assert first["event"] == "listening", first
        self.urls: list[str] = first["listeners"]
        self.ports = [int(u.rsplit(":", 1)[1]) for u in self.urls]

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.communicate(timeout=30)

    def stop(self) -> tuple[int, list[dict], str]:
        """SIGTERM; (exit code, JSON log lines, stdout)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=60)
        text = err.decode(errors="replace")
        assert "Traceback" not in text, text
        events = [json.loads(ln) for ln in text.splitlines() if ln.startswith("{")]
        return self.proc.returncode, events, out.decode()


def wait_for(predicate, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def throwaway_pki(root: Path, server_name: str = "socflow.example.net") -> dict[str, Path]:
    """A CA, a server certificate for ``server_name`` (and 127.0.0.1), a client certificate."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    root.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)

    def key() -> ec.EllipticCurvePrivateKey:
        return ec.generate_private_key(ec.SECP256R1())

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def write(cert: x509.Certificate, k: ec.EllipticCurvePrivateKey, stem: str) -> None:
        (root / f"{stem}-cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (root / f"{stem}-key.pem").write_bytes(
            k.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )

    ca_key = key()
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("socflow test CA"))
        .issuer_name(name("socflow test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(ca_key, hashes.SHA256())
    )
    write(ca, ca_key, "ca")

    def leaf(cn: str, stem: str, usage: x509.ObjectIdentifier, sans: list[x509.GeneralName]) -> None:
        k = key()
        cert = (
            x509.CertificateBuilder()
            .subject_name(name(cn))
            .issuer_name(ca.subject)
            .public_key(k.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        write(cert, k, stem)

    leaf(
        server_name,
        "server",
        ExtendedKeyUsageOID.SERVER_AUTH,
        [x509.DNSName(server_name), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
    )
    leaf("web1.example.net", "client", ExtendedKeyUsageOID.CLIENT_AUTH, [x509.DNSName("web1.example.net")])
    return {p.stem: p for p in root.glob("*.pem")}


def env_for(tmp_path: Path, hive) -> dict[str, str]:  # noqa: ANN001
    config = tmp_path / "bridge.yml"
    config.write_text("window_grace: 0\nthehive:\n  retries: 0\n  timeout: 5\n")
    return dict(
        os.environ,
        SOCFLOW_THEHIVE_URL=hive.url,
        SOCFLOW_THEHIVE_KEY=hive.api_key,
        SOCFLOW_STATE_DIR=str(tmp_path / "state"),
    )
