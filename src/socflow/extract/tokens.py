"""Classify one token (a whitespace/punctuation-delimited piece of a line) into indicators.

Logs repeat themselves, so the extractor classifies each distinct token once and caches the
answer; the regexes below therefore run on short strings, not on whole files. Every pattern is
written to run in linear time on adversarial input: lookbehinds stop matches from starting inside
a run of word characters, and possessive quantifiers stop backtracking. Where every lookbehind
alternative implies a word start, a leading ``\b`` rejects the other positions in one step.
"""

from __future__ import annotations

import ipaddress
import re
import string
from itertools import islice
from urllib.parse import unquote, urlsplit

from ..models import IocType
from .validate import _classify_v4, classify_ip, domain_forms, is_domain

# (type, normalised value, qualifier) — qualifier "query-string" marks hashes that sit in a
# query string parameter (usually a session id); the extractor decides whether to keep them.
Found = tuple[IocType, str, str]
QUERY_STRING = "query-string"

DELIMITERS = b"\"'<>[](){},;|\\`\x00"
DELIMITER_TABLE = bytes.maketrans(DELIMITERS, b" " * len(DELIMITERS))
# A token holding "://" is a URL's: it runs on over the delimiters a URL may hold (",;()[]":
# "?C=M;O=A", "/wiki/Widget_(GUI)", "http://[2001:db8::1]:8080/") up to whitespace or one of
# these; when it starts right after "," or ";" (a field of a list) it also ends at the next one.
# The C tokenizer (socflow._native.scan_lines) does exactly this; tokens_of is its twin.
_TOKEN = re.compile(rb"[^\s\"'<>\[\](){},;|\\`\x00]+")
_URL_TOKEN_END = re.compile(rb"[\s\"'<>{}|\\`\x00]")
_URL_FIELD_END = re.compile(rb"[\s\"'<>{}|\\`\x00,;]")
_TOKEN_STR = re.compile(_TOKEN.pattern.decode("latin-1"))
_URL_TOKEN_END_STR = re.compile(_URL_TOKEN_END.pattern.decode("latin-1"))
_URL_FIELD_END_STR = re.compile(_URL_FIELD_END.pattern.decode("latin-1"))
MAX_TOKEN = 1 << 16  # longer tokens are classified in pieces: linear time whatever comes in

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
# An address starts after "//", after "word:" (Cisco ASA "outside:198.51.100.5/443", SPF
# "ip4:203.0.113.5"; "rv:1.9.0.14" is weeded out as a version below), after a path segment
# ("/api/hosts/10.30.2.9"; "zlib/1.2.3.4" is a product version, weeded out below), or where no word, dot,
# colon, slash, percent or dash touches it; "/0".."/31" after it make it a network, while "/32"
# (one host) and "/port" leave it an address.
_IPV4 = re.compile(
    r"\b(?=\d)(?:(?<=//)|(?<=[\w-]:)|(?<=[\w-]/)|(?<![\w.:/%-]))(" + r"\.".join([_OCTET] * 4) + r")"
    r"(?!\w|\.[\w-]|(?:/|%2[Ff])(?:3[01]|[12]?\d)(?!\d))"
)
# An IPv6 address starts where no word, colon, dot or percent touches it, or after an SPF
# "ip6:" term or a mail header's "[IPv6:" literal (any case); "/128" after it is one host, any
# other "/n" makes it a network.
_IPV6 = re.compile(
    r"(?:(?<=[Ii][Pp]6:)|(?<=[Ii][Pp][Vv]6:)|(?<![\w:.%]))"
    r"(?=[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:)([0-9A-Fa-f:]{2,39}+)"
    r"(?:%[\w.-]{1,16}+)?(?!\w|:|\.\w|/(?!128(?!\d))\d)"
)
_IPV4_MAPPED = re.compile(r"(?<![\w:])::ffff:(" + r"\.".join([_OCTET] * 4) + r")(?!\w|\.\d)",
                          re.IGNORECASE)
