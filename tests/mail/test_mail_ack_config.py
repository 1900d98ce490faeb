"""``socflow mail intake --ack-config``: the YAML's own settings (templates, body_format,
reporter_domains) are what the acknowledgement uses, and every wrong file is a one-line error
that stops the command before it reads any mail."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from socflow.adapters.mailbox.ack import DEFAULT_BODY, DEFAULT_SUBJECT, Acknowledger
from socflow.errors import ConfigError

BASE = "smtp_host: 127.0.0.1\nfrom_address: soc@contoso.com\n"
ALERT = {"title": "t", "severity": 3, "tags": [], "description": ""}


def _file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "ack.yml"
    path.write_text(text)
    return str(path)


def test_templates_body_format_and_reporter_domains_come_from_the_file(tmp_path):
    ack = Acknowledger.from_file(_file(tmp_path, BASE + (
        "body_format: html\nreporter_domains: [contoso.com, ' Fabrikam.COM.']\n"
        "subject_template: 'Report {{ verdict }}: {{ subject }}'\n"
        "body_template: '<p>{{ reporter }} said {{ subject }}</p>'\n")), ["ignored.example"])
    assert ack.reporter_domains == ["contoso.com", "fabrikam.com"]
    assert ack.allowed("a@fabrikam.com") and ack.allowed("a@eu.contoso.com")
    assert not ack.allowed("a@ignored.example") and not ack.allowed("a@xcontoso.com")
    subject, body = ack.render(ALERT, {"verdict": "malicious", "subject": "<b>Pay</b>",
                                       "reporter": "a@contoso.com"})
    assert subject == "Report malicious: <b>Pay</b>"  # a header: one line, not HTML
    assert body == "<p>a@contoso.com said &lt;b&gt;Pay&lt;/b&gt;</p>"


def test_defaults_are_the_policy_domains_and_the_shipped_templates(tmp_path):
    ack = Acknowledger.from_file(_file(tmp_path, BASE), ["contoso.com"])
    assert (ack.subject, ack.body, ack.reporter_domains) == (DEFAULT_SUBJECT, DEFAULT_BODY,
                                                             ["contoso.com"])
    assert ack.settings.body_format == "text" and ack.settings.smtp_port == 587
    subject, body = ack.render(ALERT, {"verdict": "safe", "subject": "Hi", "reporter": "r"})
    assert subject == "Thank you for your report: Hi" and "First assessment: safe" in body


@pytest.mark.parametrize("text, message", [
    ("- a\n- b\n", "must be a mapping"),
    (BASE + "smtp_passwd: x\n", "smtp_passwd: unknown setting"),
    (BASE + "to: [x@contoso.com]\n", "to: unknown setting"),  # the reporter is the recipient
    (BASE + "smtp_user: soc\n", "password comes from SOCFLOW_SMTP_PASSWORD"),
    (BASE + "subject_template: [a]\n", "subject_template must be text"),
    (BASE + "reporter_domains: contoso.com\n", "reporter_domains must be a list"),
    (BASE + "reporter_domains: ['']\n", "reporter_domains must be a list"),
    (BASE + "reporter_domains: []\n", "reporter_domains is empty"),
    (BASE + "reporter_domains: ['*.contoso.com']\n", "'*.contoso.com' is not a domain name"),
    (BASE + "reporter_domains: [contoso.com, 'a@contoso.com']\n", "'a@contoso.com' is not a"),
    (BASE + "body_template: '{{ subject '\n", "body_template"),
    (BASE + "smtp_security: ssl3\n", "smtp_security"),
])
def test_a_wrong_file_is_one_line_naming_the_problem(tmp_path, monkeypatch, text, message):
    monkeypatch.delenv("SOCFLOW_SMTP_PASSWORD", raising=False)
    with pytest.raises(ConfigError) as err:
        Acknowledger.from_file(_file(tmp_path, text), ["contoso.com"])
    assert message in str(err.value) and "\n" not in str(err.value)


def test_the_command_stops_on_a_wrong_ack_config_before_reading_mail(tmp_path):
    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / "one.eml").write_bytes(b"From: a@contoso.com\nSubject: x\n\nhello\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCFLOW_")}
    proc = subprocess.run(
        [sys.executable, "-m", "socflow.adapters.cli.main", "mail", "intake", "--maildir",
         str(folder), "--state-dir", str(tmp_path / "s"), "--once", "--ack-config",
         _file(tmp_path, BASE + "smtp_user: soc\nreporter_domains: [contoso.com]\n")],
        capture_output=True, text=True, timeout=60, env=env, stdin=subprocess.DEVNULL)
    assert proc.returncode == 1 and "SOCFLOW_SMTP_PASSWORD" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert not (tmp_path / "s" / "outbox.sqlite").exists()  # nothing was taken in
