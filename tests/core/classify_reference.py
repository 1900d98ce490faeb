"""The token classifier as it was before its speed-ups, frozen for the equivalence tests.

Only what was rewritten is copied (the regexes that gained a leading ``\\b``, the guards in
``classify_text``, ``urlsplit`` in ``_urls``, ``ipaddress`` in ``_host``, the version checks in
``_ipv4s``, ``_valid_label``) plus the functions that call them; everything else is the live
code. Do not "fix" this file: it is the behaviour the fast code must keep.

Updated on purpose once, for issue 12 (each change marked "issue 12"): a URL ends at a bracket
it did not open and at "," / ";" only as a list field or before another URL (tokens._url_end);
the decoded copy of a URL written out is not reported; Unicode (IDN) names are domains, reported
with their A-label too; "_" is valid in host labels; mailboxes may start after a run of
punctuation and lose a leader ("Primary.....anna@"); object paths ("window.name") are no
domains. The speed-ups this file guards are unchanged.
"""

from __future__ import annotations

import ipaddress
import re
from itertools import islice
from urllib.parse import unquote, urlsplit

from socflow.extract.tokens import (
    _CVE,
    _IDN_MAIL_DOMAIN,
    _LEADER,
    _ULABEL,
    _URL_START,
    _CVE_HINT,
    _HASHY,
    _IPV4_MAPPED,
    _LABEL,
    _MAIL_DOMAIN,
    _OCTET,
    _QUERY_SEPARATORS,
    _SSH_ALGORITHM,
    _SSH_ALGORITHM_DOMAINS,
    _TAGGED_MAIL,
    _VERSION_PARAMETER,
    MAX_NESTED_URLS,
    MAX_TOKEN,
    Found,
    _foreign_scheme,
    _hashes,
    _ipv6s,
    _reported,
    _trim_url,
    _url_end,
    text_tokens,
)
from socflow.extract.validate import (
    FILE_LIKE_TLDS,
    _classify_v4,
    classify_ip,
    domain_forms,
    icann_tlds,
    is_property_chain,
    to_alabel,
)
from socflow.models import IocType

# Frozen here: the module now finds URL starts and run ends separately, and walks back from a
# slash instead of searching the whole prefix (linear time on "http://http://…", "a/1.1.1.1/…").
_URL = re.compile(r"(?<![\w.-])(?=((?:https?|ftp|sftp|wss?)://[^\s\"'<>\x00]++))",
                  re.IGNORECASE)
_PRODUCT_SLASH = re.compile(r"(?:^|[^\w./-])[A-Za-z][\w.-]*/$")

_IPV4 = re.compile(
    r"(?:(?<=//)|(?<=[\w-]:)|(?<=[\w-]/)|(?<![\w.:/%-]))(" + r"\.".join([_OCTET] * 4) + r")"
    r"(?!\w|\.[\w-]|(?:/|%2[Ff])(?:3[01]|[12]?\d)(?!\d))"
)
_DOMAIN = re.compile(
    r"(?:(?<=//)|(?<=\*\.)|(?<![\w.@%/-]))"
    r"((?:" + _LABEL + r"\.(?=[A-Za-z0-9_]))++[A-Za-z][A-Za-z0-9-]{0,62}+)"  # issue 12: "_"
    r"(?![\w@-]|\.[\w-])"
)
# issue 12: a mailbox may start after punctuation that follows punctuation ("...support@")
_MAIL_START = (r"(?:(?<=mailto:)|(?<=MAILTO:)|(?<=[^\w/%][.:+-])|(?<=^[.:+-])"
               r"|(?<![\w.%+/:-]))(\w[\w.%+-]{0,63}+")
_MAIL = re.compile(_MAIL_START + _MAIL_DOMAIN)
_IDN_MAIL = re.compile(_MAIL_START + _IDN_MAIL_DOMAIN)  # issue 12
_IDN_DOMAIN = re.compile(  # issue 12
    r"(?:(?<=//)|(?<=\*\.)|(?<![\w.@%/-]))"
    r"((?:" + _ULABEL + r"\.(?=\w))++[^\W\d_][\w-]{0,62}+)"
    r"(?![\w@-]|\.[\w-])"
)


def classify_token(token: bytes) -> tuple[Found, ...]:
    if b"." not in token and b"@" not in token and b"%" not in token:
        if b"::" in token or token.count(b":") >= 7:
            pass
        elif len(token) < 13:
            return ()
        elif (len(token) < 32 or not _HASHY.search(token)) and not _CVE_HINT.search(token):
            return ()
    bare = token.rstrip(b".,:;")
    if 7 <= len(bare) <= 15 and not bare.translate(None, b"0123456789."):
        value = bare.decode("ascii")
        if value != "0.0.0.0" and _classify_v4(value) is not None:
            return ((IocType.IPV4, value, ""),)
        return ()
    if len(token) > MAX_TOKEN:
        return tuple(
            dict.fromkeys(
                f for i in range(0, len(token), MAX_TOKEN)
                for f in classify_text(token[i : i + MAX_TOKEN].decode("utf-8", "replace"))
            )
        )
    return tuple(dict.fromkeys(classify_text(token.decode("utf-8", "replace"))))


def classify_text(text: str, *, decoded: bool = False) -> list[Found]:
    found: list[Found] = []
    if "://" in text:
        found.extend(_urls(text))
    if "@" in text:
        found.extend(_mails(text))
    if "." in text:
        found.extend(_ipv4s(text))
        found.extend(_domains(text))
    if text.count(":") >= 2:
        found.extend(_ipv6s(text))
    if len(text) >= 32:
        found.extend(_hashes(text))
    if len(text) >= 13 and ("CVE" in text or "cve" in text.lower()):
        found.extend((IocType.CVE, m.upper().replace("_", "-"), "") for m in _CVE.findall(text))
    if not decoded and "%" in text:
        urls = [value for kind, value, _ in found if kind is IocType.URL]
        found.extend(_percent_decoded(text, urls))
    return found


