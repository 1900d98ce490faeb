"""Undo defanging (``hxxp``, ``[.]``, ``(dot)``, ``[@]``, ``[:]``…) so indicators can be matched.

Only bracketed forms are undone: the bare words " at " and " dot " are everyday log words
("failed at db.example.com") and rewriting them would invent e-mail addresses.
"""

from __future__ import annotations

import re

# A cheap search decides whether a line needs the (slower) substitutions at all.

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


# One pass with a first-character class (no per-position alternation over every marker).
_MARKER_RX = re.compile(
    rb"[\[\(\{] ?(?:\.|dot|DOT|:|://|@|at|AT|/) ?[\]\)\}]|h[xX]{2}[pP]|hXXP|fxp|\w\\\.\w"
)


def needs_refang(text: bytes) -> bool:
    return _MARKER_RX.search(text) is not None


def refang(text: bytes) -> bytes:
    """Return ``text`` with defanged indicators restored; other text is left as it was."""
    for rx, repl in _RULES:
        text = rx.sub(repl, text)
    return text


def refang_str(text: str) -> str:
    return refang(text.encode("utf-8", "surrogateescape")).decode("utf-8", "surrogateescape")
