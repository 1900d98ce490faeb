"""Alert storms: past a per-rule cap, one summary alert per rule and window instead of thousands.

A log built to trip a rule (every request another client, every line another domain) made one
alert per group: a 250 MB log gave 556k alerts and a 930 MB outbox. After ``max_alerts_per_rule``
alerts of a rule in one run, the detections of that rule that close together are folded into one
summary alert per window: it says how many detections it holds, lists their groups, and carries
their observables (capped like any alert). Nothing is dropped: every detection is in exactly one
alert, and the run's summary counts the folded ones per rule.

The summary's ``sourceRef`` is a digest of the folded groups' identities, so re-reading the same
input after a crash gives the same reference (the outbox and TheHive refuse the duplicate).
"""

from __future__ import annotations

import hashlib
from typing import Any

from .. import markdown
from ..classify.engine import MAX_VALUES, Detection, group_id
from .alert import MAX_DESCRIPTION, MAX_TITLE, AlertBuilder, clean_tags

TAG_STORM = "socflow:storm-summary"
LISTED_GROUPS = 50


def _code(text: str) -> str:
    """A group value shown as evidence: a code span it cannot leave."""
    return str(markdown.code(text, limit=200))


def summary_alert(builder: AlertBuilder, detections: list[Detection], cap: int) -> dict[str, Any]:
    """One alert for ``detections`` (one rule, one window), past the rule's cap of ``cap``."""
    first = detections[0]
    rule = first.rule
    values: dict[str, list[tuple[str, str]]] = {}
    for det in detections:
        for key, pairs in det.values.items():
            bucket = values.setdefault(key, [])
            for pair in pairs:
                if len(bucket) < MAX_VALUES and pair not in bucket:
                    bucket.append(pair)
    seen = [d.first_seen for d in detections if d.first_seen] or [None]
    last = [d.last_seen for d in detections if d.last_seen] or [None]
    merged = Detection(
        rule, {}, first.window_start, sum(d.count for d in detections),
        min(seen) if seen[0] else None, max(last) if last[0] else None,
        [s for d in detections for s in d.samples][: rule.samples], values,
    )
    alert = builder.build(merged)
    ids = "\x1e".join(group_id(rule.id, d.window_start, tuple(d.group.values())) for d in detections)
    alert["sourceRef"] = f"{rule.id[:48]}-storm-{hashlib.sha256(ids.encode()).hexdigest()[:64]}"
    alert["title"] = (
        f"{rule.name}: {len(detections)} detections folded into one alert "
        f"(alert storm: more than {cap} alerts of this rule in one run)"
    )[:MAX_TITLE]
    listed = [
        f"- {' · '.join(_code(v) for v in d.group.values()) or '(no group key)'}: {d.count} event(s)"
        for d in detections[:LISTED_GROUPS]
    ]
    more = len(detections) - len(listed)
    head = [
        f"**Alert storm.** Rule `{rule.id}` made more than {cap} alerts in this run; the "
        f"{len(detections)} detections below (window from {_window(first)}) are folded into "
        f"this one alert: {merged.count} event(s) in all.",
        "",
        *listed,
        *([f"- … and {more} more group(s)"] if more > 0 else []),
        "",
    ]
    text = "\n".join(head) + "\n" + alert["description"]
    alert["description"] = text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 20] + "\n\n(truncated)"
    alert["tags"] = clean_tags([*alert["tags"], TAG_STORM])
    return alert


def _window(det: Detection) -> str:
    from .alert import _iso

    return _iso(det.window_start or None)
