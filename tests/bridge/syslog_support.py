"""Helpers for the syslog listener tests: Debian's rsyslogd and syslog-ng as real clients, the
listener as a ``socflow ingest --listen`` process, the configs as docs/syslog.md shows them, a
throwaway CA."""

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
from collections import Counter
from pathlib import Path

from support.process import terminate

from bridge.samples import groups_of

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "syslog.md"
SOCFLOW = [sys.executable, "-m", "socflow.adapters.cli.main"]
RSYSLOGD = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
# Debian's syslog-ng-core conflicts with rsyslog, so make unpacks its .deb here (Makefile).
SYSLOG_NG_ROOT = Path(os.environ.get("SOCFLOW_SYSLOG_NG") or REPO / ".venv" / "syslog-ng")
SYSLOG_NG = SYSLOG_NG_ROOT / "usr" / "sbin" / "syslog-ng"


def doc_snippet(name: str) -> str:
    """The rsyslog config block of docs/syslog.md marked ``<!-- rsyslog: NAME -->``."""
    text = DOC.read_text(encoding="utf-8")
    m = re.search(rf"<!-- rsyslog: {re.escape(name)} -->\n```[^\n]*\n(.*?)^```", text, re.S | re.M)
    assert m, f"no rsyslog snippet {name!r} in {DOC}"
    return m.group(1)


def doc_syslog_ng_snippets() -> dict[str, str]:
    """Every syslog-ng config block of docs/syslog.md (``<!-- syslog-ng: NAME -->``), by name."""
    text = DOC.read_text(encoding="utf-8")
    found = re.findall(r"<!-- syslog-ng: ([\w-]+) -->\n```[^\n]*\n(.*?)^```", text, re.S | re.M)
    assert found, f"no syslog-ng snippet in {DOC}"
    return dict(found)


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


def point_syslog_ng_at(snippet: str, port: int, paths: dict[str, str] | None = None) -> str:
    """A documented syslog-ng destination aimed at our listener: host, port and paths replaced."""
    snippet, n = re.subn(r'\b((?:syslog|network)\(\s*)"[^"]*"', r'\1"127.0.0.1"', snippet)
    assert n == 1, snippet
    snippet, n = re.subn(r"\bport\(\d+\)", f"port({port})", snippet)
    assert n == 1, snippet
    for old, new in (paths or {}).items():
        snippet = snippet.replace(old, new)
    return snippet


def local_syslog_line(message: str, when: dt.datetime | None, tag: str) -> bytes:
    """One message as a local program's syslog() call writes it (BSD timestamp, no host)."""
    when = when or dt.datetime.now()
    stamp = f"{when:%b} {when.day:2d} {when:%H:%M:%S}"
    return f"<38>{stamp} {tag}: {message}".encode()


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
        self.client.sendto(local_syslog_line(message, when, tag), str(self.sock))

    def stop(self) -> None:
        terminate(self.proc)
        if hasattr(self, "client"):
            self.client.close()
        self.out.close()


def syslog_ng_env() -> dict[str, str]:
    """syslog-ng run from where make unpacked it: its libraries are not in the linker's path."""
    return dict(os.environ, LD_LIBRARY_PATH=str(SYSLOG_NG_ROOT / "usr" / "lib" / "syslog-ng"))


def syslog_ng_module_path() -> str:
    (modules,) = (SYSLOG_NG_ROOT / "usr" / "lib" / "syslog-ng").glob("3.*")
    return str(modules)


def syslog_ng_check(conf: Path) -> subprocess.CompletedProcess[str]:
    """``syslog-ng --syntax-only`` on a config file."""
    return subprocess.run(
        [str(SYSLOG_NG), "--syntax-only", "-f", str(conf),
         f"--module-path={syslog_ng_module_path()}"],
        env=syslog_ng_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )


