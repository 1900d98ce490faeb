"""A maildir (``cur/`` and ``new/``) or a plain folder of message files as a mailbox of reports.

A message is named by its file name — for a maildir, the unique part before ``:2,`` (a mail
client changing its flags renames the file but keeps that part). Nothing is flagged in a folder:
the outbox remembers which names were taken in; ``move_to`` moves each one out after its alert
is committed (into ``cur/`` when the target is a maildir).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from ...errors import ConfigError


@dataclass
class FileMessage:
    data: bytes
    date_ms: int | None


def is_maildir(path: Path) -> bool:
    return (path / "cur").is_dir() and (path / "new").is_dir()


class FolderMailbox:
    def __init__(self, path: str, *, max_bytes: int, move_to: str | None = None,
                 poll_interval: float = 60.0) -> None:
        self.path = Path(path).expanduser().resolve()
        if not self.path.is_dir():
            raise ConfigError(f"--maildir {path}: no such directory")
        self.maildir = is_maildir(self.path)
        self.max_bytes = max_bytes
        self.poll_interval = poll_interval
        self.move_to = Path(move_to).expanduser().resolve() if move_to else None
        if self.move_to is not None:
            if not self.move_to.is_dir():
                raise ConfigError(f"--move-to {move_to}: no such directory")
            if self.move_to == self.path:
                raise ConfigError("--move-to must be another folder than --maildir")
        self.mailbox = f"{'maildir' if self.maildir else 'folder'}:{self.path}"
        self.uidvalidity = None
        self.uses_idle = False
        self._paths: dict[str, Path] = {}

    def connect(self) -> None:
        pass

    def close(self) -> None:
        pass

    def _scan(self) -> dict[str, Path]:
        found: dict[str, Path] = {}
        tops = [self.path / "new", self.path / "cur"] if self.maildir else [self.path]
        for top in tops:
            try:
                entries = sorted(os.scandir(top), key=lambda e: e.name)
            except OSError as exc:
                raise ConfigError(f"{top}: cannot list: {exc.strerror or exc}") from None
            for entry in entries:
                if entry.name.startswith(".") or not entry.is_file(follow_symlinks=False):
                    continue
                name = entry.name.split(":2,", 1)[0] if self.maildir else entry.name
                found.setdefault(name, Path(entry.path))
        return found

    def pending(self) -> list[str]:
        self._paths = self._scan()
        return list(self._paths)

    def fetch(self, name: str) -> FileMessage | None:
        for attempt in range(2):
            path = self._paths.get(name)
            if path is None:
                return None
            try:
                with open(path, "rb") as fh:
                    data = fh.read(self.max_bytes + 1)
                    mtime = os.fstat(fh.fileno()).st_mtime
                return FileMessage(data, int(mtime * 1000))
            except FileNotFoundError:  # renamed by a mail client (flags) or moved: look again
                if attempt == 0:
                    self._paths = self._scan()
        return None

    def mark_done(self, name: str) -> None:
        if self.move_to is None:
            return
        path = self._paths.get(name) or self._scan().get(name)
        if path is None or not path.exists():
            return  # already moved (a crash after the move, before the outbox said so)
        target_dir = self.move_to / "cur" if is_maildir(self.move_to) else self.move_to
        os.replace(path, target_dir / path.name)

    def wait(self, stop: threading.Event) -> None:
        stop.wait(self.poll_interval)
