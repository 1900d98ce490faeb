"""Subject and body templates for the Notify responders (Jinja2, sandboxed).

Templates come from the Cortex admin; the values they print come from TheHive objects, i.e. from
whoever wrote the alert. So every ``{{ … }}`` output passes through an escaper chosen for the
destination (``finalize``), while the template's own text is left alone: an admin may write Slack
``*bold*``; an alert title cannot inject ``<!channel>``, a Markdown link, raw HTML, a clickable
address or a second mail header. Per destination:

* ``plain`` (text mail, generic JSON: json encodes it), ``header`` (subject lines);
* ``slack``: ``&``, ``<``, ``>`` as Slack asks, and a zero-width space after the dots and colons
  inside words, so ``evil.com`` or ``https://…`` in a title is not turned into a link;
* ``markdown`` (Mattermost, Teams): :func:`socflow.markdown.escape` — the one Markdown escaper of
  socflow — line by line, and ``@`` followed by a zero-width space (no @channel mention);
* ``html`` (mail with ``body_format: html``): HTML-escaped.

Evidence goes in code spans: ``{{ value | code }}`` prints a code span of the destination (Slack
and Markdown backticks, ``<code>`` in HTML), where no client builds a link; the default body
shows an observable's data that way.

Bounded work (issue 11 item 8): a template longer than ``MAX_TEMPLATE``, an output longer than
``MAX_OUTPUT``, a render that runs longer than ``RENDER_SECONDS`` (nested loops) or needs more
than ``RENDER_MEMORY`` bytes (``'x' * 10**9``) is a one-line configuration error, never a
hang, a crash or a 1 GB message.
"""

from __future__ import annotations

import html as _html
import re
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from jinja2 import ChainableUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from .... import markdown as _md
from ....errors import ConfigError
from ._thehive import KINDS, entity_id, link, tags

DEFAULT_SUBJECT = "[TheHive {{ kind }}{% if number %} #{{ number }}{% endif %}] {{ title }}"
DEFAULT_BODY = (
    "{{ title }}\n"
    "Severity: {{ severity_label }}{% if tags %} | Tags: {{ tags | join(', ') }}{% endif %}\n"
    "{% if kind == 'observable' and object.data %}"
    "{{ object.dataType }}: {{ object.data | code }}\n{% endif %}"
    "{% if link %}{{ link }}\n{% endif %}"
    "{% if description %}\n{{ description }}{% endif %}"
)
DEFAULT_HTML_BODY = (
    "<p><b>{{ title }}</b><br>\n"
    "Severity: {{ severity_label }}{% if tags %} | Tags: {{ tags | join(', ') }}{% endif %}"
    "{% if kind == 'observable' and object.data %}<br>\n"
    "{{ object.dataType }}: {{ object.data | code }}{% endif %}"
    "{% if link %}<br>\n<a href=\"{{ link }}\">Open in TheHive</a>{% endif %}</p>\n"
    "{% if description %}<p style=\"white-space: pre-wrap\">{{ description }}</p>{% endif %}"
)
MAX_SUBJECT = 250
MAX_TEMPLATE = 64 * 1024  # characters of template source
MAX_OUTPUT = 100_000  # characters rendered; Slack cuts messages at 40,000, Teams cards at 28 KB
RENDER_SECONDS = 5.0
RENDER_MEMORY = 512 * 1024 * 1024  # bytes of address space a render may add
SEVERITY = {1: "LOW", 2: "MEDIUM", 3: "HIGH", 4: "CRITICAL"}

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029]")
_LINE_BREAKS = re.compile(r"[\r\n\x00-\x1f\x7f\u0085\u2028\u2029]+")


def plain(text: str) -> str:
    """Mail bodies and generic JSON: printable text, newlines and tabs kept."""
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def header(text: str) -> str:
    """One header line: CR/LF and other controls become spaces (no header injection)."""
    return " ".join(_LINE_BREAKS.sub(" ", text).split())


_LINK_JOINTS = re.compile(r"(?<=\w)([.:])(?=[\w/])")
_ZWSP = "\u200b"


