"""What the message says and links to: URLs from text and HTML (through the core extractor),
link text that names another host than the link goes to, shorteners, ``data:`` URIs, forms that
ask for passwords, HTML smuggling markers, lure phrases."""

from __future__ import annotations

import re
from functools import lru_cache
from html.parser import HTMLParser
from typing import Any

from ..extract import find_iocs
from ..extract.validate import classify_ip
from ..models import IocType, IpClass
from .auth import org
from .identity import lookalike_of, mixed_script, to_unicode
from .model import Finding, Link
from .policy import MailPolicy

SMUGGLING_MARKERS = ("atob(", "new blob(", "createobjecturl", "mssaveoropenblob",
                     "mssaveblob", "fromcharcode(", "unescape(")
_HOST_TYPES = (IocType.DOMAIN, IocType.IPV4, IocType.IPV6)


class _Html(HTMLParser):
    """Collects anchors (href + visible text), forms, password inputs, script markers,
    meta refresh targets and the visible text; never executes or fetches anything."""

    def __init__(self, max_links: int) -> None:
        super().__init__(convert_charrefs=True)
        self.max_links = max_links
        self.anchors: list[list[str]] = []  # [href, text, download]
        self._anchor: list[str] | None = None
        self.forms: list[dict[str, Any]] = []
        self.passwords = 0
        self.script: list[str] = []
        self._in_script = False
        self._skip = 0  # inside <style>/<head><title>
        self.text: list[str] = []
        self.refresh: list[str] = []
        self.data_uris: list[str] = []
        self.iframes: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        if tag == "a" and len(self.anchors) < self.max_links:
            self._anchor = [a.get("href", "").strip(), "", "download" if "download" in a else ""]
            self.anchors.append(self._anchor)
            if self._anchor[0].lower().startswith("data:"):
                self.data_uris.append(self._anchor[0][:120])
        elif tag == "form":
            self.forms.append({"action": a.get("action", "")[:500], "method": a.get("method", "")})
            if a.get("action", "").lower().startswith("data:"):
                self.data_uris.append(a["action"][:120])
        elif tag == "input" and a.get("type", "").lower() == "password":
            self.passwords += 1
        elif tag in ("script",):
            self._in_script = True
            src = a.get("src", "")
            if src:
                self.script.append(f"src={src[:200]}")
        elif tag in ("style", "title"):
            self._skip += 1
        elif tag == "meta" and a.get("http-equiv", "").lower() == "refresh":
            content = a.get("content", "")
            if "url=" in content.lower():
                self.refresh.append(content[content.lower().index("url=") + 4:].strip(" '\""))
        elif tag in ("iframe", "embed", "object"):
            src = a.get("src", "") or a.get("data", "")
            if src.lower().startswith("data:"):
                self.data_uris.append(src[:120])
            elif src:
                self.iframes.append(src[:500])
        for key in ("onload", "onerror", "onclick"):
            if key in a:
                self.script.append(a[key][:2000])

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._anchor = None
        elif tag == "script":
            self._in_script = False
        elif tag in ("style", "title") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if self._in_script:
            if sum(map(len, self.script)) < 1 << 20:
                self.script.append(data)
            return
        if self._skip:
            return
        if self._anchor is not None and len(self._anchor[1]) < 500:
            self._anchor[1] += data
        self.text.append(data)


def parse_html(html: str, max_links: int) -> _Html:
    parser = _Html(max_links)
    try:
        parser.feed(html)
        parser.close()
    except (AssertionError, ValueError):  # malformed markup: keep what was read
        pass
    return parser


@lru_cache(maxsize=8192)
def _iocs(text: str) -> tuple[tuple[IocType, str], ...]:
    """The core extractor on one short text (cached: newsletters repeat link texts)."""
    return tuple(find_iocs(text))


def _url_and_host(text: str) -> tuple[str, str]:
    """The first URL the core extractor finds in ``text`` and its host; with no URL, the first
    domain/IP named ("" for a mailbox: "write to a@b.example" names no web site)."""
    if "." not in text and ":" not in text:
        return "", ""
    found = _iocs(text[:2000])
    url = ""
    for kind, value in found:
        if kind is IocType.URL and not url:
            url = value
        elif kind in _HOST_TYPES and url:
            return url, value
    for kind, value in found:
        if kind in _HOST_TYPES:
            return url, value
        if kind is IocType.MAIL:
            return url, ""
    return url, ""


def _first_host(text: str) -> str:
    return _url_and_host(text)[1]


def _first_url(text: str) -> str:
    return _url_and_host(text)[0]


