"""Socflow_Notify_Mail run as Cortex runs it, against a real SMTP server (aiosmtpd) with TLS."""

from __future__ import annotations

from typing import Any

from fakes.mail import PASSWORD, USER, FakeSMTP
from hypothesis import given, settings
from hypothesis import strategies as st
from support.cortexjob import JobResult, assert_cortex_accepts, run_job

from .conftest import PARAMETERS, fixture

CASE_RECIPIENTS = [
    "soc@example-corp.com",
    "ir-team@example-corp.com",
    "oncall@example-corp.com",
    "legacy@example-corp.com",
]


def mail(smtp: FakeSMTP, data: Any, data_type: str, **config: Any) -> JobResult:
    settings = {
        "smtp_host": "localhost",
        "smtp_port": smtp.port,
        "smtp_user": USER,
        "smtp_password": PASSWORD,
        "from_address": "thehive@example-corp.com",
        "to": ["soc@example-corp.com"],
        "cacerts": smtp.ca_pem,
        "timeout": 10,
        **config,
    }
    result = run_job(
        "Socflow_Notify_Mail",
        data=data,
        data_type=data_type,
        parameters=PARAMETERS,
        config=settings,
        timeout=60,
    )
    assert result.output_written, result.stderr
    assert_cortex_accepts(result.output)
    assert PASSWORD not in result.stdout + result.stderr + str(result.output)
    return result


def test_starttls_delivery_with_tag_recipients_and_no_header_injection() -> None:
    with FakeSMTP("starttls") as smtp:
        out = mail(smtp, fixture("case"), "thehive:case").output
    assert out["success"] is True, out
    assert out["operations"] == [{"type": "AddTagToCase", "tag": "socflow:notified"}]
    [got] = smtp.received
    assert got.tls is True and got.login == USER
    assert smtp.logins == [(USER, True)]  # the password only ever crossed TLS
    assert got.rcpt_tos == CASE_RECIPIENTS  # quoted "mail:" tags and legacy "mail=" handled
    msg = got.message
    assert msg["Subject"] == "[TheHive case #42] Beaconing to Tor exit Bcc: attacker@evil.com"
    assert msg["Bcc"] is None and "attacker@evil.com" not in got.rcpt_tos
    assert msg["From"] == "thehive@example-corp.com" and msg["Auto-Submitted"] == "auto-generated"
    assert msg["X-TheHive-Object"] == "~40964096"
    assert msg.get_content_type() == "text/plain"
    body = msg.get_content()
    assert "Host **ws-114** talks to `185.220.101.47`" in body and "Severity: HIGH" in body
    assert out["full"]["sent_to"] == CASE_RECIPIENTS and out["full"]["security"] == "starttls"


def test_implicit_tls_delivery_for_an_alert() -> None:
    with FakeSMTP("tls") as smtp:
        out = mail(
            smtp,
            fixture("alert"),
            "thehive:alert",
            smtp_security="tls",
            to=[],
            subject_template="{{ alert.severityLabel }}: {{ title }}",
            body_template="Source {{ alert.source }} ({{ alert.sourceRef }})",
        ).output
    assert out["success"] is True, out
    assert out["operations"] == [{"type": "AddTagToAlert", "tag": "socflow:notified"}]
    [got] = smtp.received
    assert got.tls is True and got.rcpt_tos == ["soc-leads@example-corp.com"]
    assert got.message["Subject"] == "HIGH: Credential stuffing from 45.155.205.233"
    assert got.message.get_content().strip() == "Source web1:nginx (sf-5b2c1d0e9a)"


def test_server_without_starttls_is_refused_not_downgraded() -> None:
    with FakeSMTP("plain") as smtp:
        out = mail(smtp, fixture("case"), "thehive:case").output
    assert out["success"] is False
    assert "does not offer STARTTLS; refusing to send in plaintext" in out["errorMessage"]
    assert smtp.received == [] and smtp.logins == []


def test_plaintext_needs_an_explicit_opt_in() -> None:
    with FakeSMTP("plain") as smtp:
        refused = mail(
            smtp,
            fixture("case"),
            "thehive:case",
            smtp_security="none",
            smtp_user=None,
            smtp_password=None,
        ).output
        assert refused["success"] is False and "allow_plaintext" in refused["errorMessage"]
        assert smtp.received == []
        accepted = mail(
            smtp,
            fixture("case"),
            "thehive:case",
            smtp_security="none",
            allow_plaintext=True,
            smtp_user=None,
            smtp_password=None,
        ).output
    assert accepted["success"] is True, accepted
    assert [r.tls for r in smtp.received] == [False]


def test_untrusted_certificate_fails_and_sends_nothing() -> None:
    with FakeSMTP("starttls") as smtp, FakeSMTP("tls") as smtps:
        for server, security in ((smtp, "starttls"), (smtps, "tls")):
            out = mail(
                server, fixture("case"), "thehive:case", smtp_security=security, cacerts=None
            ).output
            assert out["success"] is False, out
            assert (
                "CERTIFICATE_VERIFY_FAILED" in out["errorMessage"]
                or "certificate" in out["errorMessage"]
            )
            assert server.received == [] and server.logins == []


