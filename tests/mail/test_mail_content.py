"""Content: links from text and HTML through the core extractor, and what they reveal."""

from __future__ import annotations

import base64

from mailmaker import eml, multipart

from socflow.extract import ExtractConfig
from socflow.mail import analyze_bytes, load_policy
from socflow.pipeline import extract_text

HTML = "text/html; charset=utf-8"


def report_of(body: str, ctype: str = HTML, policy=None, headers=None):
    return analyze_bytes(eml([], headers=headers, body=body, ctype=ctype), policy=policy)


def codes(report) -> set[str]:
    return {f.code for f in report.findings}


def test_link_text_naming_another_host():
    r = report_of('<a href="https://docs-share.online/x">https://www.paypal.com/signin</a>')
    assert "content.link_mismatch" in codes(r)
    link = r.links[0]
    assert (link.host, link.shown_host) == ("docs-share.online", "www.paypal.com")
    # Same organisation (tracking sub-domain) and plain words are not mismatches.
    assert "content.link_mismatch" not in codes(report_of(
        '<a href="https://click.fabrikam.com/t/1">www.fabrikam.com</a><a href="https://x.org/">Read more</a>'))


def test_link_to_the_senders_own_domain_is_not_a_mismatch():
    r = report_of('<a href="https://news.fabrikam.com/r/1">https://www.partner-shop.com</a>')
    assert "content.link_mismatch" not in codes(r)


def test_shortener_ip_data_uri_and_meta_refresh():
    r = report_of('<a href="https://bit.ly/3xYz">go</a><a href="http://45.77.12.9/owa/">x</a>'
                  '<a href="data:text/html;base64,PGgxPg==">open</a>'
                  '<meta http-equiv="refresh" content="0; url=https://docs-share.online/">')
    assert {"content.shortener", "content.ip_url", "content.data_uri", "content.meta_refresh"} <= codes(r)


def test_credential_form_and_plain_form():
    r = report_of('<form action="https://x.online/p"><input name=u><input type="password"></form>')
    assert "content.credential_form" in codes(r)
    assert "content.form" in codes(report_of('<form action="https://x.online/s"><input name=q></form>'))


def test_forms_become_the_mail_form_taxonomy_playbooks_escalate_on():
    from socflow.mail.observables import taxonomies

    def form(report):
        return [(t.level.value, t.value) for t in taxonomies(report) if t.predicate == "Form"]

    assert form(report_of('<form action="https://x.online/p"><input type="password"></form>')) == [
        ("suspicious", "credentials")]
    assert form(report_of('<form action="https://x.online/s"><input name=q></form>')) == [("info", "form")]
    assert form(report_of('<p>no form</p>')) == []


def test_html_smuggling_markers():
    r = report_of("<script>var d=atob('TVqQ');var b=new Blob([d]);"
                  "location=URL.createObjectURL(b)</script>")
    assert "content.html_smuggling" in codes(r)
    assert "content.html_smuggling" not in codes(report_of("<script>var x = 1;</script>"))


def test_lookalike_and_punycode_links():
    r = report_of('<a href="https://paypa1.com/login">Log in</a>'
                  '<a href="https://xn--mnchen-3ya.de/">x</a>')
    assert {"content.lookalike_url", "content.punycode_url"} <= codes(r)
    # Cyrillic "аррӏе.com" written as punycode imitates apple.com (a shipped protected name)
    r = report_of('<a href="https://xn--80ak6aa92e.com/">x</a>')
    assert any(f.code == "content.lookalike_url" and "apple.com" in f.summary for f in r.findings)


def test_lure_phrases_from_the_policy():
    assert "content.lure" in codes(report_of("Please verify your account today.", "text/plain"))
    policy = load_policy(text="lists:\n  lures: [totally custom phrase]\n")
    assert "content.lure" in codes(report_of("a Totally  Custom\nphrase here", "text/plain", policy))
    assert "content.lure" not in codes(report_of("Please verify your account.", "text/plain", policy))


def test_allowlisted_domains_are_not_flagged():
    body = '<a href="https://bit.ly/x">https://www.fabrikam.com</a>'
    assert "content.shortener" in codes(report_of(body))
    policy = load_policy(text="organisation:\n  allowlist:\n    domains: [bit.ly]\n")
    r = report_of(body, policy=policy)
    assert not codes(r) & {"content.shortener", "content.link_mismatch"}
    assert not any(i["value"] == "bit.ly" for i in r.indicators)  # extractor allowlist too


def test_indicators_equal_the_core_extractor_on_the_same_text():
    text = ("Contact hxxp://evil[.]example-shop.com/a?b=1 or admin@fabrikam.com from 198.51.100.77, "
            "hash 44d88612fea8a8f36de82e1278abb02f, and https://docs-share.online/x.\n")
    r = report_of(text, "text/plain", headers=["From: a <a@fabrikam.com>"])
    mail_values = {(i["type"], i["value"]) for i in r.indicators if "body:text/plain" in i["where"]}
    config = ExtractConfig(format="plain")
    log_values = {(i.type.value, i.value) for i in extract_text(text, config).iocs}
    assert mail_values == log_values
    assert ("url", "http://evil.example-shop.com/a?b=1") in mail_values  # refanged by the core


def test_base64_and_quoted_printable_html_bodies_and_plain_urls():
    html = '<a href="https://docs-share.online/q">https://www.dhl.com/track</a>'
    ctype, body = multipart([
        ("text/html; charset=utf-8", "Content-Transfer-Encoding: base64\n",
         base64.encodebytes(html.encode()).decode()),
        ("text/plain; charset=utf-8", "Content-Transfer-Encoding: quoted-printable\n",
         "See https://portal.fabrikam.com/t=\n/123 for details=2E\n")])
    r = analyze_bytes(eml([], body=body, ctype=ctype))
    assert "content.link_mismatch" in codes(r)
    assert any(link.url == "https://portal.fabrikam.com/t/123" for link in r.links)
