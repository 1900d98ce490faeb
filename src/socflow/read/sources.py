"""Streaming line sources with flat memory.

Files are read in fixed-size blocks and split at newlines in C, so memory stays bounded by the
block size plus ``max_line_bytes`` whatever the file size. Lines longer than the cap are cut and
counted; the rest of such a line is skipped without being held in memory. Compression is detected
from magic bytes, not from the file name. Lines are yielded as ``bytes`` (the extractor works on
bytes for speed); invalid UTF-8 is counted here and decoded with replacement where text is needed.
"""

from __future__ import annotations

import bz2
import glob
import gzip
import io
import os
import re
import stat
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from ..errors import InputError

DEFAULT_MAX_LINE_BYTES = 1 << 20
BLOCK_BYTES = 1 << 20
STDIN = "-"


@dataclass
class ReadStats:
    """What reading one source saw; nothing is dropped without being counted here."""

    source: str
    bytes: int = 0
    lines: int = 0
    invalid_utf8: int = 0
    truncated: int = 0
    compression: str = ""
    format: str = ""
    events: int = 0
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "format": self.format,
            "compression": self.compression or None,
            "bytes": self.bytes,
            "lines": self.lines,
            "invalid_utf8_lines": self.invalid_utf8,
            "truncated_lines": self.truncated,
            "errors": list(self.errors),
        }


def expand_paths(paths: Sequence[str], skipped: list[str] | None = None) -> list[str]:
    """Files named, globbed or found under directories (sorted, recursive); ``-`` is stdin.

    Only regular files are taken from folders and globs: opening a named pipe waits for a writer
    for ever, a device may never end, a socket cannot be opened. Each one left out is appended to
    ``skipped`` as ``"path (named pipe)"`` so the caller can report it. A path named on its own is
    read as given when it is a named pipe or a character device (``<(zcat x.gz)``, /dev/stdin): a
    stream the user asked for.
    """
    skipped = [] if skipped is None else skipped
    found: list[str] = []
    for spec in paths:
        if spec == STDIN:
            found.append(spec)
        elif os.path.isdir(spec):
            found.extend(_walk(spec, skipped))
        elif os.path.exists(spec):
            kind = _kind(spec)
            if kind not in ("", "named pipe", "character device"):
                raise InputError(f"{spec}: a {kind} cannot be read (give files, folders or -)")
            found.append(spec)
        elif glob.has_magic(spec):
            matches = []
            for match in sorted(glob.glob(spec, recursive=True)):
                if os.path.isdir(match):
                    continue
                kind = _kind(match)
                if kind:
                    skipped.append(f"{match} ({kind})")
                else:
                    matches.append(match)
            if not matches:
                raise InputError(f"{spec}: no file matches this pattern")
            found.extend(matches)
        else:
            raise InputError(f"{spec}: no such file or directory")
    return found