# Host labels may hold "_" (valid in DNS names: "_dmarc.", "mail_gw."); the top-level label may
# not. validate.is_domain decides where an underscore is acceptable.
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
# The same in any script, for text that is not ASCII (IDN: "bücher-widgets.de", "пример.рф").
_ULABEL = r"[^\W_](?:[\w-]{0,61}[^\W_])?"
_DOMAIN = re.compile(
    r"\b(?:(?<=//)|(?<=\*\.)|(?<![\w.@%/-]))"
    r"((?:" + _LABEL + r"\.(?=[A-Za-z0-9_]))++[A-Za-z][A-Za-z0-9-]{0,62}+)"
    r"(?![\w@-]|\.[\w-])"
)
_IDN_DOMAIN = re.compile(
    r"\b(?:(?<=//)|(?<=\*\.)|(?<![\w.@%/-]))"
    r"((?:" + _ULABEL + r"\.(?=\w))++[^\W\d_][\w-]{0,62}+)"
    r"(?![\w@-]|\.[\w-])"
)
# A URL runs from its scheme to the first whitespace, quote, angle bracket or NUL, so every URL
# that starts inside another ("http://a/?u=http://b") ends where it ends: the end is found once
# per run of URL characters, not once per URL.
_URL_START = re.compile(r"(?<![\w.-])(?:https?|ftp|sftp|wss?)://(?=[^\s\"'<>\x00])",
                        re.IGNORECASE)
_URL_STOP = re.compile(r"[\s\"'<>\x00]")
# Inside that run, a URL ends at a ")" or "]" closing a bracket opened before it, at "," or ";"
# when it is a field of a list (starts right after one) or another URL follows.
_URL_INNER = re.compile(r"[()\[\],;]")
_URL_AHEAD = re.compile(r"(?:https?|ftp|sftp|wss?)://", re.IGNORECASE)
# URLs starting inside one run beyond this many are not read: each costs the rest of the run,
# so "http://http://http://…" would cost time quadratic in its length.
MAX_NESTED_URLS = 16
_MAIL_DOMAIN = r"@(?:" + _LABEL + r"\.(?=[A-Za-z0-9_]))++[A-Za-z][A-Za-z0-9-]{0,62}+)(?![\w-]|\.[\w-])"
_IDN_MAIL_DOMAIN = r"@(?:" + _ULABEL + r"\.(?=\w))++[^\W\d_][\w-]{0,62}+)(?![\w-]|\.[\w-])"
# A mailbox starts with a word character (any script: "joëlle.martin@"), after "mailto:", after
# a dot, colon, plus or dash that follows punctuation or starts the text ("...support@",
# "--jens@", "Billing::::billing@", bots' "+claudebot@…" like "+http://…"; not "user:pass@",
# "//git@") or where no word, dot, percent, plus, slash, colon or dash touches it.
_MAIL_START = (r"\b(?:(?<=mailto:)|(?<=MAILTO:)|(?<=[^\w/%][.:+-])|(?<=^[.:+-])"
               r"|(?<![\w.%+/:-]))(\w[\w.%+-]{0,63}+")
