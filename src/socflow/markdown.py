"""The one way socflow puts text an attacker may have written into Markdown.

TheHive renders alert descriptions, task logs and case descriptions as Markdown, so a user agent
``[Reset your password](https://evil.example)`` would become a clickable link, ``![](https://t/x)``
a tracking image and ``<img src=…>`` raw HTML. Every value that comes from a log line, a TheHive
object or an intel answer goes through one of these three:

``code(text)``
    An inline code span: the evidence shown as it is. The backtick fence is longer than any run
    of backticks inside, the content is padded where a leading or trailing backtick could merge
    with the fence, line breaks and other control characters are made visible (``␊``, ``␀``,
    ``[U+202E]``) and the length is capped with ``…``. ``table=True`` also escapes ``|`` for a
    GFM table cell. Use it for anything that may hold a URL or host name: GFM autolinks plain
    ``www.example.com`` and ``https://…``, and a code span is the only context where no parser
    does.
``block(lines)``
    A fenced code block for whole sample lines: a fence longer than any backtick run inside,
    each line capped and its control characters made visible.
``escape(text)``
    Plain running text: every ASCII punctuation character is backslash-escaped (``<``, ``>``,
    ``&`` and ``"`` become entities instead, so the text stays inert even inside an HTML block a
    template author wrote), line breaks are made visible. The result reads as the original
    text; ``https\\:\\/\\/…`` and ``www\\.…`` no longer form an autolink in marked, cmark-gfm
    or markdown-it, but prefer ``code`` for addresses anyway.

``Markdown`` marks a string that already is safe Markdown (built by socflow or written by the
rule's author); template environments pass it through and escape everything else.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable

MAX_CODE = 200
MAX_LINE = 1000
ELLIPSIS = "…"

__all__ = ["MAX_CODE", "MAX_LINE", "Markdown", "block", "code", "escape", "visible"]


class Markdown(str):
    """Text that already is safe Markdown; escapers and template finalizers leave it alone."""


# C0 controls (tab excepted), DEL, C1 controls, line/paragraph separators, bidi overrides and
# isolates, zero-width characters and the BOM: invisible or layout-changing, so shown by name.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f\x80-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)
_BACKTICKS = re.compile(r"`+")
_LINE_END = re.compile(r"\r?\n\Z")  # the one line ending a line read from a file carries
_PUNCTUATION = frozenset(string.punctuation)
_ENTITIES = {"<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;"}


def _show(match: re.Match[str]) -> str:
    ch = match.group()
    point = ord(ch)
    if point < 0x20:
        return chr(0x2400 + point)  # the Control Pictures block: ␀ … ␟
    if point == 0x7F:
        return "\u2421"  # ␡
    return f"[U+{point:04X}]"


def visible(text: str) -> str:
    """``text`` on one line: line breaks and invisible or bidi characters shown by name."""
    return _INVISIBLE.sub(_show, text.replace("\r\n", "\n"))


def _cap(text: str, limit: int | None) -> str:
    if limit is not None and len(text) > limit:
        return text[: max(limit - 1, 0)] + ELLIPSIS
    return text


def _longest_run(text: str) -> int:
    return max((len(run) for run in _BACKTICKS.findall(text)), default=0)


def code(text: object, *, limit: int | None = MAX_CODE, table: bool = False) -> Markdown:
    """``text`` as one inline code span (see the module docstring)."""
    shown = _cap(visible(str(text)), limit)
    if not shown:
        return Markdown("` `")
    if not shown.strip(" "):
        shown = "\u2420" * len(shown)  # ␠: a span of spaces alone would be trimmed or vanish
    if table:
        shown = shown.replace("|", "\\|")
    fence = "`" * (_longest_run(shown) + 1)
    if shown[0] in "` " or shown[-1] in "` ":
        # CommonMark strips one space on each side when both are there, so the padding never
        # shows, and a value starting or ending with a backtick cannot extend the fence.
        shown = f" {shown} "
    return Markdown(f"{fence}{shown}{fence}")


def block(lines: str | Iterable[str], *, limit: int | None = MAX_LINE) -> Markdown:
    """Lines as one fenced code block; a fence inside the lines can never close it."""
    if isinstance(lines, str):
        lines = lines.splitlines() or [""]
    shown = [_cap(visible(_LINE_END.sub("", line, count=1)), limit) for line in lines]
    fence = "`" * max(3, max((_longest_run(line) for line in shown), default=0) + 1)
    return Markdown("\n".join([fence, *shown, fence]))


def _escape_char(ch: str) -> str:
    if ch in _ENTITIES:
        return _ENTITIES[ch]
    if ch in _PUNCTUATION:
        return "\\" + ch
    return ch


def escape(text: object, *, limit: int | None = None) -> Markdown:
    """``text`` as inert running text (see the module docstring); a ``Markdown`` passes as is."""
    if isinstance(text, Markdown):
        return text
    shown = _cap(visible(str(text)), limit)
    return Markdown("".join(_escape_char(ch) for ch in shown))
