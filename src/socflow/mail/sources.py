"""Where messages come from: .eml files, directories, maildirs (cur/ and new/), mbox files and
stdin. Each message is read whole but never beyond the policy's size cap (plus one byte, so the
analysis can say it was cut); an unreadable source is reported, not skipped silently."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ..errors import InputError


@dataclass
class MessageSource:
    name: str
    data: bytes | None = None
    error: str = ""


def _read(path: str, cap: int) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(cap + 1)


def _is_mbox(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(5) == b"From "
    except OSError:
        return False


def _is_maildir(path: str) -> bool:
    return all(os.path.isdir(os.path.join(path, d)) for d in ("cur", "new"))


def _mbox(path: str, cap: int) -> Iterator[MessageSource]:
    """Messages of an mbox file, streamed: a line starting with "From " starts the next message
    (body lines that start so are stored as ">From "), as Python's ``mailbox.mbox`` reads it."""
    index = 0
    current: list[bytes] = []
    size = 0
    started = False
    with open(path, "rb") as fh:
        for line in fh:
            if line.startswith(b"From "):
                if started:
                    yield MessageSource(f"{path}#{index}", _unescape(current))
                    index += 1
                started = True
                current, size = [], 0
                continue
            if size <= cap:
                current.append(line)
                size += len(line)
        if current:
            yield MessageSource(f"{path}#{index}", _unescape(current))


def _unescape(lines: list[bytes]) -> bytes:
    return b"".join(line[1:] if line.startswith(b">From ") else line for line in lines)


def iter_messages(paths: Sequence[str], cap: int) -> Iterator[MessageSource]:
    """Every message under ``paths`` (files, directories, maildirs, mbox files, ``-``)."""
    for path in paths:
        if path == "-":
            yield MessageSource("<stdin>", sys.stdin.buffer.read(cap + 1))
            continue
        if not os.path.exists(path):
            yield MessageSource(path, error=f"{path}: no such file or directory")
            continue
        if os.path.isdir(path):
            if _is_maildir(path):
                dirs = [os.path.join(path, "cur"), os.path.join(path, "new")]
            else:
                dirs = [path]
            for top in dirs:
                for root, subdirs, files in os.walk(top):
                    subdirs.sort()
                    for name in sorted(files):
                        if name.startswith("."):
                            continue
                        yield from _file(os.path.join(root, name), cap)
            continue
        yield from _file(path, cap)


def _file(path: str, cap: int) -> Iterator[MessageSource]:
    try:
        if _is_mbox(path):
            yield from _mbox(path, cap)
            return
        yield MessageSource(path, _read(path, cap))
    except OSError as exc:
        yield MessageSource(path, error=f"{path}: cannot read: {exc.strerror or exc}")


def require_message(data: bytes, name: str) -> None:
    if not data.strip():
        raise InputError(f"{name}: empty input, not an e-mail message")