_MAIL = re.compile(_MAIL_START + _MAIL_DOMAIN)
_IDN_MAIL = re.compile(_MAIL_START + _IDN_MAIL_DOMAIN)
# A leader of dots, dashes or underscores inside the matched local part ("Primary.....anna@",
# "Legal_____legal@"): the mailbox starts after it (a local part has no ".." anyway).
_LEADER = re.compile(r"\.\.+|[-_.]{3,}")
# Return paths rewritten by forwarders and bounce handlers keep "=" in the mailbox: SRS
# ("SRS0=hash=TT=gmail.com=jane@fwd.example"), BATV ("prvs=tag=user@"), VERP
# ("bounce+8812-acct=example.com@mg.example").
_TAGGED_MAIL = re.compile(
    r"(?<![\w.%+/:=-])((?:(?i:srs[01]|prvs|btv1|msprvs1)=[\w.%+=-]{1,200}+"
    r"|\w[\w.-]{0,63}\+[\w.%+-]{0,100}=[\w.%+=-]{1,150}+)" + _MAIL_DOMAIN
)
# "curve25519-sha256@libssh.org", "aes128-gcm@openssh.com": SSH algorithm names, not mailboxes.
_SSH_ALGORITHM_DOMAINS = frozenset({"openssh.com", "libssh.org"})
_SSH_ALGORITHM = re.compile(
    r"(?i)[a-z0-9-]*(?:sha|aes|chacha|curve|hmac|umac|ecdsa|ed25519|ed448|zlib|rsa|poly1305|gcm"
    r"|ctr|nistp|mlkem|sntrup|etm|kex|cert|sk-)[a-z0-9-]*"
)
_HASH = re.compile(
    r"(?<![0-9A-Za-z_])([0-9a-fA-F]{64}|[0-9a-fA-F]{40}|[0-9a-fA-F]{32})(?![0-9A-Za-z_])"
)
_CVE = re.compile(r"(?<![A-Za-z0-9-])(CVE[-_]\d{4}[-_]\d{4,7})(?!\d)", re.IGNORECASE)
# "&v=1.0.3.7", "ver=4.2.0.1", "fw=4.2.1.17", "rv:1.9.0.14": a dotted quad given as a version.
_VERSION_PARAMETER = re.compile(
    r"(?i)(?:^|[^a-z])(?:v|ver|version|build|rev|rv|fw|firmware)[=:]$"
)
_HASH_TYPES = {32: IocType.MD5, 40: IocType.SHA1, 64: IocType.SHA256}
HASH_PARAMETERS = frozenset(
    {"md5", "sha1", "sha256", "hash", "filehash", "file_hash", "checksum", "sha", "digest"}
)
_URL_TRAILING = ".,;:!?)]}'\"*"
_HASHY = re.compile(rb"[0-9a-fA-F]{32}")
_HEX_COLON = b"0123456789abcdefABCDEF:"
_CVE_HINT = re.compile(rb"(?i)cve[-_]")
# Necessary conditions for _IPV4, _DOMAIN and _HASH, checked first: most texts fail them, and
# these patterns cost far less per character than lookbehinds tried at every position.
_IPV4_HINT = re.compile(r"\.\d")  # the dot before an octet
_DOMAIN_HINT = re.compile(r"\.[A-Za-z]")  # the dot before the top-level label
_HASH_HINT = re.compile(r"[0-9a-fA-F]{32}")


def tokens_of(line: bytes) -> list[bytes]:
    """The tokens of a line: split on whitespace and DELIMITERS, a URL's token running on over
    the delimiters a URL may hold (",;()[]"). The twin of the C tokenizer."""
    if b"://" not in line:
        return line.translate(DELIMITER_TABLE).split()
    return _url_aware_tokens(line, _TOKEN, _URL_TOKEN_END, _URL_FIELD_END, b",;")


def text_tokens(text: str) -> list[str]:
    """tokens_of for a str (an event field, decoded text)."""
    if "://" not in text:
        return text.translate(_STR_DELIMITERS).split()
    return _url_aware_tokens(text, _TOKEN_STR, _URL_TOKEN_END_STR, _URL_FIELD_END_STR, ",;")


def _url_aware_tokens(line, token_rx, url_end_rx, field_end_rx, separators):  # type: ignore[no-untyped-def]
    tokens = []
    pos = 0
    scheme_mark = "://" if isinstance(line, str) else b"://"
    while (m := token_rx.search(line, pos)) is not None:
        start, end = m.span()
        if scheme_mark in m.group():
            rx = field_end_rx if start and line[start - 1 : start] in separators else url_end_rx
            stop = rx.search(line, end)
            end = stop.start() if stop else len(line)
        tokens.append(line[start:end])
        pos = end
    return tokens


