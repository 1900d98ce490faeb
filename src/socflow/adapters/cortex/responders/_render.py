"""Subject and body templates for the Notify responders (Jinja2, sandboxed).

Templates come from the Cortex admin; the values they print come from TheHive objects, i.e. from
whoever wrote the alert. So every ``{{ … }}`` output passes through an escaper chosen for the
destination (``finalize``), while the template's own text is left alone: an admin may write Slack
``*bold*``; an alert title cannot inject ``<!channel>``, a Markdown link, or a second mail header.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from jinja2 import ChainableUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from ....errors import ConfigError
from ._thehive import KINDS, entity_id, link, tags

DEFAULT_SUBJECT = "[TheHive {{ kind }}{% if number %} #{{ number }}{% endif %}] {{ title }}"
DEFAULT_BODY = (
    "{{ title }}\n"
    "Severity: {{ severity_label }}{% if tags %} | Tags: {{ tags | join(', ') }}{% endif %}\n"
    "{% if link %}{{ link }}\n{% endif %}"
    "{% if description %}\n{{ description }}{% endif %}"
)
MAX_SUBJECT = 250
SEVERITY = {1: "LOW", 2: "MEDIUM", 3: "HIGH", 4: "CRITICAL"}

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029]")
_LINE_BREAKS = re.compile(r"[\r\n\x00-\x1f\x7f\u0085\u2028\u2029]+")
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~])")


def plain(text: str) -> str:
    """Mail bodies and generic JSON: printable text, newlines and tabs kept."""
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def header(text: str) -> str:
    """One header line: CR/LF and other controls become spaces (no header injection)."""
    return " ".join(_LINE_BREAKS.sub(" ", text).split())


def slack(text: str) -> str:
    """Slack mrkdwn: the three characters Slack asks to escape; kills <!channel>, <url|label>."""
    return plain(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def markdown(text: str) -> str:
    """Mattermost / Teams Markdown: backslash-escape syntax, break @mentions with U+200B."""
    return _MARKDOWN.sub(r"\\\1", plain(text)).replace("@", "@\u200b")


class Trusted(str):
    """A value socflow built itself (the TheHive link): printed as is, whatever the escaper."""


ESCAPERS: dict[str, Callable[[str], str]] = {
    "plain": plain,
    "header": header,
    "slack": slack,
    "markdown": markdown,
}


def context(
    obj: dict[str, Any], data_type: str, parameters: Any, base_url: str | None
) -> dict[str, Any]:
    """What templates can use: the whole object plus a few names that work for every kind."""
    kind = KINDS.get(data_type, "object")
    title = obj.get("title")
    if not isinstance(title, str) or not title:
        title = f"{obj.get('dataType', 'observable')} {obj.get('data', '')}".strip()
    severity = obj.get("severity") if isinstance(obj.get("severity"), int) else None
    user = parameters.get("user") if isinstance(parameters, dict) else None
    return {
        "kind": kind,
        "object": obj,
        kind: obj,
        "id": entity_id(obj) or "",
        "number": obj.get("number") or obj.get("caseId") or "",
        "title": title,
        "description": obj.get("description") or obj.get("message") or "",
        "severity": severity,
        "severity_label": obj.get("severityLabel") or SEVERITY.get(severity or 0, ""),
        "tags": tags(obj),
        "tlp": obj.get("tlp"),
        "pap": obj.get("pap"),
        "link": Trusted(link(base_url, obj, data_type) or ""),
        "user": user or "",
    }


def render(source: str, values: dict[str, Any], escape: str, *, item: str) -> str:
    """Render ``source``; a broken or unsafe template is a configuration error naming the item."""
    escaper = ESCAPERS[escape]
    env = SandboxedEnvironment(
        autoescape=False,
        undefined=ChainableUndefined,
        finalize=lambda v: v if isinstance(v, Trusted) else escaper("" if v is None else str(v)),
    )
    try:
        return env.from_string(source).render(values)
    except TemplateError as exc:  # includes SecurityError from the sandbox
        raise ConfigError(f"configuration item {item}: template error: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - a template that fails at run time (1/0, bad filter arg)
        raise ConfigError(
            f"configuration item {item}: template failed: {type(exc).__name__}: {exc}"
        ) from None