def links_from_html(doc: _Html, where: str) -> list[Link]:
    out = []
    for href, text, _ in doc.anchors:
        if not href or href.startswith(("#", "mailto:", "tel:", "cid:")):
            continue
        url, host = _url_and_host(href) if "://" in href else ("", "")
        if not url:
            host = ""
        shown = " ".join(text.split())[:200]
        out.append(Link(url=url or href[:500], host=host, text=shown,
                        shown_host=_first_host(shown) if shown else "", where=where))
    for target in doc.refresh:
        url = _first_url(target)
        if url:
            out.append(Link(url=url, host=_first_host(url), where=f"{where} meta-refresh"))
    return out


def links_from_text(urls: list[str], where: str) -> list[Link]:
    return [Link(url=u, host=_first_host(u), where=where) for u in urls]


def check_links(links: list[Link], from_domain: str, policy: MailPolicy) -> list[Finding]:
    findings: dict[str, Finding] = {}
    from_org = org(from_domain) if from_domain else ""
    shorteners = set(policy.lists.shorteners)

    def add(code: str, summary: str, item: dict[str, Any]) -> None:
        f = findings.get(code)
        if f is None:
            findings[code] = Finding(code, summary, {"links": [item]})
        elif len(f.evidence["links"]) < 10:
            f.evidence["links"].append(item)

    for link in links:
        host = link.host
        if host and policy.allowed_domain(host):
            continue
        item = {"url": link.url[:300], "text": link.text[:120], "where": link.where}
        if link.url.lower().startswith("data:"):
            add("content.data_uri", "a link opens a data: URI (content carried inside the mail)", item)
            continue
        if not host:
            continue
        host_org = org(host) if classify_ip(host) is None else host
        if link.shown_host and not policy.allowed_domain(link.shown_host):
            shown_org = org(link.shown_host) if classify_ip(link.shown_host) is None else link.shown_host
            if shown_org and shown_org != host_org and host_org != from_org:
                add("content.link_mismatch",
                    f"link text shows {link.shown_host} but the link goes to {host}",
                    {**item, "shown_host": link.shown_host, "host": host})
        if host_org in shorteners:
            add("content.shortener", f"a link uses the URL shortener {host}", item)
        cls = classify_ip(host)
        if cls is not None and cls is IpClass.PUBLIC:
            add("content.ip_url", f"a link goes to a bare IP address ({host})", item)
        if cls is None:
            hit = lookalike_of(host, policy.protected)
            if hit:
                add("content.lookalike_url",
                    f"a link goes to {to_unicode(host)}, which imitates {hit[0]} ({hit[1]})",
                    {**item, "imitates": hit[0]})
            elif "xn--" in host:
                uni = to_unicode(host)
                add("content.punycode_url", f"a link goes to an internationalised name ({uni})"
                    + (" mixing scripts" if mixed_script(uni) else ""), {**item, "unicode": uni})
    return list(findings.values())


def check_html(doc: _Html, where: str) -> list[Finding]:
    findings = []
    if doc.forms:
        if doc.passwords:
            findings.append(Finding(
                "content.credential_form",
                f"{where} holds a form asking for a password",
                {"forms": doc.forms[:5], "password_fields": doc.passwords, "where": where}))
        else:
            findings.append(Finding("content.form", f"{where} holds a form",
                                    {"forms": doc.forms[:5], "where": where}))
    if doc.data_uris:
        findings.append(Finding("content.data_uri",
                                f"{where} links or embeds data: URIs", {"uris": doc.data_uris[:5]}))
    script = " ".join(doc.script).lower()
    markers = [m for m in SMUGGLING_MARKERS if m in script]
    downloads = [a[0][:120] for a in doc.anchors if a[2] and a[0].lower().startswith(("data:", "blob:"))]
    if (len(markers) >= 2 and ("atob(" in markers or "new blob(" in markers)) or downloads:
        findings.append(Finding(
            "content.html_smuggling",
            f"{where} builds a file in the browser (HTML smuggling: {', '.join(markers or ['download link'])})",
            {"markers": markers, "download_links": downloads, "where": where}))
    if doc.refresh:
        findings.append(Finding("content.meta_refresh",
                                f"{where} redirects the browser by itself (meta refresh)",
                                {"targets": doc.refresh[:3]}))
    return findings


def check_lures(subject: str, text: str, policy: MailPolicy) -> list[Finding]:
    haystack = " ".join(f"{subject}\n{text[:200_000]}".split()).lower()
    hits = [phrase for phrase in policy.lists.lures if phrase in haystack]
    if not hits:
        return []
    return [Finding("content.lure", f"pressure or lure wording: {', '.join(repr(h) for h in hits[:3])}",
                    {"phrases": hits[:10]})]


PASSWORD_HINT = re.compile(
    r"(?i)(?:password|passwort|mot de passe|contraseña|senha|wachtwoord|pwd|pass ?code|kennwort)"
    r"\s*(?:is|:|=|-)?\s*[\"'«]?([^\s\"'»<]{3,40})")
