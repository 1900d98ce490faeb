"""Socflow_Notify_Webhook run as Cortex runs it, posting to a loopback receiver."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fakes.webhook import FakeWebhook
from support.cortexjob import JobResult, assert_cortex_accepts, run_job

from .conftest import PARAMETERS, fixture

SECRET_PATH = "/services/T0AAA/B0BBB/XoXoSeCrEtHoOkToKeN"


@pytest.fixture
def hook() -> Iterator[FakeWebhook]:
    with FakeWebhook() as fake:
        yield fake


def notify(url: str, data: Any, data_type: str, **config: Any) -> JobResult:
    # The fakes listen on loopback, which the outbound policy refuses unless allowed explicitly.
    config = {"allow_private_targets": True, **config}
    result = run_job("Socflow_Notify_Webhook", data=data, data_type=data_type, parameters=PARAMETERS,
                     config={"webhook_url": url, "api_url": "https://thehive.example-corp.com", **config})
    assert result.output_written, result.stderr
    assert_cortex_accepts(result.output)
    everything = result.stdout + result.stderr + str(result.output)
    assert "XoXoSeCrEtHoOkToKeN" not in everything and url not in everything
    return result


def test_slack_message_escapes_mentions_links_and_header_breaks(hook: FakeWebhook) -> None:
    out = notify(hook.url + SECRET_PATH, fixture("case"), "thehive:case", format="slack").output
    assert out["success"] is True, out
    assert out["operations"] == [{"type": "AddTagToCase", "tag": "socflow:notified"}]
    [req] = hook.requests
    assert req.path == SECRET_PATH and req.headers["Content-Type"] == "application/json"
    text = req.json["text"]
    first_line = text.splitlines()[0]
    # The address reads the same but Slack finds no link (mailto:) in it: a zero-width space
    # follows each dot inside a word.
    assert first_line == "*[TheHive case #42] Beaconing to Tor exit Bcc: attacker@evil.\u200bcom*"
    assert "&lt;!here&gt;" in text and "<!here>" not in text
    assert "&lt;script&gt;" in text and "<script>" not in text
    assert "https://thehive.example-corp.com/cases/~40964096/details" in text
    assert out["full"] == {"channel": "slack", "subject": first_line.strip("*"), "http_status": 200}


def test_teams_adaptive_card_for_an_alert(hook: FakeWebhook) -> None:
    alert = fixture("alert")
    alert["title"] = "Login [click](https://evil.test/x) for @channel"
    out = notify(hook.url + "/teams/workflow", alert, "thehive:alert", format="teams").output
    assert out["success"] is True, out
    assert out["operations"] == [{"type": "AddTagToAlert", "tag": "socflow:notified"}]
    body = hook.requests[0].json
    assert body["type"] == "message"
    [attachment] = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["body"][0]["weight"] == "Bolder"
    title = card["body"][0]["text"]
    assert r"\[click\]\(https\:\/\/evil\.test\/x\)" in title and "[click](" not in title
    assert "@\u200bchannel" in title
    assert card["actions"][0]["url"] == "https://thehive.example-corp.com/alerts/~8224/details"
    assert out["full"]["http_status"] == 202


def test_mattermost_for_an_observable(hook: FakeWebhook) -> None:
    artifact = fixture("case_artifact_ip") | {"message": "seen by @all on **every** host"}
    out = notify(hook.url + "/hooks/abc", artifact, "thehive:case_artifact", format="mattermost").output
    assert out["success"] is True, out
    assert out["operations"] == [{"type": "AddTagToCase", "tag": "socflow:notified"}]
    text = hook.requests[0].json["text"]
    assert text.startswith("#### [TheHive observable] ip 185\\.220\\.101\\.47")
    assert "@\u200ball" in text and r"\*\*every\*\*" in text
    assert "https://thehive.example-corp.com/cases/~40964096/observables/~41025601" in text


def test_generic_json_with_custom_templates(hook: FakeWebhook) -> None:
    out = notify(hook.url + "/soar", fixture("alert"), "thehive:alert", format="json",
                 subject_template="{{ alert.source }} | {{ title | upper }}",
                 body_template="{% for o in alert.artifacts if o.dataType == 'ip' %}{{ o.data }} {% endfor %}"
                 ).output
    assert out["success"] is True, out
    sent = hook.requests[0].json
    assert sent["subject"] == "web1:nginx | CREDENTIAL STUFFING FROM 45.155.205.233"
    assert sent["body"] == "45.155.205.233 10.20.30.40 "
    assert (sent["kind"], sent["id"], sent["severity"]) == ("alert", "~8224", 3)
    assert sent["requested_by"] == "analyst@soc.example-corp.com"
    assert sent["link"] == "https://thehive.example-corp.com/alerts/~8224/details"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "template error"),
        ("{% if %}", "body_template"),
    ],
)
def test_unsafe_or_broken_templates_are_refused(hook: FakeWebhook, template: str, message: str) -> None:
    out = notify(hook.url + "/x", fixture("case"), "thehive:case", body_template=template).output
    assert out["success"] is False and message in out["errorMessage"]
    assert hook.requests == []


@pytest.mark.parametrize(
    ("path", "expected"),
    [("/status/403/invalid_token", "HTTP 403: invalid_token"), ("/status/404/no_service", "HTTP 404: no_service"),
     ("/status/410/channel_is_archived", "HTTP 410"), ("/status/500/boom", "HTTP 500")],
)
def test_endpoint_errors_fail_with_their_reason(hook: FakeWebhook, path: str, expected: str) -> None:
    out = notify(hook.url + path, fixture("case"), "thehive:case").output
    assert out["success"] is False and expected in out["errorMessage"], out
    assert len(hook.requests) == 1  # a rejected post is not repeated


def test_rate_limit_is_retried_once_after_retry_after(hook: FakeWebhook) -> None:
    out = notify(hook.url + "/flaky429", fixture("case"), "thehive:case").output
    assert out["success"] is True, out
    assert len(hook.requests) == 2


def test_config_and_network_errors_are_one_line(hook: FakeWebhook) -> None:
    missing = run_job("Socflow_Notify_Webhook", data=fixture("case"), data_type="thehive:case").output
    assert missing["success"] is False and "webhook_url" in missing["errorMessage"]
    bad_format = notify(hook.url + "/x", fixture("case"), "thehive:case", format="discord").output
    assert bad_format["success"] is False and "format" in bad_format["errorMessage"]
    down = notify("http://127.0.0.1:9/hook", fixture("case"), "thehive:case").output
    assert down["success"] is False and "cannot reach the webhook endpoint" in down["errorMessage"]
    assert hook.requests == []


# --- issue 11 item 6: the POST goes only where configured ------------------------------------------

@pytest.mark.parametrize(
    ("target", "why"),
    [("http://127.0.0.1:{port}/hook", "loopback"), ("http://localhost:{port}/hook", "loopback"),
     ("http://[::ffff:127.0.0.1]:{port}/hook", "loopback"), ("http://169.254.169.254/latest/meta-data", "metadata"),
     ("http://[fe80::1]/hook", "link-local"), ("http://0x7f000001:{port}/hook", "loopback")],
)
def test_loopback_link_local_and_metadata_targets_are_refused_by_default(
    hook: FakeWebhook, target: str, why: str
) -> None:
    url = target.format(port=hook.url.rsplit(":", 1)[1])
    out = notify(url, fixture("case"), "thehive:case", allow_private_targets=None).output
    assert out["success"] is False and why in out["errorMessage"] and "allow_private_targets" in out["errorMessage"]
    assert hook.requests == []


def test_a_redirect_to_another_host_is_not_followed(hook: FakeWebhook) -> None:
    with FakeWebhook(host="127.0.0.2") as other:
        out = notify(f"{hook.url}/redirect/307?to={other.url}/steal", fixture("case"), "thehive:case").output
        assert out["success"] is False and "redirect to another host" in out["errorMessage"], out
        assert other.requests == []  # the message (and the URL's secret) never reached it
    assert len(hook.requests) == 1


def test_an_https_endpoint_redirecting_to_http_fails(hook: FakeWebhook) -> None:
    """The reported case: HTTPS answering 307 to plain HTTP on another host was re-posted and
    reported as delivered."""
    with FakeWebhook(tls=True) as secure:
        out = notify(f"{secure.url}/redirect/307?to={hook.url}/plain", fixture("case"), "thehive:case",
                     verify_tls=False).output
        assert out["success"] is False and "https to http" in out["errorMessage"], out
        assert len(secure.requests) == 1
    assert hook.requests == []


def test_a_redirect_that_turns_the_post_into_a_get_is_not_delivered(hook: FakeWebhook) -> None:
    out = notify(f"{hook.url}/redirect/302?to=/landing", fixture("case"), "thehive:case").output
    assert out["success"] is False and "not delivered" in out["errorMessage"], out


def test_a_same_host_307_is_followed_and_delivered(hook: FakeWebhook) -> None:
    out = notify(f"{hook.url}/redirect/307?to=/hook", fixture("case"), "thehive:case").output
    assert out["success"] is True, out
    assert [r.path for r in hook.requests] == ["/redirect/307?to=/hook", "/hook"]
    assert hook.requests[1].json["text"]


# --- issue 11 item 8: bounded templates, as Cortex runs the job ------------------------------------

@pytest.mark.parametrize(
    ("template", "message"),
    [("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}", "longer than 5 s"),
     ("{{ 'x' * 1000000000 }}", "repeated value longer than"),
     ("{% for a in range(100000) %}{{ description }}{% endfor %}", "longer than 100000 characters"),
     ("{{ x }}" * 20000, "more than 65536")],
)
def test_huge_or_endless_templates_fail_in_bounded_time(hook: FakeWebhook, template: str, message: str) -> None:
    start = time.monotonic()
    out = notify(hook.url + "/x", fixture("case"), "thehive:case", body_template=template).output
    assert time.monotonic() - start < 15
    assert out["success"] is False and message in out["errorMessage"] and "\n" not in out["errorMessage"]
    assert hook.requests == []
