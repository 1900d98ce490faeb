"""`socflow mail intake` against a real IMAP server (dovecot, tests/support/dovecot.py) and the
TheHive 5 emulator: one alert per reported message, exactly once across kill -9, IDLE and
polling, UIDVALIDITY changes, TLS, bad credentials, maildir intake, acknowledgements.

The command runs as a process, as users run it; crashes are SIGKILLs (the intake's fault-injection
variable makes it kill itself at a named step, or the test kills it while TheHive is answering).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fakes.mail import PASSWORD as SMTP_PASSWORD
from fakes.mail import USER as SMTP_USER
from fakes.mail import FakeSMTP
from fakes.thehive import FakeTheHive
from socflow.mail import analyze_bytes
from support.cortexjob import run_job
from support.dovecot import PASSWORD, USER, Dovecot

CORPUS = Path(__file__).resolve().parent / "corpus"
REPORT = (CORPUS / "phish" / "report-eml-1.eml").read_bytes()  # a user's report carrying the phish
PHISH = (CORPUS / "phish" / "attachment-0.eml").read_bytes()  # phishing received directly
HAM = (CORPUS / "ham" / "m365-colleague-0.eml").read_bytes()
POLICY = Path(__file__).resolve().parents[2] / "examples" / "mail-policy.yml"  # own: contoso.com
SOCFLOW = [sys.executable, "-m", "socflow.adapters.cli.main"]
FLAG = b"$SocflowIntake"


@pytest.fixture
def dovecot(tmp_path):
    server = Dovecot(tmp_path / "dovecot").start()
    yield server
    server.stop()


@pytest.fixture
def hive():
    with FakeTheHive() as fake:
        yield fake


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "SOCFLOW_IMAP_PASSWORD": PASSWORD, **(env or {})}
    return subprocess.run([*SOCFLOW, "mail", "intake", *args], capture_output=True, text=True,
                          timeout=timeout, env=full, stdin=subprocess.DEVNULL)


def imap_args(server: Dovecot, state: Path, *extra: str, hive: FakeTheHive | None = None) -> list[str]:
    """STARTTLS on the server's plain port, the test CA trusted: the path users take."""
    args = ["--imap-host", "127.0.0.1", "--imap-port", str(server.port), "--imap-user", USER,
            "--imap-security", "starttls", "--imap-ca-file", str(server.ca_file),
            "--state-dir", str(state), *extra]
    if hive is not None:
        args += ["--thehive-url", hive.url]
    return args


def hive_env(hive: FakeTheHive) -> dict[str, str]:
    return {"SOCFLOW_THEHIVE_KEY": hive.api_key}


