"""`socflow playbook run/history` and the watch's webhook over HTTP, on the TheHive emulator.

These use the parts of TheHive the emulator has today (alerts, their observables, PATCH, the
query API); the case/task/log and Cortex paths run end to end once the extended emulators land.
"""

from __future__ import annotations

import json
import os
import subprocess

import requests

from fakes.thehive import FakeTheHive
from socflow.adapters.playbook.watch import WebhookServer

PLAYBOOK = """
name: triage
trigger: {event: alert, type: [socflow]}
retry: {attempts: 2, backoff: 0}
steps:
  - id: decide
    kind: decide
    branches:
      - when: {all: [{verdict: {at_least: suspicious}}, {tag: ssh}]}
        goto: escalate
    default: dismiss
  - id: escalate
    kind: act
    actions:
      - tag: [needs-review]
    end: true
  - id: dismiss
    kind: act
    actions:
      - tag: [dismissed]
      - close: {status: FalsePositive, summary: nothing found}
"""


def _alert(hive: FakeTheHive) -> str:
    r = requests.post(f"{hive.url}/api/v1/alert", timeout=10,
                      headers={"Authorization": f"Bearer {hive.api_key}"},
                      json={"type": "socflow", "source": "test", "sourceRef": "r1",
                            "title": "SSH brute force", "description": "d", "tags": ["ssh"],
                            "observables": [{"dataType": "ip", "data": "203.0.113.7"}]})
    assert r.status_code == 201, r.text
    return r.json()["_id"]


def _socflow(args, hive, tmp_path, **env):
    full = {**os.environ, "SOCFLOW_THEHIVE_URL": hive.url, "SOCFLOW_THEHIVE_KEY": hive.api_key,
            "SOCFLOW_STATE_DIR": str(tmp_path / "state"), **env}
    return subprocess.run(["socflow", "playbook", *args], capture_output=True, text=True,
                          timeout=60, env=full)


def test_run_closes_a_benign_alert_once_and_history_shows_it(tmp_path):
    pb = tmp_path / "triage.yml"
    pb.write_text(PLAYBOOK)
    with FakeTheHive() as hive:
        alert_id = _alert(hive)
        dry = _socflow(["run", str(pb), "--alert", alert_id, "--dry-run"], hive, tmp_path)
        assert dry.returncode == 0, dry.stderr
        assert "dry run: nothing was changed" in dry.stdout and '"goto": "dismiss"' in dry.stdout
        assert not any(m == "PATCH" for m, _, _ in hive.requests)
        out = _socflow(["run", str(pb), "--alert", alert_id, "--json"], hive, tmp_path)
        assert out.returncode == 0, out.stderr
        result = json.loads(out.stdout)
        assert result["status"] == "done" and result["path"] == ["decide", "dismiss"]
        (alert,) = hive.alerts
        assert alert["status"] == "FalsePositive" and "dismissed" in alert["tags"]
        patches = [r for r in hive.requests if r[0] == "PATCH"]
        assert len(patches) == 2
        again = _socflow(["run", str(pb), "--alert", alert_id], hive, tmp_path)
        assert again.returncode == 0 and "already done" in again.stdout
        assert len([r for r in hive.requests if r[0] == "PATCH"]) == 2
        assert hive.api_key not in out.stdout + out.stderr + again.stdout + again.stderr
    hist = _socflow(["history", "--json"], hive, tmp_path)
    (run,) = json.loads(hist.stdout)
    assert run["status"] == "done" and run["target"] == f"alert:{alert_id}"
    steps = json.loads(_socflow(["history", "--run", run["run"], "--json"], hive, tmp_path).stdout)
    assert [s["key"] for s in steps["steps"]] == ["decide", "dismiss", "dismiss/0", "dismiss/1"]


def test_thehive_down_fails_the_run_with_a_reason_and_a_rerun_finishes(tmp_path):
    pb = tmp_path / "triage.yml"
    pb.write_text(PLAYBOOK)
    with FakeTheHive() as hive:
        alert_id = _alert(hive)
        hive.outage("503")
        out = _socflow(["run", str(pb), "--alert", alert_id], hive, tmp_path)
        assert out.returncode == 1
        assert "failed: step decide: read the observables: gave up after 2 attempt(s)" in out.stderr
        assert "Traceback" not in out.stderr
        hive.recover()
        out = _socflow(["run", str(pb), "--alert", alert_id, "--json"], hive, tmp_path)
        assert out.returncode == 0 and json.loads(out.stdout)["status"] == "done"
    (run,) = json.loads(_socflow(["history", "--json"], hive, tmp_path).stdout)
    assert run["attempts"] == 2 and run["status"] == "done"


