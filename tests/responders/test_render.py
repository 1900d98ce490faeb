"""Escaping and template rendering of the Notify responders, by property."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socflow.adapters.cortex.responders import _mail, _render
from socflow.errors import ConfigError

text = st.text(alphabet=st.characters(codec="utf-8"), max_size=200)


@given(text)
def test_header_values_never_break_a_line(value: str) -> None:
    out = _render.header(value)
    assert not re.search(r"[\r\n\x00-\x1f\x7f\u0085\u2028\u2029]", out)
    assert out == out.strip()


@given(text)
def test_slack_values_cannot_open_a_control_sequence(value: str) -> None:
    out = _render.slack(value)
    assert "<" not in out and ">" not in out
    assert out.replace("&amp;", "").replace("&lt;", "").replace("&gt;", "").count("&") == 0


@given(text)
def test_markdown_values_have_no_live_syntax_or_mentions(value: str) -> None:
    out = _render.markdown(value)
    assert not re.search(r"(?<!\\)[\[\]()*_`<>]", out.replace("\\\\", ""))
    assert not re.search(r"@(?!\u200b)", out)


@given(text, st.sampled_from(["plain", "header", "slack", "markdown"]))
def test_rendering_escapes_values_and_keeps_template_text(value: str, escape: str) -> None:
    out = _render.render("*{{ title }}*", {"title": value}, escape, item="t")
    assert out == "*" + _render.ESCAPERS[escape](value) + "*"


def test_trusted_link_is_not_escaped_and_context_covers_every_kind() -> None:
    case = {"_id": "~1", "title": "T", "number": 3, "severity": 4, "tags": ["a", 5]}
    values = _render.context(case, "thehive:case", {"user": "u"}, "https://th.example-corp.com/")
    assert values["link"] == "https://th.example-corp.com/cases/~1/details"
    assert _render.render("{{ link }}", values, "markdown", item="t") == values["link"]
    assert (values["severity_label"], values["tags"], values["case"]) == ("CRITICAL", ["a"], case)
    obs = _render.context({"_id": "~2", "dataType": "ip", "data": "1.2.3.4"}, "thehive:case_artifact", None, None)
    assert (obs["title"], obs["kind"], obs["link"], obs["user"]) == ("ip 1.2.3.4", "observable", "", "")
    evil = _render.context({"_id": "~1\n<x>"}, "thehive:case", None, "javascript:alert(1)")
    assert evil["link"] == ""


@pytest.mark.parametrize("source", ["{{ x.__class__.__base__.__subclasses__() }}", "{% for %}", "{{ 1/0 }}"])
def test_unsafe_or_broken_templates_raise_config_errors(source: str) -> None:
    with pytest.raises(ConfigError, match="body_template"):
        _render.render(source, {"x": ""}, "plain", item="body_template")


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (['mail:"a@example-corp.com"'], ["a@example-corp.com"]),
        (["mail:b@example-corp.com", "MAIL=c@example-corp.com", "mail:'d@example-corp.com'"],
         ["b@example-corp.com", "c@example-corp.com", "d@example-corp.com"]),
        (["mailbox", "email:x@y.com", "c2"], []),
    ],
)
def test_tag_recipients(tags: list[str], expected: list[str]) -> None:
    assert _mail.tag_recipients(tags) == expected


@given(st.lists(text, max_size=6))
def test_split_recipients_only_keeps_single_line_addresses(candidates: list[str]) -> None:
    good, bad = _mail.split_recipients(candidates)
    assert all("\n" not in g and "\r" not in g and _mail.ADDRESS.fullmatch(g) for g in good)
    assert len({g.lower() for g in good}) == len(good)
    kept = {g.lower() for g in good}
    assert all(c in bad or c.lower() in kept for c in candidates)


# --- issue 11 item 4: attacker text is inert in every channel; evidence in code spans ---------------

from html.parser import HTMLParser  # noqa: E402

from markdown_it import MarkdownIt  # noqa: E402

MD = MarkdownIt("gfm-like")
ACTIVE = {"link_open", "image", "html_inline", "html_block"}
HOSTILE = [
    "[Reset your password](https://evil.example/reset)", "![](https://track.example/p.png)",
    "<img src=x onerror=alert(1)>", "<script>alert(1)</script>", "<https://evil.example>",
    "https://evil.example/a?b=c", "www.evil.com", "evil.com", "mail@evil.com", "@channel",
    "<!here>", "<@U123|boss>", "<https://evil.example|Click here>", "`code` ``", "a\nb\r\nc",
    "\u202egnp.exe", "&lt;b&gt;", "*bold* _it_ ~strike~", "\"quote' onmouseover=x",
]
hostile_text = st.one_of(st.sampled_from(HOSTILE), text,
                         st.lists(st.sampled_from(HOSTILE + [" ", "x", "."]), max_size=8).map("".join))


def _md_tokens(source: str) -> set[str]:
    def walk(tokens: list) -> set[str]:  # type: ignore[type-arg]
        found = set()
        for tok in tokens:
            found.add(tok.type)
            found |= walk(tok.children or [])
        return found

    return walk(MD.parse(source))


@settings(max_examples=300)
@given(hostile_text)
def test_markdown_channel_values_render_without_links_images_or_html(value: str) -> None:
    out = _render.render("Alert: {{ v }}\n\n{{ v | code }}", {"v": value}, "markdown", item="t")
    assert not (_md_tokens(out) & ACTIVE), out
    assert not re.search(r"@(?!\u200b)", out)


_SLACK_AUTOLINK = re.compile(r"(?i)(?:[a-z][a-z0-9+.-]*://|www\.\w|mailto:\w|\w\.[a-z]{2,}\b)")


@settings(max_examples=300)
@given(hostile_text)
def test_slack_channel_values_hold_nothing_slack_turns_into_a_link(value: str) -> None:
    out = _render.render("Alert: {{ v }}", {"v": value}, "slack", item="t")
    assert "<" not in out and ">" not in out
    assert not _SLACK_AUTOLINK.search(out.removeprefix("Alert: ")), out
    # The reader sees the text as written: only zero-width spaces were added.
    assert out.replace("\u200b", "") == "Alert: " + _render.slack(value).replace("\u200b", "")


@given(hostile_text)
def test_slack_code_span_shows_the_evidence_in_one_span(value: str) -> None:
    out = _render.render("{{ v | code }}", {"v": value}, "slack", item="t")
    if out:
        assert out.startswith("`") and out.endswith("`") and out.count("`") == 2
        assert "<" not in out and ">" not in out and "\n" not in out


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list]] = []  # type: ignore[type-arg]

    def handle_starttag(self, tag: str, attrs: list) -> None:  # type: ignore[type-arg]
        self.tags.append((tag, attrs))


@settings(max_examples=200)
@given(hostile_text)
def test_html_mail_values_add_no_tag_or_attribute(value: str) -> None:
    out = _render.render('<p title="{{ v }}">{{ v }}</p>{{ v | code }}', {"v": value}, "html", item="t")
    parser = _Tags()
    parser.feed(out)
    assert [tag for tag, _ in parser.tags] == ["p", "code"]
    assert [name for name, _ in parser.tags[0][1]] == ["title"]


def test_default_body_shows_an_observable_in_a_code_span() -> None:
    obs = {"_id": "~2", "dataType": "url", "data": "https://evil.example/[x](y)", "message": ""}
    values = _render.context(obs, "thehive:case_artifact", None, None)
    md = _render.render(_render.DEFAULT_BODY, values, "markdown", item="body_template")
    spans = [child.content for tok in MD.parse(md) for child in (tok.children or []) if child.type == "code_inline"]
    assert spans == [obs["data"]]  # shown exactly, inside a code span
    assert not (_md_tokens(md) & ACTIVE)
    slack = _render.render(_render.DEFAULT_BODY, values, "slack", item="body_template")
    assert "url: `https://evil.example/[x](y)`" in slack


# --- issue 11 item 8: huge or recursive templates are bounded ------------------------------------

@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("x" * (_render.MAX_TEMPLATE + 1), "more than 65536"),
        ("{% for a in range(100000) %}{{ d }}{% endfor %}", "longer than 100000 characters"),
        ("{{ 'x' * 1000000000 }}", "repeated value longer than"),
        ("{{ [1] * 1000000000 }}", "repeated value longer than"),
        ("{{ 2 ** 100000 }}", "more than 4096 bits"),
        ("{{ '%1000000000s' % 'a' }}", "MB of memory"),
        ("{{ 'a' | center(1000000000) }}", "MB of memory"),
        ("{% macro m(n) %}{{ m(n) }}{% endmacro %}{{ m(1) }}", "recurses too deeply"),
        ("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}", "longer than"),
    ],
)
def test_unbounded_templates_are_one_line_config_errors(
    source: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_render, "RENDER_SECONDS", 0.5)
    start = time.monotonic()
    with pytest.raises(ConfigError, match="body_template") as info:
        _render.render(source, {"d": "y" * 1000}, "plain", item="body_template")
    assert message in str(info.value) and "\n" not in str(info.value)
    assert time.monotonic() - start < 3
    # The limits are lifted afterwards: a normal render still works.
    assert _render.render("{{ d }}", {"d": "ok"}, "plain", item="t") == "ok"