def _kind(path: str) -> str:
    """"" for a regular file (links followed), else what it is, in words."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return "broken link" if os.path.islink(path) else "unreadable entry"
    if stat.S_ISREG(mode):
        return ""
    if stat.S_ISFIFO(mode):
        return "named pipe"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode):
        return "character device"
    if stat.S_ISBLK(mode):
        return "block device"
    return "directory" if stat.S_ISDIR(mode) else "special file"


def _walk(directory: str, skipped: list[str]) -> list[str]:
    files = []
    for root, dirs, names in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if name.startswith("."):
                continue
            path = os.path.join(root, name)
            kind = _kind(path)
            if kind == "directory":  # a link to a folder: os.walk does not follow it
                skipped.append(f"{path} (link to a folder)")
            elif kind:
                skipped.append(f"{path} ({kind})")
            else:
                files.append(path)
    return files


def skipped_note(skipped: Sequence[str], shown: int = 5) -> str:
    """One line for the user: how many entries were left out, and the first few."""
    more = f" and {len(skipped) - shown} more" if len(skipped) > shown else ""
    return (
        f"skipped {len(skipped)} entr{'y' if len(skipped) == 1 else 'ies'} that "
        f"{'is' if len(skipped) == 1 else 'are'} not a regular file: "
        f"{', '.join(skipped[:shown])}{more}"
    )


# A bzip2 stream: "BZh", the block size digit, then the 48-bit magic of a block (pi) or of the
# end of an empty stream (sqrt(pi)). Three letters alone are not enough: a plain log may start
# with "BZh" and must not be read as a corrupt archive.
_BZIP2 = re.compile(rb"BZh[1-9](?:\x31\x41\x59\x26\x53\x59|\x17\x72\x45\x38\x50\x90)")


def open_source(path: str, stats: ReadStats | None = None) -> BinaryIO:
    """Open a file or stdin for binary reading, transparently decompressing gzip and bzip2."""
    try:
        raw: BinaryIO = sys.stdin.buffer if path == STDIN else open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise InputError(f"{path}: cannot open: {exc.strerror or exc}") from None
    buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)  # type: ignore[arg-type]
    magic = buffered.peek(10)[:10]
    if magic[:3] == b"\x1f\x8b\x08":
        if stats:
            stats.compression = "gzip"
        return gzip.GzipFile(fileobj=buffered)  # type: ignore[return-value]
    if _BZIP2.match(magic):
        if stats:
            stats.compression = "bzip2"
        return bz2.BZ2File(buffered)  # type: ignore[return-value]
    return buffered  # type: ignore[return-value]


def read_batches(
    path: str,
    stats: ReadStats,
    *,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    block_bytes: int = BLOCK_BYTES,
    byte_range: tuple[int, int] | None = None,
) -> Iterator[list[bytes]]:
    """Yield lists of lines (newline removed, at most ``max_line_bytes`` each) from ``path``.

    ``byte_range`` (uncompressed files only) reads the lines that *start* inside
    ``[start, end)``, so ranges that tile a file give every line exactly once.
    A corrupt compressed stream or a read error ends the source with a message in
    ``stats.errors``; lines read before it are kept.
    """
    stream: BinaryIO = (
        _RangeReader(path, *byte_range) if byte_range else open_source(path, stats)  # type: ignore[assignment]
    )
    try:
        yield from _split_blocks(stream, stats, max_line_bytes, block_bytes)
    except (OSError, EOFError, ValueError) as exc:
        stats.errors.append(f"{path}: read failed after {stats.lines} lines: {exc}")
    finally:
        if path != STDIN:
            stream.close()


class _RangeReader:
    """A plain file seen from the first line starting at ``start`` up to the end of the line
    in progress at ``end``."""

    def __init__(self, path: str, start: int, end: int) -> None:
        self._fh = open(path, "rb")  # noqa: SIM115 - closed by read_batches
        self._end = end
        self._done = False
        if start > 0:
            self._fh.seek(start - 1)
            if self._fh.read(1) != b"\n":
                self._fh.readline()  # that line belongs to the previous range
        self._pos = self._fh.tell()
        self._last = b"\n"

    def read1(self, size: int) -> bytes:
        if self._done:
            return b""
        if self._pos < self._end:
            block = self._fh.read(min(size, self._end - self._pos))
            if block:
                self._pos += len(block)
                self._last = block[-1:]
                return block
        self._done = True
        return b"" if self._last == b"\n" else self._fh.readline()

    read = read1

    def close(self) -> None:
        self._fh.close()


def _split_blocks(
    stream: BinaryIO, stats: ReadStats, max_line: int, block_bytes: int
) -> Iterator[list[bytes]]:
    carry = b""
    skipping = False  # inside the unread rest of a truncated line
    # read1: one underlying read per call, so a corrupt compressed stream loses only its tail.
    read = getattr(stream, "read1", stream.read)
    while True:
        block = read(block_bytes)
        if not block:
            break
        stats.bytes += len(block)
        if skipping:
            cut = block.find(b"\n")
            if cut < 0:
                continue
            block, skipping = block[cut + 1 :], False
        # ASCII decided on what was read (one C pass, no joining the lines back together)
        ascii_only = block.isascii() and carry.isascii()
        lines = (carry + block).split(b"\n") if carry else block.split(b"\n")
        carry = lines.pop()
        if len(carry) > max_line:
            lines.append(carry[:max_line])
            stats.truncated += 1
            carry, skipping = b"", True
        if lines:
            yield _checked(lines, stats, max_line, ascii_only)
    if carry:
        yield _checked([carry], stats, max_line, carry.isascii())


def _checked(lines: list[bytes], stats: ReadStats, max_line: int,
             ascii_only: bool) -> list[bytes]:
    """Count lines, cut over-long ones, count invalid UTF-8 (ASCII lines are checked for free;
    ``ascii_only``: the bytes these lines came from are all ASCII)."""
    stats.lines += len(lines)
    if ascii_only and max(map(len, lines)) <= max_line:
        return lines  # the usual case, decided in C for the whole batch
    for i, line in enumerate(lines):
        if len(line) > max_line:
            lines[i] = line = line[:max_line]
            stats.truncated += 1
        if not line.isascii():
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                stats.invalid_utf8 += 1
    return lines


def decode(line: bytes) -> str:
    """Text of a line for people and parsers: invalid UTF-8 becomes U+FFFD, CR removed."""
    return line.decode("utf-8", "replace").rstrip("\r")