def _percent_decoded(text: str, urls: list[str]) -> list[Found]:
    found: list[Found] = []
    for part in _QUERY_SEPARATORS.split(text):
        if "%" not in part:
            continue
        plain = unquote(unquote(part))
        if plain != part:
            # issue 12: not the decoded copy of a URL written out; the tokens of a URL's text
            written = [unquote(unquote(part[m.start():]))
                       for m in islice(_URL_START.finditer(part), MAX_NESTED_URLS)
                       if _reported(part[m.start():], urls)]
            for piece in text_tokens(plain):
                for item in classify_text(piece, decoded=True):
                    if item[0] is IocType.URL and any(w.startswith(item[1]) for w in written):
                        continue
                    found.append(item)
    return found


def _urls(text: str) -> list[Found]:
    found: list[Found] = []
    for m in _URL.finditer(text):
        url = m.group(1)
        # issue 12: "," ";" "(" ")" "[" "]" belong to a URL unless they end it
        url = url[: _url_end(url, 0, len(url), text[m.start() - 1 : m.start()] in (",", ";"))]
        if m.start() > 0 and text[m.start() - 1] == "=":
            url = url.split("&", 1)[0]
        url = _trim_url(url)
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").rstrip(".")
        except ValueError:
            continue
        host_found = _host(host)
        if host_found is None:
            continue
        found.append((IocType.URL, url, ""))
        if host_found[0] is IocType.DOMAIN:  # issue 12: a Unicode host with its A-label
            found.extend((IocType.DOMAIN, name, "") for name in domain_forms(host_found[1]))
        else:
            found.append(host_found)
    return found


def _host(host: str) -> Found | None:
    if not host:
        return None
    ip_class = classify_ip(host)
    if ip_class is not None:
        ip = ipaddress.ip_address(host)
        return (IocType.IPV6 if ip.version == 6 else IocType.IPV4, ip.compressed, "")
    host = host.lower()
    return (IocType.DOMAIN, host, "") if is_domain(host, host_position=True) else None


def _mails(text: str) -> list[Found]:
    found: list[Found] = []
    tagged = [m.span(1) for m in _TAGGED_MAIL.finditer(text)] if "=" in text else []
    matches = [m for m in (_MAIL if text.isascii() else _IDN_MAIL).finditer(text)
               if not any(start <= m.start(1) < end for start, end in tagged)]
    mails = [text[start:end] for start, end in tagged] + [m.group(1) for m in matches]
    for mail in mails:
        local, _, domain = mail.rpartition("@")
        domain = domain.lower()
        if not local.strip(".") or not is_domain(domain, host_position=True):
            continue
        leaders = [m.end() for m in _LEADER.finditer(local)]  # issue 12
        if leaders:
            local = local[leaders[-1]:]
            if not local or not local[0].isalnum():
                continue
        if not (domain in _SSH_ALGORITHM_DOMAINS and _SSH_ALGORITHM.fullmatch(local)):
            found.append((IocType.MAIL, f"{local}@{domain}".lower(), ""))
        found.extend((IocType.DOMAIN, name, "") for name in domain_forms(domain))
    return found


def _ipv4s(text: str) -> list[Found]:
    found = [
        (IocType.IPV4, m.group(1), "")
        for m in _IPV4.finditer(text)
        if m.group(1) != "0.0.0.0" and not _VERSION_PARAMETER.search(text, 0, m.start())
        and not (text[m.start() - 1 : m.start()] == "/" and text[m.start() - 2 : m.start()] != "//"
                 and _PRODUCT_SLASH.search(text, 0, m.start()))
    ]
    if "::" in text:
        found.extend((IocType.IPV4, ip, "") for ip in _IPV4_MAPPED.findall(text))
    return found


def _domains(text: str) -> list[Found]:
    found: list[Found] = []
    for m in (_DOMAIN if text.isascii() else _IDN_DOMAIN).finditer(text):  # issue 12: IDN
        name = m.group(1).lower()
        if _foreign_scheme(text, m.start(1)) or name.endswith(".arpa"):
            continue
        if is_domain(name):
            found.extend((IocType.DOMAIN, form, "") for form in domain_forms(name))
    return found


def _valid_label(label: str) -> bool:
    return (
        0 < len(label) <= 63
        and not label.startswith("-")
        and not label.endswith("-")
        and all(c.isalnum() or c in "-_" for c in label)  # issue 12: "_" is valid in DNS
        and any(c.isalnum() for c in label)
    )


def is_domain(value: str, *, host_position: bool = False) -> bool:
    if not value or len(value) > 253:
        return False
    if not value.isascii():  # issue 12: an IDN is judged by its A-label
        alabel = to_alabel(value)
        return alabel is not None and is_domain(alabel, host_position=host_position)
    labels = value.split(".")
    if len(labels) < 2:
        return False
    tld = labels[-1]
    if tld not in icann_tlds() or tld.isdigit():
        return False
    if not all(_valid_label(label) for label in labels):
        return False
    if tld in FILE_LIKE_TLDS and not host_position:
        return False
    # issue 12: no "_" in the top-level label, nor (outside a host position) in the label under
    # it; object paths ("window.name", "host.name") are not domains
    if "_" in tld or (not host_position and ("_" in labels[-2] or is_property_chain(labels))):
        return False
    return True
