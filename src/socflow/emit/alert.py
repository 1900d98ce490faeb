"""Detections → TheHive 5 ``InputAlert`` dicts that respect every field rule (spec D.2).

The ``sourceRef`` is a hash of rule id, group key and window start: the same detection always
gets the same reference, so a re-sent alert is refused by TheHive as a duplicate instead of
appearing twice. Titles and descriptions come from the rule's sandboxed Jinja2 templates.
"""

from __future__ import annotations

import hashlib
import ipaddress
from datetime import UTC, datetime
from typing import Any

from jinja2 import TemplateError

from .. import markdown
from ..classify import templates
from ..classify.engine import Detection, group_id
from ..classify.rules import ObservableSpec
from ..extract.validate import classify_ip
from ..models import IocType, IpClass
from ..warninglists import WarningLists, tags as warninglist_tags
from .settings import AlertSettings

MAX_TITLE = 512
MAX_DESCRIPTION = 1_048_576
MAX_TAG = 128
MAX_DATA = 4096
MAX_SAMPLE_CHARS = 1000
TAG_NON_PUBLIC = "socflow:non-public"
TAG_ALLOWLISTED = "socflow:allowlisted"
TAG_TRUNCATED = "socflow:observables-truncated"


def source_ref(rule_id: str, group: tuple[str, ...], window_start: int) -> str:
    """``<rule id>-<sha256 of rule, key, window>``: readable, deterministic, ≤ 113 characters."""
    digest = hashlib.sha256(group_id(rule_id, window_start, group).encode()).hexdigest()
    return f"{rule_id[:48]}-{digest[:64]}"