def classify_token(token: bytes) -> tuple[Found, ...]:
    """Every indicator inside ``token``; an empty tuple (the usual answer) when there is none."""
    if b"." not in token and b"@" not in token and b"%" not in token:
        # Left: IPv6 (hex digits and colons only), hashes (>= 32 hex digits) and CVE ids.
        if b"::" in token or token.count(b":") >= 7:
            pass  # may hold an IPv6 address (SRC=2001:db8::1, 2001:db8::53#53)
        elif len(token) < 13:
            return ()  # clock times, MAC addresses, words
        elif (len(token) < 32 or not _HASHY.search(token)) and not _CVE_HINT.search(token):
            return ()
    bare = token.rstrip(b".,:;")
    if 7 <= len(bare) <= 15 and not bare.translate(None, b"0123456789."):
        # The commonest indicator token: a bare dotted quad (no regex needed).
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
        written = [value for kind, value, _ in found if kind is IocType.URL]
    if "@" in text:
        found.extend(_mails(text))
    if "." in text:
        if _IPV4_HINT.search(text):
            found.extend(_ipv4s(text))
        if _DOMAIN_HINT.search(text):
            found.extend(_domains(text))
    if text.count(":") >= 2:
        found.extend(_ipv6s(text))
    if len(text) >= 32 and _HASH_HINT.search(text):
        found.extend(_hashes(text))
    if len(text) >= 13 and ("CVE" in text or "cve" in text.lower()):
        found.extend((IocType.CVE, m.upper().replace("_", "-"), "") for m in _CVE.findall(text))
    if not decoded and "%" in text:
        found.extend(_percent_decoded(text, written if "://" in text else []))
    return found


def _percent_decoded(text: str, urls: list[str]) -> list[Found]:
    """``u=http%3A%2F%2Fevil.com`` hides ``http://evil.com``: decode (twice, for double encoding).

    A URL written as such (``urls``: those reported from ``text``) is reported as written: the
    decoded copy of it ("/a%20b" read as "/a b", so "/a") is no indicator; URLs that only
    decoding reveals are."""
    found: list[Found] = []
    # Decode each query parameter on its own: an encoded URL ends where its parameter ends.
    for part in _QUERY_SEPARATORS.split(text):
        if "%" not in part:
            continue
        plain = unquote(unquote(part))
        if plain == part:
            continue
        # (at most MAX_NESTED_URLS starts, as _urls reads: linear time on "http://…%20http://…")
        written = [unquote(unquote(part[m.start():]))
                   for m in islice(_URL_START.finditer(part), MAX_NESTED_URLS)
                   if _reported(part[m.start():], urls)] if urls and "://" in part else []
        for piece in text_tokens(plain):
            for item in classify_text(piece, decoded=True):
                if item[0] is IocType.URL and any(w.startswith(item[1]) for w in written):
                    continue  # the decoded copy of a URL that is written out
                found.append(item)
    return found


def _reported(tail: str, urls: list[str]) -> bool:
    """A URL starting the text ``tail`` (cut at the next "?", "&" or ";") is among ``urls``."""
    return any(url.startswith(tail) or tail.startswith(url) for url in urls)


_QUERY_SEPARATORS = re.compile(r"[?&;]")
_STR_DELIMITERS = str.maketrans(DELIMITERS.decode("latin-1"), " " * len(DELIMITERS))


def _urls(text: str) -> list[Found]:
    found: list[Found] = []
    run_end = nested = 0
    for m in _URL_START.finditer(text):
        if m.start() >= run_end:
            stop = _URL_STOP.search(text, m.end())
            run_end, nested = (stop.start() if stop else len(text)), 0
        nested += 1
        if nested > MAX_NESTED_URLS:
            continue
        start = m.start()
        before = text[start - 1] if start else ""
        end = _url_end(text, start, run_end, before in (",", ";")) if "," in text or ";" in text \
            or "(" in text or ")" in text or "[" in text or "]" in text else run_end
        url = text[start:end]
        if before == "=":
            url = url.split("&", 1)[0]  # a URL given as a query parameter ends with it
        url = _trim_url(url)
        host_found = _host(_url_host(url).rstrip("."))
        if not host_found:
            continue
        found.append((IocType.URL, url, ""))
        found.extend(host_found)
    return found


