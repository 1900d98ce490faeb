"""Property: headers a sender adds cannot fake what the verdict trusts.

The receiver's block (written at delivery: Received, Authentication-Results, Received-SPF) sits
on top; everything the sender wrote sits below it. Whatever hostile fields the sender adds —
authentication claims with any or no authserv-id, ARC, Received-SPF, forged Received hops,
Exchange stamps — the believed authentication results, the trusted hops and the originating
address stay what the receiver wrote, and the score never drops.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mailmaker import EDGE_GOOGLE, TOP_GOOGLE, ms_top

from socflow.mail import analyze_bytes, load_policy

ORG_TOP = [
    "Authentication-Results: mx.contoso.com; spf=fail smtp.mailfrom=evil-host.biz; "
    "dkim=none; dmarc=fail header.from=paypal.com",
    "Received: from vps.evil-host.biz (vps.evil-host.biz [45.77.12.9]) by mx1.contoso.com "
    "(Postfix) with ESMTP id 9F; Tue, 3 Nov 2026 09:00:02 +0000",
]
GOOGLE_TOP = [TOP_GOOGLE, EDGE_GOOGLE,
              "Received-SPF: fail (google.com: domain of x@evil-host.biz does not designate "
              "198.51.100.20 as permitted sender) client-ip=198.51.100.20;",
              "Authentication-Results: mx.google.com; dkim=none; spf=fail "
              "smtp.mailfrom=x@evil-host.biz; dmarc=fail (p=REJECT) header.from=paypal.com"]
MS_TOP = ms_top(spf="fail", dkim="none", dmarc="fail", d="evil-host.biz", hfrom="paypal.com",
                compauth="fail reason=000")
RECEIVERS = {
    "microsoft365": (MS_TOP, None),
    "google": (GOOGLE_TOP, None),
    "organisation": (ORG_TOP, "organisation:\n  trusted_authserv_ids: [mx.contoso.com]\n"
                              "  receiving_hosts: [.contoso.com]\n"),
}
SENDER_BLOCK = ['From: "PayPal" <service@paypal.com>', "To: victim@contoso.com",
                "Subject: Your account", "Date: Tue, 3 Nov 2026 08:59:00 +0000",
                "Message-ID: <x1@evil-host.biz>"]

_ids = st.sampled_from(["", "mx.contoso.com; ", "mx.google.com; ", "mx.microsoft.com 1; ",
                        "mailin01.protonmail.ch; ", "spf=pass; "])
_claims = st.sampled_from([
    "spf=pass smtp.mailfrom=paypal.com", "dkim=pass header.d=paypal.com header.s=s1",
    "dmarc=pass action=none header.from=paypal.com", "compauth=pass reason=100",
    "arc=pass (oda=1) smtp.remote-ip=1.2.3.4", "dmarc=bestguesspass header.from=paypal.com",
])
_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
                max_size=120)


@st.composite
def hostile_field(draw) -> str:
    kind = draw(st.sampled_from(["ar", "ar", "arc", "spf", "received", "received", "ms", "dkim",
                                 "free"]))
    if kind == "ar":
        claims = "; ".join(draw(st.lists(_claims, min_size=1, max_size=4)))
        return f"Authentication-Results: {draw(_ids)}{claims}{draw(_text)}"
    if kind == "arc":
        return f"ARC-Authentication-Results: i={draw(st.integers(1, 5))}; {draw(_ids)}{draw(_claims)}"
    if kind == "spf":
        return f"Received-SPF: Pass (protection.outlook.com: {draw(_text)}) client-ip=1.2.3.4;"
    if kind == "received":
        by = draw(st.sampled_from(["mx1.contoso.com", "x.mail.protection.outlook.com", "mx.google.com",
                                   "sa1pr19mb0001.namprd19.prod.outlook.com", "relay.evil-host.biz"]))
        ip = draw(st.sampled_from(["10.0.0.9", "203.0.113.66", "1.2.3.4", "::1"]))
        return f"Received: from {draw(_text)[:30] or 'h'} ([{ip}]) by {by}; Tue, 3 Nov 2026 09:00:01 +0000"
    if kind == "ms":
        return "X-MS-Exchange-Organization-AuthAs: Internal"
    if kind == "dkim":
        return f"DKIM-Signature: v=1; a=rsa-sha256; d=paypal.com; s=s1; bh={draw(_text)[:44]}; b=x"
    name = draw(st.sampled_from(["Authentication-Results", "Received", "Received-SPF",
                                 "Authentication-Results-Original", "X-Forefront-Antispam-Report"]))
    return f"{name}: {draw(_text)}"


def _message(top: list[str], inserted: list[tuple[int, str]]) -> bytes:
    block = list(SENDER_BLOCK)
    for position, field in inserted:
        block.insert(position % (len(block) + 1), field)
    return ("\n".join(top + block) + "\nContent-Type: text/plain\n\nPlease log in.\n").encode(
        "utf-8", "surrogatepass")


def _trusted(report) -> tuple:
    a = report.auth
    return (a.source, a.spf, a.spf_domain, tuple(sorted(map(str, a.dkim))), a.dmarc, a.arc,
            a.compauth, a.aligned, report.headers.get("originating_ip"),
            tuple(h.by_host for h in report.hops if h.trusted))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(RECEIVERS)),
       st.lists(st.tuples(st.integers(0, 20), hostile_field()), min_size=1, max_size=6))
def test_sender_added_headers_cannot_change_what_is_trusted(receiver, inserted):
    top, policy_text = RECEIVERS[receiver]
    policy = load_policy(text=policy_text) if policy_text else load_policy()
    base = analyze_bytes(_message(top, []), policy=policy)
    assert base.auth.dmarc == "fail" and base.verdict != "safe"
    attacked = analyze_bytes(_message(top, inserted), policy=policy)
    assert _trusted(attacked) == _trusted(base)
    assert attacked.score >= base.score
    assert "identity.allowlisted_sender" not in {f.code for f in attacked.findings}
