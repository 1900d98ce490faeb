"""Apache/nginx access logs: Combined and Common Log Format (optionally with a vhost prefix)."""

from __future__ import annotations

import re
from datetime import datetime

from ..extract.validate import classify_ip
from ..models import Event
from .base import LogFormat, parse_clf_time

# The server writes the client address first, or second after a virtual host (Apache's
# "%v:%p %h", or a name in front of an address); the identity (identd, "-") follows. The user name
# (HTTP authentication) is the client's: it may hold spaces and brackets but no unescaped quote
# (Apache and nginx escape it), so it ends at the first "[time] \"" and cannot move the client.
_LINE = re.compile(
    r'(?P<first>\S+) (?P<second>\S+) (?P<user>(?:[^"\\]|\\.)*?) \[(?P<time>[^\[\]]+)\] '
    r'"(?P<request>(?:[^"\\]|\\.)*)" (?P<status>\d{3}|-) (?P<size>\S+)'
    r'(?: "(?P<referer>(?:[^"\\]|\\.)*)" "(?P<agent>(?:[^"\\]|\\.)*)")?'
)
_HOST_PORT = re.compile(r"[\w.-]+:\d+")


def _fields(m: re.Match[str]) -> tuple[str, str, str]:
    """(virtual host, client, user): a line with a virtual host has an identity before the user.
    Whether it has one is decided on the server's first two fields alone."""
    first, second, user = m["first"], m["second"], m["user"]
    if second != "-" and " " in user and (
        _HOST_PORT.fullmatch(first)
        or (classify_ip(first) is None and classify_ip(second) is not None)
    ):
        return first, second, user.split(" ", 1)[1]
    return "", first, user


class AccessLog(LogFormat):
    name = "access"
    default_context = "access-log"

    def detect(self, line: str) -> bool:
        return _LINE.match(line) is not None

    def parse(self, line: str) -> Event:
        m = _LINE.match(line)
        if not m:
            return Event(raw=line, fmt=self.name, message=line)
        method, url, _proto = _split_request(m["request"])
        vhost, client, user = _fields(m)
        return Event(
            raw=line,
            fmt=self.name,
            timestamp=parse_clf_time(m["time"]),
            host=vhost,
            client_ip=client,
            user="" if user == "-" else user,
            method=method,
            url=url,
            status=int(m["status"]) if m["status"].isdecimal() else None,
            referer="" if m["referer"] in (None, "-") else m["referer"],
            user_agent="" if m["agent"] in (None, "-") else m["agent"],
            message=m["request"],
        )

    def timestamp(self, line: str) -> datetime | None:
        start = line.find("[")
        if start < 0:
            return None
        # Only the bracketed text: parse_clf_time caches by its argument, and the time (unlike
        # the rest of the line) repeats from line to line. "]" never occurs inside a CLF time.
        end = line.find("]", start)
        return parse_clf_time(line[start + 1 : end if end > 0 else len(line)])

    def context_of(self, line: bytes, token: bytes) -> str:
        field = token + b" "
        if line.startswith(field):  # the first field: the client, unless a virtual host leads
            if line.startswith(b"- ", len(field)) or classify_ip(
                    token.decode("utf-8", "replace")) is not None:
                return "http-client"
            if _client(line) == token:
                return "http-client"
        elif line.startswith(field, line.find(b" ") + 1) and _client(line) == token:
            return "http-client"  # the second field, behind a virtual host
        parts = line.split(b'"')
        if len(parts) >= 2 and token in parts[1]:
            return "url-in-request"
        if len(parts) >= 4 and token in parts[3]:
            return "http-referer"
        if len(parts) >= 6 and token in parts[5]:
            return "http-user-agent"
        return self.default_context


def _client(line: bytes) -> bytes:
    m = _LINE.match(line.decode("utf-8", "replace"))
    return _fields(m)[1].encode("utf-8", "replace") if m else b""


def _split_request(request: str) -> tuple[str, str, str]:
    parts = request.split(" ")
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    if len(parts) == 2:
        return parts[0], parts[1], ""
    return "", request, ""