def test_wrong_password_is_reported_without_the_password() -> None:
    with FakeSMTP("starttls") as smtp:
        result = mail(smtp, fixture("case"), "thehive:case", smtp_password="Wr0ng-pa55word")
    assert (
        result.output["success"] is False and "refused the login" in result.output["errorMessage"]
    )
    assert "Wr0ng-pa55word" not in result.stdout + result.stderr + str(result.output)
    assert smtp.received == []


def test_recipients_problems_are_explained() -> None:
    with FakeSMTP("starttls") as smtp:
        case = fixture("case") | {
            "tags": ['mail:"not an address"', "mail:bob@example-corp.com\r\nBcc: x@evil.com"]
        }
        out = mail(smtp, case, "thehive:case", to=[]).output
        assert out["success"] is False
        assert "no recipient" in out["errorMessage"] and "not an address" in out["errorMessage"]
        partly = mail(
            smtp,
            case | {"tags": ["mail:ok@example-corp.com", "mail:nope", "mail:x@evil.com\n"]},
            "thehive:case",
            to=[],
        ).output
        assert partly["success"] is True
        assert partly["full"]["ignored_recipients"] == ["nope", "x@evil.com\n"]
        assert smtp.received[0].rcpt_tos == ["ok@example-corp.com"]
        no_tags = mail(
            smtp, fixture("case"), "thehive:case", to=[], recipients_from_tags=False
        ).output
        assert no_tags["success"] is False and "no recipient" in no_tags["errorMessage"]


def test_bad_configuration_is_one_line() -> None:
    with FakeSMTP("starttls") as smtp:
        for config, message in (
            ({"from_address": "thehive"}, "from_address"),
            ({"smtp_security": "ssl3"}, "smtp_security"),
            ({"smtp_password": None}, "go together"),
            ({"to": ["ok@example-corp.com", "bcc: x@evil.com"]}, "'bcc: x@evil.com' is not a mail"),
            (
                {"cacerts": "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----"},
                "cacerts",
            ),
        ):
            out = mail(smtp, fixture("case"), "thehive:case", **config).output
            assert out["success"] is False and message in out["errorMessage"], (config, out)
            assert "\n" not in out["errorMessage"]
        assert smtp.received == []


def test_html_mail_escapes_every_value_and_shows_evidence_as_code() -> None:
    """Issue 11 item 4: with body_format html, attacker text in the case cannot add markup."""
    case = fixture("case") | {"title": 'Phish <a href="https://evil.example">reset</a>',
                              "description": "<img src=https://track.example/p.png> [x](https://evil.example)"}
    with FakeSMTP("starttls") as smtp:
        out = mail(smtp, case, "thehive:case", body_format="html",
                   api_url="https://thehive.example-corp.com").output
        assert out["success"] is True, out
        [got] = smtp.received
    msg = got.message
    assert msg.get_content_type() == "text/html"
    body = msg.get_content()
    assert "<img" not in body and '<a href="https://evil.example">' not in body
    assert "&lt;a href=&quot;https://evil.example&quot;&gt;reset&lt;/a&gt;" in body
    assert '<a href="https://thehive.example-corp.com/cases/~40964096/details">' in body  # socflow's own link
    assert msg["Subject"] == 'Phish <a href="https://evil.example">reset</a>'.join(["[TheHive case #42] ", ""])


def test_a_huge_template_output_is_refused_and_nothing_is_sent() -> None:
    """Issue 11 item 8: a loop printing the description 100,000 times (a 1 GB mail) fails at once."""
    with FakeSMTP("starttls") as smtp:
        out = mail(smtp, fixture("case"), "thehive:case",
                   body_template="{% for i in range(100000) %}{% for j in range(100000) %}{{ description }}"
                                 "{% endfor %}{% endfor %}").output
        assert smtp.received == []
    assert out["success"] is False and "longer than 100000 characters" in out["errorMessage"]


# ---- recipients_from_observable: the reporter / a recipient of a reported mail (issue 14)
OWN = ["example-corp.com"]


def _mail_observable(value: str, tag: str = "mail:reporter") -> dict[str, Any]:
    return fixture("case_artifact_ip") | {"dataType": "mail", "data": value,
                                          "tags": ["socflow:mail", tag]}


