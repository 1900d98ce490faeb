"""Attacker text in alert descriptions is inert (issue 11 §4).

Descriptions are Markdown in TheHive. Every default rule, a custom rule written in the style the
docs used to show (values in backticks, in an HTML block), the intel table and the truncation of
a huge description are rendered with hostile usernames, user agents, URLs, indicators, sample
lines and intel summaries, then parsed by markdown-it-py's GFM preset (tables, autolinks): no
link, image or HTML node may come out, and the evidence is shown in code spans.
"""

from __future__ import annotations

import textwrap

from core.test_markdown import HOSTILE, active, hostile, walk
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from socflow.classify import Detection, load_rule_files, load_rules
from socflow.emit.alert import MAX_DESCRIPTION, AlertBuilder
from socflow.emit.enrichment import enrich_alert
from socflow.emit.settings import AlertSettings
from socflow.markdown import visible
from socflow.models import Level, Verdict

MD = MarkdownIt("gfm-like")
DEFAULT_RULES = load_rule_files([])
BUILDER = AlertBuilder(AlertSettings(private="keep"))


def _detection(rule, text: str, samples: list[str]) -> Detection:
    group = {key: text for key in [*rule.group_by, "indicator"]}
    values = {spec.key: [("", text), ("", "root")] for spec in rule.observables}
    values.update({"usernames": [("", text)], "user_agents": [("", text)], "urls": [("", text)]})
    return Detection(rule, group, 1_773_100_800, 7, 1_773_100_800.5, 1_773_100_900.0,
                     samples, values)


@settings(max_examples=60, deadline=None)
@given(hostile, st.lists(hostile, min_size=1, max_size=3))
def test_every_default_rule_renders_hostile_values_inert(text, samples):
    for rule in DEFAULT_RULES:
        alert = BUILDER.build(_detection(rule, text, samples))
        tokens = MD.parse(alert["description"])
        assert active(tokens) == [], (rule.id, alert["description"])
        fences = [t for t in tokens if t.type == "fence"]
        assert len(fences) == 1 and fences[0].content.count("\n") == len(samples), rule.id
        assert "\n" not in alert["title"] and "\r" not in alert["title"], rule.id


def test_default_rules_show_evidence_in_code_spans():
    lure = "[Reset password](https://evil.example/r) ![](https://t.example/p.png) <b>x</b>"
    for rule in DEFAULT_RULES:
        alert = BUILDER.build(_detection(rule, lure, [lure]))
        tokens = MD.parse(alert["description"])
        spans = [t.content for t in walk(tokens) if t.type == "code_inline"]
        if "{{" in rule.description and ("group." in rule.description or "values" in rule.description):
            assert lure in spans, rule.id
        assert [t.content for t in tokens if t.type == "fence"] == [lure + "\n"]


CUSTOM = textwrap.dedent("""\
    rules:
      - id: custom
        name: custom rule
        match: [{field: user, exists: true}]
        group_by: [user]
        title: "Login by {{ group.user }}"
        description: |
          User `{{ group.user }}` and **{{ group.user }}** from {{ values.urls | join(", ") }}.

          <div class="note">
          {{ group.user }}
          </div>

          | user | agent |
          |---|---|
          | {{ group.user }} | {{ values.user_agents | map("code") | join(" ") }} |
    """)


@settings(max_examples=300, deadline=None)
@given(hostile)
def test_values_in_any_template_context_stay_inert(text):
    rule = load_rules(CUSTOM, "custom.yml")[0]
    description = BUILDER.build(_detection(rule, text, ["x"]))["description"]
    tokens = MD.parse(description)
    html = "".join(t.content for t in tokens if t.type == "html_block")
    assert html.startswith('<div class="note">\n')  # the author's block and nothing else in it
    assert html.count("<") == 2 and html.count(">") == 2
    assert [t.type for t in walk(tokens) if t.type in {"link_open", "image", "html_inline"}] == []
    rows = [t for t in tokens if t.type == "tr_open"]
    assert len(rows) == 2 and len([t for t in tokens if t.type == "td_open"]) == 2


@settings(max_examples=200, deadline=None)
@given(hostile, hostile)
def test_intel_table_keeps_its_columns_and_links_nothing(indicator, summary):
    alert = {
        "description": "d",
        "severity": 2,
        "tags": [],
        "observables": [
            {"dataType": "domain", "data": indicator, "tags": [], "ioc": False}
        ],
    }

    class Enricher:
        def verdicts(self, kind, value):
            return [Verdict("AlienVault OTX", value, Level.MALICIOUS, 5.0, summary, {}, 0.0)]

    out = enrich_alert(alert, Enricher())["description"]
    tokens = MD.parse(out)
    assert active(tokens) == []
    cells = [t for t in tokens if t.type == "td_open"]
    assert len(cells) == 4
    inline = [t for t in tokens if t.type == "inline"][-4]
    assert [c.content for c in inline.children if c.type == "code_inline"] in (
        [visible(indicator)],
        [visible(indicator)[:199] + "…"],
    ) or not visible(indicator).strip()


def test_a_huge_description_is_cut_at_a_line_end_and_stays_inert():
    lure = "[x](https://evil.example/" + "a" * 150 + ")"
    text = CUSTOM.split("description: |")[0].rstrip(" ") + textwrap.indent(
        textwrap.dedent("""\
            description: |
              {% for ua in values.user_agents %}{{ ua | code }} and {{ ua }}
              {% endfor %}
              All: {{ values.user_agents | map("code") | join(", ") }}
            """),
        "    ",
    )
    rule = load_rules(text, "custom.yml")[0]
    det = _detection(rule, lure, ["x"])
    det.values["user_agents"] = [("", f"{lure}{i}") for i in range(20_000)]
    description = BUILDER.build(det)["description"]
    assert len(description) <= MAX_DESCRIPTION
    assert description.endswith("\n(truncated)")
    assert active(MD.parse(description)) == []


def test_hostile_fragments_include_the_issue_examples():
    assert any("](" in h for h in HOSTILE) and any("<img" in h for h in HOSTILE)
