"""Rule templates (``title``, ``description``): sandboxed Jinja2 that escapes every value.

The template's own text is the rule author's and stays as written; every ``{{ value }}`` is
escaped for where the text ends up (issue 11 §4), so a username or user agent cannot put a link,
an image or HTML into an alert:

- descriptions are Markdown: a value is printed as escaped text (``socflow.markdown.escape``)
  unless the template asks for ``| code`` (an inline code span: the form for evidence such as
  addresses, URLs, user agents, usernames) or ``| codeblock`` (lines in a fenced block);
  ``join`` escapes each item that is not already Markdown (``values.x | map("code") | join``).
  A code span on a line that holds a table pipe of the author's is made table-safe (its ``|``
  escaped), so a value cannot split a cell and leave the rest of itself outside the span.
- titles are plain text in TheHive: values are shown on one line, control characters made
  visible; ``code`` and ``codeblock`` change nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

from jinja2 import Template
from jinja2.sandbox import SandboxedEnvironment

from .. import markdown

# Code spans are placed after rendering, once the line they stand on is known. The marker holds
# NUL, which no value can print: visible() shows a NUL in any value as ␀.
_MARK = re.compile("\x00(\\d+)\x00")
_AUTHOR_PIPE = re.compile(r"(?<!\\)\|")  # values print `|` as `\|`; a bare one is the author's
_spans: ContextVar[list[tuple[str, int | None]] | None] = ContextVar("spans", default=None)


def _code(value: Any, limit: int | None = markdown.MAX_CODE) -> markdown.Markdown:
    spans = _spans.get()
    if spans is None:  # rendered outside render(): no line context, so always table-safe
        return markdown.code(value, limit=limit, table=True)
    spans.append(("" if value is None else str(value), limit))
    return markdown.Markdown(f"\x00{len(spans) - 1}\x00")


def _codeblock(value: Any, limit: int | None = markdown.MAX_LINE) -> markdown.Markdown:
    lines = [str(v) for v in value] if isinstance(value, list | tuple) else str(value)
    return markdown.block(lines, limit=limit)


def _join(items: Iterable[Any], separator: str = "", attribute: Any = None) -> markdown.Markdown:
    if attribute is not None:
        items = (
            i.get(attribute) if isinstance(i, dict) else getattr(i, attribute, None) for i in items
        )
    return markdown.Markdown(str(separator).join(markdown.escape(i) for i in items))


def _markdown_env() -> SandboxedEnvironment:
    env = SandboxedEnvironment(autoescape=False, keep_trailing_newline=False)
    env.finalize = lambda v: markdown.escape("" if v is None else v)
    env.filters.update(code=_code, codeblock=_codeblock, join=_join)
    return env


def _text_env() -> SandboxedEnvironment:
    env = SandboxedEnvironment(autoescape=False, keep_trailing_newline=False)
    env.finalize = lambda v: markdown.visible("" if v is None else str(v))
    env.filters.update(
        code=lambda v, limit=None: v,
        codeblock=lambda v, limit=None: " ".join(map(str, v)) if isinstance(v, list | tuple) else v,
    )
    return env


MARKDOWN = _markdown_env()
TEXT = _text_env()


@lru_cache(maxsize=512)
def compiled(source: str, for_markdown: bool) -> Template:
    """The parsed template (raises ``TemplateSyntaxError``); both environments know one syntax."""
    return (MARKDOWN if for_markdown else TEXT).from_string(source)


def render(source: str, context: dict[str, Any], *, for_markdown: bool) -> str:
    """``source`` rendered with ``context``; errors are Jinja2's (the sandbox's included)."""
    if not for_markdown:
        return compiled(source, False).render(context)
    spans: list[tuple[str, int | None]] = []
    token = _spans.set(spans)
    try:
        out = compiled(source, True).render(context)
    finally:
        _spans.reset(token)
    if not spans:
        return out

    def place(table: bool) -> Any:
        def span(match: re.Match[str]) -> str:
            text, limit = spans[int(match.group(1))]
            return markdown.code(text, limit=limit, table=table)

        return span

    return "\n".join(
        _MARK.sub(place(bool(_AUTHOR_PIPE.search(_MARK.sub("", line)))), line)
        for line in out.split("\n")
    )
