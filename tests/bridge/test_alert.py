"""Alert building: deterministic sourceRef, every D.2 limit, hygiene, de-duplication and the cap.

Built alerts are checked with the emulator's field rules *and* posted through thehive4py."""

from __future__ import annotations

import textwrap

import pytest
from fakes.thehive import FakeTheHive, validate_alert
from hypothesis import given, settings
from hypothesis import strategies as st
from thehive4py import TheHiveApi

from socflow.classify import Detection, load_rules
from socflow.emit.alert import AlertBuilder, source_ref
from socflow.emit.settings import AlertSettings

RULE = textwrap.dedent("""\
    rules:
      - id: r1
        name: test rule
        match: [{field: client_ip, exists: true}]
        group_by: [client_ip]
        tags: [a, a, b]
        tlp: 4
        pap: 3
        severity: 4
        title: "{{ rule.name }} from {{ group.client_ip }} ({{ count }})"
        description: "seen {{ count }} times; users {{ values.users | join(', ') }}"
        observables:
          - {field: client_ip, tags: [src]}
          - {field: user, name: users, dataType: other}
          - {field: client_ip, name: again, tags: [dup], ioc: true}
    """)


def _detection(
    rule_text: str = RULE, *, values=None, samples=None, group=None, count=5
) -> Detection:
    rule = load_rules(rule_text, "r.yml")[0]
    return Detection(
        rule,
        group or {"client_ip": "45.1.1.1"},
        1_773_100_800,
        count,
        1_773_100_800.5,
        1_773_100_900.0,
        samples or ["line one", "line two"],
        values
        if values is not None
        else {
            "client_ip": [("ipv4", "45.1.1.1")],
            "again": [("ipv4", "45.1.1.1")],
            "users": [("", "root"), ("", "admin")],
        },
    )


def test_alert_fields():
    alert = AlertBuilder(AlertSettings()).build(_detection())
    assert validate_alert(alert) == []
    assert alert["title"] == "test rule from 45.1.1.1 (5)"
    assert (alert["severity"], alert["tlp"], alert["pap"]) == (4, 4, 3)
    assert alert["tags"] == ["a", "b", "socflow:rule=r1"]
    assert alert["date"] == 1_773_100_800_500
    assert "seen 5 times; users root, admin" in alert["description"]
    assert (
        "```\nline one\nline two\n```" in alert["description"]
        and "Sample lines (2 of 5)" in alert["description"]
    )
    ip = [o for o in alert["observables"] if o["dataType"] == "ip"]
    assert (
        len(ip) == 1 and ip[0]["ioc"] is True and ip[0]["tags"] == ["src", "dup"]
    )  # merged, not doubled
    assert {o["data"] for o in alert["observables"] if o["dataType"] == "other"} == {
        "root",
        "admin",
    }


def test_source_ref_is_deterministic_and_bounded():
    a = source_ref("r1", ("45.1.1.1",), 600)
    assert a == source_ref("r1", ("45.1.1.1",), 600)
    assert a != source_ref("r1", ("45.1.1.1",), 1200) != source_ref("r1", ("45.1.1.2",), 600)
    assert len(source_ref("x" * 48, ("y" * 5000,), 0)) <= 128


@settings(max_examples=60, deadline=None)
@given(
    title=st.text(min_size=0, max_size=700),
    tag=st.text(min_size=0, max_size=200),
    data=st.text(min_size=0, max_size=5000),
    sample=st.text(max_size=3000),
    group=st.text(max_size=300),
)
def test_every_alert_passes_thehive_field_rules(title, tag, data, sample, group):
    rule = RULE.replace(
        'title: "{{ rule.name }} from {{ group.client_ip }} ({{ count }})"',
        "title: '{{ values.users | join(\"\") }}'",
    )
    det = _detection(
        rule,
        values={"users": [("", title), ("", data), ("", data)], "client_ip": [("ipv4", data)]},
        samples=[sample] * 3,
        group={"client_ip": group},
    )
    alert = AlertBuilder(AlertSettings(tags=[t for t in (tag[:128],) if t.strip()])).build(det)
    assert validate_alert(alert) == [], alert


def test_private_and_allowlisted_values():
    values = {
        "client_ip": [("ipv4", "10.1.2.3"), ("ipv4", "45.1.1.1"), ("ipv4", "8.8.8.8")],
        "users": [("", "root")],
        "again": [],
    }
    tagged = AlertBuilder(AlertSettings(allowlist=["8.8.8.0/24"])).build(_detection(values=values))
    by_data = {o["data"]: o for o in tagged["observables"]}
    assert "8.8.8.8" not in by_data  # allowlisted: excluded by default
    assert (
        "socflow:non-public" in by_data["10.1.2.3"]["tags"]
        and by_data["10.1.2.3"]["ignoreSimilarity"]
    )
    assert by_data["45.1.1.1"]["ignoreSimilarity"] is False
    excluded = AlertBuilder(
        AlertSettings(private="exclude", allowlisted="tag", allowlist=["8.8.8.8"])
    ).build(_detection(values=values))
    by_data = {o["data"]: o for o in excluded["observables"]}
    assert "10.1.2.3" not in by_data and "socflow:allowlisted" in by_data["8.8.8.8"]["tags"]


def test_domain_allowlist_covers_subdomains():
    rule = RULE.replace(
        "{field: user, name: users, dataType: other}",
        "{field: user, name: users, dataType: domain}",
    )
    values = {"users": [("", "www.corp.example.com"), ("", "corp.example.com.evil.net")]}
    alert = AlertBuilder(AlertSettings(allowlist=["corp.example.com"])).build(
        _detection(rule, values=values)
    )
    assert [o["data"] for o in alert["observables"]] == ["corp.example.com.evil.net"]


def test_observable_cap_is_said():
    values = {"users": [("", f"user{i}") for i in range(30)]}
    alert = AlertBuilder(AlertSettings(max_observables=10)).build(_detection(values=values))
    assert len(alert["observables"]) == 10
    assert "20 more observables were left out (cap 10 per alert)" in alert["description"]
    assert "socflow:observables-truncated" in alert["tags"]


def test_template_errors_do_not_lose_the_alert():
    rule = RULE.replace(
        'title: "{{ rule.name }} from {{ group.client_ip }} ({{ count }})"',
        "title: '{{ count.__class__.__mro__ }}'",
    )
    alert = AlertBuilder(AlertSettings()).build(_detection(rule))
    assert alert["title"].startswith("test rule (template error") and validate_alert(alert) == []


@pytest.mark.parametrize("oversize", [2_000_000])
def test_huge_description_is_cut(oversize):
    alert = AlertBuilder(AlertSettings(sample_lines=100)).build(
        _detection(samples=["x" * 999] * 100)
    )
    assert len(alert["description"]) <= 1_048_576
    rule = RULE.replace(
        "description: \"seen {{ count }} times; users {{ values.users | join(', ') }}\"",
        f"description: \"{{{{ 'y' * {oversize} }}}}\"",
    )
    alert = AlertBuilder(AlertSettings()).build(_detection(rule))
    assert len(alert["description"]) <= 1_048_576 and alert["description"].endswith("(truncated)")


def test_built_alerts_are_accepted_by_thehive_through_thehive4py():
    with FakeTheHive() as hive:
        api = TheHiveApi(hive.url, apikey=hive.api_key, max_retries=0)
        out = api.alert.create(AlertBuilder(AlertSettings()).build(_detection()))
        assert out["observableCount"] == 3 and out["tlpLabel"] == "RED"
