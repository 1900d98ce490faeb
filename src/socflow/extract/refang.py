"""Undo defanging (``hxxp``, ``[.]``, ``(dot)``, ``[@]``, ``[:]``…) so indicators can be matched.

Only bracketed forms are undone: the bare words " at " and " dot " are everyday log words
("failed at db.example.com") and rewriting them would invent e-mail addresses.
"""

from __future__ import annotations

import re

import re2

from ..read.positions import lines_at

# One RE2 pass (a DFA in C, ~10x faster than ``re`` on a whole batch) decides whether a batch
# holds any marker at all, and which lines do; only those get the (slower) substitutions.
_MARKER = re2.compile(
    rb"[\[\(\{] ?(?:\.|dot|DOT|:|@|at|AT|/)|xxp|XXp|XXP|xxP|fxp|\\\.|\[tt\]"
)


_RULES: tuple[tuple[re.Pattern[bytes], bytes], ...] = (
    (re.compile(rb"(?<![A-Za-z])(?:hxxp|hXXp|hxxP|HXXP|h\[tt\]p)(s?)(?:\[:\]|:)?(?:\[/\]|/){0,2}"
                rb"(?=[^\s])"), rb"http\1://"),
    (re.compile(rb"\bfxp(?=s?://)"), rb"ftp"),
    (re.compile(rb"\[://\]"), rb"://"),
    (re.compile(rb"\[:\]"), rb":"),
    (re.compile(rb"\[/\]"), rb"/"),
    (re.compile(rb"\s?(?:\[|\(|\{)\s?(?:\.|dot|DOT)\s?(?:\]|\)|\})\s?"), rb"."),
    (re.compile(rb"(?<=[A-Za-z0-9])\\\.(?=[A-Za-z0-9])"), rb"."),
    (re.compile(rb"\s?(?:\[|\(|\{)\s?(?:@|at|AT)\s?(?:\]|\)|\})\s?"), rb"@"),
)


def needs_refang(text: bytes) -> bool:
    return _MARKER.search(text) is not None


def refang_lines(lines: list[bytes], blob: bytes) -> list[bytes]:
    """Refang only the lines of a batch (``blob`` is them joined by newlines) that hold a
    marker; the others are returned as they are."""
    if not needs_refang(blob):
        return lines
    positions = [m.start() for m in _MARKER.finditer(blob)]
    lines = list(lines)
    for i in lines_at(lines, positions):
        lines[i] = refang(lines[i])
    return lines


def refang(text: bytes) -> bytes:
    """Return ``text`` with defanged indicators restored; other text is left as it was."""
    for rx, repl in _RULES:
        text = rx.sub(repl, text)
    return text


def refang_str(text: str) -> str:
    return refang(text.encode("utf-8", "surrogateescape")).decode("utf-8", "surrogateescape")
