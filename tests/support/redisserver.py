"""A real, throwaway ``redis-server`` (Debian's package) for the tests.

Each instance listens on loopback on a free port chosen now, keeps its files in its own folder,
and is stopped (SIGKILL if it must) by the fixture's finalizer. Options: ``password`` (requirepass),
``acl_user`` (an ACL user with that password), ``tls`` (a throwaway CA and server certificate
made with openssl for this instance; ``tls-port`` only, no plain port), ``appendonly`` (AOF,
survives kill -9) — without it nothing survives a kill -9 (``--save ''``).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from support.process import terminate

REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_ca(folder: Path) -> tuple[Path, Path, Path]:
    """(ca.pem, server.pem, server.key) for 127.0.0.1, made with openssl, valid two days."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, ca, key, csr, cert = (folder / n for n in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem"))
    run = lambda *args: subprocess.run(args, check=True, capture_output=True, timeout=60)  # noqa: E731
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca),
        "-days", "2", "-subj", "/CN=socflow test CA")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
        "-subj", "/CN=127.0.0.1")
    ext = folder / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1\n", encoding="ascii")
    run("openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
        "-out", str(cert), "-days", "2", "-extfile", str(ext))
    return ca, cert, key


def make_client_cert(folder: Path) -> tuple[Path, Path]:
    """(client.pem, client.key) signed by the CA ``make_ca`` left in ``folder``."""
    key, csr, cert = folder / "client.key", folder / "client.csr", folder / "client.pem"
    run = lambda *args: subprocess.run(args, check=True, capture_output=True, timeout=60)  # noqa: E731
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
        "-subj", "/CN=socflow worker")
    run("openssl", "x509", "-req", "-in", str(csr), "-CA", str(folder / "ca.pem"), "-CAkey",
        str(folder / "ca.key"), "-CAcreateserial", "-out", str(cert), "-days", "2")
    return cert, key


class RedisServer:
    def __init__(self, folder: Path, *, password: str | None = None, acl_user: str | None = None,
                 tls: bool = False, appendonly: bool = False, client_certs: bool = False) -> None:
        self.folder = folder
        self.client_certs = client_certs  # TLS: a client must show a certificate of the CA
        self.folder.mkdir(parents=True, exist_ok=True)
        self.password, self.acl_user, self.tls, self.appendonly = password, acl_user, tls, appendonly
        self.port = free_port()
        self.ca: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._tls_files: tuple[Path, Path, Path] | None = make_ca(folder / "tls") if tls else None
        if self._tls_files:
            self.ca = self._tls_files[0]
        self.start()

    @property
    def url(self) -> str:
        scheme = "rediss" if self.tls else "redis"
        user = f"{self.acl_user}@" if self.acl_user else ""
        query = f"?ssl_ca_certs={self.ca}" if self.tls else ""
        return f"{scheme}://{user}127.0.0.1:{self.port}/0{query}"

    def args(self) -> list[str]:
        args = [REDIS, "--bind", "127.0.0.1", "--dir", str(self.folder), "--daemonize", "no",
                "--save", "", "--appendonly", "yes" if self.appendonly else "no",
                "--logfile", str(self.folder / "redis.log"), "--protected-mode", "no"]
        if self.tls and self._tls_files:
            ca, cert, key = self._tls_files
            args += ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(cert),
                     "--tls-key-file", str(key), "--tls-ca-cert-file", str(ca),
                     "--tls-auth-clients", "yes" if self.client_certs else "no"]
        else:
            args += ["--port", str(self.port)]
        if self.acl_user and self.password:
            acl = self.folder / "users.acl"
            acl.write_text(f"user default off\nuser {self.acl_user} on >{self.password} ~* &* +@all\n",
                           encoding="ascii")
            acl.chmod(0o600)
            args += ["--aclfile", str(acl)]
        elif self.password:
            args += ["--requirepass", self.password]
        return args

    def start(self) -> None:
        self.proc = subprocess.Popen(self.args(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = (self.folder / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"redis-server exited: {log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start within 10 s")

    def kill(self) -> None:
        """kill -9, as a crash would."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def restart(self) -> None:
        self.kill()
        self.start()

    def stop(self) -> None:
        terminate(self.proc, timeout=5)

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def client(self) -> object:
        import redis

        kwargs: dict[str, object] = {"host": "127.0.0.1", "port": self.port}
        if self.password:
            kwargs["password"] = self.password
            if self.acl_user:
                kwargs["username"] = self.acl_user
        if self.tls:
            kwargs.update(ssl=True, ssl_ca_certs=str(self.ca))
        return redis.Redis(**kwargs)

    def env(self) -> dict[str, str]:
        """What a process needs to use this server as its state (URL and password)."""
        env = {"SOCFLOW_STATE_URL": self.url}
        if self.password:
            env["SOCFLOW_STATE_PASSWORD"] = self.password
        return env


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True
