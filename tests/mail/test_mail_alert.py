"""The phishing-report alert (socflow.mail.alert): fields TheHive accepts, a deterministic
sourceRef, severity from the verdict, and sender-written text inert in the description."""

from __future__ import annotations

import hashlib

from core.test_markdown import active, hostile, walk
from fakes.thehive_rules import validate_alert
from hypothesis import given, settings
from markdown_it import MarkdownIt

from mailmaker import eml, ms_top
from socflow.mail import analyze_bytes
from socflow.mail.alert import SEVERITY, phishing_alert, source_ref

MD = MarkdownIt("gfm-like")


def _report(subject: str, display: str, mid: str = "<a1@fabrikam.com>"):
    headers = [f"From: {display} <bruno@fabrikam.com>", "To: dana@contoso.com",
               f"Subject: {subject}", f"Reply-To: {display} <x@evil.example>",
               f"Message-ID: {mid}"]
    return analyze_bytes(eml(ms_top(), headers, "Hello http://evil.example/x\n"), "t.eml")


@settings(max_examples=60, deadline=None)
@given(hostile, hostile)
def test_sender_written_text_stays_inert_in_the_description(subject, display):
    subject, display = " ".join(subject.split()), " ".join(display.split()).replace("<", "")
    report = _report(subject, display)
    ref = source_ref(report, b"x")
    alert = phishing_alert(report, ref=ref, file_name=f"{ref}.eml", source="imap://u@h/INBOX 1.2")
    tokens = MD.parse(alert["description"])
    assert active(tokens) == [], alert["description"]
    assert "\n" not in alert["title"] and "\r" not in alert["title"]
    assert not validate_alert(alert)


def test_source_ref_follows_the_message_id_else_the_bytes():
    one = _report("Invoice", "Bruno", "<  Abc.1@fabrikam.com >")
    two = _report("Another subject", "Bruno", "<Abc.1@fabrikam.com>")
    assert source_ref(one, b"a") == source_ref(two, b"b") == (
        "msgid-" + hashlib.sha256(b"Abc.1@fabrikam.com").hexdigest()[:48])
    none = analyze_bytes(eml(ms_top(), ["From: a@fabrikam.com", "Subject: x"]), "n")
    assert source_ref(none, b"raw") == "sha256-" + hashlib.sha256(b"raw").hexdigest()[:48]
    long_id = _report("x", "Bruno", "<" + "a" * 1000 + "@fabrikam.com>")
    assert len(source_ref(long_id, b"")) <= 128  # TheHive's limit


def test_severity_follows_the_verdict_and_reasons_are_listed():
    assert SEVERITY == {"safe": 1, "suspicious": 2, "malicious": 3}
    report = _report("Your account is locked", "PayPal")
    alert = phishing_alert(report, ref="r", file_name="r.eml", source="s")
    assert alert["severity"] == SEVERITY[report.verdict]
    for finding in report.reasons:
        assert f"(+{finding.weight:g})" in alert["description"]
    spans = [t.content for t in walk(MD.parse(alert["description"])) if t.type == "code_inline"]
    assert "Your account is locked" in spans
