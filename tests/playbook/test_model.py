"""Playbook files: validation with file:line:key errors, conditions, verdicts, hostile values."""

from __future__ import annotations

import re
from pathlib import Path
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socflow.errors import ConfigError
from socflow.playbook import conditions
from socflow.playbook.conditions import Facts
from socflow.playbook.engine import Engine
from socflow.playbook.journal import SqliteJournal
from socflow.playbook.model import load_playbook, shipped
from socflow.playbook.templates import case_template
from socflow.playbook.verdict import aggregate

from .memory import MemoryHive
from .test_engine import ALERT, PLAYBOOK

SOCFLOW = ["socflow"]


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_playbook(text, "pb.yml")
    return str(info.value)


@pytest.mark.parametrize("old,new,expected", [
    ("kind: record", "kind: notify", "pb.yml:25: steps[3]: unknown step kind 'notify' (use analyze, decide, act, record, export)"),
    ("goto: contain", "goto: nowhere", "pb.yml:12: steps[1] (decide): goes to unknown step 'nowhere'"),
    ("{verdict: {at_least: malicious}}", "{verdict: {at_least: evil}}", "pb.yml:15: steps[1].branches[0]: when.verdict: unknown level 'evil'"),
    ("{verdict: {at_least: malicious}}", "{verdict: malicious, tag: x}", "pb.yml:15: steps[1].branches[0]: when: one condition per mapping"),
    ("{verdict: {at_least: malicious}}", "{eval: __import__('os')}", "when: unknown condition 'eval'"),
    ("{verdict: {at_least: malicious}}", "{observable: {data: 1.2.3.4}}", "observable values are never compared"),
    ("default: benign", "default: intel", "steps[1] (decide): the steps form a cycle: intel -> decide -> intel"),
    ("[Socflow_AbuseIPDB_Check, Socflow_OTX_Query]", "[Socflow_AbuseIPDB]", "pb.yml:10: steps[0].analyzers: unknown analyzer 'Socflow_AbuseIPDB'"),
    ("[Socflow_AbuseIPDB_Check, Socflow_OTX_Query]", '["socflow:nope"]', "pb.yml:10: steps[0].analyzers: unknown in-process analysis 'socflow:nope' (use socflow:mail)"),
    ("name: Socflow_Block", "name: Socflow_Blok", "pb.yml:22: steps[2].actions[1].responder.name: unknown responder 'Socflow_Blok'"),
    ("verdict: {at_least: suspicious}}", "verdict: {at_least: suspicious}, on_refusal: ignore}", "pb.yml:22: steps[2].actions[1].responder.on_refusal: Input should be 'record' or 'fail'"),
    ("      - tag: [contained]", "      - reboot: now", "pb.yml:23: steps[2].actions[2]: unknown action 'reboot'"),
    ("      - promote: {template: SSH}\n", "", "steps[3] (log): a record step needs a case, but on an alert a path reaches it before any promote"),
    ("    task: Containment\n", "    task: Containment\n    colour: red\n", "pb.yml:27: steps[3].colour: Extra inputs are not permitted"),
])
def test_invalid_playbooks_name_file_line_and_key(old, new, expected):
    assert old in PLAYBOOK
    assert expected in error_of(PLAYBOOK.replace(old, new, 1))


def test_bad_yaml_and_wrong_shapes_are_one_line_errors():
    assert error_of("steps: [").startswith("pb.yml:")
    assert error_of("- just a list") == "pb.yml:1: a playbook is a mapping with name, trigger and steps"
    assert "steps" in error_of("name: x\n")
    assert "nested deeper" in error_of("a: " + "[" * 100 + "]" * 100)


def test_deep_conditions_are_refused_not_a_recursion_error():
    cond = "{verdict: malicious}"
    for _ in range(40):
        cond = "{not: " + cond + "}"
    assert "conditions nested deeper than 16 levels" in error_of(
        PLAYBOOK.replace("{verdict: {at_least: malicious}}", cond))


def test_shipped_playbooks_are_valid_and_make_case_templates():
    names = set(shipped())
    assert {"phishing.yml", "ssh-brute-force.yml", "web-attack.yml"} <= names
    for path in shipped().values():
        pb = load_playbook(path.read_text(), str(path))
        tpl = case_template(pb)
        assert tpl is not None and tpl["name"].startswith("socflow-")
        recorded = {s.task for s in pb.steps if s.kind == "record"}
        assert recorded <= {t["title"] for t in tpl["tasks"]}


