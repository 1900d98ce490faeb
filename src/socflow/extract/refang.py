"""Undo defanging (``hxxp``, ``[.]``, ``(dot)``, ``[@]``, ``[:]``…) so indicators can be matched.

Only bracketed forms are undone: the bare words " at " and " dot " are everyday log words
("failed at db.example.com") and rewriting them would invent e-mail addresses.
"""

from __future__ import annotations

import re

import re2

from ..native import NATIVE
from ..read.positions import lines_at

# Which lines of a batch hold a marker: socflow._native.marker_lines (one pass in C), else one
# RE2 pass (a DFA, ~10x faster than ``re`` on a whole batch); only those lines get the (slower)
# substitutions.
_MARKER = re2.compile(
    rb"[\[\(\{] ?(?:\.|dot|DOT|:|@|at|AT|/)|xxp|XXp|XXP|xxP|fxp|\\\.|\[tt\]"
)
_native_marker_lines = NATIVE.marker_lines if NATIVE else None


# (literals one of which the rule's match must contain, or None: always try; regex; replacement)
_RULES: tuple[tuple[tuple[bytes, ...] | None, re.Pattern[bytes], bytes], ...] = (
    ((b"xxp", b"XXp", b"xxP", b"XXP", b"[tt]"),
     re.compile(rb"(?<![A-Za-z])(?:hxxp|hXXp|hxxP|HXXP|h\[tt\]p)(s?)(?:\[:\]|:)?(?:\[/\]|/){0,2}"
                rb"(?=[^\s])"), rb"http\1://"),
    ((b"fxp",), re.compile(rb"\bfxp(?=s?://)"), rb"ftp"),
    ((b"[://]",), re.compile(rb"\[://\]"), rb"://"),
    ((b"[:]",), re.compile(rb"\[:\]"), rb":"),
    ((b"[/]",), re.compile(rb"\[/\]"), rb"/"),
    (None, re.compile(rb"\s?(?:\[|\(|\{)\s?(?:\.|dot|DOT)\s?(?:\]|\)|\})\s?"), rb"."),
    ((b"\\.",), re.compile(rb"(?<=[A-Za-z0-9])\\\.(?=[A-Za-z0-9])"), rb"."),
    (None, re.compile(rb"\s?(?:\[|\(|\{)\s?(?:@|at|AT)\s?(?:\]|\)|\})\s?"), rb"@"),
)


def needs_refang(text: bytes) -> bool:
    return _MARKER.search(text) is not None


def marker_lines(lines: list[bytes], blob: bytes) -> list[int]:
    """Sorted indexes of the lines (``blob``: them joined by newlines) holding a marker."""
    if _native_marker_lines is not None:
        return _native_marker_lines(blob)
    return marker_lines_python(lines, blob)


def marker_lines_python(lines: list[bytes], blob: bytes) -> list[int]:
    if not needs_refang(blob):
        return []
    return lines_at(lines, [m.start() for m in _MARKER.finditer(blob)])


def refang_lines(lines: list[bytes], blob: bytes) -> list[bytes]:
    """Refang only the lines of a batch (``blob`` is them joined by newlines) that hold a
    marker; the others are returned as they are."""
    marked = marker_lines(lines, blob)
    if not marked:
        return lines
    lines = list(lines)
    for i in marked:
        lines[i] = refang(lines[i])
    return lines


def refang(text: bytes) -> bytes:
    """Return ``text`` with defanged indicators restored; other text is left as it was."""
    for needles, rx, repl in _RULES:
        # A rule whose literal cannot be in the text is skipped: most lines need one or two.
        if needles is None or any(needle in text for needle in needles):
            text = rx.sub(repl, text)
    return text


def refang_str(text: str) -> str:
    return refang(text.encode("utf-8", "surrogateescape")).decode("utf-8", "surrogateescape")