def _iso(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if ts else "unknown"


def _human(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def template_context(det: Detection) -> dict[str, Any]:
    return {
        "rule": {"id": det.rule.id, "name": det.rule.name},
        "group": det.group,
        "count": det.count,
        # socflow's own text: printed as is (dates and durations need no escaping)
        "first_seen": markdown.Markdown(_iso(det.first_seen)),
        "last_seen": markdown.Markdown(_iso(det.last_seen)),
        "window": markdown.Markdown(_human(det.rule.window)),
        "window_start": markdown.Markdown(_iso(det.window_start or None)),
        "values": {k: [v for _, v in pairs] for k, pairs in det.values.items()},
        "samples": det.samples,
    }


def _render(template: str, context: dict[str, Any], fallback: str, *, for_markdown: bool) -> str:
    """The rendered template; values are escaped by ``classify.templates``."""
    try:
        return templates.render(template, context, for_markdown=for_markdown).strip() or fallback
    except (TemplateError, TypeError, ValueError) as exc:  # sandbox refusals included
        error = markdown.escape(exc) if for_markdown else markdown.visible(str(exc))
        return f"{fallback} (template error: {error})"


def clean_tags(tags: list[str]) -> list[str]:
    """Unique, non-empty, each cut to 128 characters, order kept."""
    out: dict[str, None] = {}
    for tag in tags:
        tag = tag.strip()[:MAX_TAG]
        if tag:
            out[tag] = None
    return list(out)


class AlertBuilder:
    def __init__(self, settings: AlertSettings, warninglists: WarningLists | None = None) -> None:
        self.settings = settings
        self.warninglists = warninglists
        self._networks = []
        self._names = set()
        for entry in settings.allowlist:
            try:
                self._networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self._names.add(entry)

    def build(self, det: Detection) -> dict[str, Any]:
        rule, s = det.rule, self.settings
        context = template_context(det)
        observables, notes = self._observables(det)
        title = _render(rule.title, context, rule.name, for_markdown=False)[:MAX_TITLE]
        text = _render(rule.description, context, markdown.escape(rule.name), for_markdown=True)
        description = self._description(det, text, notes)
        alert: dict[str, Any] = {
            "type": s.type,
            "source": s.source,
            "sourceRef": source_ref(rule.id, tuple(det.group.values()), det.window_start),
            "title": title,
            "description": description,
            "severity": rule.severity,
            "tlp": rule.tlp,
            "pap": rule.pap,
            "tags": clean_tags(
                [
                    *rule.tags,
                    *s.tags,
                    f"socflow:rule={rule.id}",
                    *([TAG_TRUNCATED] if notes else []),
                ]
            ),
            "observables": observables,
        }
        if det.first_seen:
            alert["date"] = int(det.first_seen * 1000)
        return alert

    def _description(self, det: Detection, text: str, notes: list[str]) -> str:
        lines = [text, ""]
        lines += [f"> {note}" for note in notes]
        samples = det.samples[: self.settings.sample_lines]
        if samples:
            lines += ["", f"#### Sample lines ({len(samples)} of {det.count})", ""]
            lines.append(markdown.block(samples, limit=MAX_SAMPLE_CHARS))
        lines += [
            "",
            (
                f"_socflow rule {markdown.code(det.rule.id)} · {det.count} event(s) · "
                f"window {_human(det.rule.window)} from {_iso(det.window_start or None)}_"
            ),
        ]
        out = "\n".join(lines)
        if len(out) <= MAX_DESCRIPTION:
            return out
        # Cut at a line end: a code span or an escape cut in half would let the rest of the line
        # (attacker text) render as Markdown. Spans and escaped values never cross a line.
        head = out[: MAX_DESCRIPTION - 20]
        return head[: head.rfind("\n") + 1] + "\n(truncated)"

    def _observables(self, det: Detection) -> tuple[list[dict[str, Any]], list[str]]:
        merged: dict[tuple[str, str], dict[str, Any]] = {}
        for spec in det.rule.observables:
            for ioc_type, value in det.values.get(spec.key, []):
                obs = self._observable(det, spec, ioc_type, value)
                if obs is None:
                    continue
                key = (obs["dataType"], obs["data"])
                if key in merged:  # same value from two specs: one observable, both flags
                    old = merged[key]
                    old["tags"] = clean_tags(old["tags"] + obs["tags"])
                    old["ioc"] = old["ioc"] or obs["ioc"]
                    old["ignoreSimilarity"] = old["ignoreSimilarity"] and obs["ignoreSimilarity"]
                else:
                    merged[key] = obs
        observables = list(merged.values())
        cap = self.settings.max_observables
        notes = []
        if len(observables) > cap:
            notes.append(
                f"{len(observables) - cap} more observables were left out (cap {cap} per alert)."
            )
            observables = observables[:cap]
        return observables, notes

    def _observable(
        self, det: Detection, spec: ObservableSpec, ioc_type: str, value: str
    ) -> dict[str, Any] | None:
        data = value.strip()
        if not data or len(data) > MAX_DATA:
            return None
        data_type = spec.data_type or (IocType(ioc_type).thehive_type if ioc_type else "other")
        tags = [*spec.tags]
        ignore = spec.ignore_similarity
        verdict = self._hygiene(data_type, data)
        if verdict == "exclude":
            return None
        if verdict:
            tags.append(verdict)
            ignore = True
        if ioc_type == IocType.USERNAME.value or (spec.field == "user" and data_type == "other"):
            tags.append("username")
        tags.extend(warninglist_tags(self._listed(data_type, data)))
        obs: dict[str, Any] = {
            "dataType": data_type,
            "data": data,
            "tlp": det.rule.tlp,
            "pap": det.rule.pap,
            "tags": clean_tags(tags),
            "ioc": spec.ioc,
            "sighted": spec.sighted,
            "ignoreSimilarity": ignore,
        }
        if spec.message:
            obs["message"] = spec.message
        return obs

    def _listed(self, data_type: str, data: str) -> list[str]:
        """MISP warning lists the observable is on (loaded only when an alert is built)."""
        if self.warninglists is None:
            return []
        from .enrichment import ioc_type_of  # the same dataType → indicator type mapping

        kind = ioc_type_of(data_type, data)
        return self.warninglists.match(kind, data) if kind is not None else []

    def _hygiene(self, data_type: str, data: str) -> str:
        """ "" to keep, "exclude", or the tag to add, per the private / allowlist settings."""
        if self._allowlisted(data_type, data):
            return "exclude" if self.settings.allowlisted == "exclude" else TAG_ALLOWLISTED
        if data_type == "ip" and self.settings.private != "keep":
            cls = classify_ip(data)
            if cls is not None and cls != IpClass.PUBLIC:
                return "exclude" if self.settings.private == "exclude" else TAG_NON_PUBLIC
        return ""

    def _allowlisted(self, data_type: str, data: str) -> bool:
        lowered = data.lower().rstrip(".")
        if lowered in self._names:
            return True
        if data_type == "ip" and self._networks:
            try:
                addr = ipaddress.ip_address(lowered)
            except ValueError:
                return False
            return any(addr in net for net in self._networks if net.version == addr.version)
        if data_type in ("domain", "fqdn", "hostname", "url", "mail"):
            host = lowered.split("://", 1)[-1].split("/", 1)[0].split("@")[-1].split(":")[0]
            return any(host == n or host.endswith("." + n) for n in self._names)
        return False