def test_verdict_remapping_per_analyzer_and_per_finding():
    results = [
        {"analyzer": "Socflow_MailAnalysis_1_0", "observable": "file|m.eml", "taxonomies": [
            {"level": "malicious", "namespace": "Mail", "predicate": "DMARC", "value": "fail"},
            {"level": "info", "namespace": "Mail", "predicate": "SPF", "value": "pass"}]},
        {"analyzer": "Socflow_OTX_Query", "observable": "ip|203.0.113.7", "taxonomies": [
            {"level": "safe", "namespace": "OTX", "predicate": "Pulses", "value": "0"}]},
    ]
    plain = aggregate(results, {})
    assert plain.level == "malicious"
    tuned = aggregate(results, {"Socflow_MailAnalysis/DMARC": {"malicious": "suspicious"}})
    assert tuned.level == "suspicious"
    assert tuned.reasons == ["Socflow_MailAnalysis: Mail:DMARC is malicious (counted as suspicious)"]
    assert tuned.observables == {"file|m.eml": "suspicious", "ip|203.0.113.7": "safe"}
    assert aggregate(results, {"*": {"malicious": "info"}}).level == "safe"


def test_conditions_evaluate_on_facts():
    facts = Facts(verdict="suspicious", fields={"severity": 3, "title": "x", "customFields": [
        {"name": "team", "value": "blue"}]}, tags=["ssh", "socflow:rule=ssh-brute-force"],
        observables=[{"dataType": "ip", "tags": [], "verdict": "malicious"},
                     {"dataType": "ip", "tags": ["own-network"], "verdict": "info"}],
        taxonomies=[{"analyzer": "A", "namespace": "Mail", "predicate": "Form", "level": "suspicious"}])

    def ok(data):
        return conditions.evaluate(conditions.parse(data), facts)

    assert ok({"verdict": {"at_least": "suspicious"}}) and not ok({"verdict": "malicious"})
    assert ok({"observable": {"data_type": "ip", "verdict": {"at_least": "malicious"}}})
    assert not ok({"observable": {"data_type": "ip", "count": {"gte": 3}}})
    assert ok({"observable": {"tag": "own-network"}})
    assert ok({"tag": {"prefix": "socflow:rule="}}) and not ok({"tag": "web"})
    assert ok({"field": "severity", "gte": 3}) and not ok({"field": "severity", "lte": 2})
    assert ok({"field": "custom.team", "equals": "blue"}) and ok({"field": "assignee", "exists": False})
    assert ok({"taxonomy": {"namespace": "mail", "predicate": "form", "level": {"at_least": "suspicious"}}})
    assert ok({"all": [{"tag": "ssh"}, {"not": {"tag": "web"}}]}) and ok({"any": [{"tag": "web"}, {"tag": "ssh"}]})


hostile = st.text(alphabet=st.characters(codec="utf-8"), max_size=200) | st.sampled_from([
    "malicious", "{verdict: safe}", "'; DROP TABLE runs; --", "${jndi:ldap://x}", "__import__('os')",
    "[click](https://evil.example)", "<img src=x onerror=alert(1)>", "a" * 5000, "\x00\u202e",
    "socflow:0123456789ab:contain/1", "goto: benign",
])


@settings(max_examples=40, deadline=None)
@given(values=st.lists(hostile, min_size=2, max_size=2), title=hostile, malicious=st.booleans())
def test_hostile_observable_values_cannot_change_the_branch(values, title, malicious):
    """Only the verdicts decide: the same verdicts on any values and titles take the same path,
    and the task log shows the values only inside code spans."""
    obs = [{"dataType": "ip", "data": values[0] or "x"}, {"dataType": "ip", "data": values[1] + "."}]
    level = "malicious" if malicious else "info"
    reports = {("Socflow_AbuseIPDB_Check", obs[0]["data"]): [
        {"level": level, "namespace": "AbuseIPDB", "predicate": "Score", "value": values[1][:50]}]}
    h = MemoryHive(dict(ALERT, title=title), obs, reports)
    journal = SqliteJournal(":memory:")
    result = Engine(load_playbook(PLAYBOOK, "pb.yml"), h, journal, sleep=lambda s: None).run(
        "alert", "~1")
    expected = ["intel", "decide", "contain", "log"] if malicious else ["intel", "decide", "benign"]
    assert result.status == "done" and result.path == expected
    if malicious:
        blocked = sorted(j["data"] for j in h.jobs)
        assert blocked == [obs[0]["data"]]  # only the observable its verdict condemns
        (log,) = [entry for logs in h.logs.values() for entry in logs]
        outside = re.sub(r"(`+).*?\1", "", log["message"], flags=re.S)  # code spans are inert
        assert "<img" not in outside and "](https://evil" not in outside


