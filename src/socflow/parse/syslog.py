"""Syslog: RFC 3164 (auth.log, /var/log/secure, messages), its ISO-timestamp variant, RFC 5424.

OpenSSH, PAM, su and sudo messages are recognised so that failed and invalid logins yield the
username and the source address with a precise context (``ssh-failed-login-source`` …).
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache

from ..extract.validate import classify_ip
from ..models import Event, IocType
from .base import Finding, LogFormat, parse_bsd_time, parse_iso_time

_BSD = re.compile(
    r"(?:<\d{1,3}>)?(?P<ts>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) (?P<host>\S+) "
    r"(?P<prog>[^:\[\s]+)(?:\[(?P<pid>\d+)\])?: ?(?P<msg>.*)"
)
_ISO = re.compile(
    r"(?:<\d{1,3}>)?(?P<ts>\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?) "
    r"(?P<host>\S+) (?P<prog>[^:\[\s]+)(?:\[(?P<pid>\d+)\])?: ?(?P<msg>.*)"
)
_RFC5424 = re.compile(
    r"<(?P<pri>\d{1,3})>1 (?P<ts>\S+) (?P<host>\S+) (?P<prog>\S+) (?P<pid>\S+) (?P<msgid>\S+) "
    # rsyslog's RFC 5424 templates keep the space a BSD tag had after its colon: "- -  Failed …"
    r"(?P<sd>-|(?:\[(?:[^\]\\]|\\.)*\])+) {0,2}(?P<msg>.*)"
)
_VARIANTS = (("rfc3164", _BSD), ("iso", _ISO), ("rfc5424", _RFC5424))

# What a finding may trust. Attackers write usernames (with spaces: sshd logs them as sent), SSH
# certificate key ids, disconnect messages and PAM's ruser/user; the server writes the rest. So
# every pattern is anchored where the server writes: at the start of the message (after the syslog
# header, when a raw line is given) and, for the source address, on the text the server puts after
# it. A username is everything between the fixed words and the address the server wrote last
# (``Failed password for x from 9.9.9.10 port 22 from 61.177.172.10 port 4 ssh2`` is user
# ``x from 9.9.9.10 port 22`` from 61.177.172.10). When attacker text follows the address too (a
# certificate id, a disconnect message, PAM's user=) and attacker text before it also looks like an
# address, the line is ambiguous: it names nobody rather than perhaps the wrong host.
_HEAD = (
    r"(?:(?:<\d{1,3}>)?(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d"
    r"|\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?)"
    r" \S+ [^:\[\s]+(?:\[\d+\])?: ?"
    r"|<\d{1,3}>1 \S+ \S+ \S+ \S+ \S+ (?:-|(?:\[(?:[^\]\\]|\\.)*\])+) {0,2})?"
    # a program tag without a time (as some exports write it), and the message's own first word
    # ("error: ", "pam_unix(sshd:auth): ", a postfix queue id): the server's, at the start
    r"(?:[^:\[\s]+(?:\[\d+\])?: ?|\S+\([^()\s]*\): ){0,2}"  # ("pam_unix(sshd:auth): ", a queue id)
    r"(?:message repeated \d+ times: \[ ?)?"  # rsyslog's reduction of repeated lines
)
_USER = r"(?P<user>.*)"  # greedy: the last place the server's words fit
_PORT = r"(?: port \d+(?P<tail>(?:\D.*)?))?$"  # no port: the address ends the message (old sshd)
_SSH_METHODS = r"(?:password|publickey|none|keyboard-interactive(?:/pam)?|hostbased|gssapi-with-mic)"
# What sshd writes after "port N" of an authentication record: " ssh2", a plain key's type and
# fingerprint, " [preauth]" (a certificate's or a host's description holds attacker text).
_SSH_TAIL = re.compile(r"(?: ssh2)?(?:: [A-Z0-9-]+ (?:SHA256:[A-Za-z0-9+/]{43}|MD5(?::[0-9a-f]{2}){16}))?"
                       r"(?: \[preauth\])?\]?\s*")
_PREAUTH_TAIL = re.compile(r"(?: \[preauth\])?\]?\s*")
_NEVER = re.compile(r"(?!)")
_FROM_PORT = re.compile(r" from \S+ port \d")
_ADDR_PORT = re.compile(r"\S port \d")
_RHOST = re.compile(" rhost=")
# (literal that must be present, regex, {group: context}, auth outcome, guard); the literal check
# keeps the regexes off the many lines they cannot match. The guard, for patterns whose address
# has attacker text around it: (what the server writes after the address, what looks like another
# address in attacker text, the groups holding attacker text).
Guard = tuple[re.Pattern[str], re.Pattern[str], tuple[str, ...]]
_AUTH_PATTERNS: tuple[tuple[bytes, re.Pattern[str], dict[str, str], str, Guard | None], ...] = (
    (b"Failed ", re.compile(r"Failed " + _SSH_METHODS + r" for (?:invalid user )?" + _USER
                            + r" from (?P<ip>\S+)" + _PORT),
     {"user": "ssh-failed-login", "ip": "ssh-failed-login-source"}, "failed",
     (_SSH_TAIL, _FROM_PORT, ("user",))),
    (b"nvalid user", re.compile(r"[Ii]nvalid user " + _USER + r" from (?P<ip>\S+)" + _PORT),
     {"user": "ssh-invalid-user", "ip": "ssh-invalid-user-source"}, "invalid",
     (_PREAUTH_TAIL, _FROM_PORT, ("user",))),
    (b" user ", re.compile(r"(?:Disconnected from|Connection closed by) "
                           r"(?:authenticating|invalid) user " + _USER + r" (?P<ip>[0-9a-fA-F.:]+)" + _PORT),
     {"user": "ssh-invalid-user", "ip": "ssh-invalid-user-source"}, "invalid",
     (_PREAUTH_TAIL, _ADDR_PORT, ("user",))),
    # "port N:CODE: the client's own disconnect message"
    (b" user ", re.compile(r"Received disconnect from (?:authenticating|invalid) user " + _USER
                           + r" (?P<ip>[0-9a-fA-F.:]+)" + _PORT),
     {"user": "ssh-invalid-user", "ip": "ssh-invalid-user-source"}, "invalid",
     (_NEVER, _ADDR_PORT, ("user",))),
    (b"maximum authentication", re.compile(
        r"maximum authentication attempts exceeded for (?:invalid user )?" + _USER
        + r" from (?P<ip>\S+)" + _PORT),
     {"user": "ssh-failed-login", "ip": "ssh-failed-login-source"}, "failed",
     (_SSH_TAIL, _FROM_PORT, ("user",))),
    # pam_unix: "authentication failure; logname= uid=0 euid=0 tty=ssh ruser=R rhost=H  user=U";
    # logname, uid and tty come from the service, R and U may come from the client (dovecot, audit).
    (b"authentication failure;", re.compile(
        r"authentication failure;(?:.*? )?ruser=(?P<ruser>.*?) rhost=(?P<ip>\S*)"
        r"(?:\s+user=(?P<user>.*))?(?P<tail>\s*)$"),
     {"user": "pam-auth-failure", "ruser": "pam-auth-failure-requester",
      "ip": "pam-auth-failure-source"}, "failed",
     (_NEVER, _RHOST, ("ruser", "user"))),
    (b"FAILED SU", re.compile(r"FAILED SU \(to (?P<target>\S+)\) (?P<user>\S+) on"),
     {"user": "su-failed"}, "failed", None),
    (b" : ", re.compile(r"(?:^|(?<=:)|(?<=- ))\s*(?P<user>\S+) : (?:\d+ incorrect password attempts?|"
                        r"user NOT in sudoers|a password is required)"),
     {"user": "sudo-failed"}, "failed", None),
    (b"Accepted ", re.compile(r"Accepted " + _SSH_METHODS + r" for " + _USER
                              + r" from (?P<ip>\S+)" + _PORT),
     {"ip": "ssh-accepted-login-source"}, "accepted", (_SSH_TAIL, _FROM_PORT, ("user",))),
    # postfix/smtpd: "QUEUEID: client=name[addr]" (sasl_username= and the rest follow it)
    (b"client=", re.compile(r"client=[^\s\[]*\[(?P<ip>[0-9a-fA-F.:]+)\]"),
     {"ip": "smtp-client"}, "", None),
)
_HEAD_RX = re.compile(_HEAD.encode())  # on bytes: \S and \d are ASCII classes there, cheaper
_ONES = bytes.maketrans(b"0123456789ABCDEF", b"1111111111AAAAAA")  # and postfix queue ids


_SHAPES: dict[bytes, bool] = {}  # a plain dict: lru_cache's bookkeeping cost more than the look-up


def _head_shape(prefix: bytes) -> bool:
    known = _SHAPES.get(prefix)
    if known is None:
        if len(_SHAPES) >= 4096:
            _SHAPES.clear()
        known = _SHAPES[prefix] = _HEAD_RX.fullmatch(prefix) is not None
    return known


def _at_message_start(message: str, start: int) -> bool:
    """Whether a match at ``start`` begins the message: what precedes it is a syslog header
    and the message's own first word at most. Cached by the prefix's shape (every digit a 1 and
    every capital A-F an A: _HEAD tells none of them apart but RFC 5424's version "1"), so the
    per-line cost is an encode, a translate and a look-up, all in C."""
    return start == 0 or _head_shape(
        message[:start].encode("utf-8", "surrogatepass").translate(_ONES))


_TRIGGERS = (b"Failed ", b"nvalid user", b"authentication failure", b"FAILED SU",
             b"incorrect password", b"NOT in sudoers", b"password is required", b"Accepted ",
             b"client=", b"maximum authentication")
_TRIGGER_RX = re.compile("|".join(re.escape(t.decode()) for t in _TRIGGERS))
_NOT_A_USER = {"", "-", "(unknown)", "unknown"}


def _match(line: str) -> tuple[str, re.Match[str]] | None:
    for variant, rx in _VARIANTS:
        m = rx.match(line)
        if m:
            return variant, m
    return None


def _unmapped(value: str) -> str:
    """``::ffff:45.135.232.11`` (sshd on a dual-stack socket) is the IPv4 client 45.135.232.11."""
    if value[:7].lower() == "::ffff:" and "." in value:
        return value[7:]
    return value


def auth_findings(message: str, raw: bytes | None = None) -> tuple[list[Finding], str, str, str]:
    """Usernames and addresses of login attempts in ``message``: (findings, outcome, ip, user).

    One message reports one kind of attempt, so the first pattern that matches decides. A message
    whose attacker-written parts leave its source ambiguous keeps its outcome but names no user
    and no address.
    """
    raw = raw if raw is not None else message.encode("utf-8", "surrogateescape")
    for (literal, _, groups, result, _), (_, rx, specs, guard, lazy, verb) in zip(
            _AUTH_PATTERNS, _FINDING_PATTERNS):
        if literal not in raw:
            continue
        m, trusted = _search(message, rx, guard, lazy, verb)
        if m is None:
            continue
        if not trusted:
            return [], result, "", ""
        values = m.groups()
        findings = _reported(values, specs)
        ip = next((value for kind, value, _ in findings if kind is not _USERNAME), "")
        user = ((m.group("user") if "user" in groups else None) or "").strip()
        return findings, result, ip, "" if user in _NOT_A_USER else user
    return [], "", "", ""


_USUAL_TAILS = ("", " ssh2", " [preauth]", " ssh2 [preauth]")


def _lazy(rx: re.Pattern[str], guard: Guard | None) -> re.Pattern[str] | None:
    """The pattern for a username without spaces (nearly every line), several times cheaper than
    backtracking from the end of the line. It finds the first address; when the server's own
    words follow it, no other address does, so it is the one the full pattern finds too. Only
    then is its answer used; otherwise (or when it finds nothing) the full pattern decides."""
    if guard is None or guard[0] is _NEVER or _USER not in rx.pattern:
        return None
    return re.compile(rx.pattern.replace(_USER, r"(?P<user>\S*)"))


def _verb(rx: re.Pattern[str], guard: Guard | None) -> re.Pattern[str] | None:
    """The fixed words in front of the username: where the full pattern may start."""
    if guard is None or guard[1] is _RHOST or _USER not in rx.pattern:
        return None  # (PAM's user= comes after the address)
    return re.compile(rx.pattern.split(_USER, 1)[0])


def _guard(rx: re.Pattern[str], guard: Guard | None) -> tuple[object, ...] | None:
    if guard is None:
        return None
    tail_ok, looks_like, regions = guard
    usual = frozenset(t for t in _USUAL_TAILS if tail_ok.fullmatch(t))  # answered without a regex
    return (usual, None if tail_ok is _NEVER else tail_ok.fullmatch, looks_like.search,
            rx.groupindex["tail"] - 1,
            tuple(rx.groupindex[group] - 1 for group in regions),
            looks_like.pattern if looks_like is _RHOST else None)


# Per pattern, the groups it reports as (index in match.groups(), context, is an address);
# usernames count only in failed and invalid attempts. Precomputed because Syslog.findings runs on
# every line holding a trigger; auth_findings reports through the same table.
_FINDING_PATTERNS = tuple(
    (literal.decode(), rx, tuple((rx.groupindex[group] - 1, context, group == "ip")
                                 for group, context in groups.items()
                                 if group == "ip" or result in ("failed", "invalid")),
     _guard(rx, guard), _lazy(rx, guard), _verb(rx, guard))
    for literal, rx, groups, result, guard in _AUTH_PATTERNS
)
_USERNAME = IocType.USERNAME  # enum attribute look-ups are slow on the hot path


def _search(message: str, rx: re.Pattern[str], guard: tuple | None,  # type: ignore[type-arg]
            lazy: re.Pattern[str] | None,
            verb: re.Pattern[str] | None) -> tuple[re.Match[str] | None, bool]:
    """The pattern's match at the start of the message, and whether its address is trusted: the
    quick twin's match when the server's own words follow the address it found (the usual line:
    trusted), else the full pattern's (trusted as ``_trusted`` says)."""
    if lazy is not None:
        m = lazy.search(message)
        if m is not None:
            tail = m.group("tail")
            if (tail in guard[0] or (tail is not None and guard[1](tail))) and _at_message_start(
                    message, m.start()):
                return m, True
    if verb is not None:  # backtracking from the line's end only where the message starts so
        v = verb.search(message)
        if v is None or not _at_message_start(message, v.start()):
            return None, False
        m = rx.match(message, v.start())
    else:
        m = rx.search(message)
        if m is not None and not _at_message_start(message, m.start()):
            return None, False
    if m is None:
        return None, False
    if guard is None or (guard[5] is not None and message.count(guard[5]) == 1):
        return m, True  # PAM: one rhost= in the whole message, so none in the client's fields
    return m, _trusted(m.groups(), guard)


def _trusted(values: tuple[str | None, ...], guard: tuple) -> bool:  # type: ignore[type-arg]
    """Whether the address a match chose is the one the server wrote: the server's own words
    follow it, or no attacker-written part of the message looks like another address."""
    usual, tail_ok, looks_like, tail, regions, _ = guard
    if tail_ok is not None and (values[tail] in usual
                                or (values[tail] is not None and tail_ok(values[tail]))):
        return True
    return not any(values[i] and looks_like(values[i]) for i in regions)


@lru_cache(maxsize=16384)
def _address(value: str) -> tuple[IocType, str] | None:
    """The address in a captured ``ip`` group (never None: no pattern has it optional), cleaned
    and checked as in auth_findings."""
    value = _unmapped(value.rstrip(".,;:"))
    if classify_ip(value) is None:
        return None
    return (IocType.IPV6 if ":" in value else IocType.IPV4), value


# The patterns as line_findings reads them, with a literal the match holds after the first
# occurrence of the pattern's literal: "Disconnected from invalid user x ADDR port N" holds
# "nvalid user" but no " from " after it, so neither the quick twin nor the full pattern of
# "Invalid user x from ADDR" can match (a third of all login lines).
_LINE_PATTERNS = tuple((*pattern, " from " if pattern[0] == "nvalid user" else None)
                       for pattern in _FINDING_PATTERNS)


def _line_findings_py(line: bytes) -> list[Finding]:
    """Same as ``auth_findings(line.decode("utf-8", "replace"), line)[0]`` for a raw line (the
    patterns skip a syslog header), about twice as fast. ``line_findings`` is this function, or
    its C twin where the extension is built (the usual login lines in C, the rest here).

    The literals are ASCII, which decoding with "replace" keeps as they are, so looking for them
    in the text is the same as looking for them in the bytes.
    """
    message = line.decode("utf-8", "replace")
    for literal, rx, specs, guard, lazy, verb, after in _LINE_PATTERNS:
        if literal in message:  # _search, inlined: this runs on every login line
            if after is not None and message.rfind(after) < message.find(literal):
                continue
            if lazy is not None:
                m = lazy.search(message)
                if m is not None:
                    values = m.groups()
                    tail, start = values[guard[3]], m.start()
                    if (tail in guard[0] or (tail is not None and guard[1](tail))) and (
                        not start
                        or _head_shape(message[:start].encode("utf-8", "surrogatepass").translate(_ONES))
                    ):
                        return _reported(values, specs)
            if verb is not None:
                m = verb.search(message)
                if m is None:
                    continue
                start = m.start()
                if start and not _head_shape(
                        message[:start].encode("utf-8", "surrogatepass").translate(_ONES)):
                    continue
                m = rx.match(message, start)
                if m is None:
                    continue
            else:
                m = rx.search(message)
                if m is None:
                    continue
                start = m.start()
                if start and not _head_shape(
                        message[:start].encode("utf-8", "surrogatepass").translate(_ONES)):
                    continue
            values = m.groups()
            if guard is None or (guard[5] is not None and message.count(guard[5]) == 1) or (
                    _trusted(values, guard)):
                return _reported(values, specs)
            return []
    return []


def _reported(values: tuple[str | None, ...],
              specs: tuple[tuple[int, str, bool], ...]) -> list[Finding]:
    """The findings in one match's groups, in the order of auth_findings."""
    found: list[Finding] = []
    for index, context, is_ip in specs:
        value = values[index]
        if is_ip:
            address = _address(value)
            if address:
                found.append((*address, context))
        elif value:
            value = value.strip()  # usernames may hold spaces, never at their ends here
            if value not in _NOT_A_USER:
                found.append((_USERNAME, value, context))
    return found


# What the C twin (socflow._native.login_findings) mirrors by hand: the sources of these patterns
# and tables (not _HEAD: the twin asks _head_shape). Any change to them turns the twin off
# (tests/core/test_login_native.py fails then, asking for the C code to be brought in line and
# this digest renewed).
_TWIN_SOURCES = repr((
    [(literal, rx.pattern, groups, result) for literal, rx, groups, result, _ in _AUTH_PATTERNS],
    _SSH_TAIL.pattern, _PREAUTH_TAIL.pattern, sorted(_NOT_A_USER), _LINE_PATTERNS[1][-1],
)).encode()
_TWIN_DIGEST = "c8973c2955a53be9"


def _native_twin() -> object:
    import hashlib

    from ..native import NATIVE

    if NATIVE is None or not hasattr(NATIVE, "login_findings"):
        return None
    if hashlib.sha256(_TWIN_SOURCES).hexdigest()[:16] != _TWIN_DIGEST:
        return None
    NATIVE.login_setup(
        _SHAPES, _head_shape, _address, _USERNAME, frozenset(_NOT_A_USER),
        tuple(literal for literal, *_ in _AUTH_PATTERNS),
        tuple({group: context for group, context in groups.items()
               if group == "ip" or result in ("failed", "invalid")}
              for _, _, groups, result, _ in _AUTH_PATTERNS),
        _line_findings_py)
    return NATIVE.login_findings


line_findings = _native_twin() or _line_findings_py


class Syslog(LogFormat):
    name = "syslog"
    default_context = "syslog"
    finding_triggers = _TRIGGERS

    def detect(self, line: str) -> bool:
        return _match(line) is not None

    def parse(self, line: str) -> Event:
        found = _match(line)
        if not found:
            return Event(raw=line, fmt=self.name, message=line)
        variant, m = found
        ts_text = m["ts"]
        ts = parse_bsd_time(ts_text) if variant == "rfc3164" else parse_iso_time(ts_text)
        message = m["msg"]
        fields: dict[str, object] = {"variant": variant, "pid": m["pid"]}
        ip = user = ""
        if _TRIGGER_RX.search(message):
            _, outcome, ip, user = auth_findings(message)
            if outcome:
                fields["auth"] = outcome
        return Event(raw=line, fmt=self.name, timestamp=ts, host=m["host"], program=m["prog"],
                     client_ip=ip, user=user, message=message, fields=fields)

    def timestamp(self, line: str) -> datetime | None:
        found = _match(line)
        if not found:
            return None
        variant, m = found
        return parse_bsd_time(m["ts"]) if variant == "rfc3164" else parse_iso_time(m["ts"])

    findings = staticmethod(line_findings)  # no method frame: this runs on every login line
