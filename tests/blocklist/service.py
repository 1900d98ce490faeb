"""Start ``socflow blocklist serve`` as a real process on an ephemeral port (shared with the responder tests)."""

from __future__ import annotations

import queue
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

TOKEN = "test-token-0123456789abcdef"
SOCFLOW = Path(sys.executable).parent / "socflow"
REPO_ROOT = Path(__file__).resolve().parents[2]
_LISTENING = re.compile(r"Uvicorn running on http://([\d.]+):(\d+)")


@dataclass
class Service:
    proc: subprocess.Popen[str]
    url: str
    db: Path
    token: str = TOKEN
    log: list[str] = field(default_factory=list)
    pump: threading.Thread | None = None

    def api(self, method: str, path: str, *, token: str | None = None, headers: dict[str, str] | None = None,
            **kwargs: object) -> requests.Response:
        sent = {"Authorization": f"Bearer {self.token if token is None else token}", **(headers or {})}
        return requests.request(method, self.url + path, headers=sent, timeout=10, **kwargs)  # type: ignore[arg-type]

    def add(self, value: str, **fields: object) -> requests.Response:
        return self.api("POST", "/api/v1/entries", json={"value": value, **fields})

    def edl(self, list_type: str) -> list[str]:
        resp = requests.get(f"{self.url}/edl/{list_type}", timeout=10)
        resp.raise_for_status()
        return resp.text.splitlines()

    def stop(self, *, kill: bool = False) -> None:
        if self.proc.poll() is None:
            self.proc.kill() if kill else self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.pump is not None:
            self.pump.join(timeout=5)  # the log is complete once the pipe is drained


def start_service(db: Path, *args: str, token: str = TOKEN, timeout: float = 20) -> Service:
    """Run the service and wait until it prints its port; raise with its output if it does not."""
    proc = subprocess.Popen(
        [str(SOCFLOW), "blocklist", "serve", "--host", "127.0.0.1", "--port", "0", "--db", str(db),
         "--token", token, "--log-level", "info", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL,
    )
    lines: queue.Queue[str] = queue.Queue()
    log: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            log.append(line)
            lines.put(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            if proc.poll() is not None:
                break
            continue
        match = _LISTENING.search(line)
        if match:
            url = f"http://{match.group(1)}:{match.group(2)}"
            return Service(proc, url, db, token, log, reader)
    proc.kill()
    raise RuntimeError("blocklist service did not start:\n" + "".join(log))
