"""Shipped playbooks end to end on the TheHive and Cortex emulators, with the real flavors.

`socflow playbook run` as a process; Cortex runs Socflow_AbuseIPDB_Check, Socflow_OTX_Query and
Socflow_Block as processes in job folders; the block list is the real service. kill -9 at
several points of a run, then the same command again: every responder ran once, every task log
was written once, the case is complete. Cortex down mid-run: the run fails with the reason, the
case is left open and tagged, and the rerun finishes without repeating anything.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from blocklist.service import TOKEN, Service, start_service
from fakes.cortex import FakeCortex
from fakes.cti import FakeAbuseIPDB, FakeOTX
from fakes.thehive import FakeTheHive

from socflow.playbook.model import resolve

ATTACKER, SCANNER = "45.0.0.1", "45.0.0.2"
ALLOWED = "45.0.0.3"  # on the block list's allowlist (a partner's address, say)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[dict[str, Any]]:
    with FakeTheHive() as hive, FakeCortex() as cortex, FakeAbuseIPDB() as abuse, FakeOTX() as otx:
        blocklist = start_service(tmp_path / "bl.sqlite3", "--allow", ALLOWED)
        try:
            abuse.set_ip(ATTACKER, 95)
            abuse.set_ip(ALLOWED, 95)  # reported by others too: only the block list's policy says no
            abuse.set_ip(SCANNER, 0, reports=0)
            otx.set(ATTACKER, 4)
            intel = {"allow_private_targets": True, "cache_path": str(tmp_path / "intel.sqlite")}
            cortex.enable("Socflow_AbuseIPDB_Check", config={"key": abuse.key, "api_url": abuse.url, **intel})
            cortex.enable("Socflow_OTX_Query", config={"key": otx.key, "api_url": otx.url, **intel})
            cortex.enable("Socflow_Block", config={"api_url": blocklist.url, "api_token": TOKEN})
            templates = tmp_path / "templates"
            out = subprocess.run(["socflow", "playbook", "templates", "--output", str(templates)],
                                 capture_output=True, text=True, timeout=60)
            assert out.returncode == 0, out.stderr
            for path in sorted(templates.iterdir()):  # imported as an administrator would
                r = requests.post(f"{hive.url}/api/v1/caseTemplate", timeout=10, headers=_auth(hive),
                                  json=json.loads(path.read_text()))
                assert r.status_code == 201, r.text
            env = {**os.environ, "SOCFLOW_THEHIVE_URL": hive.url, "SOCFLOW_THEHIVE_KEY": hive.api_key,
                   "SOCFLOW_CORTEX_URL": cortex.url, "SOCFLOW_CORTEX_KEY": cortex.api_key,
                   "SOCFLOW_STATE_DIR": str(tmp_path / "state")}
            yield {"hive": hive, "cortex": cortex, "blocklist": blocklist, "env": env,
                   "abuse": abuse}
        finally:
            blocklist.stop()


def _auth(hive: FakeTheHive) -> dict[str, str]:
    return {"Authorization": f"Bearer {hive.api_key}"}


def _alert(hive: FakeTheHive, ip: str, ref: str = "r1", *more_ips: str) -> str:
    body = {"type": "socflow", "source": "socflow", "sourceRef": ref,
            "title": f"SSH brute force from {ip}", "description": "many failed logins",
            "severity": 2, "tags": ["ssh", "brute-force", "socflow:rule=ssh-brute-force"],
            "observables": [*({"dataType": "ip", "data": a, "tags": ["ssh-brute-force-source"]}
                              for a in (ip, *more_ips)),
                            {"dataType": "other", "data": "root", "tags": ["targeted-username"]}]}
    r = requests.post(f"{hive.url}/api/v1/alert", json=body, headers=_auth(hive), timeout=10)
    assert r.status_code == 201, r.text
    return str(r.json()["_id"])


def _run(stack: dict[str, Any], alert_id: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["socflow", "playbook", "run", "ssh-brute-force", "--alert", alert_id,
                           "--json", *extra], capture_output=True, text=True, timeout=120,
                          env=stack["env"])


def _store(hive: FakeTheHive) -> Any:
    return hive.orgs[hive.org]


def _blocks(cortex: FakeCortex) -> list[Any]:
    return [j for j in list(cortex.jobs.values()) if j.worker["name"] == "Socflow_Block"]


def _check_worked_case(stack: dict[str, Any], alert_id: str) -> dict[str, Any]:
    hive, cortex = stack["hive"], stack["cortex"]
    store = _store(hive)
    (case,) = store.cases.values()
    assert case["title"].startswith("[SSH] SSH brute force from")
    assert "contained" in case["tags"] and case.get("stage") != "Closed"
    tasks = {t["title"]: t for tid, t in store.tasks.items() if store.task_case[tid] == case["_id"]}
    assert sorted(tasks) == ["Containment", "Review accounts", "Triage"]  # no duplicate task
    assert tasks["Containment"]["status"] == "Completed" and tasks["Triage"]["status"] == "Completed"
    logs_by_task: dict[str, int] = {}
    for task_id in store.log_task.values():
        logs_by_task[task_id] = logs_by_task.get(task_id, 0) + 1
    assert logs_by_task == {tasks["Containment"]["_id"]: 1, tasks["Triage"]["_id"]: 1}
    assert stack["blocklist"].edl("ip") == [ATTACKER]
    cortex.wait_idle(30)
    blocks = _blocks(cortex)
    assert len(blocks) == 1, [j.doc.get("status") for j in blocks]
    assert hive._find_alert(store, alert_id)["caseId"] == case["_id"]
    return case


def test_ssh_brute_force_from_a_known_attacker_is_contained_and_documented(stack):
    alert_id = _alert(stack["hive"], ATTACKER)
    out = _run(stack, alert_id)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["status"] == "done" and result["verdict"] == "malicious"
    assert result["path"] == ["reputation", "decide", "contain", "share", "log-containment",
                              "log-triage"]
    case = _check_worked_case(stack, alert_id)
    store = _store(stack["hive"])
    (containment,) = [t for t in store.tasks.values() if t["title"] == "Containment"]
    (log,) = [store.logs[lid] for lid, tid in store.log_task.items() if tid == containment["_id"]]
    text = log["message"]
    assert "verdict** malicious" in text and "AbuseIPDB:Score" in text and f"`ip {ATTACKER}`" in text
    assert "responder Socflow\\_Block" in text
    assert stack["hive"].api_key not in out.stdout + out.stderr
    assert stack["env"]["SOCFLOW_CORTEX_KEY"] not in out.stdout + out.stderr
    assert case["_id"] == result["case"]


def test_a_known_good_scanner_alert_is_closed_as_false_positive(stack):
    alert_id = _alert(stack["hive"], SCANNER)
    out = _run(stack, alert_id)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["verdict"] == "safe" and result["path"] == ["reputation", "decide", "dismiss"]
    alert = stack["hive"]._find_alert(_store(stack["hive"]), alert_id)
    assert alert["status"] == "FalsePositive" and not _store(stack["hive"]).cases
    assert stack["blocklist"].edl("ip") == []


def _hold_on_promotion(stack: dict[str, Any]) -> bool:
    """Once the case exists (analyses done), hold Cortex so the next job — the responder's —
    stays Waiting; true from then on."""
    if _store(stack["hive"]).cases:
        stack["cortex"].hold()
        return True
    return False


def _kill_when(stack: dict[str, Any], alert_id: str, ready: Callable[[], bool]) -> None:
    proc = subprocess.Popen(["socflow", "playbook", "run", "ssh-brute-force", "--alert", alert_id,
                             "--quiet"], env=stack["env"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not ready():
            assert proc.poll() is None, "the run ended before the kill point"
            assert time.monotonic() < deadline, "kill point never reached"
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(30)


KILL_POINTS: dict[str, Callable[[dict[str, Any]], bool]] = {
    # the analyses wait in Cortex (held) while the run waits for their reports
    "analysis-in-cortex": lambda s: len(s["cortex"].jobs) >= 1,
    "after-promotion": lambda s: bool(_store(s["hive"]).cases),
    # the responder's job waits in Cortex (held): submitted, its answer not yet journaled
    "responder-submitted": lambda s: bool(_blocks(s["cortex"])),
    "after-first-task-log": lambda s: bool(_store(s["hive"]).logs),
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_kill_9_then_resume_does_every_effect_once(stack, point):
    hive, cortex = stack["hive"], stack["cortex"]
    hive.latency = 0.03  # a TheHive that answers like a real one leaves time to land the kill
    alert_id = _alert(hive, ATTACKER)
    if point == "analysis-in-cortex":
        cortex.hold()
    if point == "responder-submitted":
        _kill_when(stack, alert_id, lambda: _hold_on_promotion(stack) and KILL_POINTS[point](stack))
    else:
        _kill_when(stack, alert_id, lambda: KILL_POINTS[point](stack))
    cortex.release()
    hive.latency = 0
    out = _run(stack, alert_id)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["status"] == "done"
    _check_worked_case(stack, alert_id)
    history = subprocess.run(["socflow", "playbook", "history", "--json"], capture_output=True,
                             text=True, timeout=60, env=stack["env"])
    (run,) = json.loads(history.stdout)
    assert run["status"] == "done" and run["attempts"] == 2


def test_cortex_down_mid_run_fails_with_the_reason_then_the_rerun_finishes(stack, tmp_path):
    hive, cortex = stack["hive"], stack["cortex"]
    # the shipped playbook with quick retries (its own back-off would make this test wait ~15 s)
    text = resolve("ssh-brute-force").read_text()
    assert "retry: {attempts: 4, backoff: 2, max_backoff: 30}" in text
    playbook = tmp_path / "ssh-brute-force.yml"
    playbook.write_text(text.replace("backoff: 2, max_backoff: 30", "backoff: 0.05, max_backoff: 0.1"))
    alert_id = _alert(hive, ATTACKER)
    hive.latency = 0.2  # time between the promotion and the responder to cut Cortex off
    proc = subprocess.Popen(["socflow", "playbook", "run", str(playbook), "--alert", alert_id,
                             "--json", "--quiet"], env=stack["env"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not _store(hive).cases and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.002)
    cortex.outage("503")  # Cortex answers the analyses, then fails everything after the promotion
    stdout, stderr = proc.communicate(timeout=120)
    hive.latency = 0
    assert proc.returncode == 1, stderr
    result = json.loads(stdout)
    assert result["status"] == "failed" and "step contain: responder: gave up after 4 attempt(s)" in (
        result["reason"]) and "Cortex" in result["reason"]
    assert not _blocks(cortex)
    (case,) = _store(hive).cases.values()
    assert "socflow:playbook-failed" in case["tags"] and case.get("stage") != "Closed"
    cortex.recover()
    out = subprocess.run(["socflow", "playbook", "run", str(playbook), "--alert", alert_id, "--json"],
                         capture_output=True, text=True, timeout=120, env=stack["env"])
    assert out.returncode == 0, out.stderr
    case = _check_worked_case(stack, alert_id)
    assert "socflow:playbook-failed" not in case["tags"]  # the finished run takes its flag off


class _Watch:
    """``socflow playbook watch`` as a service process; its JSON log lines, read as they come."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(["socflow", "playbook", "watch", *args], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.events: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.raw.append(line)
            try:
                self.events.append(json.loads(line))
            except ValueError:
                pass

    def wait_for(self, event: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for ev in list(self.events):
                if ev.get("event") == event:
                    return ev
            assert self.proc.poll() is None, "".join(self.raw)
            time.sleep(0.02)
        raise AssertionError(f"no {event} in {''.join(self.raw)}")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(30)
        self.reader.join(5)
        return code


def test_watch_polls_new_alerts_and_runs_the_matching_playbook_once(stack):
    hive = stack["hive"]
    alert_id = _alert(hive, ATTACKER)
    _alert(hive, SCANNER, ref="r2")
    other = dict(stack["env"])
    watch = _Watch(["ssh-brute-force", "web-attack", "--interval", "0.3", "--since", "0"], other)
    try:
        done = [watch.wait_for("run-finished")]
        deadline = time.monotonic() + 60
        while len([e for e in watch.events if e.get("event") == "run-finished"]) < 2:
            assert time.monotonic() < deadline, "".join(watch.raw)
            time.sleep(0.05)
        time.sleep(1)  # a few more polls: nothing runs twice
    finally:
        assert watch.stop() == 0
    finished = [e for e in watch.events if e.get("event") == "run-finished"]
    assert len(finished) == 2 and done[0]["playbook"] == "ssh-brute-force"
    by_target = {e["target"]: e for e in finished}
    assert by_target[alert_id]["verdict"] == "malicious" and by_target[alert_id]["status"] == "done"
    _check_worked_case(stack, alert_id)
    assert watch.events[-1]["event"] == "watch-stopped"
    assert hive.api_key not in "".join(watch.raw)


def test_watch_takes_thehive_webhook_notifications(stack, tmp_path):
    hive = stack["hive"]
    token = tmp_path / "token"
    token.write_text("webhook-token-0123456789\n")
    env = dict(stack["env"], SOCFLOW_PLAYBOOK_WEBHOOK_TOKEN_FILE=str(token))
    watch = _Watch(["ssh-brute-force", "--webhook", "--no-poll", "--host", "127.0.0.1",
                    "--port", "0"], env)
    try:
        port = watch.wait_for("webhook-listening")["port"]
        hive.notify_to(f"http://127.0.0.1:{port}/webhook", triggers=["AlertCreated"],
                       auth=("bearer", "webhook-token-0123456789"))
        alert_id = _alert(hive, ATTACKER)
        finished = watch.wait_for("run-finished")
    finally:
        assert watch.stop() == 0
    assert finished["target"] == alert_id and finished["status"] == "done"
    _check_worked_case(stack, alert_id)
    assert hive.notifier.deliveries and all(d.status == 200 for d in hive.notifier.deliveries)


def test_the_export_step_writes_the_cases_indicators_as_a_misp_event(stack, tmp_path):
    text = resolve("ssh-brute-force").read_text()
    out_file = tmp_path / "exports" / "case-{case}.json"
    playbook = tmp_path / "ssh.yml"
    playbook.write_text(text.replace("    kind: export\n    format: misp\n",
                                     f"    kind: export\n    format: misp\n    ioc_only: false\n"
                                     f"    output: {out_file}\n"))
    alert_id = _alert(stack["hive"], ATTACKER)
    out = subprocess.run(["socflow", "playbook", "run", str(playbook), "--alert", alert_id, "--json"],
                         capture_output=True, text=True, timeout=120, env=stack["env"])
    assert out.returncode == 0, out.stderr
    (written,) = (tmp_path / "exports").iterdir()
    event = json.loads(written.read_text())["Event"]
    values = {a["type"]: a["value"] for a in event["Attribute"]}
    assert values["ip-dst"] == ATTACKER or values.get("ip-src") == ATTACKER
    assert {"name": "tlp:amber"} in event["Tag"] or any(t["name"].startswith("tlp:") for t in event["Tag"])
    case = _check_worked_case(stack, alert_id)
    assert written.name == f"case-{case['number']}.json"
    store = _store(stack["hive"])
    (containment,) = [t for t in store.tasks.values() if t["title"] == "Containment"]
    (log,) = [store.logs[lid] for lid, tid in store.log_task.items() if tid == containment["_id"]]
    assert "export misp: " in log["message"] and "indicator(s)" in log["message"]


def test_web_attack_from_a_known_attacker_is_blocked_and_documented(stack):
    hive = stack["hive"]
    payload = "http://shop.example-corp.com/item?id=1' UNION SELECT password FROM users--"
    body = {"type": "socflow", "source": "socflow", "sourceRef": "w1", "severity": 2,
            "title": f"SQL injection from {ATTACKER}", "description": "payloads in the access log",
            "tags": ["web", "sqli", "socflow:rule=web-sqli"],
            "observables": [{"dataType": "ip", "data": ATTACKER, "tags": ["web-attack-source"]},
                            {"dataType": "url", "data": payload, "tags": ["sqli-payload"]}]}
    r = requests.post(f"{hive.url}/api/v1/alert", json=body, headers=_auth(hive), timeout=10)
    assert r.status_code == 201, r.text
    alert_id = r.json()["_id"]
    out = subprocess.run(["socflow", "playbook", "run", "web-attack", "--alert", alert_id, "--json"],
                         capture_output=True, text=True, timeout=120, env=stack["env"])
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["path"] == ["reputation", "payload-intel", "decide", "contain", "share",
                              "log-containment"]
    store = _store(hive)
    (case,) = store.cases.values()
    assert case["title"].startswith("[WEB] ") and case["severity"] == 3
    assert stack["blocklist"].edl("ip") == [ATTACKER]  # the address, never the payload URL
    stack["cortex"].wait_idle(30)
    assert len(_blocks(stack["cortex"])) == 1
    (containment,) = [t for tid, t in store.tasks.items() if t["title"] == "Containment"]
    (log,) = [store.logs[lid] for lid, tid in store.log_task.items() if tid == containment["_id"]]
    assert containment["status"] == "Completed"
    assert "verdict** malicious" in log["message"] and f"`ip {ATTACKER}`" in log["message"]


def test_a_reported_phishing_mail_becomes_a_worked_case(stack, tmp_path):
    """The intake's alert (tests build it with the intake's own function): the mail analyzer
    runs on the reported message (downloaded from TheHive, sent to Cortex as a file), the links,
    their domains and the originating address are blocked, the notification goes out, and each
    phase has its task log; intel analyzers that Cortex lacks are noted, not fatal."""
    from fakes.mail import PASSWORD, USER, FakeSMTP

    from socflow.mail import analyze_bytes
    from socflow.mail.alert import phishing_alert

    hive, cortex = stack["hive"], stack["cortex"]
    message = (Path(__file__).resolve().parents[1] / "mail" / "corpus" / "phish" /
               "attachment-0.eml").read_bytes()
    report = analyze_bytes(message, "attachment-0.eml")
    alert = phishing_alert(report, ref="msgid-test", file_name="reported.eml",
                           source="imap://soc@example-corp.com/INBOX 1.7")
    with FakeSMTP() as smtp:
        cortex.enable("Socflow_MailAnalysis")
        cortex.enable("Socflow_Notify_Mail", config={
            "smtp_host": "localhost", "smtp_port": smtp.port, "smtp_user": USER,
            "smtp_password": PASSWORD, "from_address": "soc@example-corp.com",
            "to": ["soc@example-corp.com"], "cacerts": smtp.ca_pem, "timeout": 10,
            "recipients_from_observable": True, "recipient_domains": ["contoso.com"]})
        r = requests.post(f"{hive.url}/api/v1/alert", headers=_auth(hive), timeout=10,
                          files={"_json": (None, json.dumps(alert)),
                                 "eml": ("reported.eml", message, "message/rfc822")})
        assert r.status_code == 201, r.text
        alert_id = r.json()["_id"]
        out = subprocess.run(["socflow", "playbook", "run", "phishing", "--alert", alert_id,
                              "--json"], capture_output=True, text=True, timeout=180,
                             env=stack["env"])
        assert out.returncode == 0, out.stderr
        cortex.wait_idle(60)
        notified = list(smtp.received)
    result = json.loads(out.stdout)
    assert result["verdict"] == "malicious"
    assert result["path"] == ["promote", "detection", "mail", "intel", "decide", "contain",
                              "verification", "containment", "awareness", "log-awareness",
                              "escalation", "share", "reporting"]
    store = _store(hive)
    (case,) = store.cases.values()
    assert case["title"].startswith("[PHISHING] ") and "contained" in case["tags"]
    ran = [j.worker["name"] for j in cortex.jobs.values()]
    assert ran.count("Socflow_MailAnalysis") == 1 and ran.count("Socflow_Notify_Mail") == 2
    blocked = stack["blocklist"].edl("url") + stack["blocklist"].edl("domain") + \
        stack["blocklist"].edl("ip")
    urls = [o["data"] for o in alert["observables"] if o["dataType"] == "url"]
    assert blocked and set(stack["blocklist"].edl("url")) <= set(urls)
    assert ran.count("Socflow_Block") == len([o for o in alert["observables"]
                                              if o["dataType"] in ("url", "domain", "ip")])
    # the SOC about the case, the mail's recipient (contoso.com) about the mail
    assert sorted(m.rcpt_tos for m in notified) == [["soc@example-corp.com"], ["staff0@contoso.com"]]
    tasks = {t["title"]: t for tid, t in store.tasks.items() if store.task_case[tid] == case["_id"]}
    logged = {}
    for lid, tid in store.log_task.items():
        logged.setdefault(tid, []).append(store.logs[lid]["message"])
    for title in ("Detection", "Verification", "Containment", "User awareness", "Reporting"):
        assert len(logged.get(tasks[title]["_id"], [])) == 1, title
    verification = logged[tasks["Verification"]["_id"]][0]
    assert "Socflow\\_MailAnalysis" in verification and "Mail:Verdict" in verification
    assert "Socflow\\_VirusTotal\\_GetReport" in verification  # not done: Cortex lacks it


def test_killed_again_and_again_then_finished_does_every_effect_once(stack):
    """kill -9 three times in a row, each run resumed and killed further on (an analysis waiting
    in Cortex, the responder's job submitted, the first task log written), then let it finish."""
    hive, cortex = stack["hive"], stack["cortex"]
    hive.latency = 0.03
    alert_id = _alert(hive, ATTACKER)
    cortex.hold()
    _kill_when(stack, alert_id, lambda: len(cortex.jobs) >= 1)
    cortex.release()
    _kill_when(stack, alert_id, lambda: _hold_on_promotion(stack) and bool(_blocks(cortex)))
    cortex.release()
    _kill_when(stack, alert_id, lambda: bool(_store(hive).logs))
    hive.latency = 0
    out = _run(stack, alert_id)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["status"] == "done"  # not "already-done": the kills cut it short
    _check_worked_case(stack, alert_id)
    history = subprocess.run(["socflow", "playbook", "history", "--json"], capture_output=True,
                             text=True, timeout=60, env=stack["env"])
    (run,) = json.loads(history.stdout)
    assert run["attempts"] == 4 and run["status"] == "done"


def test_bridge_alerts_from_socflow_ingest_are_worked_by_the_watch(stack, tmp_path):
    """The chain of the issue's 'done when': socflow ingest puts the example auth log's SSH
    brute-force alerts into TheHive, the watch turns each into a contained, documented case."""
    hive, abuse = stack["hive"], stack["abuse"]
    out = subprocess.run(["socflow", "ingest", "examples/logs/auth.log", "--state-dir",
                          str(tmp_path / "bridge")], capture_output=True, text=True, timeout=120,
                         env=stack["env"], cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0, out.stderr
    ssh = [a for a in hive.alerts if "socflow:rule=ssh-brute-force" in a["tags"]]
    assert ssh, [a["tags"] for a in hive.alerts]
    sources = {o["data"] for a in ssh for o in hive.observables_of(a["_id"]) if o["dataType"] == "ip"}
    for ip in sources:
        abuse.set_ip(ip, 97)
    watch = _Watch(["ssh-brute-force", "--once", "--since", "0"], stack["env"])
    assert watch.proc.wait(180) == 0, "".join(watch.raw)
    watch.reader.join(5)
    finished = [e for e in watch.events if e.get("event") == "run-finished"]
    assert {e["target"] for e in finished} == {a["_id"] for a in ssh}
    assert all(e["status"] == "done" and e["verdict"] == "malicious" for e in finished)
    store = _store(hive)
    assert len(store.cases) == 1  # the rule's alerts share one open case (merge_by_tag)
    assert len(store.logs) == 2  # Containment and Triage
    assert set(stack["blocklist"].edl("ip")) == sources
    stack["cortex"].wait_idle(30)
    assert len(_blocks(stack["cortex"])) == len(sources)


# ---- the 'done when' for phishing, from the mailbox to the worked case
CORPUS = Path(__file__).resolve().parents[1] / "mail" / "corpus"
MAIL_POLICY = Path(__file__).resolve().parents[2] / "examples" / "mail-policy.yml"  # contoso.com


def _reported_phish() -> bytes:
    """Hana (contoso.com) reports a PayPal lookalike (paypa1.com) as an attachment. Its To/Cc
    name an outsider behind a display-name trick and the attacker: they are never written to;
    a link into contoso.com's intranet is never blocked."""
    raw = (CORPUS / "phish" / "report-rfc822-0.eml").read_bytes()
    raw = raw.replace(b"To: victim0@contoso.com\n", b'To: victim0@contoso.com, "victim0@contoso.com" '
                      b"<boss@partner-corp.net>\nCc: attacker@paypa1.com\n", 1)
    raw = raw.replace(b"<p>PayPal Security Team</p>",
                      b'<p><a href="https://intranet.contoso.com/help">Help</a></p>', 1)
    assert raw.count(b"boss@partner-corp.net") == 1 and b"intranet.contoso.com" in raw
    return raw


def test_a_reported_phish_in_the_mailbox_is_worked_by_the_watch_once_across_a_kill(stack, tmp_path):
    """Mail APPENDED to a real dovecot → `socflow mail intake --once` → the alert in TheHive →
    `socflow playbook watch phishing --once`, killed -9 once its first Socflow_Block job is in
    Cortex, then run again: one case, its tasks completed as the malicious verdict decides, the
    sender's domain, the link and the originating address blocked once each (never contoso.com),
    the SOC, the reporter and the one recipient inside contoso.com mailed once each, escalated to
    the L2 login (the reporter said they clicked), one task log per phase."""
    from fakes.mail import PASSWORD as SMTP_PASSWORD
    from fakes.mail import USER as SMTP_USER
    from fakes.mail import FakeSMTP
    from fakes.webhook import FakeWebhook
    from support.dovecot import PASSWORD, USER, Dovecot

    hive, cortex, blocklist = stack["hive"], stack["cortex"], stack["blocklist"]
    env = stack["env"]
    hive.add_user("l2-team@contoso.com")
    dovecot = Dovecot(tmp_path / "dovecot").start()
    with FakeSMTP() as smtp, FakeWebhook() as hook:
        try:
            dovecot.append(_reported_phish())
            intake = subprocess.run(
                ["socflow", "mail", "intake", "--imap-host", "127.0.0.1", "--imap-port",
                 str(dovecot.port), "--imap-user", USER, "--imap-security", "starttls",
                 "--imap-ca-file", str(dovecot.ca_file), "--policy", str(MAIL_POLICY),
                 "--state-dir", str(tmp_path / "intake"), "--once"],
                capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                env={**env, "SOCFLOW_IMAP_PASSWORD": PASSWORD})
        finally:
            dovecot.stop()
        assert intake.returncode == 0, intake.stderr
        (alert,) = hive.alerts
        assert alert["type"] == "phishing-report"
        r = requests.patch(f"{hive.url}/api/v1/alert/{alert['_id']}", headers=_auth(hive),
                           json={"addTags": ["clicked"]}, timeout=10)  # the reporter clicked
        assert r.status_code == 204, r.text
        cortex.enable("Socflow_MailAnalysis")
        cortex.enable("Socflow_Notify_Mail", config={
            "smtp_host": "localhost", "smtp_port": smtp.port, "smtp_user": SMTP_USER,
            "smtp_password": SMTP_PASSWORD, "from_address": "soc@contoso.com",
            "to": ["soc@contoso.com"], "cacerts": smtp.ca_pem, "timeout": 10,
            "recipients_from_observable": True, "recipient_domains": ["contoso.com"]})
        cortex.enable("Socflow_Notify_Webhook", config={
            "webhook_url": hook.url + "/l2", "format": "json", "allow_private_targets": True})
        watch = ["socflow", "playbook", "watch", "phishing", "--once", "--since", "0",
                 "--escalate-to", "l2-team@contoso.com"]

        def block_job_submitted() -> bool:
            # the first Socflow_Block job is in Cortex; the responder runs as a process for a few
            # hundred ms, so the run is waiting for its report: submitted, the answer not journaled
            return bool(_blocks(cortex))

        hive.latency = 0.03
        first_log = tmp_path / "watch-1.log"
        with first_log.open("w") as sink:
            proc = subprocess.Popen(watch, env=env, stdout=subprocess.DEVNULL, stderr=sink)
        try:
            deadline = time.monotonic() + 60
            while not block_job_submitted():
                assert proc.poll() is None, first_log.read_text()
                assert time.monotonic() < deadline, f"kill point never reached: {first_log.read_text()}"
                time.sleep(0.002)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        hive.latency = 0
        again = subprocess.run(watch, capture_output=True, text=True, timeout=120, env=env)
        assert again.returncode == 0, again.stderr
        cortex.wait_idle(60)
        mailed = sorted(tuple(m.rcpt_tos) for m in smtp.received)
        posted = [q for q in hook.requests if q.method == "POST"]
    finished = [json.loads(line) for line in again.stderr.splitlines() if '"run-finished"' in line]
    assert [(e["status"], e["verdict"]) for e in finished] == [("done", "malicious")]

    store = _store(hive)
    (case,) = store.cases.values()
    assert case["title"].startswith("[PHISHING] ") and "contained" in case["tags"]
    assert case["severity"] == 4 and "escalated-l2" in case["tags"]
    assert case["assignee"] == "l2-team@contoso.com"
    tasks = {t["title"]: t for tid, t in store.tasks.items() if store.task_case[tid] == case["_id"]}
    assert sorted(tasks) == ["Containment", "Detection", "Reporting", "User awareness",
                             "Verification"]
    for title in ("Detection", "Verification", "Containment", "User awareness"):
        assert tasks[title]["status"] == "Completed", title
    assert tasks["Reporting"]["status"] != "Completed"  # left for the analyst to close
    logs: dict[str, list[str]] = {}
    for lid, tid in store.log_task.items():
        logs.setdefault(tid, []).append(store.logs[lid]["message"])
    assert {title: len(logs.get(t["_id"], [])) for title, t in tasks.items()} == dict.fromkeys(tasks, 1)

    # containment: the sender's domain (not its address), the link, the originating address
    assert "paypa1.com" in blocklist.edl("domain")
    assert any("verify-session.click" in u for u in blocklist.edl("url"))
    assert "77.63.68.75" in blocklist.edl("ip")
    listed = blocklist.edl("domain") + blocklist.edl("url") + blocklist.edl("ip")
    assert not [v for v in listed if "contoso.com" in v or "partner-corp" in v]
    skip = {"mail:reporter", "mail:recipient", "socflow:own-domain", "socflow:protected-domain",
            "socflow:allowlisted", "mail:sender-unauthenticated"}
    eligible = [o for o in hive.observables_of(alert["_id"])
                if o["dataType"] in ("domain", "url", "ip") and not skip & set(o["tags"])]
    blocks = _blocks(cortex)
    assert len(blocks) == len(eligible) and len(eligible) >= 3, [o["data"] for o in eligible]

    # awareness: the SOC, the reporter, the recipient inside contoso.com: once each
    assert mailed == [("hana.sample@contoso.com",), ("soc@contoso.com",), ("victim0@contoso.com",)]
    awareness = logs[tasks["User awareness"]["_id"]][0]
    assert "boss@partner-corp.net" in awareness and "attacker@paypa1.com" in awareness
    assert "not sent to" in awareness and "recipient\\_domains" in awareness
    assert len(posted) == 1 and posted[0].path == "/l2"  # L2 told once

    history = subprocess.run(["socflow", "playbook", "history", "--json"], capture_output=True,
                             text=True, timeout=60, env=env)
    (run,) = json.loads(history.stdout)
    assert run["status"] == "done" and run["attempts"] == 2


def _task_log(hive: FakeTheHive, title: str) -> str:
    store = _store(hive)
    (task,) = [t for t in store.tasks.values() if t["title"] == title]
    (log,) = [store.logs[lid] for lid, tid in store.log_task.items() if tid == task["_id"]]
    return str(log["message"])


def _history(stack: dict[str, Any], *args: str) -> Any:
    out = subprocess.run(["socflow", "playbook", "history", "--json", *args], capture_output=True,
                         text=True, timeout=60, env=stack["env"])
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_an_allowlisted_address_is_refused_recorded_and_the_run_finishes(stack):
    """Two attackers by reputation, one of them on the block list's allowlist: the other is
    blocked, the refusal is the containment's documented outcome, the case is complete."""
    hive, cortex = stack["hive"], stack["cortex"]
    alert_id = _alert(hive, ATTACKER, "r1", ALLOWED)
    out = _run(stack, alert_id)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["status"] == "done" and result["path"] == [
        "reputation", "decide", "contain", "share", "log-containment", "log-triage"]
    assert [(r["on"], r["refusal"]) for r in result["refused"]] == [(f"ip {ALLOWED}", "allowlisted")]
    assert stack["blocklist"].edl("ip") == [ATTACKER]
    cortex.wait_idle(30)
    assert sorted(j.doc.get("status") for j in _blocks(cortex)) == ["Failure", "Success"]
    (case,) = _store(hive).cases.values()
    assert "contained" in case["tags"] and "socflow:playbook-failed" not in case["tags"]
    text = _task_log(hive, "Containment")
    assert "**Refused by policy** (left as they were):" in text
    assert f"did not act on `ip {ALLOWED}` (allowlisted)" in text
    assert "allowlist" in text.split("did not act on", 1)[1]  # the service's reason
    assert f"`ip {ATTACKER}`: Success" in text
    (run,) = _history(stack)
    assert run["status"] == "done" and run["reason"] == ""
    assert [(r["on"], r["refusal"], r["step"]) for r in run["refused"]] == [
        (f"ip {ALLOWED}", "allowlisted", "contain")]
    steps = _history(stack, "--run", run["run"])["steps"]
    (refused,) = [s for s in steps if s["key"].startswith("contain/") and s["key"].endswith(ALLOWED)]
    assert refused["status"] == "done" and refused["outcome"]["status"] == "Refused"
    assert refused["outcome"]["refused"][0]["refusal"] == "allowlisted"
    shown = subprocess.run(["socflow", "playbook", "history", "--run", run["run"]],
                           capture_output=True, text=True, timeout=60, env=stack["env"])
    assert "refused by policy (allowlisted)" in shown.stdout, shown.stdout


HOSTILE_IP = "[x](https://evil.example/r) <img src=x onerror=alert(1)> **b** |c|"


def test_private_and_hostile_values_are_refused_and_stay_inert_in_the_task_log(stack):
    """web-attack blocks every address of the case: a private one and a hostile 'ip' observable
    (markdown, HTML) are refused by the block list and documented as code, never as markup."""
    from core.test_markdown import active
    from markdown_it import MarkdownIt

    hive = stack["hive"]
    body = {"type": "socflow", "source": "socflow", "sourceRef": "w2", "severity": 2,
            "title": f"SQL injection from {ATTACKER}", "description": "payloads in the access log",
            "tags": ["web", "sqli", "socflow:rule=web-sqli"],
            "observables": [{"dataType": "ip", "data": a, "tags": ["web-attack-source"]}
                            for a in (ATTACKER, "10.1.2.3", HOSTILE_IP)]}
    r = requests.post(f"{hive.url}/api/v1/alert", json=body, headers=_auth(hive), timeout=10)
    assert r.status_code == 201, r.text
    out = subprocess.run(["socflow", "playbook", "run", "web-attack", "--alert", r.json()["_id"],
                          "--json"], capture_output=True, text=True, timeout=120, env=stack["env"])
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["status"] == "done" and "log-containment" in result["path"]
    assert sorted((r["on"], r["refusal"]) for r in result["refused"]) == [
        ("ip 10.1.2.3", "private"), (f"ip {HOSTILE_IP}", "malformed")]
    assert stack["blocklist"].edl("ip") == [ATTACKER]
    text = _task_log(hive, "Containment")
    assert "did not act on `ip 10.1.2.3` (private)" in text
    assert active(MarkdownIt("gfm-like").parse(text)) == [], text
    outside = re.sub(r"(`+).*?\1", "", text, flags=re.S)  # code spans are inert
    assert "<img" not in outside and "](https://evil" not in outside and "**b**" not in outside
    (case,) = _store(hive).cases.values()
    assert "socflow:playbook-failed" not in case["tags"]


def test_the_block_list_down_still_fails_the_run(stack):
    hive = stack["hive"]
    stack["blocklist"].stop()
    alert_id = _alert(hive, ATTACKER)
    out = _run(stack, alert_id)
    assert out.returncode == 1, out.stderr
    result = json.loads(out.stdout)
    assert result["status"] == "failed" and result["refused"] == []
    assert "step contain: responder: " in result["reason"]
    assert "cannot reach the block-list service" in result["reason"]
    (case,) = _store(hive).cases.values()
    assert "socflow:playbook-failed" in case["tags"] and "contained" not in case["tags"]
    (run,) = _history(stack)
    assert run["status"] == "failed" and "cannot reach the block-list service" in run["reason"]
