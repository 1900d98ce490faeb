"""Rule files: validation errors that name file, line and key; the engine's matching and windows."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socflow.classify import Engine, load_rule_files, load_rules
from socflow.classify.intel import FeedIntel
from socflow.errors import ConfigError
from socflow.models import Event

T0 = datetime(2026, 3, 10, 8, 0, 0, tzinfo=UTC)

RULE = """\
rules:
  - id: r1
    name: test rule
    prefilter: 'fail'
    match:
      - {field: fields.auth, equals: failed}
    group_by: [client_ip]
    threshold: 3
    window: 10m
    title: "x {{ group.client_ip }}"
"""


def _rules(text: str):
    return load_rules(textwrap.dedent(text), "rules.yml")


def _error(text: str) -> str:
    with pytest.raises(ConfigError) as err:
        _rules(text)
    return str(err.value)


def test_default_rules_load_and_are_documented():
    from pathlib import Path

    rules = load_rule_files([])
    ids = {r.id for r in rules}
    assert {
        "ssh-brute-force",
        "web-sqli",
        "web-xss",
        "web-path-traversal",
        "web-command-injection",
        "web-scanner",
        "suspicious-tld",
        "intel-hit",
        "http-error-burst",
    } <= ids
    doc = (Path(__file__).resolve().parents[2] / "docs" / "rules.md").read_text()
    assert all(f"`{rule_id}`" in doc for rule_id in ids)


@pytest.mark.parametrize(
    "bad,line,needle",
    [
        (
            RULE.replace("window: 10m", "window: 10 minutes"),
            9,
            "rules[0].window: '10 minutes' is not a duration",
        ),
        (RULE.replace("threshold: 3", "threshold: 0"), 8, "rules[0].threshold"),
        (
            RULE.replace("    title:", "    colour: red\n    title:"),
            10,
            "rules[0].colour: Extra inputs are not permitted",
        ),
        (RULE.replace("prefilter: 'fail'", "prefilter: '(?<=a)b'"), 2, "not a valid RE2 pattern"),
        (RULE.replace("equals: failed", "regex: '(unclosed'"), 6, "invalid regular expression"),
        (
            RULE.replace('"x {{ group.client_ip }}"', '"x {{ group.client_ip "'),
            10,
            "template error",
        ),
        (RULE.replace("id: r1", "id: R 1"), 2, "rules[0].id"),
        (
            RULE.replace("group_by: [client_ip]", "group_by: [client_ip]\n    severity: 5"),
            8,
            "rules[0].severity",
        ),
        (
            RULE.replace("      - {field: fields.auth, equals: failed}", "      - {field: status}"),
            6,
            "a condition needs one of",
        ),
        (
            RULE.replace("    title:", "    formats: [syslogg]\n    title:"),
            10,
            "unknown format 'syslogg'",
        ),
    ],
)
def test_errors_name_file_line_and_key(bad, line, needle):
    message = _error(bad)
    assert message.startswith(f"rules.yml:{line}:") or f"rules.yml:{line}:" in message, message
    assert needle in message


def test_yaml_syntax_and_shape_errors():
    assert _error("rules:\n  - id: [unclosed\n").startswith("rules.yml:")
    assert "mapping with a 'rules' list" in _error("- just a list\n")
    assert "duplicate key 'id'" in _error("rules:\n  - id: a\n    id: b\n")
    assert "defined twice" in _error(RULE + RULE.split("rules:\n", 1)[1])


def test_rule_file_on_disk_and_override(tmp_path):
    custom = tmp_path / "mine.yml"
    custom.write_text(RULE.replace("id: r1", "id: ssh-brute-force"))
    rules = {r.id: r for r in load_rule_files([custom])}
    assert rules["ssh-brute-force"].threshold == 3  # replaced the default (threshold 5)
    with pytest.raises(ConfigError, match="cannot read rule file"):
        load_rule_files([tmp_path / "missing.yml"])


def _event(ip: str, minutes: float, auth: str = "failed", user: str = "root") -> Event:
    return Event(
        raw=f"sshd: Failed password for {user} from {ip}",
        fmt="syslog",
        timestamp=T0 + timedelta(minutes=minutes),
        client_ip=ip,
        user=user,
        fields={"auth": auth},
    )


def test_threshold_window_and_grouping():
    rule = _rules(RULE)[0]
    engine = Engine([rule], grace=0)
    for m in (0, 1, 2):
        engine.observe(_event("45.1.1.1", m), [rule])
    for m in (0, 1):
        engine.observe(_event("45.2.2.2", m), [rule])  # below threshold
    engine.observe(_event("45.1.1.1", 9.5, auth="accepted"), [rule])  # does not match
    assert engine.close() == []  # window still open
    engine.observe(_event("45.3.3.3", 25), [rule])  # moves the watermark past the first window
    detections = engine.close()
    assert [(d.group, d.count) for d in detections] == [({"client_ip": "45.1.1.1"}, 3)]
    assert detections[0].window_start == int(T0.timestamp()) // 600 * 600
    assert engine.flush() == []  # 45.3.3.3 has one event only


def test_same_ip_in_two_windows_gives_two_detections():
    rule = _rules(RULE)[0]
    engine = Engine([rule])
    for m in (0, 1, 2, 10, 11, 12):
        engine.observe(_event("45.1.1.1", m), [rule])
    assert [d.count for d in engine.flush()] == [3, 3]


def test_conditions():
    rules = _rules("""
    rules:
      - id: web
        name: w
        match:
          - {field: url, decode: url, regex: "union\\\\s+select"}
          - {field: status, gte: 200, lte: 299}
          - {field: user_agent, contains: [curl, wget], not: true}
        any:
          - {field: method, equals: [get, post]}
          - {field: url, startswith: /admin}
        title: t
    """)
    engine = Engine(rules)
    ok = Event(
        raw="x",
        fmt="access",
        url="/a?q=1%20UNION%20%20select%201",
        status=200,
        method="GET",
        user_agent="Mozilla",
        client_ip="45.1.1.1",
    )
    engine.observe(ok, rules)
    engine.observe(Event(raw="x", fmt="access", url=ok.url, status=404, method="GET"), rules)
    engine.observe(
        Event(raw="x", fmt="access", url=ok.url, status=200, method="GET", user_agent="curl/8"),
        rules,
    )
    engine.observe(Event(raw="x", fmt="access", url=ok.url, status=200, method="PUT"), rules)
    engine.observe(
        Event(raw="x", fmt="access", url="/admin?id=1 union select", status=200, method="PUT"),
        rules,
    )
    assert engine.matched["web"] == 2


def test_indicator_rules_with_tlds_and_feed(tmp_path):
    feed = tmp_path / "feed.txt"
    feed.write_text("# bad things\n198.51.100.1\nevil-domain.com, from a report\n")
    rules = [r for r in load_rule_files([]) if r.id in ("suspicious-tld", "intel-hit")]
    engine = Engine(rules, intel=FeedIntel([feed]))
    engine.observe(
        Event(raw="GET http://login.example.xyz/a and 10.0.0.1 from evil-domain.com", fmt="plain"),
        rules,
    )
    got = {(d.rule.id, d.group["indicator"]) for d in engine.flush()}
    assert got == {("suspicious-tld", "login.example.xyz"), ("intel-hit", "evil-domain.com")}
    assert Engine(rules).skipped == ["intel-hit"]  # no feed, no enrichment: the rule cannot fire


def test_state_survives_a_restart():
    rule = _rules(RULE)[0]
    first = Engine([rule])
    for m in (0, 1):
        first.observe(_event("45.1.1.1", m, user=f"u{m}"), [rule])
    upserts, _, watermark = first.take_changes()
    second = Engine([rule])
    second.restore(upserts.values(), watermark)
    second.observe(_event("45.1.1.1", 2), [rule])
    (det,) = second.flush()
    assert det.count == 3 and len(det.samples) == 3


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["45.1.1.1", "45.2.2.2", "45.3.3.3"]),
            st.integers(min_value=0, max_value=120),
        ),
        max_size=60,
    ),
    st.integers(min_value=0, max_value=60),
)
def test_detections_do_not_depend_on_where_a_restart_happens(events, cut):
    """Property: stopping after any event, saving state and resuming gives the same detections."""
    rule = _rules(RULE)[0]
    events = sorted(events, key=lambda e: e[1])

    def run(split: int | None):
        engine, out = Engine([rule], grace=0), []
        for i, (ip, minute) in enumerate(events):
            if split is not None and i == split:
                upserts, _, wm = engine.take_changes()
                engine = Engine([rule], grace=0)
                engine.restore(upserts.values(), wm)
            engine.observe(_event(ip, minute), [rule])
            out += engine.close()
        out += engine.flush()
        return sorted((d.group["client_ip"], d.window_start, d.count) for d in out)

    assert run(None) == run(min(cut, len(events)))


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(
        st.text(max_size=300),
        st.builds(
            lambda junk, at: RULE[:at] + junk + RULE[at:],
            st.one_of(
                st.text(alphabet=" \n:-[]{}'\"#&*!|>%@`\\x0a", max_size=12),
                st.sampled_from(
                    [
                        "!foo ",
                        "!!binary x",
                        "<<: ",
                        "2026-13-45",
                        "!!python/object:os.system ",
                        "? [a]\n: ",
                        "&a ",
                        "*a",
                        "1e999999",
                        "!!int x",
                        "!!float y",
                    ]
                ),
            ),
            st.integers(min_value=0, max_value=len(RULE)),
        ),
    )
)
def test_any_rule_text_loads_or_gives_a_config_error(text):
    """Property: whatever the file holds, the answer is rules or one ConfigError, never a crash."""
    try:
        rules = load_rules(text, "fuzz.yml")
    except ConfigError as exc:
        assert str(exc).startswith("fuzz.yml")
    else:
        assert isinstance(rules, list)
