"""The playbook engine on an in-memory TheHive/Cortex: decisions, effects once, resume, retries."""

from __future__ import annotations

import pytest

from socflow.playbook.engine import FAILED_TAG, Engine
from socflow.playbook.journal import SqliteJournal
from socflow.playbook.model import load_playbook

from .memory import MemoryHive, down

PLAYBOOK = """
name: ssh
trigger: {event: alert, type: [socflow]}
retry: {attempts: 3, backoff: 0}
remap:
  Socflow_OTX_Query: {malicious: suspicious}
steps:
  - id: intel
    kind: analyze
    analyzers: [Socflow_AbuseIPDB_Check, Socflow_OTX_Query]
    data_types: [ip]
  - id: decide
    kind: decide
    branches:
      - when: {verdict: {at_least: malicious}}
        goto: contain
    default: benign
  - id: contain
    kind: act
    actions:
      - promote: {template: SSH}
      - responder: {name: Socflow_Block, data_types: [ip], verdict: {at_least: suspicious}}
      - tag: [contained]
  - id: log
    kind: record
    task: Containment
    task_status: Completed
    end: true
  - id: benign
    kind: act
    actions:
      - close: {status: FalsePositive}
"""

ALERT = {"_id": "~1", "type": "socflow", "source": "bridge", "title": "SSH brute force",
         "severity": 2, "tags": ["ssh"]}
OBS = [{"dataType": "ip", "data": "203.0.113.7"}, {"dataType": "ip", "data": "198.51.100.9"},
       {"dataType": "user", "data": "root"}]
MAL = [{"level": "malicious", "namespace": "AbuseIPDB", "predicate": "Score", "value": "100"}]
SUS = [{"level": "malicious", "namespace": "OTX", "predicate": "Pulses", "value": "3"}]


def hive(reports: dict | None = None) -> MemoryHive:
    return MemoryHive(ALERT, OBS, reports if reports is not None else {
        ("Socflow_AbuseIPDB_Check", "203.0.113.7"): MAL,
        ("Socflow_OTX_Query", "198.51.100.9"): SUS,
    })


def run(h: MemoryHive, journal: SqliteJournal, text: str = PLAYBOOK, **kw):
    return Engine(load_playbook(text, "pb.yml"), h, journal, sleep=lambda s: None, **kw).run(
        "alert", "~1")


@pytest.fixture
def journal(tmp_path):
    j = SqliteJournal(tmp_path / "state" / "playbooks.sqlite")
    yield j
    j.close()


def test_malicious_alert_is_promoted_blocked_and_logged(journal):
    h = hive()
    result = run(h, journal)
    assert result.status == "done" and result.verdict == "malicious"
    assert result.path == ["intel", "decide", "contain", "log"]
    case = h.cases[result.case_id]
    assert "contained" in case["tags"] and case["caseTemplate"] == "SSH"
    # OTX's malicious counts as suspicious (remap): both addresses are blocked, the user is not
    assert sorted(j["data"] for j in h.jobs) == ["198.51.100.9", "203.0.113.7"]
    (task,) = h.tasks.values()
    assert task["title"] == "Containment" and task["status"] == "Completed"
    (log,) = h.logs[task["_id"]]
    assert "verdict** malicious" in log["message"] and "`ip 203.0.113.7`" in log["message"]
    assert "counted as suspicious" not in log["message"]  # reasons list the deciding level only
    steps = {s.key: s for s in journal.steps(result.run_id)}
    assert steps["decide"].outcome["goto"] == "contain"
    assert all(s.status == "done" for s in steps.values())


def test_benign_alert_takes_the_default_branch_and_is_closed(journal):
    h = hive(reports={})
    result = run(h, journal)
    assert result.path == ["intel", "decide", "benign"] and result.verdict == "info"
    assert h.alerts["~1"]["status"] == "FalsePositive" and not h.cases and not h.jobs


def test_a_finished_run_is_not_run_again(journal):
    h = hive()
    run(h, journal)
    before = dict(h.calls)
    again = run(h, journal)
    assert again.status == "already-done" and dict(h.calls) == before


