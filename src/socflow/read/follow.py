"""Reading files in blocks of whole lines from a checkpoint, once or following them.

A :class:`Checkpoint` names a file by device, inode and a hash of its first bytes, and says how far
it was read. Resuming checks all three: a rotated file (new inode), a truncated one (smaller than
the offset) or a replaced one (first bytes differ) is read again from the start. Offsets of
compressed files count decompressed bytes (resuming re-reads and skips them).

:class:`Follower` tails files across rotation (the old file is drained before the new one is
opened) and truncation, like ``tail -F``; an unterminated last line waits for its newline.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from ..errors import InputError
from .sources import BLOCK_BYTES, DEFAULT_MAX_LINE_BYTES, STDIN, ReadStats, open_source

HEAD_BYTES = 256


@dataclass(frozen=True)
class Checkpoint:
    source: str
    device: int
    inode: int
    offset: int
    head: str


@dataclass(frozen=True)
class Chunk:
    """Whole lines (``data`` ends at a newline, or at end of file in once mode) and the offset after them."""

    data: bytes
    offset: int
    truncated: int = 0
    rotated: bool = False  # the old file is drained; the next chunks come from its successor


def source_key(path: str) -> str:
    return STDIN if path == STDIN else os.path.realpath(path)


def head_of(path: str, size: int | None = None) -> str:
    """``<n>:<sha1 of the first n bytes>`` (n ≤ 256, as far as the file goes); raw bytes, not decompressed."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(HEAD_BYTES if size is None else min(HEAD_BYTES, size))
    except OSError:
        return "0:"
    return f"{len(data)}:{hashlib.sha1(data).hexdigest()}"


def split_lines(
    stream: BinaryIO,
    start: int,
    *,
    block: int = BLOCK_BYTES,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    final: bool = True,
) -> Iterator[Chunk]:
    """Blocks of whole lines from ``stream`` (already positioned at ``start``).

    Over-long lines are cut at ``max_line_bytes`` (counted in ``Chunk.truncated``); with ``final``
    the unterminated tail at end of stream is returned too, else it is left for the next call.
    """
    offset, carry, skipping = start, b"", False
    while True:
        data = stream.read(block)
        if not data:
            break
        if skipping:
            cut = data.find(b"\n")
            if cut < 0:
                offset += len(data)
                continue
            offset += cut + 1
            data, skipping = data[cut + 1 :], False
            yield Chunk(b"", offset)  # the skipped rest of the over-long line is read too
        buf = carry + data if carry else data
        cut = buf.rfind(b"\n")
        if cut < 0:
            if (
                len(buf) > max_line_bytes
            ):  # a line longer than the cap: keep its start, skip the rest
                yield Chunk(buf[:max_line_bytes] + b"\n", offset + len(buf), truncated=1)
                offset += len(buf)
                carry, skipping = b"", True
            else:
                carry = buf
            continue
        whole, carry = buf[: cut + 1], buf[cut + 1 :]
        offset += len(whole)
        yield _capped(whole, offset, max_line_bytes)
    if carry and final:
        yield _capped(carry + b"\n", offset + len(carry), max_line_bytes)
    elif skipping and final:
        yield Chunk(b"", offset)


def _capped(data: bytes, offset: int, cap: int) -> Chunk:
    if len(data) <= cap or not _has_long_line(data, cap):
        return Chunk(data, offset)
    lines = data.split(b"\n")
    cut = sum(1 for line in lines if len(line) > cap)
    return Chunk(b"\n".join(line[:cap] for line in lines), offset, truncated=cut)


def _has_long_line(data: bytes, cap: int) -> bool:
    """Is a line of ``data`` longer than ``cap``? Jumps from the last newline of each window (C search)."""
    start, size = 0, len(data)
    while size - start > cap:
        end = data.rfind(b"\n", start, start + cap + 1)
        if end < 0:
            return True
        start = end + 1
    return False


class FileReader:
    """One pass over a file, ``.gz``/``.bz2`` or stdin, from its checkpoint.

    The file's identity is taken from the descriptor it opened (not the path again), so a file
    rotated while it is read still gets checkpoints that describe the file actually read.
    """

    def __init__(
        self,
        path: str,
        checkpoint: Checkpoint | None,
        stats: ReadStats,
        *,
        block: int = BLOCK_BYTES,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    ) -> None:
        self.path, self.stats = path, stats
        self.block, self.max_line_bytes = block, max_line_bytes
        self.stream = open_source(path, stats)
        fd = self.stream.fileno()
        # stdin and a named pipe are streams: read once from where they are, no checkpoint
        streaming = path == STDIN or not stat.S_ISREG(os.fstat(fd).st_mode)
        self.identity = None if streaming else _identity(fd)
        self.start = 0 if streaming else _resume(fd, self.identity, checkpoint)

    def __iter__(self) -> Iterator[Chunk]:
        stats = self.stats
        try:
            _skip(self.stream, self.start, self.path, stats)
            for chunk in split_lines(
                self.stream, self.start, block=self.block, max_line_bytes=self.max_line_bytes
            ):
                stats.bytes += len(chunk.data)
                stats.truncated += chunk.truncated
                yield chunk
        except (OSError, EOFError, ValueError) as exc:
            stats.errors.append(f"{self.path}: read failed: {exc}")
        finally:
            if self.path != STDIN:
                self.stream.close()

    def checkpoint(self, offset: int) -> Checkpoint | None:
        if self.identity is None:
            return None
        device, inode, head = self.identity
        return Checkpoint(source_key(self.path), device, inode, offset, head)


def _identity(fd: int) -> tuple[int, int, str]:
    st = os.fstat(fd)
    data = os.pread(fd, HEAD_BYTES, 0)
    return st.st_dev, st.st_ino, f"{len(data)}:{hashlib.sha1(data).hexdigest()}"


