r"""JSON lines: Suricata eve.json, nginx/Apache JSON access logs, any JSON object per line.

For extraction the raw line is searched like any other text (``\/`` escapes are undone first),
which is several times faster than decoding every object; a token followed by ``":`` is a key and
never an indicator, and the key in front of a value gives its context, e.g. ``src_ip`` →
``network-source``, ``dns.rrname`` → ``dns-query``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from ..models import Event
from .base import LogFormat, parse_clf_time, parse_iso_time

KEY_CONTEXTS = {
    "src_ip": "network-source", "source.ip": "network-source",
    "dest_ip": "network-destination", "destination.ip": "network-destination",
    "remote_addr": "http-client", "client_ip": "http-client", "clientip": "http-client",
    "client.ip": "http-client", "x_forwarded_for": "http-forwarded-for",
    "http_x_forwarded_for": "http-forwarded-for",
    "http.hostname": "http-host", "host": "http-host", "server_name": "http-host",
    "http.url": "url-in-request", "request": "url-in-request", "request_uri": "url-in-request",
    "uri": "url-in-request", "url.original": "url-in-request",
    "http.http_refer": "http-referer", "http_referer": "http-referer", "referer": "http-referer",
    "http.http_user_agent": "http-user-agent", "http_user_agent": "http-user-agent",
    "user_agent": "http-user-agent",
    "dns.rrname": "dns-query", "dns.query.rrname": "dns-query", "dns.rdata": "dns-answer",
    "dns.answers.rdata": "dns-answer", "dns.grouped.a": "dns-answer",
    "dns.grouped.aaaa": "dns-answer", "dns.grouped.cname": "dns-answer",
    "tls.sni": "tls-sni", "tls.subject": "tls-certificate", "tls.issuerdn": "tls-certificate",
    "fileinfo.md5": "file-hash", "fileinfo.sha1": "file-hash", "fileinfo.sha256": "file-hash",
    "fileinfo.filename": "file-name", "email.from": "mail-sender", "email.to": "mail-recipient",
    "smtp.mail_from": "mail-sender", "smtp.rcpt_to": "mail-recipient",
    "alert.signature": "ids-alert",
}
_FINGERPRINT = re.compile(rb'"(?:ja3s?|ja4s?|hassh(?:_server)?)"\s*:\s*\{[^{}]*$')
IDENTIFIER_KEYS = frozenset({
    "request_id", "x_request_id", "requestid", "trace_id", "traceid", "span_id", "spanid",
    "session_id", "sessionid", "sid", "correlation_id", "uuid", "guid", "id", "transaction_id",
    "flow_id", "tx_id", "event_id", "message_id",
})
# Extraction sees the innermost key only ("rrname" for dns.rrname).
LAST_KEY_CONTEXTS = {path.rsplit(".", 1)[-1]: ctx for path, ctx in KEY_CONTEXTS.items()}
# A key's context by its raw bytes ("" for the format's default, None for an identifier's)
_KEY_CONTEXTS: dict[bytes, str | None] = {}
_TIME_KEYS = ("timestamp", "@timestamp", "time", "time_iso8601", "time_local", "ts", "date")
_MAX_DEPTH = 32
_TIME_FIELD = re.compile(
    r'"(?:' + "|".join(re.escape(k) for k in _TIME_KEYS) + r')"\s*:\s*"([^"]{8,40})"'
)


def _walk(node: Any, path: str = "", depth: int = 0) -> Iterator[tuple[str, str]]:
    """(dotted path, string value) for every string in a JSON document (arrays keep the path)."""
    if depth > _MAX_DEPTH:
        return
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, f"{path}.{key}" if path else str(key), depth + 1)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value, path, depth + 1)
    elif isinstance(node, str):
        yield path, node


def _get(doc: dict[str, Any], *paths: str) -> Any:
    for path in paths:
        node: Any = doc
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node not in (None, "", "-"):
            return node
    return None


def _time(doc: dict[str, Any]) -> datetime | None:
    value = _get(doc, *_TIME_KEYS)
    if isinstance(value, str):
        return parse_iso_time(value) or parse_clf_time(value)
    if isinstance(value, (int, float)) and value > 0:
        from datetime import timezone

        try:
            return datetime.fromtimestamp(value / 1000 if value > 1e11 else value, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None  # an epoch no calendar holds (year > 9999, inf, nan)
    return None


def _load(line: str | bytes) -> dict[str, Any] | None:
    try:
        doc = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) else None


class JsonLines(LogFormat):
    name = "json"
    default_context = "json-field"

    def detect(self, line: str) -> bool:
        return line.lstrip().startswith("{") and _load(line) is not None

    def parse(self, line: str) -> Event:
        doc = _load(line)
        if doc is None:
            return Event(raw=line, fmt=self.name, message=line)
        method = _get(doc, "http.http_method", "request_method", "method") or ""
        url = _get(doc, "http.url", "request_uri", "uri", "url.original") or ""
        request = _get(doc, "request")
        if isinstance(request, str) and not url:
            parts = request.split(" ")
            method, url = (parts[0], parts[1]) if len(parts) >= 2 else (method, request)
        status = _get(doc, "http.status", "status", "response.status_code")
        message = _get(doc, "alert.signature", "message", "msg") or ""
        return Event(
            raw=line,
            fmt=self.name,
            timestamp=_time(doc),
            host=str(_get(doc, "http.hostname", "host", "hostname", "server_name") or ""),
            program=str(_get(doc, "event_type", "program", "app") or ""),
            client_ip=str(_get(doc, "src_ip", "remote_addr", "client_ip", "clientip",
                               "source.ip") or ""),
            user=str(_get(doc, "remote_user", "user", "user.name", "username") or ""),
            method=str(method),
            url=str(url),
            status=int(status) if str(status).isdecimal() else None,
            user_agent=str(_get(doc, "http.http_user_agent", "http_user_agent", "user_agent")
                           or ""),
            referer=str(_get(doc, "http.http_refer", "http_referer", "referer") or ""),
            message=str(message),
            fields=doc,
        )

    def timestamp(self, line: str) -> datetime | None:
        m = _TIME_FIELD.search(line)  # cheaper than decoding the whole object
        if m:
            ts = parse_iso_time(m.group(1)) or parse_clf_time(m.group(1))
            if ts:
                return ts
        doc = _load(line)
        return _time(doc) if doc else None

    def prepare(self, lines: list[bytes], blob: bytes) -> list[bytes]:
        prepared = super().prepare(lines, blob)
        if b"\\/" not in blob:  # Message-ID rewriting neither adds nor removes "\/"
            return prepared
        if prepared is not lines:
            blob = b"\n".join(prepared)
        # One replace over the batch instead of one per line ("\/" never spans a newline).
        return blob.replace(b"\\/", b"/").split(b"\n")

    def context_of(self, line: bytes, token: bytes) -> str | None:
        pos = line.find(token)
        if pos < 0:
            return self.default_context
        after = line[pos + len(token) : pos + len(token) + 3]
        if after.startswith(b'":') or after.startswith(b'" :'):
            # A key: read for hosts only ({"www.example.com": {"status": "up"}}); the extractor
            # drops what else a key holds
            return "json-key"
        key_end = line.rfind(b'":', 0, pos)
        if key_end < 0:
            return self.default_context
        raw_key = line[line.rfind(b'"', 0, key_end) + 1 : key_end]
        try:
            known = _KEY_CONTEXTS[raw_key]  # a log holds few distinct keys
        except KeyError:
            key = raw_key.decode("utf-8", "replace")
            # request/trace/session ids look like hashes but are not
            known = None if key.lower() in IDENTIFIER_KEYS else LAST_KEY_CONTEXTS.get(key, "")
            if len(_KEY_CONTEXTS) >= 4096:
                _KEY_CONTEXTS.clear()
            _KEY_CONTEXTS[raw_key] = known
        if known is None:
            return None
        if raw_key == b"hash" and _FINGERPRINT.search(line, max(key_end - 48, 0), key_end):
            return None  # JA3/JA3S/HASSH: TLS and SSH client fingerprints, not file hashes
        return known or self.default_context
