"""Outlook .msg input: `socflow mail analyze`, reports that carry a .msg, the analyzer, bad files.

The .msg files are written by tests/mail/msgmaker.py (MAPI properties in an OLE compound file),
so the transport headers Outlook keeps decide the authentication verdict as in an .eml.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

from mailmaker import attachment, eml, ms_top, multipart
from msgmaker import write_msg
from socflow.errors import InputError
from socflow.mail import analyze_bytes
from socflow.mail.msg import OLE_MAGIC
from support.cortexjob import assert_cortex_accepts, run_job

SOCFLOW = [sys.executable, "-m", "socflow.adapters.cli.main"]
PHISH_HEADERS = [
    *ms_top(spf="fail", dmarc="fail", compauth="fail reason=000", d="paypa1-secure.com",
            hfrom="paypal.com"),
    "From: PayPal <service@paypal.com>", "To: dana@contoso.com",
    "Subject: Your account is limited", "Message-ID: <m1@paypa1-secure.com>",
    "Date: Tue, 3 Nov 2026 09:00:00 +0000", "MIME-Version: 1.0"]
BODY = "Log in at http://paypa1-secure.com/login to restore access."
EXE = ("invoice.pdf.exe", "application/octet-stream", b"MZ\x90\x00" + b"\x00" * 200)


@pytest.fixture
def phish_msg(tmp_path: Path) -> Path:
    return write_msg(tmp_path / "limited.msg", PHISH_HEADERS, BODY, attachments=[EXE])


def test_msg_is_judged_like_the_eml_it_holds(phish_msg):
    report = analyze_bytes(phish_msg.read_bytes(), "limited.msg")
    assert report.verdict == "malicious"
    assert report.headers["message_id"] == "<m1@paypa1-secure.com>"
    assert report.auth.source == "microsoft365" and report.auth.dmarc == "fail"
    assert [a.filename for a in report.attachments] == ["invoice.pdf.exe"]
    assert report.attachments[0].real_type  # read from the bytes, not the name
    codes = {f.code for f in report.findings}
    assert {"auth.dmarc_fail", "attachment.executable", "attachment.double_extension"} <= codes
    assert any(link.host == "paypa1-secure.com" for link in report.links)


def test_cli_analyzes_msg_files(phish_msg, tmp_path):
    ham = write_msg(tmp_path / "ham.msg", [*ms_top(), "From: Bruno <bruno@fabrikam.com>",
                                           "To: dana@contoso.com", "Subject: Lunch",
                                           "Message-ID: <h1@fabrikam.com>"], "See you at noon.")
    proc = subprocess.run([*SOCFLOW, "mail", "analyze", "--json", str(phish_msg), str(ham)],
                          capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    verdicts = {Path(r["source"]).name: r["verdict"] for r in json.loads(proc.stdout)}
    assert verdicts == {"limited.msg": "malicious", "ham.msg": "safe"}


def test_a_report_carrying_a_msg_is_unwrapped_and_the_reporter_kept(phish_msg):
    ctype, body = multipart([
        ("text/plain; charset=utf-8", "", "Is this real? Reported with the add-in."),
        attachment("Your account is limited.msg", phish_msg.read_bytes(),
                   "application/vnd.ms-outlook")])
    report_bytes = eml([], ["From: Dana <dana@contoso.com>", "To: phish@contoso.com",
                            "Subject: Phishing: Your account is limited",
                            "Message-ID: <r1@contoso.com>"], body, ctype)
    report = analyze_bytes(report_bytes, "report.eml")
    assert report.reporter and report.reporter["from"] == "Dana <dana@contoso.com>"
    assert report.reporter["attachment"] == "Your account is limited.msg"
    assert report.headers["message_id"] == "<m1@paypa1-secure.com>"
    assert report.verdict == "malicious"


def test_an_office_document_attachment_is_not_taken_for_a_report(tmp_path):
    not_a_message = OLE_MAGIC + b"\x00" * 600  # an OLE file that is no .msg (a .doc, say)
    ctype, body = multipart([("text/plain", "", "see attached"),
                             attachment("notes.doc", not_a_message, "application/msword")])
    report = analyze_bytes(eml([], None, body, ctype), "x.eml")
    assert report.reporter is None
    assert [a.filename for a in report.attachments] == ["notes.doc"]


@pytest.mark.parametrize("data", [
    OLE_MAGIC + b"\xff" * 3000,  # the magic and then garbage
    OLE_MAGIC,  # truncated right after the magic
], ids=["garbage", "truncated"])
def test_broken_msg_is_a_one_line_error(tmp_path, data):
    with pytest.raises(InputError, match=r"^bad\.msg: not a readable Outlook \.msg file"):
        analyze_bytes(data, "bad.msg")
    path = tmp_path / "bad.msg"
    path.write_bytes(data)
    proc = subprocess.run([*SOCFLOW, "mail", "analyze", str(path)], capture_output=True,
                          timeout=120)
    err = proc.stderr.decode()
    assert proc.returncode == 1 and "Traceback" not in err
    assert "not a readable Outlook .msg file" in err and len(err.strip().splitlines()) == 2


def test_truncated_real_msg_is_a_one_line_error(phish_msg):
    data = phish_msg.read_bytes()
    with pytest.raises(InputError, match="not a readable Outlook .msg file"):
        analyze_bytes(data[: len(data) // 2], "cut.msg")


def test_analyzer_accepts_msg(phish_msg):
    out = run_job("Socflow_MailAnalysis", data_type="file", file=phish_msg,
                  filename="limited.msg", content_type="application/vnd.ms-outlook").output
    assert out["success"], out
    assert_cortex_accepts(out)
    assert out["full"]["verdict"] == "malicious"
    taxes = {t["predicate"]: t["value"] for t in out["summary"]["taxonomies"]}
    assert taxes["DMARC"] == "fail" and taxes["Attachments"] == "1"
    assert any(a["dataType"] == "filename" and a["data"] == "invoice.pdf.exe"
               for a in out["artifacts"])
