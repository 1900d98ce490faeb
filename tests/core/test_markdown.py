"""socflow.markdown: attacker text rendered by a real GFM parser is inert and reads as written.

markdown-it-py with its ``gfm-like`` preset (tables, strikethrough, linkify autolinks through
linkify-it-py) parses what the helpers produce; a link, image or HTML node anywhere in the result
is a failure, and the visible text must be the original text (control characters shown by name).
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from socflow.markdown import ELLIPSIS, MAX_CODE, Markdown, block, code, escape, visible

MD = MarkdownIt("gfm-like")
ACTIVE = {"link_open", "image", "html_inline", "html_block"}

HOSTILE = [
    "[Reset your password](https://evil.example/reset)",
    "![](https://track.example/pixel.png)",
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    "<https://evil.example>",
    "[x]: https://evil.example",
    "[x]",
    "https://evil.example/a?b=c",
    "http://",
    "www.evil.com",
    "evil.com",
    "mail@evil.com",
    "javascript:alert(1)",
    "&lt;img&gt;",
    "&#60;b&#62;",
    "&amp;",
    "<!--",
    "`",
    "``",
    "```",
    "~~~",
    "\\",
    "\\|",
    "|",
    "||",
    "---",
    "\n",
    "\r\n",
    "\r",
    "\n\n",
    "\t",
    "    ",
    " ",
    "*",
    "_",
    "~~",
    "#",
    ">",
    "- ",
    "1. ",
    "\x00",
    "\x1b[31m",
    "\u202e",
    "\u2028",
    "\x85",
    "@here",
]
hostile = st.lists(
    st.one_of(st.sampled_from(HOSTILE), st.text(max_size=6)), max_size=12
).map("".join)


def walk(tokens):
    for tok in tokens:
        yield tok
        if tok.children:
            yield from walk(tok.children)


def active(tokens) -> list[str]:
    return [t.type for t in walk(tokens) if t.type in ACTIVE]


def expected_code(text: str, limit: int | None = MAX_CODE) -> str:
    shown = visible(text)
    if limit is not None and len(shown) > limit:
        shown = shown[: limit - 1] + ELLIPSIS
    if shown and not shown.strip(" "):
        shown = "\u2420" * len(shown)
    return shown or " "


@settings(max_examples=400, deadline=None)
@given(hostile)
def test_code_span_is_one_inert_span_showing_the_text(text):
    tokens = MD.parse(f"User agent {code(text)} seen.")
    assert active(tokens) == []
    spans = [t for t in walk(tokens) if t.type == "code_inline"]
    assert len(spans) == 1
    assert spans[0].content == expected_code(text)


@settings(max_examples=300, deadline=None)
@given(hostile, hostile)
def test_table_cells_keep_their_columns(left, right):
    row = f"| {code(left, table=True)} | {escape(right)} |"
    tokens = MD.parse(f"| indicator | summary |\n|---|---|\n{row}\n")
    assert active(tokens) == []
    cells = [t for t in tokens if t.type == "td_open"]
    assert len(cells) == 2
    inlines = [t for t in tokens if t.type == "inline"]
    first, second = inlines[-2], inlines[-1]
    assert [c.content for c in first.children if c.type == "code_inline"] == [expected_code(left)]
    assert "".join(c.content for c in second.children).strip() == visible(right).strip()


@settings(max_examples=400, deadline=None)
@given(hostile)
def test_escaped_text_reads_as_written_and_links_nothing(text):
    tokens = MD.parse(f"x{escape(text)}x")
    assert active(tokens) == []
    assert [t.type for t in tokens] == ["paragraph_open", "inline", "paragraph_close"]
    children = tokens[1].children
    assert all(c.type == "text" for c in children), [c.type for c in children]
    assert "".join(c.content for c in children) == f"x{visible(text)}x"


@given(hostile)
def test_escaped_text_has_no_html_metacharacters(text):
    # also inert inside an HTML block a template author wrote, where Markdown escapes do nothing
    assert not {"<", ">", '"'} & set(escape(text))


@settings(max_examples=300, deadline=None)
@given(st.lists(hostile, min_size=1, max_size=5))
def test_block_holds_every_line_and_nothing_escapes_it(lines):
    tokens = MD.parse(f"#### Sample lines\n\n{block(lines)}\n\nafter _the_ block\n")
    assert active(tokens) == []
    fences = [t for t in tokens if t.type == "fence"]
    assert len(fences) == 1
    shown = [visible(re.sub(r"\r?\n\Z", "", line)) for line in lines]
    assert fences[0].content == "".join(line + "\n" for line in shown)
    assert tokens[-2].content == "after _the_ block"


@pytest.mark.parametrize(
    "value",
    ["https://evil.example/x", "www.evil.com", "mail@evil.com", "evil.com/login"],
)
def test_autolink_candidates_are_no_links_escaped_or_in_code(value):
    assert active(MD.parse(f"plain {value}")) == ["link_open"]  # the parser does autolink them
    assert active(MD.parse(f"plain {escape(value)}")) == []
    assert active(MD.parse(f"plain {code(value)}")) == []


def test_caps_and_visibility():
    assert code("a" * 500) == Markdown(f"`{'a' * (MAX_CODE - 1)}{ELLIPSIS}`")
    assert code("x" * 300, limit=None) == f"`{'x' * 300}`"
    assert code("a`b") == "``a`b``"
    assert code("`a") == "`` `a ``"
    assert code("") == "` `"
    assert visible("a\r\nb\x00\u202e") == "a\u240ab\u2400[U+202E]"
    assert escape("a.b <c>") == "a\\.b &lt;c&gt;"
    assert escape(Markdown("**kept**")) == "**kept**"
    assert block(["x", "```", "y" + "`" * 7]).startswith("````````\n")
    assert escape("x" * 10, limit=4) == "xxx" + ELLIPSIS