@pytest.mark.parametrize("crash_in", ["run_responder", "promote", "add_log"])
def test_crash_after_an_effect_then_resume_does_it_once(journal, crash_in):
    h = hive()
    h.crash_after[crash_in] = 1  # the effect lands, then the process "dies" before journaling
    with pytest.raises(KeyboardInterrupt):
        run(h, journal)
    h.crash_after.clear()
    journal.finish_run("ssh:alert:~1", "failed", "killed")  # what a dead process leaves: not done
    result = run(h, journal)
    assert result.status == "done"
    assert h.calls["promote"] == 1 and len(h.cases) == 1
    assert sorted(j["data"] for j in h.jobs) == ["198.51.100.9", "203.0.113.7"]
    assert sum(len(v) for v in h.logs.values()) == 1
    recovered = [s for s in journal.steps(result.run_id)
                 if "/" in s.key and s.outcome.get("recovered")]
    assert len(recovered) == 1


def test_service_down_briefly_is_retried(journal):
    h = hive()
    h.fail["promote"] = down(2)
    result = run(h, journal)
    assert result.status == "done" and h.calls["promote"] == 3 and len(h.cases) == 1


def test_service_down_for_good_fails_the_run_with_the_reason_then_resume_finishes(journal):
    h = hive()
    h.fail["add_log"] = down(3)
    result = run(h, journal)
    assert result.status == "failed" and "gave up after 3 attempt(s)" in result.reason
    assert "step log" in result.reason
    assert FAILED_TAG in h.cases[result.case_id]["tags"]  # the analyst sees it
    assert h.cases[result.case_id].get("status") is None  # nothing closed: finishable by hand
    jobs = len(h.jobs)
    history = journal.run(result.run_id)
    assert history.status == "failed" and "gave up" in history.reason
    again = run(h, journal)
    assert again.status == "done" and len(h.jobs) == jobs and h.calls["promote"] == 1
    assert sum(len(v) for v in h.logs.values()) == 1
    assert FAILED_TAG not in h.cases[result.case_id]["tags"]


def test_optional_analyzer_failure_is_noted_not_fatal(journal):
    text = PLAYBOOK.replace("data_types: [ip]\n  - id: decide", "data_types: [ip]\n    optional: true\n  - id: decide")
    h = hive()
    h.fail["analyze"] = down(3)  # the first analysis fails three times
    result = run(h, journal, text)
    # the AbuseIPDB analysis that would have said malicious is missing: OTX's (remapped)
    # suspicious is all there is, so the run closes as benign, and says what was not done
    assert result.status == "done" and result.verdict == "suspicious"
    assert result.path == ["intel", "decide", "benign"]
    intel = journal.step(result.run_id, "intel").outcome
    assert len(intel["failures"]) == 1 and "Socflow_AbuseIPDB_Check on a ip" in intel["failures"][0]


def test_required_analyzer_failure_fails_the_run(journal):
    h = hive()
    h.fail["analyze"] = down(3)
    result = run(h, journal)
    assert result.status == "failed" and "analyzer Socflow_AbuseIPDB_Check" in result.reason
    assert not h.cases and not h.jobs


def test_dry_run_changes_nothing_and_lists_the_plan(tmp_path):
    h = hive()
    journal = SqliteJournal(":memory:")
    result = run(h, journal, dry_run=True)
    assert not h.cases and not h.jobs and not h.logs and h.calls["update"] == 0
    kinds = [p["kind"] for p in result.plan]
    assert kinds[:3] == ["decide", "promote", "responder"] and "record" in kinds
    decide = result.plan[0]
    assert decide["goto"] == "contain" and decide["verdict"] == "malicious"


