"""Undo defanging (``hxxp``, ``[.]``, ``(dot)``, ``[@]``, ``[:]``…) so indicators can be matched.

Only bracketed forms are undone: the bare words " at " and " dot " are everyday log words
("failed at db.example.com") and rewriting them would invent e-mail addresses.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import re2

from ..native import NATIVE
from ..read.positions import lines_at

# Which lines of a batch hold a marker: socflow._native.marker_lines (one pass in C), else one
# RE2 pass (a DFA, ~10x faster than ``re`` on a whole batch); only those lines get the (slower)
# substitutions.
_MARKER = re2.compile(
    rb"[\[\(\{] ?(?:\.|[dD][oO][tT]|:|@|[aA][tT]|/)|[xX][xX][pP]|[fF][xX][pP]|\\\.|\[[tT][tT]\]"
)
_native_marker_lines = NATIVE.marker_lines if NATIVE else None


# The separator after a defanged scheme: "://" or its bracketed spellings ("[://]", "[:]//",
# "(:)//", ":[//]", "[:]"+"[/][/]").
_SEPARATOR = rb"(?:\[://\]|(?:\[:\]|\(:\)|:)(?:\[//\]|(?:\[/\]|/){2}))"
# (literals one of which the rule's match must contain in the lower-cased text, or None: always
# try; regex; replacement)
_Replacement = bytes | Callable[[re.Match[bytes]], bytes]
_RULES: tuple[tuple[tuple[bytes, ...] | None, re.Pattern[bytes], _Replacement], ...] = (
    # hxxp, HXXPS, hXxp, h[tt]p in any case, then any separator ("hxxp//", "hxxpevil" too).
    ((b"xxp", b"[tt]"),
     re.compile(rb"(?i)(?<![a-z])h(?:xx|\[tt\])p(s?)"
                rb"(?:\[://\]|(?:\[:\]|\(:\)|:)?(?:\[//\]|(?:\[/\]|/){0,2}))(?=[^\s])"),
     lambda m: b"http" + m.group(1).lower() + b"://"),
    # fxp, fXp, FXP: only before a separator (FXP is also an FTP word)
    ((b"fxp",), re.compile(rb"(?i)\bfxp(s?)" + _SEPARATOR),
     lambda m: b"ftp" + m.group(1).lower() + b"://"),
    ((b"[://]",), re.compile(rb"\[://\]"), rb"://"),
    ((b"[:]",), re.compile(rb"\[:\]"), rb":"),
    ((b"(:)",), re.compile(rb"(?<=[A-Za-z])\(:\)(?=//|\[/)"), rb":"),
    ((b"[//]",), re.compile(rb"\[//\]"), rb"//"),
    ((b"[/]",), re.compile(rb"\[/\]"), rb"/"),
    (None, re.compile(rb"\s?(?:\[|\(|\{)\s?(?:\.|(?i:dot))\s?(?:\]|\)|\})\s?"), rb"."),
    ((b"\\.",), re.compile(rb"(?<=[A-Za-z0-9])\\\.(?=[A-Za-z0-9])"), rb"."),
    (None, re.compile(rb"\s?(?:\[|\(|\{)\s?(?:@|(?i:at))\s?(?:\]|\)|\})\s?"), rb"@"),
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
    low = text.lower()  # the rules are blind to case where defangers are
    for needles, rx, repl in _RULES:
        # A rule whose literal cannot be in the text is skipped: most lines need one or two.
        if needles is not None:
            for needle in needles:
                if needle in low:
                    break
            else:
                continue
        changed = rx.sub(repl, text)
        if changed != text:
            text, low = changed, changed.lower()
    return text


def refang_str(text: str) -> str:
    return refang(text.encode("utf-8", "surrogateescape")).decode("utf-8", "surrogateescape")
