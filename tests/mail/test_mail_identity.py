"""Identity: From vs Reply-To/Return-Path/Sender, display-name tricks, lookalike domains."""

from __future__ import annotations

import pytest
from mailmaker import eml

from socflow.mail import analyze_bytes, load_policy
from socflow.mail.identity import lookalike_of, skeleton

PROTECTED = frozenset({"paypal.com", "contoso.com", "microsoft.com"})


@pytest.mark.parametrize("domain,imitates", [
    ("paypa1.com", "paypal.com"),                   # digit for letter
    ("paypl.com", "paypal.com"),                    # one letter dropped
    ("pyapal.com", "paypal.com"),                   # adjacent swap
    ("xn--pypal-4ve.com", "paypal.com"),            # Cyrillic а (punycode)
    ("pаypal.com", "paypal.com"),                   # Cyrillic а (Unicode)
    ("paypal-secure.com", "paypal.com"),            # brand inside another domain
    ("paypal.com.account-check.xyz", "paypal.com"),  # protected domain as sub-domain
    ("c0ntoso.com", "contoso.com"),
    ("rnicrosoft.com", "microsoft.com"),            # rn for m: two characters, confusable skeleton
])
def test_lookalikes(domain, imitates):
    hit = lookalike_of(domain, PROTECTED)
    assert hit is not None and hit[0] == imitates


@pytest.mark.parametrize("domain", ["paypal.com", "www.paypal.com", "fabrikam.com", "python.org",
                                    "contoso.co.uk.example-shop.de", "microsoft.com"])
def test_not_lookalikes(domain):
    assert lookalike_of(domain, PROTECTED) is None


def test_skeleton_maps_confusables_to_latin():
    assert skeleton("раураl") == "paypal"  # all Cyrillic but the last letter


def codes(msg: bytes, policy=None) -> set[str]:
    return {f.code for f in analyze_bytes(msg, policy=policy).findings}


def test_reply_to_and_return_path_and_sender():
    c = codes(eml([], headers=["From: A <a@fabrikam.com>", "Reply-To: a@proseware.com",
                               "Return-Path: <bounce@esp-mail.net>", "Sender: x@litwareinc.com"]))
    assert {"identity.reply_to_mismatch", "identity.return_path_mismatch",
            "identity.sender_mismatch"} <= c
    c = codes(eml([], headers=["From: A <a@fabrikam.com>", "Reply-To: a.ceo@gmail.com"]))
    assert "identity.reply_to_freemail" in c and "identity.reply_to_mismatch" not in c
    # same organisational domain: no finding
    c = codes(eml([], headers=["From: A <a@news.fabrikam.com>", "Reply-To: b@fabrikam.com",
                               "Return-Path: <bounce@mail.fabrikam.com>"]))
    assert not c & {"identity.reply_to_mismatch", "identity.return_path_mismatch"}


def test_display_name_tricks():
    c = codes(eml([], headers=['From: "support@paypal.com" <wp@hacked-bakery.com>']))
    assert "identity.display_name_address" in c
    c = codes(eml([], headers=['From: "PayPal Service" <wp@hacked-bakery.com>']))
    assert "identity.display_name_brand" in c
    c = codes(eml([], headers=['From: "𝐏𝐚𝐲𝐏𝐚𝐥" <wp@hacked-bakery.com>']))  # maths letters
    assert "identity.display_name_brand" in c
    assert "identity.display_name_brand" not in codes(eml([], headers=['From: "PayPal" <service@paypal.com>']))
    assert "identity.display_name_brand" not in codes(eml([], headers=['From: "Purchase desk" <a@shop.com>']))


def test_protected_names_and_domains_from_the_policy():
    msg = eml([], headers=['From: "Woodgrove Treasury" <pay@w00dgrovebank.com>'])
    assert not codes(msg) & {"identity.display_name_brand", "identity.lookalike_domain"}
    policy = load_policy(text="organisation:\n  protected_domains: [woodgrovebank.com]\n"
                              "  protected_names:\n    Woodgrove: [woodgrovebank.com]\n")
    assert {"identity.display_name_brand", "identity.lookalike_domain"} <= codes(msg, policy)


def test_punycode_and_mixed_script_from():
    c = codes(eml([], headers=["From: x <a@xn--frbrikam-6ye.com>"]))
    assert "identity.punycode_domain" in c


def test_several_from_addresses_and_missing_from():
    c = codes(eml([], headers=["From: a@fabrikam.com, b@evil-host.biz"]))
    assert "identity.display_name_address" in c
    assert "identity.no_from" in codes(eml([], headers=["Subject: nobody"]))
