"""Authentication results: parsing, which header is believed, alignment, DKIM body hashes."""

from __future__ import annotations

import base64
import hashlib

from mailmaker import EDGE_GOOGLE, EDGE_MS, INTERNAL_MS, TOP_GOOGLE, eml, ms_auth, ms_top

from socflow.mail import analyze_bytes, load_policy
from socflow.mail.auth import parse_authres, strip_comments


def codes(report):
    return {f.code for f in report.findings}


def test_parse_microsoft_idless_and_compauth():
    authserv, results = parse_authres(
        "spf=pass (sender IP is 209.85.1.2) smtp.mailfrom=gmail.com; dkim=pass (signature was "
        "verified) header.d=gmail.com;dmarc=pass action=none header.from=gmail.com;compauth=pass reason=100")
    assert authserv is None
    by_method = {r["method"]: r for r in results}
    assert by_method["spf"]["smtp.mailfrom"] == "gmail.com"
    assert by_method["dmarc"]["header.from"] == "gmail.com"
    assert by_method["compauth"] == {"method": "compauth", "result": "pass", "reason": "100"}


def test_parse_gmail_with_comments_and_version():
    authserv, results = parse_authres(
        "mx.google.com 1; dkim=pass header.i=@x.com header.s=s1 header.b=Ab12; spf=pass "
        "(google.com: domain of a@x.com designates 1.2.3.4 as permitted sender; x=y) "
        "smtp.mailfrom=a@x.com; dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=x.com")
    assert authserv == "mx.google.com"
    assert [r["method"] for r in results] == ["dkim", "spf", "dmarc"]
    assert results[1]["smtp.mailfrom"] == "a@x.com"


def test_parse_protonmail_one_method_per_field_and_nested_comments():
    authserv, results = parse_authres(
        "mailin027.protonmail.ch; dkim=fail (body hash mismatch (got b'x', expected b'y')) header.d=a.com")
    assert authserv == "mailin027.protonmail.ch"
    assert results == [{"method": "dkim", "result": "fail", "header.d": "a.com"}]
    assert strip_comments("a (b (c) d) e") == "a  e"


def test_microsoft_encoded_word_results_are_decoded_and_believed():
    encoded = "=?utf-8?B?" + base64.b64encode(
        "spf=fail smtp.mailfrom=x.biz; dkim=none header.d=none;dmarc=fail action=quarantine "
        "header.from=✔️Kommer-Bitcoin✔️;compauth=fail reason=000".encode()).decode() + "?="
    report = analyze_bytes(eml([INTERNAL_MS, "Authentication-Results: " + encoded, EDGE_MS]))
    assert report.auth.source == "microsoft365"
    assert report.auth.dmarc == "fail" and report.auth.spf == "fail"
    assert "auth.dmarc_fail" in codes(report)


def test_microsoft_results_trusted_only_when_exchange_online_delivered():
    # The same id-less header, delivered by some other server: not believed.
    report = analyze_bytes(eml([
        "Received: from mail.sender-co.com (mail.sender-co.com [198.51.100.20]) by mx.other.net "
        "(Postfix) with ESMTP id 1; Tue, 3 Nov 2026 09:00:02 +0000", ms_auth()]))
    assert report.auth.source == ""
    assert "auth.none" in codes(report)
    assert report.auth.ignored and report.auth.ignored[0]["authserv_id"] == "(none)"
    # With the provider rule switched off, Exchange's own header is not believed either.
    off = load_policy(text="organisation:\n  trust_microsoft365: false\n")
    assert analyze_bytes(eml(ms_top()), policy=off).auth.source == ""
    assert analyze_bytes(eml(ms_top())).auth.source == "microsoft365"


def test_topmost_trusted_header_wins_over_sender_copies():
    sender_copy = ms_auth(spf="pass", dmarc="pass")
    report = analyze_bytes(eml(ms_top(spf="fail", dkim="none", dmarc="fail",
                                      compauth="fail reason=000"),
                               bottom=[sender_copy]))
    assert report.auth.dmarc == "fail"
    assert "auth.forged_results" in codes(report)
    assert report.verdict != "safe"


def test_gmail_results_below_its_received_field_are_believed():
    auth = ("Authentication-Results: mx.google.com; dkim=pass header.i=@fabrikam.com header.s=s1; "
            "spf=pass smtp.mailfrom=bounce@fabrikam.com; dmarc=pass (p=NONE) header.from=fabrikam.com")
    report = analyze_bytes(eml([TOP_GOOGLE, EDGE_GOOGLE, auth]))
    assert report.auth.source == "authserv-id mx.google.com"
    assert report.auth.aligned is True and report.auth.aligned_by == "dkim"
    assert "auth.forged_results" not in codes(report)
    off = load_policy(text="organisation:\n  trust_google: false\n")
    assert analyze_bytes(eml([TOP_GOOGLE, EDGE_GOOGLE, auth]), policy=off).auth.source == ""


