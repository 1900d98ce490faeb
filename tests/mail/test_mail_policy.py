"""The mail policy file: shipped defaults, overlay, validation with file:line, every option."""

from __future__ import annotations

import pytest
from mailmaker import eml, ms_top

from socflow.errors import ConfigError
from socflow.mail import analyze_bytes, load_policy
from socflow.mail.policy import FINDING_CODES, default_policy_text


def test_defaults_weigh_every_finding_code():
    policy = load_policy()
    assert set(policy.weights) == FINDING_CODES
    assert (policy.thresholds.suspicious, policy.thresholds.malicious) == (3.0, 6.0)
    assert "bit.ly" in policy.lists.shorteners and "gmail.com" in policy.lists.freemail


@pytest.mark.parametrize("text,expected", [
    ("weights:\n  auth.dmarc_fail: 4\n  auth.bogus: 2\n", "<policy>:3: weights.auth.bogus: unknown finding"),
    ("thresholds:\n  suspicious: 5\n  malicious: 2\n", "<policy>:1: thresholds: malicious must not be lower"),
    ("organisation:\n  own_domains:\n    - contoso.com\n    - 'not a domain'\n",
     "<policy>:2: organisation.own_domains: 'not a domain' is not a domain name"),
    ("organisation:\n  colour: blue\n", "<policy>:2: organisation.colour: Extra inputs are not permitted"),
    ("weights:\n  auth.dmarc_fail: [1]\n", "<policy>:2: weights.auth.dmarc_fail: Input should be a valid number"),
    ("weights: {auth.dmarc_fail: 99}\n", "weight of auth.dmarc_fail must be between -50 and 50"),
    ("limits:\n  max_parts: 0\n", "<policy>:2: limits.max_parts: Input should be greater than or equal to 1"),
    ("version: 2\n", "<policy>:1: version: only version 1 is known"),
    ("organisation:\n  protected_names:\n    AB: [ab.com]\n", "is too short"),
    ("- a\n- b\n", "<policy>:1: a mail policy is a mapping"),
    ("weights: [\n", "<policy>:2: invalid YAML"),
    ("a: 1\na: 2\n", "<policy>:2: duplicate key 'a'"),
])
def test_errors_name_the_line_and_key(text, expected):
    with pytest.raises(ConfigError) as err:
        load_policy(text=text)
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_unreadable_policy_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_policy(tmp_path / "missing.yml")
    bad = tmp_path / "bad.yml"
    bad.write_bytes(b"\xff\xfe weights")
    with pytest.raises(ConfigError, match="bad.yml: cannot read"):
        load_policy(bad)


def test_overlay_merges_weights_and_replaces_organisation_fields(tmp_path):
    path = tmp_path / "org.yml"
    path.write_text("weights:\n  identity.reply_to_mismatch: 5\norganisation:\n  own_domains: [contoso.com]\n"
                    "lists:\n  shorteners: [sho.rt]\n")
    policy = load_policy(path)
    assert policy.weight("identity.reply_to_mismatch") == 5
    assert policy.weight("auth.dmarc_fail") == 4  # untouched default
    assert policy.organisation.own_domains == ["contoso.com"]
    assert policy.organisation.trust_microsoft365 is True  # other organisation fields keep defaults
    assert policy.lists.shorteners == ["sho.rt"]
    assert "contoso.com" in policy.protected


def test_protected_names_add_to_the_shipped_brands():
    policy = load_policy(text="organisation:\n  protected_names:\n    Contoso Payroll: [contoso.com]\n"
                              "    PayPal: [paypal.com, paypal-partner.net]\n")
    names = policy.organisation.protected_names
    assert names["Contoso Payroll"] == ["contoso.com"] and "DocuSign" in names
    assert names["PayPal"] == ["paypal.com", "paypal-partner.net"]


def test_thresholds_decide_the_verdict():
    msg = eml([], headers=["From: A <a@fabrikam.com>", "Reply-To: b@proseware.com", "Subject: s"])
    report = analyze_bytes(msg)
    assert report.verdict == "safe" and 0 < report.score < 3
    middle = load_policy(text=f"thresholds:\n  suspicious: {report.score}\n  malicious: 40\n")
    assert analyze_bytes(msg, policy=middle).verdict == "suspicious"
    strict = load_policy(text=f"thresholds:\n  suspicious: 0.1\n  malicious: {report.score}\n")
    assert analyze_bytes(msg, policy=strict).verdict == "malicious"


def test_weights_change_the_score_and_reasons_come_heaviest_first():
    msg = eml([], headers=['From: "PayPal" <a@hacked-bakery.com>', "Reply-To: x@gmail.com", "Subject: s"])
    report = analyze_bytes(msg)
    weights = [f.weight for f in report.reasons]
    assert weights == sorted(weights, reverse=True) and weights[0] == 3
    zero = load_policy(text="weights:\n  identity.display_name_brand: 0\n")
    assert analyze_bytes(msg, policy=zero).score == report.score - 3


def test_allowlisted_sender_only_when_authenticated():
    msg_ok = eml(ms_top(), headers=['From: "PayPal" <billing@fabrikam.com>', "Reply-To: x@gmail.com"])
    policy = load_policy(text="organisation:\n  allowlist:\n    senders: [fabrikam.com]\n")
    assert analyze_bytes(msg_ok).verdict != "safe"
    assert analyze_bytes(msg_ok, policy=policy).verdict == "safe"
    forged = eml([], headers=['From: "PayPal" <billing@fabrikam.com>', "Reply-To: x@gmail.com"])
    report = analyze_bytes(forged, policy=policy)
    assert "identity.allowlisted_sender" not in {f.code for f in report.findings}


def test_limits_are_applied():
    parts = "".join(f"--B\nContent-Type: text/plain\n\npart {i}\n" for i in range(20))
    msg = eml([], body=parts + "--B--\n", ctype='multipart/mixed; boundary="B"')
    policy = load_policy(text="limits:\n  max_parts: 5\n")
    report = analyze_bytes(msg, policy=policy)
    assert any(f.code == "message.truncated" and "beyond the caps" in f.summary for f in report.findings)
    small = load_policy(text="limits:\n  max_message_bytes: 65536\n")
    big = eml([], body="x" * 100_000)
    assert any(f.code == "message.truncated" for f in analyze_bytes(big, policy=small).findings)


def test_shipped_policy_file_is_documented_yaml():
    text = default_policy_text()
    assert text.startswith("# socflow's shipped mail policy")
