"""A responder job the block list's policy refused is the step's outcome, not a failed run.

The engine on the in-memory TheHive/Cortex (the end-to-end runs with the real responder, Cortex
emulator and block-list service are in test_end_to_end.py): ``on_refusal: record`` (the default)
goes on and documents the value and the reason; ``on_refusal: fail`` and every other failure
(service down, token refused) fail the run as before. The reason carries observable text, so it
reaches the task log inert.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import click
from click.testing import CliRunner
from core.test_markdown import active, hostile
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from socflow import refusal
from socflow.adapters.cli.playbook import _report, playbook
from socflow.errors import ProviderError, RefusedError
from socflow.playbook.engine import FAILED_TAG, Engine
from socflow.playbook.journal import SqliteJournal
from socflow.playbook.model import load_playbook

from .memory import MemoryHive
from .test_engine import ALERT, MAL, OBS, PLAYBOOK, hive

PRIVATE_REASON = "nothing was blocked, every value was refused: 203.0.113.7: documentation range"
MD = MarkdownIt("gfm-like")
# what may not reach a terminal raw: C0/C1 controls (ESC), line separators, bidi overrides
INVISIBLE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def refused(reason: str = PRIVATE_REASON, codes: tuple[str, ...] = ("documentation",)) -> RefusedError:
    error = refusal.message(codes, reason)
    return RefusedError(f"Socflow_Block job ~9 ended Failure: {error}", codes=codes, reason=reason,
                        job="~9")


def run(h: MemoryHive, text: str = PLAYBOOK):
    journal = SqliteJournal(":memory:")
    result = Engine(load_playbook(text, "pb.yml"), h, journal, sleep=lambda s: None).run("alert", "~1")
    return result, journal


def log_of(h: MemoryHive) -> str:
    (log,) = [entry for logs in h.logs.values() for entry in logs]
    return str(log["message"])


def test_a_refused_value_is_recorded_and_the_run_goes_on():
    h = hive()
    h.fail["run_responder"] = [refused()]  # the first Block job: 203.0.113.7, refused
    result, journal = run(h)
    assert result.status == "done" and result.path == ["intel", "decide", "contain", "log"]
    assert [j["data"] for j in h.jobs] == ["198.51.100.9"]  # the other value was still blocked
    case = h.cases[result.case_id]
    assert "contained" in case["tags"] and FAILED_TAG not in case["tags"]
    assert result.refused == [{"step": "contain", "responder": "Socflow_Block",
                               "on": "ip 203.0.113.7", "refusal": "documentation",
                               "reason": PRIVATE_REASON}]
    text = log_of(h)
    assert "**Refused by policy** (left as they were):" in text
    assert "did not act on `ip 203.0.113.7` (documentation)" in text
    assert "documentation range" in text and "1 refused by policy" in text
    (step,) = [s for s in journal.steps(result.run_id) if s.key.startswith("contain/") and s.key.endswith("|203.0.113.7")]
    assert step.status == "done" and step.outcome["status"] == "Refused"
    assert step.outcome["refused"][0]["refusal"] == "documentation"
    (record,) = journal.runs()
    assert record.as_dict()["refused"] == result.refused and record.status == "done"


def test_a_resumed_run_keeps_the_refusal_without_asking_again():
    h = hive()
    h.fail["run_responder"] = [refused()]
    h.fail["add_log"] = [ProviderError("TheHive answered 500")]  # the run fails after the refusal
    journal = SqliteJournal(":memory:")
    engine = Engine(load_playbook(PLAYBOOK, "pb.yml"), h, journal, sleep=lambda s: None)
    first = engine.run("alert", "~1")
    assert first.status == "failed" and [r["on"] for r in first.refused] == ["ip 203.0.113.7"]
    again = Engine(load_playbook(PLAYBOOK, "pb.yml"), h, journal, sleep=lambda s: None).run(
        "alert", "~1")
    assert again.status == "done" and h.calls["run_responder"] == 2  # not asked a third time
    assert [r["on"] for r in again.refused] == ["ip 203.0.113.7"]
    assert "did not act on `ip 203.0.113.7`" in log_of(h)


def test_on_refusal_fail_fails_the_run_as_before():
    h = hive()
    h.fail["run_responder"] = [refused()]
    text = PLAYBOOK.replace("verdict: {at_least: suspicious}}",
                            "verdict: {at_least: suspicious}, on_refusal: fail}")
    assert text != PLAYBOOK
    result, _ = run(h, text)
    assert result.status == "failed" and "refused by policy [documentation]" in result.reason
    assert result.reason.startswith("step contain: responder: ")
    assert FAILED_TAG in h.cases[result.case_id]["tags"] and not h.logs


def test_an_operational_failure_still_fails_the_run():
    h = hive()
    h.fail["run_responder"] = [ProviderError(
        "Socflow_Block job ~9 ended Failure: cannot reach the block-list service (ConnectionError)")]
    result, _ = run(h)
    assert result.status == "failed" and "cannot reach the block-list service" in result.reason
    assert FAILED_TAG in h.cases[result.case_id]["tags"] and result.refused == []


class _FailingJobs(MemoryHive):
    """Services that answer a finished job instead of raising (the engine reads its error)."""

    errors: dict[str, str] = {}

    def run_responder(self, name: str, data_type: str, obj: dict[str, Any], *, key: str,
                      timeout: float) -> dict[str, Any]:
        job = super().run_responder(name, data_type, obj, key=key, timeout=timeout)
        error = self.errors.get(str(obj.get("data")))
        return {**job, "status": "Failure", "error": error} if error else job


def test_a_failure_answer_is_a_refusal_only_with_the_mark_at_its_start():
    reports = {("Socflow_AbuseIPDB_Check", "203.0.113.7"): MAL,
               ("Socflow_AbuseIPDB_Check", "198.51.100.9"): MAL}
    h = _FailingJobs(ALERT, OBS, reports)
    h.errors = {"203.0.113.7": refusal.message(["allowlisted"], "203.0.113.7: ours")}
    result, _ = run(h)
    assert result.status == "done" and [r["refusal"] for r in result.refused] == ["allowlisted"]
    h = _FailingJobs(ALERT, OBS, reports)
    # a value cannot forge the mark: anywhere but at the start it is just text
    h.errors = {"203.0.113.7": "Unexpected error: " + refusal.message(["private"], "x")}
    result, _ = run(h)
    assert result.status == "failed" and "Unexpected error: refused by policy" in result.reason


@settings(max_examples=40, deadline=None)
@given(value=hostile, reason=hostile)
def test_hostile_values_in_a_refusal_stay_inert_in_the_task_log(value, reason):
    obs = [{"dataType": "ip", "data": value or "x"}]
    h = MemoryHive(ALERT, obs, {("Socflow_AbuseIPDB_Check", value or "x"): MAL})
    h.fail["run_responder"] = [refused(f"{value}: {reason}", ("malformed",))]
    result, _ = run(h)
    assert result.status == "done" and result.refused[0]["refusal"] == "malformed"
    tokens = MD.parse(log_of(h))
    assert active(tokens) == [], log_of(h)


@settings(max_examples=30, deadline=None)
@given(value=hostile, reason=hostile, on_refusal=st.sampled_from(["record", "fail"]))
def test_hostile_refusals_stay_one_line_each_in_the_terminal(value, reason, on_refusal):
    """`playbook run` and `history --run` print refused values and failure reasons (observable
    text): line breaks, escapes and bidi controls are shown by name, one line per item."""
    obs = [{"dataType": "ip", "data": value or "x"}]
    h = MemoryHive(ALERT, obs, {("Socflow_AbuseIPDB_Check", value or "x"): MAL})
    h.fail["run_responder"] = [refused(f"{value}: {reason}", ("malformed",))]
    text = PLAYBOOK.replace("verdict: {at_least: suspicious}}",
                            f"verdict: {{at_least: suspicious}}, on_refusal: {on_refusal}}}")
    with tempfile.TemporaryDirectory() as folder:
        db = str(Path(folder) / "journal.sqlite")
        journal = SqliteJournal(db)
        result = Engine(load_playbook(text, "pb.yml"), h, journal, sleep=lambda s: None).run(
            "alert", "~1")
        steps = journal.steps(result.run_id)
        journal.close()
        assert result.status == ("done" if on_refusal == "record" else "failed")

        @click.command()
        def report() -> None:
            _report(result, False, False)

        printed = CliRunner().invoke(report)
        assert printed.exit_code == 0, printed.output
        lines = printed.output.splitlines()
        assert len(lines) == (1 + len(result.refused) if result.status == "done" else 1), lines
        shown = CliRunner().invoke(playbook, ["history", "--run", result.run_id, "--db", db])
        assert shown.exit_code == 0, shown.output
        listed = shown.output.splitlines()
        assert len(listed) == 1 + len(steps), listed  # the run, then one line per step
        for line in lines + listed:
            assert not INVISIBLE.search(line), line


class _Reporting(MemoryHive):
    """A responder job that succeeded with a report naming attacker-written values: whom a
    notification went to or skipped (a reported mail's To/Cc), what a block job refused."""

    report: dict[str, Any] = {}

    def run_responder(self, name: str, data_type: str, obj: dict[str, Any], *, key: str,
                      timeout: float) -> dict[str, Any]:
        return {**super().run_responder(name, data_type, obj, key=key, timeout=timeout),
                **self.report}


@settings(max_examples=40, deadline=None)
@given(address=hostile, reason=hostile, value=hostile)
def test_hostile_recipients_and_refusals_in_a_job_report_stay_inert_in_the_task_log(
        address, reason, value):
    h = _Reporting(ALERT, OBS, {("Socflow_AbuseIPDB_Check", "203.0.113.7"): MAL})
    h.report = {"sent_to": [address], "skipped_recipients": [{"address": address, "reason": reason}],
                "refused": [{"dataType": "domain", "data": value, "refusal": "allowlisted",
                             "reason": reason}]}
    result, _ = run(h)
    assert result.status == "done" and len(result.refused) == len(h.jobs) == 1
    assert {r["refusal"] for r in result.refused} == {"allowlisted"}
    text = log_of(h)
    assert "sent to `" in text and "not sent to `" in text and "**Refused by policy**" in text
    assert active(MD.parse(text)) == [], text


def test_only_socflows_responders_can_report_a_refusal():
    """Another responder's errorMessage may begin with the observable's own text, which could
    spell the mark: its job failing that way fails the run like any other failure."""
    h = hive()
    h.fail["run_responder"] = [refused()]
    text = PLAYBOOK.replace("name: Socflow_Block", "name: Firewall_Block_1_0")
    assert text != PLAYBOOK
    result, _ = run(h, text)
    assert result.status == "failed" and "refused by policy [documentation]" in result.reason
    assert result.refused == [] and FAILED_TAG in h.cases[result.case_id]["tags"]
    reports = {("Socflow_AbuseIPDB_Check", "203.0.113.7"): MAL}
    h = _FailingJobs(ALERT, OBS, reports)
    h.errors = {"203.0.113.7": refusal.message(["allowlisted"], "203.0.113.7: ours")}
    result, _ = run(h, text)
    assert result.status == "failed" and result.refused == []
