"""The token classifier as it was before its speed-ups, frozen for the equivalence tests.

Only what was rewritten is copied (the regexes that gained a leading ``\\b``, the guards in
``classify_text``, ``urlsplit`` in ``_urls``, ``ipaddress`` in ``_host``, the version checks in
``_ipv4s``, ``_valid_label``) plus the functions that call them; everything else is the live
code. Do not "fix" this file: it is the behaviour the fast code must keep.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import unquote, urlsplit

from socflow.extract.tokens import (
    _CVE,
    _CVE_HINT,
    _HASHY,
    _IPV4_MAPPED,
    _LABEL,
    _MAIL_DOMAIN,
    _OCTET,
    _QUERY_SEPARATORS,
    _SSH_ALGORITHM,
    _SSH_ALGORITHM_DOMAINS,
    _STR_DELIMITERS,
    _TAGGED_MAIL,
    _VERSION_PARAMETER,
    MAX_TOKEN,
    Found,
    _foreign_scheme,
    _hashes,
    _ipv6s,
    _trim_url,
)
from socflow.extract.validate import FILE_LIKE_TLDS, _classify_v4, classify_ip, icann_tlds
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
    r"((?:" + _LABEL + r"\.(?=[A-Za-z0-9]))++[A-Za-z][A-Za-z0-9-]{0,62}+)"
    r"(?![\w@-]|\.[\w-])"
)
_MAIL = re.compile(
    r"(?:(?<=mailto:)|(?<=MAILTO:)|(?<=[^\w.%+/:-]\+)|(?<=^\+)|(?<![\w.%+/:-]))(\w[\w.%+-]{0,63}+"
    + _MAIL_DOMAIN
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
        found.extend(_percent_decoded(text))
    return found


def _percent_decoded(text: str) -> list[Found]:
    found: list[Found] = []
    for part in _QUERY_SEPARATORS.split(text):
        if "%" not in part:
            continue
        plain = unquote(unquote(part))
        if plain != part:
            for piece in plain.translate(_STR_DELIMITERS).split():
                found.extend(classify_text(piece, decoded=True))
    return found


def _urls(text: str) -> list[Found]:
    found: list[Found] = []
    for m in _URL.finditer(text):
        url = m.group(1)
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
    matches = [m for m in _MAIL.finditer(text)
               if not any(start <= m.start(1) < end for start, end in tagged)]
    mails = [text[start:end] for start, end in tagged] + [m.group(1) for m in matches]
    for mail in mails:
        local, _, domain = mail.rpartition("@")
        domain = domain.lower()
        if not local.strip(".") or not is_domain(domain, host_position=True):
            continue
        if not (domain in _SSH_ALGORITHM_DOMAINS and _SSH_ALGORITHM.fullmatch(local)):
            found.append((IocType.MAIL, f"{local}@{domain}".lower(), ""))
        found.append((IocType.DOMAIN, domain, ""))
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
    for m in _DOMAIN.finditer(text):
        name = m.group(1).lower()
        if _foreign_scheme(text, m.start(1)) or name.endswith(".arpa"):
            continue
        if is_domain(name):
            found.append((IocType.DOMAIN, name, ""))
    return found


def _valid_label(label: str) -> bool:
    return (
        0 < len(label) <= 63
        and not label.startswith("-")
        and not label.endswith("-")
        and all(c.isalnum() or c == "-" for c in label)
    )


def is_domain(value: str, *, host_position: bool = False) -> bool:
    if not value or len(value) > 253 or not value.isascii():
        return False
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
    return True
