"""Escaping and template rendering of the Notify responders, by property."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
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