def test_step_when_false_is_skipped(journal):
    text = PLAYBOOK.replace("  - id: contain\n    kind: act\n", "  - id: contain\n    kind: act\n    when: {tag: vip}\n")
    text = text.replace("  - id: log\n    kind: record\n", "  - id: promote2\n    kind: act\n    actions: [{promote: {}}]\n  - id: log\n    kind: record\n")
    h = hive()
    result = run(h, journal, text)
    assert result.status == "done" and not h.jobs
    (skip,) = [s for s in journal.steps(result.run_id) if s.status == "skipped"]
    assert skip.key == "contain"


@pytest.mark.parametrize("method", ["run_responder", "promote", "add_log"])
def test_an_effect_whose_answer_is_lost_is_looked_for_before_the_retry(journal, method):
    """The service did it but the answer never came (a timeout, a connection dropped): the retry
    finds the effect by its idempotency key instead of doing it again."""
    h = hive()
    h.lost_answer[method] = 1
    result = run(h, journal)
    assert result.status == "done"
    assert h.calls["promote"] == 1 and len(h.cases) == 1
    assert sorted(j["data"] for j in h.jobs) == ["198.51.100.9", "203.0.113.7"]
    assert sum(len(v) for v in h.logs.values()) == 1


def test_an_unexpected_error_fails_the_run_with_its_name_not_a_traceback(journal):
    h = hive()
    h.fail["add_log"] = [RuntimeError("boom")]
    result = run(h, journal)
    assert result.status == "failed"
    assert result.reason == "step log: unexpected error: RuntimeError: boom"
    assert journal.step(result.run_id, "log").status == "failed"


ACTIONS = """
name: actions
trigger: {event: alert}
retry: {attempts: 2, backoff: 0}
steps:
  - id: work
    kind: act
    actions:
      - promote: {template: SSH, merge_by_tag: "socflow:rule="}
      - assign: analyst@soc
      - escalate:
          severity: 4
          assignee: l2-lead@soc
          responder: {name: Socflow_Notify_Mail, entity: case}
      - close: {status: TruePositive, impact: WithImpact, summary: contained}
"""


def test_promote_merges_into_the_open_case_of_the_same_campaign(journal):
    h = hive()
    h.alerts["~1"]["tags"] = ["ssh", "socflow:rule=ssh-brute-force"]
    h.cases["~50"] = {"_id": "~50", "title": "earlier", "stage": "InProgress",
                      "tags": ["socflow:rule=ssh-brute-force"]}
    h.obs["~50"] = []
    result = Engine(load_playbook(ACTIONS, "a.yml"), h, journal, sleep=lambda s: None).run("alert", "~1")
    assert result.status == "done" and result.case_id == "~50"
    assert h.calls["merge"] == 1 and h.calls["promote"] == 0 and h.alerts["~1"]["caseId"] == "~50"


def test_assign_escalate_and_close_act_on_the_case(journal):
    h = hive()
    result = Engine(load_playbook(ACTIONS, "a.yml"), h, journal, sleep=lambda s: None).run("alert", "~1")
    assert result.status == "done" and h.calls["promote"] == 1  # no open campaign case: promoted
    case = h.cases[result.case_id]
    assert case["severity"] == 4 and case["assignee"] == "l2-lead@soc"
    assert "socflow:escalated" in case["tags"]
    assert case["status"] == "TruePositive" and case["impactStatus"] == "WithImpact"
    assert case["summary"] == "contained"
    (job,) = h.jobs
    assert job["responder"] == "Socflow_Notify_Mail" and job["dataType"] == "thehive:case"
    keys = [s.key for s in journal.steps(result.run_id)]
    assert keys == ["work", "work/0", "work/1", "work/2/update", "work/2/notify", "work/3"]


def test_a_case_responder_before_any_case_fails_the_run_clearly(journal):
    text = ACTIONS.replace("trigger: {event: alert}", "trigger: {event: manual}").replace(
        "      - promote: {template: SSH, merge_by_tag: \"socflow:rule=\"}\n", "")
    h = hive()
    result = Engine(load_playbook(text, "a.yml"), h, journal, sleep=lambda s: None).run("alert", "~1")
    assert result.status == "failed"
    assert "responder Socflow_Notify_Mail runs on the case, and there is none yet" in result.reason