def _url_end(text: str, start: int, end: int, field: bool) -> int:
    """Where the URL starting at ``start`` ends inside its run ``text[start:end]``: at a ")" or
    "]" closing a bracket opened before it, and at "," or ";" when the URL is a field of a list
    (``field``: it starts right after one) or another URL follows. One pass: linear time."""
    parens = brackets = 0
    pos = start
    while (m := _URL_INNER.search(text, pos, end)) is not None:
        c, i = m.group(), m.start()
        if c == "(":
            parens += 1
        elif c == ")":
            if not parens:
                return i
            parens -= 1
        elif c == "[":
            brackets += 1
        elif c == "]":
            if not brackets:
                return i
            brackets -= 1
        elif field or _URL_AHEAD.match(text, i + 1):
            return i
        pos = i + 1
    return end


def _url_host(url: str) -> str:
    """``urlsplit(url).hostname``, or "" where there is none or urlsplit raises ValueError.

    ``url`` comes from _urls: a scheme, "://" and no whitespace. For an ASCII URL (the scheme
    could hold "ſ", which _URL_START takes for "s" and urlsplit rejects) whose authority has no brackets
    (IPv6) or "%" (a zone id keeps its case), urlsplit does no more than this slicing.
    """
    netloc = url.split("/", 3)[2].split("?", 1)[0].split("#", 1)[0]
    if url.isascii() and not any(c in netloc for c in "[]%"):
        return netloc.rpartition("@")[2].partition(":")[0].lower()
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


def _trim_url(url: str) -> str:
    while url and url[-1] in _URL_TRAILING:
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break
        if url[-1] == "]" and url.count("[") >= url.count("]"):
            break  # "http://[2001:db8::1]"
        url = url[:-1]
    return url


def _host(host: str) -> tuple[Found, ...]:
    """The indicators a URL's host names: a domain (file-like TLDs accepted here; a Unicode name
    also as its A-label) or an IP; none when it is neither."""
    if not host:
        return ()
    if classify_ip(host) is None:
        host = host.lower()
        if not is_domain(host, host_position=True):
            return ()
        if host.isascii():
            return ((IocType.DOMAIN, host, ""),)
        return tuple((IocType.DOMAIN, name, "") for name in domain_forms(host))
    if ":" not in host:  # classify_ip took it as a dotted quad, which is canonical already
        return ((IocType.IPV4, host, ""),)
    ip = ipaddress.ip_address(host)
    return ((IocType.IPV6 if ip.version == 6 else IocType.IPV4, ip.compressed, ""),)


def _mails(text: str) -> list[Found]:
    found: list[Found] = []
    tagged = [m.span(1) for m in _TAGGED_MAIL.finditer(text)] if "=" in text else []
    mail_rx = _MAIL if text.isascii() else _IDN_MAIL
    matches = [m for m in mail_rx.finditer(text)
               if not any(start <= m.start(1) < end for start, end in tagged)]
    mails = [text[start:end] for start, end in tagged] + [m.group(1) for m in matches]
    for mail in mails:
        local, _, domain = mail.rpartition("@")
        domain = domain.lower()
        if not local.strip(".") or not is_domain(domain, host_position=True):
            continue
        if "." in local or "-" in local or "_" in local:
            leaders = [m.end() for m in _LEADER.finditer(local)]
            if leaders:  # "Primary.....anna@": the mailbox starts after the leader
                local = local[leaders[-1]:]
                if not local or not local[0].isalnum():
                    continue
        if not (domain in _SSH_ALGORITHM_DOMAINS and _SSH_ALGORITHM.fullmatch(local)):
            found.append((IocType.MAIL, f"{local}@{domain}".lower(), ""))
        # the mail's domain is a domain too
        found.extend((IocType.DOMAIN, name, "") for name in domain_forms(domain))
    return found


# "zlib/1.2.3.4", "(compatible; Agent/2.0.1.4": a product token's version, not a path segment
# (_product_before: a run of [\w.-] starting with a letter, then "/").
_ASCII_LETTERS = frozenset(string.ascii_letters)


def _ipv4s(text: str) -> list[Found]:
    found = [
        (IocType.IPV4, m.group(1), "")
        for m in _IPV4.finditer(text)
        if m.group(1) != "0.0.0.0" and not _is_version(text, m.start())
    ]
    if "::" in text:
        found.extend((IocType.IPV4, ip, "") for ip in _IPV4_MAPPED.findall(text))
    return found