def outbox_rows(state: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(state / "outbox.sqlite") as db:
        return db.execute(sql).fetchall()


def inner_message(report: bytes) -> bytes:
    inner = analyze_bytes(report, "r").reported_message
    assert inner is not None
    return inner


def test_a_reported_phish_becomes_one_alert_with_observables_and_verdict(dovecot, hive, tmp_path):
    uid = dovecot.append(REPORT)
    state = tmp_path / "state"
    proc = run(*imap_args(dovecot, state, "--once", "--json", hive=hive), env=hive_env(hive))
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["new_alerts"] == 1 and summary["verdicts"] == {"malicious": 1}
    assert summary["delivery"]["delivered"] == 1 and summary["outbox"]["delivered"] == 1

    (alert,) = hive.alerts
    assert alert["type"] == "phishing-report" and alert["severity"] == 3
    inner = inner_message(REPORT)
    mid = analyze_bytes(inner, "x").headers["message_id"].strip("<>")
    assert alert["sourceRef"] == "msgid-" + hashlib.sha256(mid.encode()).hexdigest()[:48]
    assert alert["title"] == "Phishing reported: Important notice"
    assert "**Verdict: malicious**" in alert["description"]
    assert "DMARC failed for dropbox\\.com" in alert["description"]  # reasons, escaped text
    assert "mail:verdict=malicious" in alert["tags"]
    observables = hive.observables_of(alert["_id"])
    (file,) = [o for o in observables if o["dataType"] == "file"]
    assert file["attachment"]["hashes"][0] == hashlib.sha256(inner).hexdigest()  # the inner .eml
    assert file["attachment"]["name"].endswith(".eml")
    by_tag = {t: o for o in observables for t in o["tags"]}
    assert by_tag["mail:reporter"]["data"] == "hana.sample@contoso.com"
    assert by_tag["mail:reporter"]["ioc"] is False
    assert by_tag["mail:sender"]["data"] == "service@dropbox.com"
    assert by_tag["mail:originating-ip"]["data"] == "103.24.54.178"
    assert any(o["dataType"] == "url" and "account-check.xyz" in o["data"] for o in observables)
    assert FLAG in dovecot.messages()[uid]  # flagged after the commit
    assert b"\\Seen" not in dovecot.messages()[uid]  # read with BODY.PEEK: unread for people

    # the analyzer, run on the alert's file observable as Cortex would, gives the same verdict
    (stored,) = (state / "mail-intake").iterdir()
    assert stored.name == file["attachment"]["name"] and stored.read_bytes() == inner
    job = run_job("Socflow_MailAnalysis", data_type="file", file=stored, filename=stored.name,
                  content_type="message/rfc822").output
    assert job["success"] and job["full"]["verdict"] == "malicious"
    assert job["full"]["reasons"] and job["full"]["reasons"][0].startswith("DMARC failed for dropbox.com")

    again = run(*imap_args(dovecot, state, "--once", "--json", hive=hive), env=hive_env(hive))
    assert again.returncode == 0 and json.loads(again.stdout)["messages"] == 0
    assert len(hive.alerts) == 1
    assert list((state / "mail-intake").iterdir()) == []  # delivered: TheHive has the copy now


def test_implicit_tls_another_folder_and_move_to(dovecot, hive, tmp_path):
    dovecot.create_folder("Reports")
    dovecot.create_folder("Done")
    dovecot.append(PHISH, folder="Reports")
    dovecot.append(HAM, folder="Reports")
    args = ["--imap-host", "127.0.0.1", "--imap-port", str(dovecot.tls_port), "--imap-user", USER,
            "--imap-ca-file", str(dovecot.ca_file), "--imap-folder", "Reports",
            "--move-to", "Done", "--state-dir", str(tmp_path / "s"), "--once",
            "--thehive-url", hive.url]  # --imap-security tls is the default
    proc = run(*args, env=hive_env(hive))
    assert proc.returncode == 0, proc.stderr
    assert "2 message(s) taken in, 2 new alert(s)" in proc.stdout
    assert sorted(a["severity"] for a in hive.alerts) == [1, 3]  # safe → LOW, malicious → HIGH
    assert dovecot.messages("Reports") == {}
    assert all(FLAG in flags for flags in dovecot.messages("Done").values())
    assert len(dovecot.messages("Done")) == 2


def test_kill_after_the_commit_before_the_flag_then_restart(dovecot, hive, tmp_path):
    uid = dovecot.append(REPORT)
    state = tmp_path / "state"
    args = imap_args(dovecot, state, "--once", hive=hive)
    crashed = run(*args, env={**hive_env(hive), "SOCFLOW_TEST_CRASH_AT": "committed"})
    assert crashed.returncode == -signal.SIGKILL
    assert outbox_rows(state, "SELECT state FROM alerts") == [("pending",)]
    assert FLAG not in dovecot.messages()[uid] and hive.alerts == []
    assert len(list((state / "mail-intake").iterdir())) == 1  # pending: its message is kept

    proc = run(*args, env=hive_env(hive))
    assert proc.returncode == 0, proc.stderr
    assert "0 message(s) taken in, 0 new alert(s), 0 already in the outbox, 1 resumed" in proc.stdout
    assert len(hive.alerts) == 1 and FLAG in dovecot.messages()[uid]
    assert outbox_rows(state, "SELECT state FROM mail_messages") == [("done",)]


def test_kill_after_the_flag_before_done_then_restart(dovecot, hive, tmp_path):
    uid = dovecot.append(PHISH)
    state = tmp_path / "state"
    args = imap_args(dovecot, state, "--once", hive=hive)
    crashed = run(*args, env={**hive_env(hive), "SOCFLOW_TEST_CRASH_AT": "flagged"})
    assert crashed.returncode == -signal.SIGKILL and FLAG in dovecot.messages()[uid]
    proc = run(*args, env=hive_env(hive))
    assert proc.returncode == 0, proc.stderr
    assert "0 message(s) taken in" in proc.stdout
    assert len(hive.alerts) == 1  # delivered by the second run, built by the first


def test_kill_mid_delivery_then_restart_gives_one_alert(dovecot, hive, tmp_path):
    dovecot.append(PHISH)
    state = tmp_path / "state"
    hive.outage("slow", count=1, delay=1.5)  # TheHive stores the alert 1.5 s after it arrives
    service = subprocess.Popen(
        [*SOCFLOW, "mail", "intake", *imap_args(dovecot, state, hive=hive)],
        env={**os.environ, "SOCFLOW_IMAP_PASSWORD": PASSWORD, **hive_env(hive)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while ("POST", "/api/v1/alert") not in hive.received and time.monotonic() < deadline:
            time.sleep(0.02)
        assert ("POST", "/api/v1/alert") in hive.received
        service.kill()  # SIGKILL while TheHive has the alert but has not answered
    finally:
        service.kill()
        service.communicate(timeout=10)
    deadline = time.monotonic() + 10
    while not hive.alerts and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(hive.alerts) == 1
    assert outbox_rows(state, "SELECT state FROM alerts") == [("pending",)]

    proc = run(*imap_args(dovecot, state, "--once", "--json", hive=hive), env=hive_env(hive))
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["delivery"]["delivered"] == 1 and summary["delivery"]["duplicates"] == 1
    assert len(hive.alerts) == 1
    assert outbox_rows(state, "SELECT state FROM alerts") == [("delivered",)]


def _service(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([*SOCFLOW, "mail", "intake", *args], text=True,
                            env={**os.environ, "SOCFLOW_IMAP_PASSWORD": PASSWORD, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)


def _wait_for(predicate, seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _events(stderr: str) -> list[dict]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def test_service_uses_idle_and_takes_new_mail_at_once(dovecot, hive, tmp_path):
    # a poll would come after 300 s: only IDLE can bring the message in within the test
    service = _service(imap_args(dovecot, tmp_path / "s", "--poll-interval", "300", hive=hive),
                       hive_env(hive))
    try:
        assert _wait_for(lambda: dovecot.log().count("Login: user=<phish>") >= 1)
        time.sleep(0.5)  # in IDLE by now
        dovecot.append(REPORT)
        assert _wait_for(lambda: len(hive.alerts) == 1), service
        second = run(*imap_args(dovecot, tmp_path / "s", "--once"))  # same mailbox, same state
        assert second.returncode == 1 and "another socflow mail intake of imap://" in second.stderr
    finally:
        service.send_signal(signal.SIGTERM)
        _, err = service.communicate(timeout=20)
    assert service.returncode == 0, err  # SIGTERM: a service stop
    events = _events(err)
    assert events[0]["event"] == "intake" and events[0]["idle"] is True
    assert any(e["event"] == "alert" and e["verdict"] == "malicious" for e in events)
    assert events[-1]["event"] == "stopped" and events[-1]["counts"]["delivered"] == 1
    assert PASSWORD not in err


def test_service_polls_a_server_without_idle_and_ctrl_c_exits_130(tmp_path, hive):
    server = Dovecot(tmp_path / "dovecot", idle=False).start()
    try:
        server.create_folder("Done")
        args = imap_args(server, tmp_path / "s", "--poll-interval", "0.3", "--flag", "\\Flagged",
                         "--move-to", "Done", hive=hive)
        service = _service(args, hive_env(hive))
        try:
            assert _wait_for(lambda: "Login: user=<phish>" in server.log())
            server.append(PHISH)
            assert _wait_for(lambda: len(hive.alerts) == 1)
            # no MOVE on this server: copied to Done, then this one message expunged
            assert _wait_for(lambda: server.messages() == {})
            (flags,) = server.messages("Done").values()
            assert b"\\Flagged" in flags
        finally:
            service.send_signal(signal.SIGINT)
            _, err = service.communicate(timeout=20)
        assert service.returncode == 130, err
        events = _events(err)
        assert events[0]["idle"] is False and any(e["event"] == "waiting" for e in events)
    finally:
        server.stop()


def test_no_idle_flag_polls_even_when_idle_is_offered(dovecot, tmp_path):
    service = _service(imap_args(dovecot, tmp_path / "s", "--no-idle", "--poll-interval", "0.2"), {})
    try:
        assert _wait_for(lambda: "Login: user=<phish>" in dovecot.log())
        uid = dovecot.append(PHISH)
        assert _wait_for(lambda: FLAG in dovecot.messages()[uid])
    finally:
        service.send_signal(signal.SIGTERM)
        _, err = service.communicate(timeout=20)
    assert _events(err)[0]["idle"] is False


def test_uidvalidity_change_rescans_without_duplicates(dovecot, hive, tmp_path):
    done = dovecot.append(PHISH)
    state = tmp_path / "state"
    args = imap_args(dovecot, state, "--once", "--json", hive=hive)
    assert run(*args, env=hive_env(hive)).returncode == 0
    pending = dovecot.append(REPORT)
    crashed = run(*args, env={**hive_env(hive), "SOCFLOW_TEST_CRASH_AT": "committed"})
    assert crashed.returncode == -signal.SIGKILL  # the report's alert committed, not flagged
    old = dovecot.uidvalidity()
    new = dovecot.change_uidvalidity()
    dovecot.remove_flag(FLAG.decode())  # and the server lost its flags: everything is re-read
    assert not any(FLAG in f for f in dovecot.messages().values())

    proc = run(*args, env=hive_env(hive))
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["uidvalidity_changes"] == 1 and summary["messages"] == 2
    assert summary["new_alerts"] == 0 and summary["already_in_outbox"] == 2
    assert f"UIDVALIDITY changed from {old} to {new}" in proc.stderr
    assert len(hive.alerts) == 2  # one per message, never more
    assert all(FLAG in f for f in dovecot.messages().values())
    assert {done, pending} == set(dovecot.messages())
    keys = {k for (k,) in outbox_rows(state, "SELECT item FROM mail_messages")}
    assert {f"{new}.{done}", f"{new}.{pending}", f"{old}.{done}"} <= keys


def test_bad_credentials_are_one_line_exit_1_and_never_print_the_secret(dovecot, tmp_path):
    wrong = "Wrong-pa55-Secret"
    proc = run(*imap_args(dovecot, tmp_path / "s", "--once"), env={"SOCFLOW_IMAP_PASSWORD": wrong})
    assert proc.returncode == 1
    assert proc.stderr == (f"socflow: error: the IMAP server 127.0.0.1:{dovecot.port} refused "
                           f"the login of user '{USER}'\n")
    assert wrong not in proc.stdout + proc.stderr
    proc = run(*imap_args(dovecot, tmp_path / "s", "--once"), "--imap-password", wrong)
    assert proc.returncode == 1 and wrong not in proc.stdout + proc.stderr
    assert proc.stderr.splitlines()[0].startswith(
        "socflow: warning: --imap-password on the command line is visible to other users")
    secret_file = tmp_path / "imap-password"
    secret_file.write_text(wrong + "\n")
    env = {k: v for k, v in os.environ.items() if k != "SOCFLOW_IMAP_PASSWORD"}
    proc = subprocess.run([*SOCFLOW, "mail", "intake", *imap_args(dovecot, tmp_path / "s", "--once"),
                           "--imap-password-file", str(secret_file)], capture_output=True,
                          text=True, timeout=60, env=env)
    assert proc.returncode == 1 and "refused the login" in proc.stderr
    assert wrong not in proc.stdout + proc.stderr
    # the right password from the file works
    secret_file.write_text(PASSWORD + "\n")
    proc = subprocess.run([*SOCFLOW, "mail", "intake", *imap_args(dovecot, tmp_path / "s", "--once"),
                           "--imap-password-file", str(secret_file)], capture_output=True,
                          text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    assert PASSWORD not in proc.stdout + proc.stderr


def test_unreachable_server_wrong_ca_and_plaintext_rules(dovecot, tmp_path):
    state = str(tmp_path / "s")
    base = ["--imap-user", USER, "--state-dir", state, "--once"]
    closed = dovecot.port
    dovecot.stop(remove=False)
    proc = run("--imap-host", "127.0.0.1", "--imap-port", str(closed), *base)
    assert proc.returncode == 1
    assert proc.stderr == (f"socflow: error: cannot reach the IMAP server 127.0.0.1:{closed}: "
                           "connection refused\n")
    dovecot.start()
    # TLS that does not verify (the test CA is not trusted): refused, one line
    proc = run("--imap-host", "127.0.0.1", "--imap-port", str(dovecot.tls_port), *base)
    assert proc.returncode == 1 and proc.stderr.startswith("socflow: error: TLS with the IMAP server")
    assert len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr
    # plaintext: refused unless allowed, and then only to loopback (no connection is tried)
    plain = ["--imap-host", "127.0.0.1", "--imap-port", str(dovecot.port), "--imap-security", "plain"]
    proc = run(*plain, *base)
    assert proc.returncode == 1 and "only with --allow-plaintext" in proc.stderr
    proc = run("--imap-host", "192.0.2.7", "--imap-security", "plain", "--allow-plaintext", *base)
    assert proc.returncode == 1 and "192.0.2.7 is not a loopback address" in proc.stderr
    proc = run(*plain, "--allow-plaintext", *base)
    assert proc.returncode == 0, proc.stderr
    for secret in (PASSWORD,):
        assert secret not in proc.stdout + proc.stderr


def test_usage_errors_exit_2(tmp_path):
    assert run("--once").returncode == 2
    both = run("--once", "--maildir", str(tmp_path), "--imap-host", "127.0.0.1")
    assert both.returncode == 2 and "either --imap-host" in both.stderr


def test_maildir_intake_policy_and_move_to(tmp_path, hive):
    box = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (box / sub).mkdir(parents=True)
    (box / "new" / "1700000000.1.host").write_bytes(REPORT)
    (box / "cur" / "1700000001.2.host:2,S").write_bytes(HAM)
    (box / "new" / "1700000002.3.host").write_bytes(b"")  # unreadable: still one alert
    state = tmp_path / "state"
    args = ["--maildir", str(box), "--state-dir", str(state), "--once", "--json",
            "--thehive-url", hive.url]
    proc = run(*args, env=hive_env(hive))
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["messages"] == 3 and summary["unreadable"] == 1
    assert summary["verdicts"] == {"malicious": 1, "safe": 1, "unreadable": 1}
    ham_subject = analyze_bytes(HAM, "ham").headers["subject"]
    assert {a["title"] for a in hive.alerts} == {
        "Phishing reported: Important notice", f"Mail reported (judged safe): {ham_subject}",
        "Reported mail could not be analysed"}
    (unreadable,) = [a for a in hive.alerts if "could not" in a["title"]]
    assert "empty message" in unreadable["description"] and unreadable["severity"] == 2
    # a mail client renames a file when it changes its flags: still the same message
    os.rename(box / "cur" / "1700000001.2.host:2,S", box / "cur" / "1700000001.2.host:2,RS")
    again = run(*args, env=hive_env(hive))
    assert json.loads(again.stdout)["messages"] == 0 and len(hive.alerts) == 3

    # a policy that calls everything suspicious, and --move-to, on a fresh folder
    strict = tmp_path / "policy.yml"
    strict.write_text("thresholds:\n  suspicious: -5\n  malicious: 50\n")
    inbox, done = tmp_path / "in", tmp_path / "done"
    inbox.mkdir()
    done.mkdir()
    (inbox / "ham.eml").write_bytes(HAM)
    proc = run("--maildir", str(inbox), "--move-to", str(done), "--policy", str(strict),
               "--state-dir", str(tmp_path / "state2"), "--once", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["verdicts"] == {"suspicious": 1}
    assert list(inbox.iterdir()) == [] and [p.name for p in done.iterdir()] == ["ham.eml"]
    assert "1 alert(s) wait in" in proc.stderr  # no TheHive: kept in the outbox


def test_deliver_timeout_keeps_alerts_when_thehive_is_down(tmp_path, hive):
    box = tmp_path / "in"
    box.mkdir()
    (box / "a.eml").write_bytes(PHISH)
    hive.outage("503")
    proc = run("--maildir", str(box), "--state-dir", str(tmp_path / "s"), "--once",
               "--deliver-timeout", "1", "--thehive-url", hive.url, env=hive_env(hive))
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[-1].startswith("socflow: error: TheHive answered 503")
    assert "1 alert(s) kept in the outbox" in proc.stderr
    hive.recover()
    proc = run("--maildir", str(box), "--state-dir", str(tmp_path / "s"), "--once",
               "--thehive-url", hive.url, env=hive_env(hive))
    assert proc.returncode == 0 and len(hive.alerts) == 1


def test_reporter_is_acknowledged_once_through_the_notify_mail_path(dovecot, tmp_path):
    with FakeSMTP("starttls") as smtp:
        config = tmp_path / "ack.yml"
        config.write_text(
            f"smtp_host: 127.0.0.1\nsmtp_port: {smtp.port}\nfrom_address: soc@contoso.com\n"
            f"smtp_user: {SMTP_USER}\nreporter_domains: [contoso.com]\ncacerts: |\n"
            + "".join(f"  {line}\n" for line in smtp.ca_pem.splitlines()))
        env = {"SOCFLOW_SMTP_PASSWORD": SMTP_PASSWORD}
        dovecot.append(REPORT)
        args = imap_args(dovecot, tmp_path / "s", "--once", "--ack-config", str(config))
        proc = run(*args, env=env)
        assert proc.returncode == 0, proc.stderr
        assert "acknowledged 1 reporter(s), 0 failed, 0 outside reporter_domains" in proc.stdout
        (mail,) = smtp.received
        assert mail.rcpt_tos == ["hana.sample@contoso.com"] and mail.tls
        message = mail.message
        assert message["Subject"] == "Thank you for your report: Important notice"
        assert "First assessment: malicious" in message.get_content()
        assert run(*args, env=env).returncode == 0
        assert len(smtp.received) == 1  # once per message
        # the same phish reported by a second person: no second alert, but a second thank-you
        other = REPORT.replace(b"Hana Sample <hana.sample@contoso.com>",
                               b"Ivo Sample <ivo.sample@contoso.com>")
        assert other != REPORT
        dovecot.append(other)
        proc = run(*args, "--json", env=env)
        summary = json.loads(proc.stdout)
        assert summary["new_alerts"] == 0 and summary["already_in_outbox"] == 1
        assert summary["outbox"]["pending"] == 1  # no TheHive configured: the one alert waits
        assert [m.rcpt_tos for m in smtp.received] == [["hana.sample@contoso.com"],
                                                       ["ivo.sample@contoso.com"]]
        # anyone can write to a reporting mailbox: a "report" from outside is not acknowledged
        dovecot.append(REPORT.replace(b"Hana Sample <hana.sample@contoso.com>",
                                      b"Someone <someone@elsewhere.example>"))
        summary = json.loads(run(*args, "--json", env=env).stdout)
        assert summary["ack_skipped"] == 1 and summary["acknowledged"] == 0
        assert len(smtp.received) == 2
        # without reporter_domains the policy's own_domains are used; with neither: refused
        config.write_text(config.read_text().replace("reporter_domains: [contoso.com]\n", ""))
        refused = run(*args, env=env)
        assert refused.returncode == 1 and "reporter_domains is empty" in refused.stderr
        allowed = run(*args, "--policy", str(POLICY), env=env)
        assert allowed.returncode == 0, allowed.stderr
        assert SMTP_PASSWORD not in proc.stdout + proc.stderr
        assert set(smtp.logins) == {(SMTP_USER, True)}  # logged in over TLS


def test_messages_the_stage_cannot_read_or_crashes_on_still_become_their_alert(tmp_path, monkeypatch):
    """Nothing is dropped and one hostile message cannot stop the intake on every restart: a
    broken .msg is an InputError, an unexpected exception in the analysis (injected here) too."""
    from socflow.adapters.mailbox import intake as intake_mod
    from socflow.adapters.mailbox.folder import FolderMailbox
    from socflow.emit.outbox import Outbox
    from socflow.mail import load_policy
    from socflow.mail.msg import OLE_MAGIC

    box = tmp_path / "in"
    box.mkdir()
    (box / "broken.msg").write_bytes(OLE_MAGIC + b"\xff" * 2000)
    (box / "crash.eml").write_bytes(PHISH)
    real = intake_mod.analyze_bytes

    def analyze(data, name, policy):
        if data == PHISH:
            raise ZeroDivisionError("injected")
        return real(data, name, policy)

    monkeypatch.setattr(intake_mod, "analyze_bytes", analyze)
    with Outbox(tmp_path / "outbox.sqlite") as outbox:
        work = intake_mod.Intake(FolderMailbox(str(box), max_bytes=1 << 20), outbox, load_policy(),
                                 tmp_path)
        assert work.run_once() == 2
        alerts = [a.payload for a in outbox.list()]
    assert work.report.unreadable == 2 and len(alerts) == 2
    descriptions = " ".join(a["description"] for a in alerts)
    assert "not a readable Outlook .msg file" in descriptions
    assert "analysis failed: ZeroDivisionError: injected" in descriptions
    for alert in alerts:
        assert alert["title"] == "Reported mail could not be analysed"
        assert Path(alert["x-socflow-files"]["eml"]).is_file()


def test_a_crash_between_the_commit_and_the_ack_still_acknowledges_once(tmp_path):
    """The resumed run rebuilds the acknowledgement from the committed alert (its reporter,
    subject and verdict): the reporter is thanked once, with what the first run would have sent."""
    with FakeSMTP("starttls") as smtp:
        config = tmp_path / "ack.yml"
        config.write_text(
            f"smtp_host: 127.0.0.1\nsmtp_port: {smtp.port}\nfrom_address: soc@contoso.com\n"
            "reporter_domains: [contoso.com]\ncacerts: |\n"
            + "".join(f"  {line}\n" for line in smtp.ca_pem.splitlines()))
        inbox = tmp_path / "in"
        inbox.mkdir()
        (inbox / "report.eml").write_bytes(REPORT)
        args = ["--maildir", str(inbox), "--state-dir", str(tmp_path / "s"), "--once",
                "--ack-config", str(config)]
        crashed = run(*args, env={"SOCFLOW_TEST_CRASH_AT": "committed"})
        assert crashed.returncode == -signal.SIGKILL and smtp.received == []
        proc = run(*args, "--json")
        assert proc.returncode == 0, proc.stderr
        summary = json.loads(proc.stdout)
        assert summary["resumed"] == 1 and summary["acknowledged"] == 1
        (mail,) = smtp.received
        assert mail.rcpt_tos == ["hana.sample@contoso.com"]
        assert mail.message["Subject"] == "Thank you for your report: Important notice"
        assert "First assessment: malicious" in mail.message.get_content()
        assert json.loads(run(*args, "--json").stdout)["acknowledged"] == 0
        assert len(smtp.received) == 1


def test_a_flag_that_is_not_an_imap_keyword_is_refused_before_connecting(tmp_path):
    base = ["--imap-host", "127.0.0.1", "--imap-port", "1", "--imap-user", USER,
            "--state-dir", str(tmp_path / "s"), "--once"]
    for flag in ("\\Deleted", "a b", "a(b", "Done\r\nA1 LOGOUT", "Erledigt-ä", "x\x01y", "a\tb",
                 " "):
        proc = run(*base, "--flag", flag)
        assert proc.returncode == 1, (flag, proc.stderr)
        assert proc.stderr.startswith("socflow: error: --flag ") and "a keyword" in proc.stderr
        assert len(proc.stderr.splitlines()) == 1 and "cannot reach" not in proc.stderr
    ok = run(*base, "--flag", "$Phish-Done_1")  # a keyword: accepted, then the (closed) port
    assert ok.returncode == 1 and "cannot reach the IMAP server" in ok.stderr


def test_a_second_reporter_resumed_after_a_crash_is_the_one_acknowledged(tmp_path):
    """The same phish reported by two people is one alert naming the first; when the run dies
    between the second report's commit and its ack, the resumed run thanks the second reporter
    (read again from that message), not the first one twice."""
    with FakeSMTP("starttls") as smtp:
        config = tmp_path / "ack.yml"
        config.write_text(
            f"smtp_host: 127.0.0.1\nsmtp_port: {smtp.port}\nfrom_address: soc@contoso.com\n"
            "reporter_domains: [contoso.com]\ncacerts: |\n"
            + "".join(f"  {line}\n" for line in smtp.ca_pem.splitlines()))
        inbox = tmp_path / "in"
        inbox.mkdir()
        (inbox / "a.eml").write_bytes(REPORT)
        args = ["--maildir", str(inbox), "--state-dir", str(tmp_path / "s"), "--once",
                "--ack-config", str(config)]
        assert run(*args).returncode == 0
        (inbox / "b.eml").write_bytes(REPORT.replace(b"Hana Sample <hana.sample@contoso.com>",
                                                     b"Ivo Sample <ivo.sample@contoso.com>"))
        crashed = run(*args, env={"SOCFLOW_TEST_CRASH_AT": "committed"})
        assert crashed.returncode == -signal.SIGKILL
        proc = run(*args, "--json")
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["resumed"] == 1
        assert [m.rcpt_tos for m in smtp.received] == [["hana.sample@contoso.com"],
                                                       ["ivo.sample@contoso.com"]]
        assert smtp.received[1].message["Subject"] == "Thank you for your report: Important notice"