def test_organisation_authserv_id_and_receiving_hosts():
    top = [
        "Authentication-Results: mx.contoso.com; spf=fail smtp.mailfrom=fabrikam.com; dmarc=fail header.from=fabrikam.com",
        "Received: from mail.sender-co.com (mail.sender-co.com [198.51.100.20]) by mx1.contoso.com "
        "(Postfix) with ESMTP id 1; Tue, 3 Nov 2026 09:00:02 +0000"]
    default = analyze_bytes(eml(top))
    assert default.auth.source == ""  # nobody configured mx.contoso.com
    policy = load_policy(text="organisation:\n  trusted_authserv_ids: [mx.contoso.com]\n"
                              "  receiving_hosts: [.contoso.com]\n")
    report = analyze_bytes(eml(top), policy=policy)
    assert report.auth.source == "authserv-id mx.contoso.com"
    assert report.auth.dmarc == "fail"
    assert report.hops[-1].trusted and report.headers["originating_ip"] == "198.51.100.20"


def test_alignment_uses_organisational_domains():
    # DKIM d=mail.fabrikam.com aligns (relaxed) with From news.fabrikam.com; d=fabrikam.co.uk does not.
    ok = analyze_bytes(eml(ms_top(dmarc="none", d="mail.fabrikam.com"), headers=[
        "From: n <n@news.fabrikam.com>", "Subject: s"]))
    assert ok.auth.aligned is True
    bad = analyze_bytes(eml(ms_top(dmarc="none", spf="pass", dkim="pass", d="fabrikam.co.uk"),
                            headers=["From: n <n@fabrikam.com>", "Subject: s"]))
    assert bad.auth.aligned is False
    assert "auth.not_aligned" in codes(bad)


def test_own_domain_spoof_needs_own_domains():
    top = ms_top(spf="fail", dkim="none", dmarc="none", d="evil-host.biz", hfrom="contoso.com",
                 compauth="pass reason=100")
    msg = eml(top, headers=["From: CEO <ceo@contoso.com>", "Subject: s"])
    assert "auth.own_domain_spoof" not in codes(analyze_bytes(msg))
    policy = load_policy(text="organisation:\n  own_domains: [contoso.com]\n")
    report = analyze_bytes(msg, policy=policy)
    assert "auth.own_domain_spoof" in codes(report)
    assert report.verdict != "safe"


def _relaxed(body: bytes) -> bytes:
    lines = body.replace(b"\r\n", b"\n").split(b"\n")
    out = [b" ".join(line.split()) for line in lines]
    while out and out[-1] == b"":
        out.pop()
    return b"".join(line + b"\r\n" for line in out)


def _dkim(body: str, length: int | None = None) -> str:
    canon = _relaxed(body.encode())
    if length is not None:
        canon = canon[:length]
    bh = base64.b64encode(hashlib.sha256(canon).digest()).decode()
    tail = f" l={length};" if length is not None else ""
    return (f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=fabrikam.com; s=s1;{tail}"
            f" h=from:to; bh={bh}; b=AAAA")


def test_dkim_body_hash_checked_offline():
    body = "Hello  there \n\nsecond line\n\n\n"
    good = analyze_bytes(eml(ms_top(), body=body, bottom=[_dkim(body)]))
    assert [c["result"] for c in good.auth.body_hashes] == ["match"]
    assert "auth.dkim_body_hash_mismatch" not in codes(good)
    altered = analyze_bytes(eml(ms_top(), body=body + "PS: pay here\n", bottom=[_dkim(body)]))
    assert [c["result"] for c in altered.auth.body_hashes] == ["mismatch"]
    assert "auth.dkim_body_hash_mismatch" in codes(altered)


def test_dkim_length_tag_is_a_finding():
    body = "Original text.\n"
    canon_len = len(_relaxed(body.encode()))
    report = analyze_bytes(eml(ms_top(), body=body + "appended\n", bottom=[_dkim(body, canon_len)]))
    assert report.auth.body_hashes[0]["result"] == "match"
    assert "auth.dkim_length_tag" in codes(report)


def test_broken_dkim_signature_is_an_error_entry_not_a_crash():
    report = analyze_bytes(eml(ms_top(), bottom=["DKIM-Signature: this is ; not = ; tags ==="]))
    assert report.auth.body_hashes[0]["result"].startswith("error")
