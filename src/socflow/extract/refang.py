"""Undo defanging (``hxxp``, ``[.]``, ``(dot)``, ``[@]``, ``[:]``…) so indicators can be matched.

Only bracketed forms are undone: the bare words " at " and " dot " are everyday log words
("failed at db.example.com") and rewriting them would invent e-mail addresses.
"""

from __future__ import annotations

import re

# Cheap substring checks decide whether a line needs the (slower) substitutions at all.
MARKERS = (b"[.]", b"(.)", b"{.}", b"[dot]", b"(dot)", b"{dot}", b"hxxp", b"hXXp",
           b"[:]", b"[://]", b"[@]", b"(@)", b"[at]", b"(at)", b"fxp", b"[/]", b"\\.")

_RULES: tuple[tuple[re.Pattern[bytes], bytes], ...] = (
    (re.compile(rb"\b(?:hxxp|hXXp|hxxP|HXXP|h\[tt\]p|meow)(s?)(?:\[:\]|:)?(?:\[/\]|/){0,2}"
                rb"(?=[^\s])"), rb"http\1://"),
    (re.compile(rb"\bfxp(?=s?://)"), rb"ftp"),
    (re.compile(rb"\[://\]"), rb"://"),
    (re.compile(rb"\[:\]"), rb":"),
    (re.compile(rb"\[/\]"), rb"/"),
    (re.compile(rb"\s?(?:\[|\(|\{)\s?(?:\.|dot|DOT)\s?(?:\]|\)|\})\s?"), rb"."),
    (re.compile(rb"(?<=[A-Za-z0-9])\\\.(?=[A-Za-z0-9])"), rb"."),
    (re.compile(rb"\s?(?:\[|\(|\{)\s?(?:@|at|AT)\s?(?:\]|\)|\})\s?"), rb"@"),
)


_MARKER_RX = re.compile(b"|".join(re.escape(m) for m in MARKERS))


def needs_refang(text: bytes) -> bool:
    return _MARKER_RX.search(text) is not None


def refang(text: bytes) -> bytes:
    """Return ``text`` with defanged indicators restored; other text is left as it was."""
    for rx, repl in _RULES:
        text = rx.sub(repl, text)
    return text


def refang_str(text: str) -> str:
    return refang(text.encode("utf-8", "surrogateescape")).decode("utf-8", "surrogateescape")