def debian_syslog_ng_conf(root: Path, snippet: str) -> Path:
    """Debian's default syslog-ng.conf (from the package) with ``snippet`` as its one conf.d file:
    the way docs/syslog.md says to install it. Only the package's own paths point into the
    unpacked tree."""
    conf_d = root / "conf.d"
    conf_d.mkdir(parents=True)
    (conf_d / "socflow.conf").write_text(snippet)
    text = (SYSLOG_NG_ROOT / "etc" / "syslog-ng" / "syslog-ng.conf").read_text()
    version, rest = text.split("\n", 1)
    assert version.startswith("@version:"), version
    include = '@include "/etc/syslog-ng/conf.d/*.conf"'
    assert include in rest, "Debian's syslog-ng.conf no longer includes conf.d"
    rest = rest.replace(include, f'@include "{conf_d}/*.conf"')
    sysconf = SYSLOG_NG_ROOT / "etc" / "syslog-ng"
    scl = SYSLOG_NG_ROOT / "usr" / "share" / "syslog-ng" / "include"
    conf = root / "syslog-ng.conf"
    conf.write_text(
        f'{version}\n@define include-path "{sysconf}:{scl}"\n'
        f'@define scl-root "{scl / "scl"}"\n{rest}'
    )
    return conf


class SyslogNg:
    """One private syslog-ng in the foreground: the ``s_src`` source the documented snippets read
    is a unix datagram socket of its own; its own persist file, control socket and pid file."""

    def __init__(self, root: Path, snippet: str) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.sock = root / "in.sock"
        self.conf = root / "syslog-ng.conf"
        debian_conf = SYSLOG_NG_ROOT / "etc" / "syslog-ng" / "syslog-ng.conf"
        version = debian_conf.read_text().split("\n", 1)[0]  # "@version: 3.38"
        self.conf.write_text(
            f"{version}\n"
            "options { stats_freq(0); };\n"
            f'source s_src {{ unix-dgram("{self.sock}"); }};\n' + snippet
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.out = open(root / "syslog-ng.out", "wb")  # noqa: SIM115 - closed in stop()

    def start(self) -> SyslogNg:
        check = syslog_ng_check(self.conf)
        assert check.returncode == 0, check.stderr + check.stdout
        self.proc = subprocess.Popen(
            [
                str(SYSLOG_NG), "-F", "--no-caps", "-e", "-f", str(self.conf),
                f"--module-path={syslog_ng_module_path()}",
                "-R", str(self.root / "syslog-ng.persist"),
                "-c", str(self.root / "syslog-ng.ctl"),
                "-p", str(self.root / "syslog-ng.pid"),
            ],
            env=syslog_ng_env(),
            stdout=self.out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not self.sock.exists():
            assert self.proc.poll() is None, (self.root / "syslog-ng.out").read_text()
            assert time.monotonic() < deadline, "syslog-ng did not create its input socket"
            time.sleep(0.02)
        self.client = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        return self

    def log(self, message: str, *, when: dt.datetime | None = None, tag: str = "sshd[4242]") -> None:
        self.client.sendto(local_syslog_line(message, when, tag), str(self.sock))

    def output(self) -> str:
        return (self.root / "syslog-ng.out").read_text(errors="replace")

    def stop(self) -> None:
        terminate(self.proc)
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

    def kill_if_running(self) -> None:
        """A fixture's clean-up: SIGKILL a listener the test left running, and reap it."""
        if self.proc.poll() is None:
            self.kill9()

    def stop(self) -> tuple[int, list[dict], str]:
        """SIGTERM; (exit code, JSON log lines, stdout)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=60)
        text = err.decode(errors="replace")
        assert "Traceback" not in text, text
        events = [json.loads(ln) for ln in text.splitlines() if ln.startswith("{")]
        return self.proc.returncode, events, out.decode()


def brute_forcers(alerts: list[dict]) -> Counter:
    """How many ssh-brute-force alerts blame each address."""
    return Counter(ip for rule, ip in groups_of(alerts) if rule == "ssh-brute-force")


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