def _resume(fd: int, identity: tuple[int, int, str] | None, checkpoint: Checkpoint | None) -> int:
    """The checkpoint's offset if it describes the opened file (device, inode, first bytes)."""
    if identity is None or checkpoint is None:
        return 0
    if identity[:2] != (checkpoint.device, checkpoint.inode):
        return 0
    n = int(checkpoint.head.split(":", 1)[0] or 0)
    data = os.pread(fd, n, 0)
    same = f"{len(data)}:{hashlib.sha1(data).hexdigest()}" == checkpoint.head
    return checkpoint.offset if same else 0


def read_from(
    path: str,
    checkpoint: Checkpoint | None,
    stats: ReadStats,
    *,
    block: int = BLOCK_BYTES,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> Iterator[Chunk]:
    """Read ``path`` (file, .gz, .bz2 or ``-``) once, from where its checkpoint says."""
    yield from FileReader(path, checkpoint, stats, block=block, max_line_bytes=max_line_bytes)


def _skip(stream: BinaryIO, start: int, path: str, stats: ReadStats) -> None:
    if not start:
        return
    if not stats.compression:
        stream.seek(start)
        return
    left = start
    while left:
        got = len(stream.read(min(left, BLOCK_BYTES)))
        if not got:
            raise InputError(f"{path}: shorter than its checkpoint")
        left -= got


def checkpoint_for(path: str, offset: int) -> Checkpoint | None:
    if path == STDIN:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):  # a named pipe: opening it again would wait for a writer
        return None
    return Checkpoint(source_key(path), st.st_dev, st.st_ino, offset, head_of(path))


@dataclass
class _Tail:
    path: str
    fh: BinaryIO
    device: int
    inode: int
    offset: int
    head: str
    pending: bytes = b""


class Follower:
    """``tail -F`` for plain files: :meth:`poll` returns what was appended since the last call."""

    def __init__(
        self,
        paths: Sequence[str],
        checkpoints: dict[str, Checkpoint | None],
        *,
        block: int = BLOCK_BYTES,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    ) -> None:
        self.block, self.max_line_bytes = block, max_line_bytes
        self.tails: dict[str, _Tail | None] = {}
        for path in paths:
            if path == STDIN:
                raise InputError("--follow needs files, not stdin")
            self.tails[path] = self._open(path, checkpoints.get(source_key(path)))
        self.rotations = 0
        self.truncations = 0

    def _open(self, path: str, checkpoint: Checkpoint | None) -> _Tail | None:
        try:
            fh = open(path, "rb")  # noqa: SIM115 - kept open while followed
        except OSError:
            return None  # not there yet; retried at each poll
        st = os.fstat(fh.fileno())
        start = _resume(fh.fileno(), _identity(fh.fileno()), checkpoint)
        if start > st.st_size:
            start = 0
        fh.seek(start)
        data = os.pread(fh.fileno(), HEAD_BYTES, 0)
        return _Tail(
            path, fh, st.st_dev, st.st_ino, start, f"{len(data)}:{hashlib.sha1(data).hexdigest()}"
        )

    def poll(self) -> Iterator[tuple[str, Chunk]]:
        for path, tail in list(self.tails.items()):
            if tail is None:
                tail = self.tails[path] = self._open(path, None)
                if tail is None:
                    continue
            yield from ((path, c) for c in self._read(tail))
            if self._rotated(path, tail):
                # drain what was written just before the rename, unterminated last line included
                yield from ((path, c) for c in self._read(tail, final=True))
                yield path, Chunk(b"", tail.offset, rotated=True)  # a moment to commit the old file
                tail.fh.close()
                self.rotations += 1
                new = self.tails[path] = self._open(path, None)
                if new is not None:
                    yield from ((path, c) for c in self._read(new))

    def _read(self, tail: _Tail, final: bool = False) -> Iterator[Chunk]:
        try:
            size = os.fstat(tail.fh.fileno()).st_size
        except OSError:
            return
        if size < tail.offset or self._head_changed(tail):  # truncated in place (copytruncate)
            self.truncations += 1
            tail.fh.seek(0)
            tail.offset, tail.pending = 0, b""
            tail.head = _identity(tail.fh.fileno())[2]
        for chunk in split_lines(
            tail.fh, tail.offset, block=self.block, max_line_bytes=self.max_line_bytes, final=final
        ):
            tail.offset = chunk.offset
            yield chunk
        if not tail.head.startswith(f"{HEAD_BYTES}:"):  # the file was short when first seen
            data = os.pread(tail.fh.fileno(), HEAD_BYTES, 0)
            tail.head = f"{len(data)}:{hashlib.sha1(data).hexdigest()}"
        tail.fh.seek(tail.offset)  # an unterminated tail is read again with its newline

    @staticmethod
    def _head_changed(tail: _Tail) -> bool:
        n = int(tail.head.split(":", 1)[0] or 0)
        if not n:
            return False
        data = os.pread(tail.fh.fileno(), n, 0)
        return f"{len(data)}:{hashlib.sha1(data).hexdigest()}" != tail.head

    @staticmethod
    def _rotated(path: str, tail: _Tail) -> bool:
        try:
            st = os.stat(path)
        except OSError:
            return False  # moved away, the new file is not there yet: keep reading the old one
        return (st.st_dev, st.st_ino) != (tail.device, tail.inode)

    def checkpoint(self, path: str) -> Checkpoint | None:
        tail = self.tails.get(path)
        if tail is None:
            return None
        return Checkpoint(source_key(path), tail.device, tail.inode, tail.offset, tail.head)

    def close(self) -> None:
        for tail in self.tails.values():
            if tail:
                tail.fh.close()

    def wait(self, seconds: float) -> None:
        time.sleep(seconds)
