"""Anything else: free text (analyst notes, reports, unknown log formats)."""

from __future__ import annotations

import re
from datetime import datetime

from ..models import Event
from .base import Finding, LogFormat, parse_iso_time
from .syslog import _TRIGGERS, line_findings

_ISO_PREFIX = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?")


class PlainText(LogFormat):
    name = "plain"
    default_context = "text"
    finding_triggers = _TRIGGERS

    def detect(self, line: str) -> bool:
        return True

    def parse(self, line: str) -> Event:
        return Event(raw=line, fmt=self.name, timestamp=self.timestamp(line), message=line)

    def timestamp(self, line: str) -> datetime | None:
        m = _ISO_PREFIX.search(line[:64])
        return parse_iso_time(m.group(0)) if m else None

    def findings(self, line: bytes) -> list[Finding]:
        return line_findings(line)
