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
    r"(?P<sd>-|(?:\[(?:[^\]\\]|\\.)*\])+) ?(?P<msg>.*)"
)
_VARIANTS = (("rfc3164", _BSD), ("iso", _ISO), ("rfc5424", _RFC5424))

# (literal that must be present, regex, {group: context}, auth outcome); the literal check
# keeps the regexes off the many lines they cannot match.  Some regexes are written for the
# speed of `re`, each matching exactly what the plain form would: a username is always followed
# by a space, so greedy \S+ takes the same run as lazy \S+?; a regex that starts with a literal
# lets re jump to it instead of trying every position, hence "nvalid user" with [Ii] and "for "
# checked behind it; and the lazy .*? in front of a literal is faster, hence "r(?<=\br)user="
# for "\bruser=".
_USER = r"(?P<user>\S+)"
_AUTH_PATTERNS: tuple[tuple[bytes, re.Pattern[str], dict[str, str], str], ...] = (
    (b"Failed ", re.compile(r"Failed (?:password|publickey|none|keyboard-interactive(?:/pam)?|hostbased) for "
                r"(?:invalid user )?" + _USER + r" from (?P<ip>\S+)"),
     {"user": "ssh-failed-login", "ip": "ssh-failed-login-source"}, "failed"),
    (b"nvalid user", re.compile(r"nvalid user (?<=[Ii]nvalid user )(?<!for [Ii]nvalid user )"
                + _USER + r" from (?P<ip>\S+)"),
     {"user": "ssh-invalid-user", "ip": "ssh-invalid-user-source"}, "invalid"),
    (b" user ", re.compile(r"(?:Disconnected from|Connection closed by|Received disconnect from) "
                r"(?:authenticating|invalid) user " + _USER + r" (?P<ip>[0-9a-fA-F.:]+)"),
     {"user": "ssh-invalid-user", "ip": "ssh-invalid-user-source"}, "invalid"),
    (b"maximum authentication", re.compile(r"maximum authentication attempts exceeded for (?:invalid user )?" + _USER +
                r" from (?P<ip>\S+)"),
     {"user": "ssh-failed-login", "ip": "ssh-failed-login-source"}, "failed"),
    (b"authentication failure", re.compile(r"authentication failure;.*?r(?<=\br)user=(?P<ruser>\S*)"
                r".*?r(?<=\br)host=(?P<ip>\S*)(?:.*?u(?<=\bu)ser=(?P<user>\S+))?"),
     {"user": "pam-auth-failure", "ruser": "pam-auth-failure-requester",
      "ip": "pam-auth-failure-source"}, "failed"),
    (b"FAILED SU", re.compile(r"FAILED SU \(to (?P<target>\S+)\) " + _USER + r" on"),
     {"user": "su-failed"}, "failed"),
    (b" : ", re.compile(r"(?:^|:)\s+" + _USER + r" : (?:\d+ incorrect password attempts?|"
                r"user NOT in sudoers|a password is required)"),
     {"user": "sudo-failed"}, "failed"),
    (b"Accepted ", re.compile(r"Accepted (?:password|publickey|keyboard-interactive(?:/pam)?|hostbased) for "
                + _USER + r" from (?P<ip>\S+)"),
     {"ip": "ssh-accepted-login-source"}, "accepted"),
    (b"client=", re.compile(r"client=[^\s\[]*\[(?P<ip>[0-9a-fA-F.:]+)\]"), {"ip": "smtp-client"}, ""),
)
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

    One message reports one kind of attempt, so the first pattern that matches decides.
    """
    raw = raw if raw is not None else message.encode("utf-8", "surrogateescape")
    for (literal, rx, groups, result), (_, _, specs) in zip(_AUTH_PATTERNS, _FINDING_PATTERNS):
        if literal not in raw:
            continue
        m = rx.search(message)
        if not m:
            continue
        findings = _reported(m.groups(), specs)
        ip = next((value for kind, value, _ in findings if kind is not _USERNAME), "")
        user = (m.group("user") if "user" in groups else None) or ""
        return findings, result, ip, "" if user in _NOT_A_USER else user
    return [], "", "", ""


# Per pattern, the groups it reports as (index in match.groups(), context, is an address);
# usernames count only in failed and invalid attempts. Precomputed because Syslog.findings runs on
# every line holding a trigger; auth_findings reports through the same table.
_FINDING_PATTERNS = tuple(
    (literal.decode(), rx, tuple((rx.groupindex[group] - 1, context, group == "ip")
                                 for group, context in groups.items()
                                 if group == "ip" or result in ("failed", "invalid")))
    for literal, rx, groups, result in _AUTH_PATTERNS
)
_USERNAME = IocType.USERNAME  # enum attribute look-ups are slow on the hot path


@lru_cache(maxsize=16384)
def _address(value: str) -> tuple[IocType, str] | None:
    """The address in a captured ``ip`` group (never None: no pattern has it optional), cleaned
    and checked as in auth_findings."""
    value = _unmapped(value.rstrip(".,;:"))
    if classify_ip(value) is None:
        return None
    return (IocType.IPV6 if ":" in value else IocType.IPV4), value


def line_findings(line: bytes) -> list[Finding]:
    """Same as ``auth_findings(line.decode("utf-8", "replace"), line)[0]``, about twice as fast.

    The literals are ASCII, which decoding with "replace" keeps as they are, so looking for them
    in the text is the same as looking for them in the bytes.  Captured groups hold no
    whitespace (``\\S`` and ``str.strip`` agree on what that is), so they need no strip.
    """
    message = line.decode("utf-8", "replace")
    for literal, rx, specs in _FINDING_PATTERNS:
        if literal in message:
            m = rx.search(message)
            if m:
                return _reported(m.groups(), specs)
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
        elif value and value not in _NOT_A_USER:
            found.append((_USERNAME, value, context))
    return found


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

    def findings(self, line: bytes) -> list[Finding]:
        return line_findings(line)