def test_a_case_trigger_works_on_the_case_itself(journal):
    h = hive()
    h.cases["~60"] = {"_id": "~60", "title": "c", "tags": ["vip"], "severity": 2}
    h.obs["~60"] = [{"_id": "~61", "dataType": "ip", "data": "203.0.113.7"}]
    text = """
name: on-cases
trigger: {event: case}
steps:
  - {id: intel, kind: analyze, analyzers: [Socflow_AbuseIPDB_Check], data_types: [ip]}
  - id: decide
    kind: decide
    branches: [{when: {all: [{tag: vip}, {verdict: malicious}]}, goto: raise}]
    default: note
  - {id: raise, kind: act, actions: [{severity: 4}, {promote: {}}], next: note}
  - {id: note, kind: record, task: Triage}
"""
    result = Engine(load_playbook(text, "c.yml"), h, journal, sleep=lambda s: None).run("case", "~60")
    assert result.status == "done" and result.path == ["intel", "decide", "raise", "note"]
    assert h.cases["~60"]["severity"] == 4 and h.calls["promote"] == 0  # already a case
    assert len(h.logs) == 1


ESCALATE = """
name: escalate
trigger: {event: alert}
retry: {attempts: 2, backoff: 0}
steps:
  - id: work
    kind: act
    actions:
      - promote: {template: SSH}
      - escalate:
          severity: 4
          tags: [escalated-l2]
          responder: {name: Socflow_Notify_Webhook, entity: case}
"""


@pytest.mark.parametrize(("yaml_assignee", "escalate_to", "expected"), [
    (None, "l2-team@soc", "l2-team@soc"),  # the configured L2 login (--escalate-to)
    ("l2-lead@soc", "l2-team@soc", "l2-lead@soc"),  # the playbook's own assignee wins
    (None, None, None),  # neither: not reassigned, still raised, tagged and notified
])
def test_escalate_assigns_to_the_configured_l2_login_and_notifies(journal, yaml_assignee,
                                                                  escalate_to, expected):
    text = ESCALATE if not yaml_assignee else ESCALATE.replace(
        "severity: 4\n", f"severity: 4\n          assignee: {yaml_assignee}\n")
    h = hive()
    result = run(h, journal, text, escalate_to=escalate_to)
    assert result.status == "done"
    case = h.cases[result.case_id]
    assert case.get("assignee") == expected
    assert case["severity"] == 4 and "escalated-l2" in case["tags"]
    (job,) = h.jobs
    assert job["responder"] == "Socflow_Notify_Webhook" and job["dataType"] == "thehive:case"


TAGGED = """
name: notify
trigger: {event: alert}
steps:
  - id: tell
    kind: act
    actions:
      - promote: {}
      - responder:
          name: Socflow_Notify_Mail
          data_types: [mail]
          tags: ["mail:reporter", "mail:recipient"]
          skip_tags: [vip]
"""


def test_a_responder_with_tags_runs_only_on_observables_carrying_one_of_them(journal):
    h = MemoryHive(ALERT, [
        {"dataType": "mail", "data": "hana@corp.example", "tags": ["mail:reporter"]},
        {"dataType": "mail", "data": "dana@corp.example", "tags": ["mail:recipient"]},
        {"dataType": "mail", "data": "boss@corp.example", "tags": ["mail:recipient", "vip"]},
        {"dataType": "mail", "data": "evil@attacker.example", "tags": ["mail:sender"]},
        {"dataType": "domain", "data": "corp.example", "tags": ["mail:reporter"]},
    ])
    result = run(h, journal, TAGGED)
    assert result.status == "done"
    assert sorted(j["data"] for j in h.jobs) == ["dana@corp.example", "hana@corp.example"]


def test_responder_tags_choose_observables_so_not_on_a_case_responder():
    from socflow.errors import ConfigError

    bad = TAGGED.replace("data_types: [mail]", "entity: case")
    with pytest.raises(ConfigError, match="data_types, tags and verdict choose observables"):
        load_playbook(bad, "bad.yml")