def test_a_mail_observable_inside_the_own_domains_is_its_only_recipient() -> None:
    with FakeSMTP("starttls") as smtp:
        out = mail(smtp, _mail_observable("hana.sample@example-corp.com"), "thehive:case_artifact",
                   recipients_from_observable=True, recipient_domains=OWN).output
        sub = mail(smtp, _mail_observable("Victim0@EU.Example-Corp.com", "mail:recipient"),
                   "thehive:case_artifact", recipients_from_observable=True,
                   recipient_domains=["Example-Corp.com"]).output
        got = [m.rcpt_tos for m in smtp.received]
    assert out["success"] is True, out
    # the observable alone: not the configured 'to' (soc@), not its mail: tags
    assert got == [["hana.sample@example-corp.com"], ["Victim0@EU.Example-Corp.com"]]
    assert out["full"]["sent_to"] == ["hana.sample@example-corp.com"]
    assert out["full"]["skipped_recipients"] == []
    assert out["operations"] == [{"type": "AddTagToCase", "tag": "socflow:notified"}]
    assert sub["full"]["sent_to"] == ["Victim0@EU.Example-Corp.com"]


HOSTILE_ADDRESSES = [
    "x@evil.com",  # another domain
    "x@example-corp.com.evil.com",  # own domain as a prefix
    "x@evilexample-corp.com",  # own domain as a suffix without a dot
    '"Hana" <hana@example-corp.com>',  # a display name
    "<hana@example-corp.com>",
    "hana@example-corp.com\r\nBcc: x@evil.com",  # CRLF: a second header
    "hana@example-corp.com\n",
    "hana@example-corp.com, x@evil.com",  # two addresses in one value
    "hana@example-corp.com x@evil.com",
    "hana@example-corp.com;x@evil.com",
    "x@evil.com (hana@example-corp.com)",
    '"x@evil.com"@example-corp.com',
    "hana@exаmple-corp.com",  # a Cyrillic а
    "",
]


def test_addresses_outside_the_own_domains_or_not_plain_are_skipped_and_reported() -> None:
    with FakeSMTP("starttls") as smtp:
        for value in HOSTILE_ADDRESSES:
            out = mail(smtp, _mail_observable(value, "mail:recipient"), "thehive:case_artifact",
                       recipients_from_observable=True, recipient_domains=OWN).output
            assert out["success"] is True, (value, out)  # not a failure: nothing to send
            assert out["full"]["sent_to"] == [], value
            (skipped,) = out["full"]["skipped_recipients"]
            assert skipped["address"] == value and skipped["reason"], value
            assert out["operations"] == []  # nothing went out: not tagged notified
        # an own address, but no recipient_domains configured; a domain observable
        empty = mail(smtp, _mail_observable("hana@example-corp.com"), "thehive:case_artifact",
                     recipients_from_observable=True).output
        domain = mail(smtp, _mail_observable("example-corp.com") | {"dataType": "domain"},
                      "thehive:case_artifact", recipients_from_observable=True,
                      recipient_domains=OWN).output
        assert smtp.received == []
    assert "recipient_domains is empty" in empty["full"]["skipped_recipients"][0]["reason"]
    assert "not a mail address" in domain["full"]["skipped_recipients"][0]["reason"]


def test_without_recipients_from_observable_an_observable_goes_to_the_configured_recipients() -> None:
    with FakeSMTP("starttls") as smtp:
        out = mail(smtp, _mail_observable("x@evil.com"), "thehive:case_artifact",
                   recipient_domains=OWN).output
        [got] = smtp.received
    assert out["success"] is True and got.rcpt_tos == ["soc@example-corp.com"]
    assert "x@evil.com" not in got.rcpt_tos


def test_recipients_from_observable_leaves_cases_to_the_configured_recipients() -> None:
    with FakeSMTP("starttls") as smtp:
        out = mail(smtp, fixture("case"), "thehive:case", recipients_from_observable=True,
                   recipient_domains=OWN).output
        [got] = smtp.received
    assert out["success"] is True and got.rcpt_tos == CASE_RECIPIENTS


def test_a_recipient_domain_that_is_not_a_domain_is_a_one_line_error() -> None:
    with FakeSMTP("starttls") as smtp:
        out = mail(smtp, _mail_observable("hana@example-corp.com"), "thehive:case_artifact",
                   recipients_from_observable=True,
                   recipient_domains=["example-corp.com", "evil.com\r\nx"]).output
        assert smtp.received == []
    assert out["success"] is False and "recipient_domains" in out["errorMessage"]
    assert "\n" not in out["errorMessage"]


_PIECES = st.sampled_from(["hana", "x", "@", "example-corp.com", "eu.example-corp.com", "evil.com",
                           ".", ",", ";", " ", "<", ">", '"', "\r\n", "\n", "Bcc: ", "(", ")",
                           "exаmple-corp.com", "%", "+"])


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.lists(_PIECES, max_size=8).map("".join), st.text(max_size=60)))
def test_an_accepted_observable_address_is_one_plain_address_in_an_own_domain(value: str) -> None:
    from socflow.adapters.cortex.responders._mail import ADDRESS, observable_recipient

    address, reason = observable_recipient(value, OWN)
    if address is None:
        assert reason
        return
    assert address == value and ADDRESS.fullmatch(value)
    assert not set(value) & set(" ,;<>\"()\r\n\t")
    domain = value.rsplit("@", 1)[1].lower()
    assert domain == "example-corp.com" or domain.endswith(".example-corp.com")
