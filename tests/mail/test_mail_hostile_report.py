"""Hostile text in a user's *report* (the outer mail anyone can send to the reporting mailbox):
its From decides who is acknowledged, its From and Subject are shown in the alert, and the
reported message's Subject goes into the acknowledgement mail. Each is filled with hostile text."""

from __future__ import annotations

from email import message_from_bytes, policy
from html.parser import HTMLParser
from pathlib import Path

from core.test_markdown import active, hostile
from fakes.thehive_rules import validate_alert
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from socflow.adapters.cortex.responders import _mail
from socflow.adapters.mailbox.ack import DEFAULT_SUBJECT, Acknowledger
from socflow.config import convert
from socflow.mail import analyze_bytes
from socflow.mail.alert import phishing_alert, reporter_address, source_ref

REPORT = (Path(__file__).resolve().parent / "corpus" / "phish" / "report-eml-1.eml").read_bytes()
FROM = b"From: Hana Sample <hana.sample@contoso.com>"
SUBJECT = b"Subject: Phishing: please check"
assert FROM in REPORT and SUBJECT in REPORT
MD = MarkdownIt("gfm-like")
OWN = "contoso.com"

_address_bits = st.sampled_from([
    "hana@contoso.com", "contoso.com", "@", "<", ">", ",", '"', " ", ".", "(", ")", "\\", ";",
    "x@evil.example", "evil.example", "a@b@contoso.com", "m@contoso.com.evil.example",
    "m@evilcontoso.com", "sub.contoso.com", "=?utf-8?q?a=40contoso.com?=", "\u200bcontoso.com",
    "HANA@CONTOSO.COM", "x@contoso.com\u0000", "<x@evil.example>", "<y@contoso.com>"])
hostile_from = st.lists(st.one_of(_address_bits, hostile), max_size=10).map("".join)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _report_with(from_value: str, subject: str):
    data = REPORT.replace(FROM, b"From: " + _one_line(from_value).encode()).replace(
        SUBJECT, b"Subject: " + _one_line(subject).encode())
    report = analyze_bytes(data, "report.eml")
    assert report.reporter is not None  # still read as a report
    return report


def _ack(body_format: str = "text") -> Acknowledger:
    settings_ = convert({"smtp_host": "127.0.0.1", "from_address": "soc@contoso.com",
                         "body_format": body_format}, _mail.MailSettings, "ack: ")
    body = ("<p>{{ subject }}</p><p>{{ reporter }}</p><p>{{ verdict }}</p>"
            if body_format == "html" else "{{ subject }} / {{ reporter }}\n")
    return Acknowledger(settings_, DEFAULT_SUBJECT, body, None, [OWN])


ACK = _ack()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_from)
def test_only_a_plain_own_domain_address_written_in_the_from_is_ever_acknowledged(from_value):
    report = _report_with(from_value, "Phishing: please check")
    reporter = reporter_address(report)
    if not ACK.allowed(reporter):
        return
    # the acknowledgement goes to exactly this one address: plain, in an own domain, and
    # written as such in the report's From as decoded (never assembled from pieces of it; an
    # RFC 2047 word decoding to an address is no more than writing the address plainly)
    assert _mail.split_recipients([reporter]) == ([reporter], [])
    domain = reporter.rpartition("@")[2]
    assert domain == OWN or domain.endswith("." + OWN)
    assert reporter in " ".join(report.reporter["from"].split()).lower()


def test_the_hostile_from_strategy_reaches_both_decisions():
    # the property above is not vacuous: some hostile Froms are acknowledged, some refused
    assert ACK.allowed(reporter_address(_report_with('"x@evil.example" <hana@contoso.com>', "s")))
    assert not ACK.allowed(reporter_address(_report_with("Hana <hana@contoso.com.evil.example>",
                                                         "s")))
    assert not ACK.allowed(reporter_address(_report_with("<a@b@contoso.com>", "s")))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_from, hostile)
def test_the_reports_from_and_subject_stay_inert_in_the_alert(from_value, subject):
    report = _report_with(from_value, subject)
    ref = source_ref(report, report.reported_message or b"")
    alert = phishing_alert(report, ref=ref, file_name=f"{ref}.eml", source="imap://u@h/INBOX 1.2")
    assert active(MD.parse(alert["description"])) == [], alert["description"]
    assert not validate_alert(alert)
    reporters = [o["data"] for o in alert["observables"] if "mail:reporter" in o["tags"]]
    assert reporters == ([reporter_address(report)] if reporter_address(report) else [])
    assert all(o["ioc"] is False for o in alert["observables"] if "mail:reporter" in o["tags"])


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):  # noqa: ANN001
        self.tags.append(tag)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=80) | hostile, hostile_from, st.sampled_from(["text", "html"]))
def test_the_reported_subject_cannot_inject_headers_or_markup_into_the_ack(subject, reporter,
                                                                         body_format):
    ack = ACK if body_format == "text" else HTML_ACK
    alert = {"title": "t", "severity": 3, "tags": [], "description": ""}
    extra = {"verdict": "malicious", "subject": subject, "reporter": reporter}
    rendered_subject, body = ack.render(alert, extra)
    assert "\r" not in rendered_subject and "\n" not in rendered_subject
    msg = _mail.build_message(ack.settings, ["hana@contoso.com"], rendered_subject, body, "")
    back = message_from_bytes(msg.as_bytes(), policy=policy.default)
    assert sorted(back.keys()) == sorted(msg.keys())  # no header added by the subject
    assert back["To"] == "hana@contoso.com" and back["Bcc"] is None
    if body_format == "html":
        parser = _Tags()
        parser.feed(body)
        assert parser.tags == ["p", "p", "p"], body


HTML_ACK = _ack("html")


def _with_attachment(name: str) -> bytes:
    from urllib.parse import quote

    from mailmaker import eml, ms_top

    encoded = quote(name.encode("utf-8", "surrogatepass"), safe="")
    boundary = "b0undary-x"
    body = (f"--{boundary}\nContent-Type: text/plain\n\nSee attached.\n"
            f"--{boundary}\nContent-Type: application/octet-stream; name*=utf-8''{encoded}\n"
            f"Content-Transfer-Encoding: base64\n"
            f"Content-Disposition: attachment; filename*=utf-8''{encoded}\n\nTVqQAAMAAAAEAAAA\n"
            f"--{boundary}--\n")
    return eml(ms_top(), ["From: Bruno <bruno@fabrikam.com>", "To: dana@contoso.com",
                          "Subject: invoice", "Message-ID: <att1@fabrikam.com>",
                          f'Content-Type: multipart/mixed; boundary="{boundary}"'], body)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(hostile, st.text(min_size=1, max_size=300)))
def test_a_hostile_attachment_name_stays_inert_and_valid_in_the_alert(name):
    report = analyze_bytes(_with_attachment(name), "att.eml")
    assert len(report.attachments) == 1  # the hostile name reached the attachment
    ref = source_ref(report, b"x")
    alert = phishing_alert(report, ref=ref, file_name=f"{ref}.eml", source="maildir /r")
    assert active(MD.parse(alert["description"])) == [], alert["description"]
    assert not validate_alert(alert), validate_alert(alert)
    for o in alert["observables"]:
        assert not any((c < " " and c != "\t") or c == "\x7f" for t in o.get("tags", []) for c in t), o