def _slack_entities(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack(text: str) -> str:
    """Slack mrkdwn: the three characters Slack asks to escape (kills <!channel>, <url|label>),
    and a zero-width space after each dot or colon inside a word, so Slack's autolinker finds no
    ``http://``, ``www.`` or ``name.tld`` in it: the text reads the same and links nowhere."""
    return _LINK_JOINTS.sub(r"\1" + _ZWSP, _slack_entities(plain(text)))


def markdown(text: str) -> str:
    """Mattermost / Teams Markdown: socflow.markdown.escape per line (every punctuation mark
    escaped, ``<>&"`` as entities, so no link, image, HTML or autolink), @mentions broken."""
    lines = plain(text).split("\n")
    return "\n".join(_md.escape(line) for line in lines).replace("@", "@" + _ZWSP)


def html(text: str) -> str:
    """HTML mail bodies: every value HTML-escaped (quotes included: safe inside attributes)."""
    return _html.escape(plain(text), quote=True)


class Trusted(str):
    """A value socflow built itself (the TheHive link): printed as is, whatever the escaper."""


ESCAPERS: dict[str, Callable[[str], str]] = {
    "plain": plain,
    "header": header,
    "slack": slack,
    "markdown": markdown,
    "html": html,
}


def _slack_code(text: str) -> str:
    # Slack has no escape inside `code`: a backtick becomes the look-alike U+02CB.
    shown = _md.visible(plain(text)).replace("`", "\u02cb")
    return f"`{_slack_entities(shown)}`" if shown else ""


CODE: dict[str, Callable[[str], str]] = {
    "plain": lambda t: _md.visible(plain(t)),
    "header": header,
    "slack": _slack_code,
    "markdown": lambda t: str(_md.code(plain(t), limit=None)).replace("@", "@" + _ZWSP),
    "html": lambda t: f"<code>{html(_md.visible(t))}</code>",
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


class _Env(SandboxedEnvironment):
    """The sandbox, plus a size check on ``*`` and ``**`` before they allocate or compute."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int):
                    if len(seq) * times > MAX_OUTPUT:
                        raise SecurityError(
                            f"a repeated value longer than {MAX_OUTPUT} is not allowed"
                        )
        if operator == "**" and isinstance(left, int) and isinstance(right, int):
            if right > 0 and abs(left) > 1 and abs(left).bit_length() * right > 4096:
                raise SecurityError("a power with more than 4096 bits is not allowed")
        return super().call_binop(context, operator, left, right)


class _Overtime(BaseException):
    """Raised by the render alarm; a BaseException so no template-level handler swallows it."""


@contextmanager
def _bounded() -> Iterator[None]:
    """Run the block under a wall-clock alarm and an address-space cap (main thread, POSIX)."""
    restore: list[Callable[[], None]] = []
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):

        def overtime(signum: int, frame: Any) -> None:
            raise _Overtime

        previous = signal.signal(signal.SIGALRM, overtime)
        signal.setitimer(signal.ITIMER_REAL, RENDER_SECONDS)
        restore.append(lambda: (signal.setitimer(signal.ITIMER_REAL, 0),
                                signal.signal(signal.SIGALRM, previous)))
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        with open("/proc/self/statm", encoding="ascii") as statm:
            used = int(statm.read().split()[0]) * resource.getpagesize()
        cap = used + RENDER_MEMORY
        if hard == resource.RLIM_INFINITY or cap < hard:
            if soft == resource.RLIM_INFINITY or cap < soft:
                resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
                restore.append(lambda: resource.setrlimit(resource.RLIMIT_AS, (soft, hard)))
    except (ImportError, OSError, ValueError):
        pass  # not Linux: the output and time limits still hold
    try:
        yield
    finally:
        for undo in reversed(restore):
            undo()


def render(
    source: str, values: dict[str, Any], escape: str, *, item: str, limit: int = MAX_OUTPUT
) -> str:
    """Render ``source``; a broken, unsafe or unbounded template is a configuration error naming
    the item (see the module docstring for the limits)."""
    where = f"configuration item {item}"
    if len(source) > MAX_TEMPLATE:
        raise ConfigError(
            f"{where}: the template has {len(source)} characters, more than {MAX_TEMPLATE}"
        )
    escaper = ESCAPERS[escape]
    coder = CODE[escape]
    env = _Env(
        autoescape=False,
        undefined=ChainableUndefined,
        finalize=lambda v: v if isinstance(v, Trusted) else escaper("" if v is None else str(v)),
    )
    env.filters["code"] = lambda v: Trusted(coder("" if v is None else str(v)))
    parts: list[str] = []
    size = 0
    try:
        with _bounded():
            for chunk in env.from_string(source).generate(values):
                size += len(chunk)
                if size > limit:
                    raise ConfigError(
                        f"{where}: the rendered text is longer than {limit} characters"
                    )
                parts.append(chunk)
    except ConfigError:
        raise
    except _Overtime:
        raise ConfigError(
            f"{where}: rendering took longer than {RENDER_SECONDS:g} s (a loop too large?)"
        ) from None
    except MemoryError:
        raise ConfigError(
            f"{where}: rendering needed more than {RENDER_MEMORY // 2**20} MB of memory"
        ) from None
    except RecursionError:
        raise ConfigError(f"{where}: the template recurses too deeply") from None
    except TemplateError as exc:  # includes SecurityError from the sandbox
        raise ConfigError(f"{where}: template error: {_one_line(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - a template that fails at run time (1/0, bad filter arg)
        raise ConfigError(
            f"{where}: template failed: {type(exc).__name__}: {_one_line(exc)}"
        ) from None
    return "".join(parts)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]
