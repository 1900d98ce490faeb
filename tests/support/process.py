"""Stopping a test's own server process: SIGTERM, then SIGKILL when it has not gone in time."""

from __future__ import annotations

import signal
import subprocess
from typing import Any


def terminate(process: subprocess.Popen[Any] | None, timeout: float = 10) -> None:
    """Stop ``process`` if it still runs (SIGTERM, SIGKILL after ``timeout`` seconds) and reap it,
    so a test leaves no orphan and no zombie behind."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)