def test_cli_check_reports_each_file(tmp_path):
    good = tmp_path / "good.yml"
    good.write_text(PLAYBOOK)
    bad = tmp_path / "bad.yml"
    bad.write_text(PLAYBOOK.replace("kind: record", "kind: notify"))
    out = subprocess.run([*SOCFLOW, "playbook", "check", str(good), "ssh-brute-force"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert f"{good}: ok — ssh, 5 steps, trigger alert" in out.stdout
    assert "ssh-brute-force: ok" in out.stdout
    out = subprocess.run([*SOCFLOW, "playbook", "check", str(good), str(bad)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert out.stderr.strip() == (f"socflow: error: {bad}:25: steps[3]: unknown step kind "
                                  "'notify' (use analyze, decide, act, record, export)")
    assert "Traceback" not in out.stderr
    out = subprocess.run([*SOCFLOW, "playbook", "check", "--json", str(bad)],
                         capture_output=True, text=True, timeout=60)
    import json
    (item,) = json.loads(out.stdout)
    assert out.returncode == 1 and item["ok"] is False and "notify" in item["error"]


def test_cli_templates_writes_import_ready_json(tmp_path):
    out = subprocess.run([*SOCFLOW, "playbook", "templates", "--output", str(tmp_path / "t")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    import json
    files = sorted(p.name for p in (tmp_path / "t").iterdir())
    assert files == ["socflow-phishing.json", "socflow-ssh-brute-force.json", "socflow-web-attack.json"]
    tpl = json.loads((tmp_path / "t" / "socflow-phishing.json").read_text())
    assert not any(k.startswith("_") for k in tpl)
    assert [t["title"] for t in tpl["tasks"]][:2] == ["Detection", "Verification"]
    assert all(t["status"] == "Waiting" for t in tpl["tasks"])


def test_a_playbook_with_very_many_paths_is_checked_in_bounded_time():
    import time

    steps = []
    for i in range(60):  # d_i goes to a_i or b_i, both go on to d_i+1: 2**60 paths
        steps.append(f"  - id: d{i}\n    kind: decide\n    branches: [{{when: {{tag: t{i}}}, goto: a{i}}}]\n    default: b{i}\n")
        steps.append(f"  - id: a{i}\n    kind: act\n    actions: [{{tag: [x{i}]}}]\n    next: d{i + 1}\n")
        steps.append(f"  - id: b{i}\n    kind: act\n    actions: [{{tag: [y{i}]}}]\n")
    steps.append("  - id: d60\n    kind: record\n    task: Triage\n")
    text = "name: wide\ntrigger: {event: alert}\nsteps:\n" + "".join(steps)
    started = time.process_time()
    assert "steps[180] (d60): a record step needs a case" in error_of(text)
    assert len(load_playbook(text.replace("[{tag: [x0]}]", "[{promote: {}}]").replace(
        "[{tag: [y0]}]", "[{promote: {}}]"), "wide.yml").steps) == 181
    assert time.process_time() - started < 5


def test_the_phishing_playbook_escalates_on_the_credential_form_the_mail_analyzer_reports():
    """The shipped escalation's Mail:Form condition is met by what Socflow_MailAnalysis reports
    for a message asking for a password, and not for a plain form."""
    import yaml

    from socflow.mail import analyze_bytes
    from socflow.mail.observables import taxonomies

    book = yaml.safe_load((Path(conditions.__file__).parents[1] / "data" / "playbooks"
                           / "phishing.yml").read_text())
    when = conditions.parse(next(s for s in book["steps"] if s["id"] == "escalation")["when"])

    def facts(html: str) -> Facts:
        raw = ("From: a@example.org\nTo: b@contoso.com\nSubject: s\nMIME-Version: 1.0\n"
               f"Content-Type: text/html\n\n<html><body>{html}</body></html>\n").encode()
        found = [{"analyzer": "Socflow_MailAnalysis", "namespace": t.namespace,
                  "predicate": t.predicate, "level": t.level.value}
                 for t in taxonomies(analyze_bytes(raw))]
        return Facts(verdict="malicious", taxonomies=found)

    assert conditions.evaluate(when, facts('<form action="https://x.online/p"><input type="password"></form>'))
    assert not conditions.evaluate(when, facts('<form action="https://x.online/s"><input name=q></form>'))
