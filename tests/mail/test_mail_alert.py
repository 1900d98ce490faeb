"""The phishing-report alert (socflow.mail.alert): fields TheHive accepts, a deterministic
sourceRef, severity from the verdict, and sender-written text inert in the description."""

from __future__ import annotations

import hashlib
from pathlib import Path

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


POLICY = Path(__file__).resolve().parents[2] / "examples" / "mail-policy.yml"  # own: contoso.com


def _tagged(alert: dict, tag: str) -> list[str]:
    return sorted(o["data"] for o in alert["observables"] if tag in o["tags"])


def test_recipients_the_sender_domain_and_own_or_allowlisted_values_are_tagged():
    """Issue 14: whom to warn (the To/Cc recipients, never IOCs), the sender's domain to block,
    and what a playbook must leave alone (own, allowlisted) per the organisation's mail policy."""
    from socflow.mail import load_policy

    policy = load_policy(str(POLICY))
    headers = ["From: Bruno <bruno@fabrikam.com>",
               'To: dana@contoso.com, "dana@contoso.com" <boss@partner.example>',
               "Cc: ops@eu.contoso.com", "Subject: invoice", "Message-ID: <p1@fabrikam.com>"]
    body = ("Pay at http://evil-pay.xyz/a or see http://intranet.contoso.com/help and "
            "http://news.sendwave-esp.com/x\n")  # an allowlisted link
    report = analyze_bytes(eml(ms_top(), headers, body), "t.eml", policy)
    alert = phishing_alert(report, ref="r", file_name="r.eml", source="s", policy=policy)
    assert not validate_alert(alert)
    assert _tagged(alert, "mail:recipient") == ["boss@partner.example", "dana@contoso.com",
                                                "ops@eu.contoso.com"]
    recipients = [o for o in alert["observables"] if "mail:recipient" in o["tags"]]
    assert all(o["dataType"] == "mail" and o["ioc"] is False for o in recipients)
    (sender_domain,) = [o for o in alert["observables"] if "mail:sender-domain" in o["tags"]]
    assert (sender_domain["dataType"], sender_domain["data"]) == ("domain", "fabrikam.com")
    assert "mail:sender-unauthenticated" not in sender_domain["tags"]
    own = _tagged(alert, "socflow:own-domain")
    assert "http://intranet.contoso.com/help" in own and "dana@contoso.com" in own
    assert "ops@eu.contoso.com" in own and "boss@partner.example" not in own
    # allowlisted links are never offered as observables; an allowlisted sender's domain is
    assert all("sendwave-esp.com" not in o.get("data", "") for o in alert["observables"])
    esp = analyze_bytes(eml(ms_top(), ["From: news@mail.sendwave-esp.com", "To: dana@contoso.com",
                                       "Subject: news"], "Hello\n"), "n.eml", policy)
    assert _tagged(phishing_alert(esp, ref="n", file_name="n.eml", source="s", policy=policy),
                   "socflow:allowlisted") == ["mail.sendwave-esp.com", "news@mail.sendwave-esp.com"]
    evil = [o for o in alert["observables"] if "evil-pay.xyz" in o.get("data", "")]
    assert evil and not any({"socflow:own-domain", "socflow:allowlisted"} & set(o["tags"])
                            for o in evil)
    # without a policy nothing is tagged own or allowlisted
    bare = phishing_alert(report, ref="r", file_name="r.eml", source="s")
    assert _tagged(bare, "socflow:own-domain") == _tagged(bare, "socflow:allowlisted") == []


def test_a_sender_domain_that_failed_dmarc_is_marked_impersonated_not_the_attackers():
    headers = ["From: Dropbox <service@dropbox.com>", "To: dana@contoso.com", "Subject: shared",
               "Message-ID: <d1@dropbox.com>"]
    report = analyze_bytes(eml(ms_top(dmarc="fail", spf="fail", dkim="none", d="spoof.example",
                                      hfrom="dropbox.com"), headers, "Open it\n"), "d.eml")
    assert report.auth.dmarc == "fail" and report.auth.source
    alert = phishing_alert(report, ref="r", file_name="r.eml", source="s")
    (sender_domain,) = [o for o in alert["observables"] if "mail:sender-domain" in o["tags"]]
    assert sender_domain["data"] == "dropbox.com"
    assert "mail:sender-unauthenticated" in sender_domain["tags"]