def test_run_usage_errors():
    out = subprocess.run(["socflow", "playbook", "run", "ssh-brute-force"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2 and "exactly one of --alert ID or --case ID" in out.stderr


def test_webhook_takes_authenticated_creation_events_only():
    server = WebhookServer("127.0.0.1", 0, "s3cret-token")
    server.start()
    url = f"http://127.0.0.1:{server.port}/webhook"
    try:
        event = {"action": "create", "objectType": "Alert", "objectId": "~42",
                 "object": {"_id": "~42", "title": "x"}}
        assert requests.post(url, json=event, timeout=5).status_code == 401
        assert requests.post(url, json=event, timeout=5,
                             headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = {"Authorization": "Bearer s3cret-token"}
        assert requests.post(url, data=b"x" * (2 << 20), headers=ok, timeout=5).status_code == 413
        assert requests.post(url, data=b"{not json", headers=ok, timeout=5).status_code == 400
        update = dict(event, action="update")
        r = requests.post(url, json=[event, update, {"objectType": "Case", "action": "create",
                                                    "objectId": "~7"}], headers=ok, timeout=5)
        assert r.status_code == 200 and r.json() == {"queued": 2}
        assert [server.queue.get_nowait(), server.queue.get_nowait()] == [("alert", "~42"),
                                                                        ("case", "~7")]
        assert server.refused == 2
    finally:
        server.stop()


def test_watch_once_db_history_filters_and_templates_of_a_file(tmp_path):
    pb = tmp_path / "triage.yml"
    pb.write_text(PLAYBOOK)
    db = tmp_path / "elsewhere" / "journal.sqlite"
    with FakeTheHive() as hive:
        first = _alert(hive)
        out = _socflow(["watch", str(pb), "--once", "--since", "0", "--db", str(db)], hive, tmp_path)
        assert out.returncode == 0, out.stderr
        events = [json.loads(line) for line in out.stderr.splitlines()]
        (finished,) = [e for e in events if e["event"] == "run-finished"]
        assert finished["target"] == first and finished["status"] == "done"
        assert oct(db.stat().st_mode & 0o777) == "0o600"
        # the cursor is kept: a second --once finds nothing new to run
        out = _socflow(["watch", str(pb), "--once", "--db", str(db)], hive, tmp_path)
        assert "run-finished" not in out.stderr
    assert not (tmp_path / "state" / "playbooks.sqlite").exists()  # --db, not the state dir
    runs = json.loads(_socflow(["history", "--json", "--db", str(db), "--playbook", "triage",
                                "--limit", "1"], hive, tmp_path).stdout)
    assert [r["playbook"] for r in runs] == ["triage"]
    assert json.loads(_socflow(["history", "--json", "--db", str(db), "--playbook", "other"],
                               hive, tmp_path).stdout) == []
    text = _socflow(["history", "--db", str(db)], hive, tmp_path).stdout
    assert "done" in text and f"triage:alert:{first}" in text
    missing = _socflow(["history", "--run", "nope", "--db", str(db)], hive, tmp_path)
    assert missing.returncode == 1 and "no run 'nope' in the journal" in missing.stderr
    shipped = _socflow(["templates", "ssh-brute-force", "--output", str(tmp_path / "t")], hive, tmp_path)
    assert shipped.returncode == 0 and "socflow-ssh-brute-force.json: 3 tasks" in shipped.stdout
    none = _socflow(["templates", str(pb), "--output", str(tmp_path / "t2")], hive, tmp_path)
    assert none.returncode == 0 and "no case_template: nothing written" in none.stderr


def test_watch_usage_errors(tmp_path):
    pb = tmp_path / "triage.yml"
    pb.write_text(PLAYBOOK)
    with FakeTheHive() as hive:
        out = _socflow(["watch", str(pb), "--no-poll"], hive, tmp_path)
        assert out.returncode == 2 and "--no-poll needs --webhook" in out.stderr
        out = _socflow(["watch", str(pb), "--webhook"], hive, tmp_path,
                       SOCFLOW_PLAYBOOK_WEBHOOK_TOKEN="")
        assert out.returncode == 2 and "--webhook needs --webhook-token" in out.stderr


def test_check_with_cortex_names_the_workers_cortex_lacks(tmp_path):
    from fakes.cortex import FakeCortex

    with FakeCortex() as cortex:
        env = {**os.environ, "SOCFLOW_CORTEX_KEY": cortex.api_key}
        cortex.enable("Socflow_AbuseIPDB_Check")
        cortex.enable("Socflow_OTX_Query")
        args = ["socflow", "playbook", "check", "ssh-brute-force", "--cortex-url", cortex.url]
        out = subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)
        assert out.returncode == 1
        assert out.stderr.strip() == ("socflow: error: ssh-brute-force: steps[2] (contain): Cortex "
                                      "has no enabled responder Socflow_Block for thehive:case_artifact")
        cortex.enable("Socflow_Block")
        out = subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)
        assert out.returncode == 0 and "ssh-brute-force: ok" in out.stdout, out.stderr
        assert cortex.api_key not in out.stdout + out.stderr
        bad = subprocess.run(args, capture_output=True, text=True, timeout=60,
                             env=dict(env, SOCFLOW_CORTEX_KEY="wrong-key"))
        assert bad.returncode == 1 and "Cortex refused the credentials (401)" in bad.stderr


def test_in_process_mail_analysis_decides_without_cortex(tmp_path):
    """analyzers: [socflow:mail] reads the reported message from TheHive and analyses it in the
    runner: a phishing mail and a colleague's mail take different branches, no Cortex needed."""
    from pathlib import Path

    corpus = Path(__file__).resolve().parents[1] / "mail" / "corpus"
    pb = tmp_path / "mail.yml"
    pb.write_text("""
name: mail-local
trigger: {event: alert, type: [phishing-report]}
steps:
  - {id: mail, kind: analyze, analyzers: ["socflow:mail"], data_types: [file]}
  - id: decide
    kind: decide
    branches: [{when: {taxonomy: {namespace: Mail, predicate: Verdict, level: malicious}}, goto: bad}]
    default: fine
  - {id: bad, kind: act, actions: [{tag: [phish]}], end: true}
  - {id: fine, kind: act, actions: [{tag: [ham]}]}
""")
    with FakeTheHive() as hive:
        ids = {}
        for name, path in (("phish", corpus / "phish" / "attachment-0.eml"),
                           ("ham", corpus / "ham" / "m365-colleague-0.eml")):
            body = {"type": "phishing-report", "source": "t", "sourceRef": name, "title": name,
                    "description": "d", "observables": [{"dataType": "file", "attachment": "eml"}]}
            r = requests.post(f"{hive.url}/api/v1/alert", timeout=10,
                              headers={"Authorization": f"Bearer {hive.api_key}"},
                              files={"_json": (None, json.dumps(body)),
                                     "eml": (f"{name}.eml", path.read_bytes(), "message/rfc822")})
            assert r.status_code == 201, r.text
            ids[name] = r.json()["_id"]
        results = {}
        for name, alert_id in ids.items():
            out = _socflow(["run", str(pb), "--alert", alert_id, "--json"], hive, tmp_path,
                           SOCFLOW_CORTEX_URL="")
            assert out.returncode == 0, out.stderr
            results[name] = json.loads(out.stdout)
        tags = {a["sourceRef"]: a["tags"] for a in hive.alerts}
    assert results["phish"]["verdict"] == "malicious" and "phish" in tags["phish"]
    assert results["ham"]["path"][-1] == "fine" and "ham" in tags["ham"]


def test_escalate_to_from_the_flag_or_the_environment_assigns_the_case(tmp_path):
    """`--escalate-to LOGIN` / SOCFLOW_PLAYBOOK_ESCALATE_TO: the L2 login an escalate action
    without an assignee gives the case to (TheHive 5 has no groups to assign to)."""
    pb = tmp_path / "esc.yml"
    pb.write_text("""
name: esc
trigger: {event: alert, type: [socflow]}
steps:
  - {id: up, kind: act, actions: [{promote: {}}, {escalate: {severity: 4, tags: [escalated-l2]}}]}
""")
    with FakeTheHive() as hive:
        hive.add_user("l2-team@example-corp.com")
        hive.add_user("l2-lead@example-corp.com")
        first = _alert(hive)
        out = _socflow(["run", str(pb), "--alert", first, "--json", "--escalate-to",
                        "l2-team@example-corp.com"], hive, tmp_path)
        assert out.returncode == 0, out.stderr
        case_one = json.loads(out.stdout)["case"]
        second = _alert_with_ref(hive, "r2")
        out = _socflow(["run", str(pb), "--alert", second, "--json"], hive, tmp_path,
                       SOCFLOW_PLAYBOOK_ESCALATE_TO="l2-lead@example-corp.com")
        assert out.returncode == 0, out.stderr
        case_two = json.loads(out.stdout)["case"]
        cases = hive.orgs[hive.org].cases
        assert cases[case_one]["assignee"] == "l2-team@example-corp.com"
        assert cases[case_two]["assignee"] == "l2-lead@example-corp.com"
        assert cases[case_one]["severity"] == 4 and "escalated-l2" in cases[case_two]["tags"]
        unknown = _alert_with_ref(hive, "r3")
        out = _socflow(["run", str(pb), "--alert", unknown, "--json", "--escalate-to",
                        "nobody@example-corp.com"], hive, tmp_path)
        reason = json.loads(out.stdout)["reason"]
        assert out.returncode == 1 and reason.startswith("step up: escalate: "), reason
        assert "404" in reason  # TheHive refuses a login it does not know: the run says so


def _alert_with_ref(hive: FakeTheHive, ref: str) -> str:
    r = requests.post(f"{hive.url}/api/v1/alert", timeout=10,
                      headers={"Authorization": f"Bearer {hive.api_key}"},
                      json={"type": "socflow", "source": "test", "sourceRef": ref,
                            "title": ref, "description": "d"})
    assert r.status_code == 201, r.text
    return r.json()["_id"]


def test_the_export_step_without_a_misp_notes_it_and_misp_url_passes_the_outbound_policy(tmp_path):
    """An `export` step with no `output`: no --misp-url / SOCFLOW_MISP_URL → the step notes that
    nothing was exported and the run is done; --misp-url at a loopback address → the run fails
    with the outbound policy's reason (the playbook runner has no way to allow private targets)."""
    pb = tmp_path / "share.yml"
    pb.write_text("""
name: share
trigger: {event: alert, type: [socflow]}
retry: {attempts: 1, backoff: 0}
steps:
  - {id: up, kind: act, actions: [{promote: {}}]}
  - {id: share, kind: export, format: misp}
""")
    with FakeTheHive() as hive:
        first = _alert(hive)
        out = _socflow(["run", str(pb), "--alert", first, "--json"], hive, tmp_path,
                       SOCFLOW_MISP_URL="")
        assert out.returncode == 0, out.stderr
        run_id = json.loads(out.stdout)["run"]
        hist = _socflow(["history", "--run", run_id, "--json"], hive, tmp_path)
        (share,) = [s for s in json.loads(hist.stdout)["steps"] if s["key"] == "share"]
        assert share["status"] == "done"
        assert share["outcome"]["skipped_export"] == (
            "no output file and no MISP configured (--misp-url)")
        second = _alert_with_ref(hive, "r2")
        out = _socflow(["run", str(pb), "--alert", second, "--json", "--misp-url",
                        "http://127.0.0.1:9"], hive, tmp_path, SOCFLOW_MISP_KEY="k-not-shown")
        reason = json.loads(out.stdout)["reason"]
        assert out.returncode == 1 and reason.startswith("step share: "), reason
        assert "is a loopback address: refused" in reason
        assert "k-not-shown" not in out.stdout + out.stderr


def test_check_with_a_cortex_url_and_no_key_is_a_usage_error():
    env = {k: v for k, v in os.environ.items() if k != "SOCFLOW_CORTEX_KEY"}
    out = subprocess.run(["socflow", "playbook", "check", "ssh-brute-force", "--cortex-url",
                          "http://127.0.0.1:9"], capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 2 and "--cortex-url needs --cortex-key or SOCFLOW_CORTEX_KEY" in out.stderr