def _is_version(text: str, start: int) -> bool:
    """The dotted quad at ``start`` is a version: "ver=4.2.0.1", "rv:1.9.0.14", "zlib/1.2.3.4".

    Both checks look back a bounded distance, not from the start of the text, so a token of
    many addresses ("1.1.1.1:1.1.1.1:…") costs linear time."""
    before = text[max(start - 2, 0) : start]
    # _VERSION_PARAMETER ends with "[=:]$", and "$" also matches before a final newline.
    if ("=" in before or ":" in before) and _VERSION_PARAMETER.search(
        text, max(start - _VERSION_PARAMETER_REACH, 0), start
    ):
        return True
    return before[-1:] == "/" and before != "//" and _product_before(text, start - 1)


# The longest _VERSION_PARAMETER match, a non-letter, "firmware", "=", then a newline "$" may
# stand before, spans 11 characters; its "^" only ever matches at the start of the text.
_VERSION_PARAMETER_REACH = 12
_WORD_PUNCTUATION = frozenset("_.-")  # [\w.-] is str.isalnum() (re's \w) or one of these


def _product_before(text: str, slash: int) -> bool:
    r"""What searching the text before the slash for ``(?:^|[^\w./-])[A-Za-z][\w.-]*/$``
    answers (the tests keep that search as the reference), found by walking back from the slash
    once: the run of ``[\w.-]`` before it starts with an ASCII letter, at the start of the text
    or after a character other than "/"."""
    start = slash
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] in _WORD_PUNCTUATION):
        start -= 1
    return (start < slash and text[start] in _ASCII_LETTERS
            and (start == 0 or text[start - 1] != "/"))


def _ipv6(candidate: str) -> ipaddress.IPv6Address | None:
    if "::" not in candidate and candidate.count(":") != 7:
        return None
    try:
        return ipaddress.IPv6Address(candidate)
    except ValueError:
        return None


def _ipv6s(text: str) -> list[Found]:
    found: list[Found] = []
    for candidate in _IPV6.findall(text):
        ip = _ipv6(candidate)
        if ip is None:
            # haproxy and others append ":port" to a bare IPv6 (2001:db8::17:55120)
            head, _, port = candidate.rpartition(":")
            ip = _ipv6(head) if port.isdigit() and len(port) == 5 else None
        if ip is None:
            continue
        if ip.is_unspecified or ip.ipv4_mapped:
            continue
        found.append((IocType.IPV6, ip.compressed, ""))
    return found


def _domains(text: str) -> list[Found]:
    found: list[Found] = []
    for m in (_DOMAIN if text.isascii() else _IDN_DOMAIN).finditer(text):
        name = m.group(1).lower()
        if _foreign_scheme(text, m.start(1)) or name.endswith(".arpa"):
            continue  # android-app://com.google.android.gm/, PTR names
        if is_domain(name):
            found.extend((IocType.DOMAIN, form, "") for form in domain_forms(name))
    return found


_SCHEME_BEFORE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://$")
_WEB_SCHEMES = {"http", "https", "ftp", "sftp", "ws", "wss"}


def _foreign_scheme(text: str, start: int) -> bool:
    """The name follows ``scheme://`` of a non-web scheme (an app id, not a host)."""
    if not text.startswith("//", max(start - 2, 0)):
        return False
    m = _SCHEME_BEFORE.search(text, max(start - 40, 0), start)
    return bool(m) and m.group(1).lower() not in _WEB_SCHEMES


def _hashes(text: str) -> list[Found]:
    found: list[Found] = []
    for m in _HASH.finditer(text):
        value = m.group(1)
        if value.isdigit() or value.isalpha():
            continue  # long decimal ids and words are not digests
        qualifier = ""
        if m.start() > 0 and text[m.start() - 1] == "=":
            key = re.split(r"[?&;/\s]", text[: m.start() - 1])[-1].lower()
            if key not in HASH_PARAMETERS:
                qualifier = QUERY_STRING
        found.append((_HASH_TYPES[len(value)], value.lower(), qualifier))
    return found
