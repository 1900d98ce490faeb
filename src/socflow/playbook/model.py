"""Playbook files: the YAML schema, validated on load with errors naming file, line and key.

A playbook names its trigger (TheHive alerts or cases of given types, sources, tags, severity; or
manual runs only), an optional case template (what ``promote`` creates and ``socflow playbook
templates`` exports), a verdict remapping table, retry bounds, and its steps. Steps run in the
order written; ``next`` jumps forward, a ``decide`` step picks the next step by its branches, and
``end: true`` stops. Jumps that form a cycle, unknown step kinds or targets, bad conditions and
unknown ``Socflow_*`` analyzers or responders are refused. See ``docs/playbooks.md``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from ..classify import yamlfile
from ..errors import ConfigError
from . import conditions
from .conditions import LEVELS, Cond

_ID = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
Level = Literal["info", "safe", "suspicious", "malicious"]
DataType = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]
# Socflow flavors this version ships (analyzers/*/ and responders/*/ flavor names): a playbook
# naming another Socflow_ worker is a typo. Other names (Cortex-Analyzers) are checked against
# Cortex when it is reachable (``socflow playbook check --cortex-url``).
SOCFLOW_ANALYZERS = frozenset({
    "Socflow_AbuseIPDB_Check", "Socflow_AbuseIPDB_CheckBlock", "Socflow_LogIOC",
    "Socflow_MailAnalysis", "Socflow_OTX_Query", "Socflow_VirusTotal_GetReport",
    "Socflow_VirusTotal_Scan",
})
SOCFLOW_RESPONDERS = frozenset({
    "Socflow_Block", "Socflow_Unblock", "Socflow_Notify_Mail", "Socflow_Notify_Webhook",
})
CASE_STATUSES = ("Indeterminate", "FalsePositive", "TruePositive", "Other", "Duplicated")
ALERT_CLOSE_STATUSES = ("FalsePositive", "Duplicated", "Ignored", "Other")


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _condition(value: Any) -> Cond | None:
    if value is None:
        return None
    if isinstance(value, Cond):
        return value
    return conditions.parse(value, "condition")


def _as_list(value: Any) -> Any:
    return value if value is None or isinstance(value, list) else [value]


class Trigger(_Base):
    """What a watch picks up. ``event: manual`` playbooks only run with ``socflow playbook run``."""

    event: Literal["alert", "case", "manual"] = "alert"
    type: list[str] = Field(default_factory=list)
    source: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list, description="all of these tags")
    any_tags: list[str] = Field(default_factory=list, description="at least one of these tags")
    severity: int = Field(default=1, ge=1, le=4, description="at least this severity")

    _lists = field_validator("type", "source", "tags", "any_tags", mode="before")(
        lambda cls, v: _as_list(v)
    )

    def matches(self, entity: dict[str, Any]) -> bool:
        tags = entity.get("tags") or []
        sev = entity.get("severity")
        return (
            (not self.type or entity.get("type") in self.type)
            and (not self.source or entity.get("source") in self.source)
            and all(t in tags for t in self.tags)
            and (not self.any_tags or any(t in tags for t in self.any_tags))
            and (isinstance(sev, int) and sev >= self.severity)
        )


class TaskSpec(_Base):
    title: str = Field(min_length=1, max_length=128)
    group: str = Field(default="default", min_length=1, max_length=64)
    description: str = Field(default="", max_length=1 << 16)
    mandatory: bool = False


class CaseTemplate(_Base):
    name: str = Field(pattern=_NAME)
    display_name: str | None = Field(default=None, max_length=64)
    title_prefix: str = Field(default="", max_length=64)
    description: str = Field(default="", max_length=1 << 16)
    severity: int = Field(default=2, ge=1, le=4)
    tlp: int = Field(default=2, ge=0, le=4)
    pap: int = Field(default=2, ge=0, le=3)
    tags: list[str] = Field(default_factory=list)
    tasks: list[TaskSpec] = Field(default_factory=list)


class Retry(_Base):
    """Bounded retries of a call that found the service down (connection refused, 5xx, timeout)."""

    attempts: int = Field(default=4, ge=1, le=20)
    backoff: float = Field(default=1.0, ge=0, le=300, description="first wait, seconds")
    max_backoff: float = Field(default=30.0, ge=0, le=3600)


class _Step(_Base):
    id: str = Field(pattern=_ID)
    when: Any = None
    next: str | None = None
    end: bool = False
    _when: Cond | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _parse_when(self) -> _Step:
        try:
            self._when = _condition(self.when)
        except ValueError as exc:
            raise ValueError(str(exc).replace("condition", "when", 1)) from None
        if self.end and self.next:
            raise ValueError("a step has either next or end: true, not both")
        return self

    @property
    def condition(self) -> Cond | None:
        return self._when


class AnalyzeStep(_Step):
    kind: Literal["analyze"]
    analyzers: list[str] = Field(min_length=1)
    data_types: list[DataType] = Field(min_length=1)
    timeout: float = Field(default=120, gt=0, le=3600, description="seconds per analysis")
    optional: bool = Field(
        default=False, description="an analyzer that fails does not fail the run"
    )
    max_observables: int = Field(default=50, ge=1, le=1000)

    _lists = field_validator("analyzers", "data_types", mode="before")(lambda cls, v: _as_list(v))

    @field_validator("analyzers")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        from .local import LOCAL

        for name in value:
            if name.startswith("socflow:"):
                if name not in LOCAL:
                    raise ValueError(
                        f"unknown in-process analysis {name[:40]!r} (use {', '.join(LOCAL)})")
                continue
            if not re.fullmatch(_NAME, name):
                raise ValueError(f"{name[:40]!r} is not an analyzer name")
            if name.startswith("Socflow_") and name not in SOCFLOW_ANALYZERS:
                raise ValueError(
                    f"unknown analyzer {name!r} (socflow ships {', '.join(sorted(SOCFLOW_ANALYZERS))})"
                )
        return value


class Branch(_Base):
    when: Any
    goto: str = Field(pattern=_ID)
    _when: Cond | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _parse(self) -> Branch:
        try:
            self._when = _condition(self.when)
        except ValueError as exc:
            raise ValueError(str(exc).replace("condition", "when", 1)) from None
        return self

    @property
    def condition(self) -> Cond:
        assert self._when is not None
        return self._when


class DecideStep(_Step):
    kind: Literal["decide"]
    remap: dict[str, dict[Level, Level]] = Field(
        default_factory=dict, description="per analyzer (or '*'): its level -> our level"
    )
    branches: list[Branch] = Field(default_factory=list)
    default: str | None = Field(default=None, pattern=_ID)


class ResponderAction(_Base):
    name: str = Field(pattern=_NAME)
    entity: Literal["observables", "case", "alert"] = "observables"
    data_types: list[DataType] = Field(default_factory=list)
    verdict: Any = None
    tags: list[str] = Field(
        default_factory=list, description="only observables with at least one of these tags"
    )
    skip_tags: list[str] = Field(
        default_factory=list, description="observables with any of these tags are left alone"
    )
    timeout: float = Field(default=120, gt=0, le=3600)
    max_observables: int = Field(default=50, ge=1, le=1000)
    on_refusal: Literal["record", "fail"] = Field(
        default="record", description="a job the responder's policy refused (socflow.refusal): "
        "record it as the step's outcome and go on, or fail the run")
    _verdict: Any = PrivateAttr(default=None)

    _lists = field_validator("data_types", "tags", "skip_tags", mode="before")(
        lambda cls, v: _as_list(v))

    @field_validator("name")
    @classmethod
    def _known(cls, value: str) -> str:
        if value.startswith("Socflow_") and value not in SOCFLOW_RESPONDERS:
            raise ValueError(
                f"unknown responder {value!r} (socflow ships {', '.join(sorted(SOCFLOW_RESPONDERS))})"
            )
        return value

    @model_validator(mode="after")
    def _parse(self) -> ResponderAction:
        if self.verdict is not None:
            self._verdict = conditions.parse_level(self.verdict, "verdict")
        if self.entity != "observables" and (self.data_types or self.tags
                                             or self.verdict is not None):
            raise ValueError(
                "data_types, tags and verdict choose observables: only with entity: observables"
            )
        return self

    @property
    def level_test(self) -> Any:
        return self._verdict


class Promote(_Base):
    template: str | None = Field(default=None, pattern=_NAME)
    merge_by_tag: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="merge into an open case sharing the alert's tag that starts with this prefix",
    )


class Escalate(_Base):
    severity: int | None = Field(default=None, ge=1, le=4)
    assignee: str | None = Field(default=None, min_length=1, max_length=128)
    tags: list[str] = Field(default_factory=lambda: ["socflow:escalated"])
    responder: ResponderAction | None = None


class Close(_Base):
    status: str = "TruePositive"
    impact: Literal["NotApplicable", "WithImpact", "NoImpact"] = "NotApplicable"
    summary: str = Field(default="", max_length=1 << 16)

    @field_validator("status")
    @classmethod
    def _status(cls, value: str) -> str:
        if value not in (*CASE_STATUSES, *ALERT_CLOSE_STATUSES):
            raise ValueError(
                f"unknown closing status {value[:40]!r} "
                f"(use {', '.join(dict.fromkeys((*CASE_STATUSES, *ALERT_CLOSE_STATUSES)))})"
            )
        return value


class Action(_Base):
    """One effect; exactly one of the keys."""

    responder: ResponderAction | None = None
    tag: list[str] | None = None
    severity: int | None = Field(default=None, ge=1, le=4)
    promote: Promote | None = None
    assign: str | None = Field(default=None, min_length=1, max_length=128)
    escalate: Escalate | None = None
    close: Close | None = None

    _tags = field_validator("tag", mode="before")(lambda cls, v: _as_list(v))

    @model_validator(mode="before")
    @classmethod
    def _one(cls, value: Any) -> Any:
        if isinstance(value, dict):
            keys = [k for k in value if k in cls.model_fields]
            unknown = [k for k in value if k not in cls.model_fields]
            if unknown:
                raise ValueError(
                    f"unknown action {str(unknown[0])[:40]!r} "
                    f"(use {', '.join(cls.model_fields)})"
                )
            if len(keys) != 1:
                raise ValueError(f"one action per list item (use {', '.join(cls.model_fields)})")
            if keys == ["promote"] and value["promote"] is None:
                value = {"promote": {}}
        return value

    @property
    def kind(self) -> str:
        for name in type(self).model_fields:
            if getattr(self, name) is not None:
                return name
        raise AssertionError("empty action")


class ActStep(_Step):
    kind: Literal["act"]
    actions: list[Action] = Field(min_length=1)


class RecordStep(_Step):
    kind: Literal["record"]
    task: str = Field(min_length=1, max_length=128, description="task title (created if missing)")
    group: str = Field(default="default", min_length=1, max_length=64)
    message: str = Field(default="", max_length=1 << 16)
    task_status: Literal["Waiting", "InProgress", "Completed", "Cancel"] | None = None


class ExportStep(_Step):
    kind: Literal["export"]
    format: Literal["misp", "stix"] = "misp"
    output: str | None = Field(default=None, description="file (else the configured MISP)")
    ioc_only: bool = True


Step = Annotated[
    AnalyzeStep | DecideStep | ActStep | RecordStep | ExportStep, Field(discriminator="kind")
]
KINDS = ("analyze", "decide", "act", "record", "export")


class Playbook(_Base):
    name: str = Field(pattern=_ID)
    description: str = Field(default="", max_length=1 << 16)
    version: int = Field(default=1, ge=1)
    trigger: Trigger = Field(default_factory=Trigger)
    case_template: CaseTemplate | None = None
    remap: dict[str, dict[Level, Level]] = Field(
        default_factory=dict, description="default level remapping of every decide step"
    )
    retry: Retry = Field(default_factory=Retry)
    steps: list[Step] = Field(min_length=1)
    _digest: str = PrivateAttr(default="")
    _source: str = PrivateAttr(default="")

    @model_validator(mode="after")
    def _graph(self) -> Playbook:
        ids: dict[str, int] = {}
        for i, step in enumerate(self.steps):
            if step.id in ids:
                raise ValueError(f"steps[{i}]: step id {step.id!r} is used twice")
            ids[step.id] = i
        for i, step in enumerate(self.steps):
            for target in _targets(step):
                if target not in ids:
                    raise ValueError(
                        f"steps[{i}] ({step.id}): goes to unknown step {target!r} "
                        f"(steps: {', '.join(ids)})"
                    )
        cycle = _find_cycle(self.steps, ids)
        if cycle:
            raise ValueError(
                f"steps[{ids[cycle[-2]]}] ({cycle[-2]}): the steps form a cycle: "
                + " -> ".join(cycle)
            )
        if self.trigger.event == "alert":
            _check_case_needed(self.steps, ids)
        return self

    @property
    def digest(self) -> str:
        return self._digest

    @property
    def source(self) -> str:
        return self._source

    def step(self, step_id: str) -> Any:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)

    def successors(self, index: int) -> list[str]:
        return _successors(self.steps, index)

    def analyzers(self) -> list[str]:
        return sorted({a for s in self.steps if isinstance(s, AnalyzeStep) for a in s.analyzers})

    def responders(self) -> list[str]:
        out = set()
        for s in self.steps:
            if isinstance(s, ActStep):
                for a in s.actions:
                    if a.responder:
                        out.add(a.responder.name)
                    if a.escalate and a.escalate.responder:
                        out.add(a.escalate.responder.name)
        return sorted(out)


def _targets(step: Any) -> list[str]:
    out = [step.next] if step.next else []
    if isinstance(step, DecideStep):
        out += [b.goto for b in step.branches]
        if step.default:
            out.append(step.default)
    return out


def _successors(steps: Sequence[Any], index: int) -> list[str]:
    step = steps[index]
    if step.end:
        return []
    if isinstance(step, DecideStep) and (step.branches or step.default):
        following = steps[index + 1].id if index + 1 < len(steps) else None
        return [x for x in (*(b.goto for b in step.branches), step.default or following) if x]
    if step.next:
        return [step.next]
    return [steps[index + 1].id] if index + 1 < len(steps) else []


def _find_cycle(steps: Sequence[Any], ids: dict[str, int]) -> list[str] | None:
    color: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        color[node] = 1
        stack.append(node)
        for nxt in _successors(steps, ids[node]):
            if color.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in color:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        color[node] = 2
        return None

    for s in steps:
        if s.id not in color:
            found = visit(s.id)
            if found:
                return found
    return None


def _case_check(step: Any, promoted: bool) -> tuple[bool, bool]:
    """(does the step need a case it does not have yet, is there a case after it)."""
    if isinstance(step, (RecordStep, ExportStep)):
        return not promoted, promoted
    if isinstance(step, ActStep):
        for a in step.actions:
            if a.promote is not None:
                promoted = True
            elif (a.assign or a.escalate or (a.responder and a.responder.entity == "case")) \
                    and not promoted:
                return True, promoted
    return False, promoted


def _check_case_needed(steps: Sequence[Any], ids: dict[str, int]) -> None:
    """On an alert, steps that need a case (task logs, assign, escalate, a responder on the
    case, export) must come after a promote on every path that reaches them."""
    # a DAG (cycles were refused); what a step sees depends only on (step, promoted so far), so
    # each pair is walked once: linear in the steps whatever the number of paths
    seen: set[tuple[str, bool]] = set()

    def walk(node: str, promoted: bool, depth: int) -> None:
        if (node, promoted) in seen:
            return
        seen.add((node, promoted))
        step = steps[ids[node]]
        missing, promoted = _case_check(step, promoted)
        if missing:
            raise ValueError(
                f"steps[{ids[node]}] ({step.id}): a {step.kind} step needs a case, but on an alert "
                "a path reaches it before any promote: add an act step with promote before it"
            )
        if depth > 200:
            return
        for nxt in _successors(steps, ids[node]):
            walk(nxt, promoted, depth + 1)

    walk(steps[0].id, False, 0)


def _error(exc: ValidationError, source: str, lines: dict[Any, int]) -> ConfigError:
    """``file:line: steps[2].actions[0].responder.name: reason`` — the discriminator tags
    pydantic puts in locations (``analyze``, ``act``…) are dropped so lines are found."""
    messages = []
    for err in exc.errors(include_url=False):
        loc = [p for p in err["loc"] if not str(p).startswith("function-")]
        clean: list[Any] = []
        for i, part in enumerate(loc):
            if part in KINDS and i >= 2 and loc[i - 2] == "steps":
                continue
            clean.append(part)
        line = yamlfile.line_of(lines, clean)
        key = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in clean).replace(".[", "[")
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "union_tag_invalid":
            msg = f"unknown step kind {str(err.get('input', {}).get('kind', ''))[:40]!r} (use {', '.join(KINDS)})" if isinstance(err.get("input"), dict) else msg
        if err["type"] == "union_tag_invalid":
            line = yamlfile.line_of(lines, [*clean, "kind"]) or line
        if err["type"] == "union_tag_not_found":
            msg = f"a step needs a kind ({', '.join(KINDS)})"
        # graph problems name a step index: point at that step's line
        m = re.match(r"steps\[(\d+)\] \(([^)]*)\): ", msg)
        if m and not clean:
            clean = ["steps", int(m.group(1))]
            key, msg = f"steps[{m.group(1)}] ({m.group(2)})", msg[m.end():]
            line = yamlfile.line_of(lines, clean) or line
        messages.append(f"{source}:{line}: {key or '(top level)'}: {msg}" if line else f"{source}: {key}: {msg}")
    return ConfigError(
        "; ".join(messages[:5]) + (f" (and {len(messages) - 5} more)" if len(messages) > 5 else "")
    )


def load_playbook(text: str, source: str) -> Playbook:
    data, lines = yamlfile.load(text, source)
    if not isinstance(data, dict):
        raise ConfigError(f"{source}:1: a playbook is a mapping with name, trigger and steps")
    try:
        playbook = Playbook.model_validate(data)
    except ValidationError as exc:
        raise _error(exc, source, lines) from None
    playbook._digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    playbook._source = source
    return playbook


def load_playbook_file(path: str | Path) -> Playbook:
    path = Path(path)
    try:
        if path.stat().st_size > 1 << 20:
            raise ConfigError(f"{path}: a playbook file is at most 1 MiB")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    return load_playbook(text, str(path))


def shipped() -> dict[str, Path]:
    """The playbooks socflow ships (``src/socflow/data/playbooks/*.yml``), by file name."""
    folder = resources.files("socflow") / "data" / "playbooks"
    return {p.name: Path(str(p)) for p in folder.iterdir() if p.name.endswith(".yml")}


def resolve(name_or_path: str) -> Path:
    """A path, or the name of a shipped playbook (``phishing`` or ``phishing.yml``)."""
    path = Path(name_or_path)
    if path.exists() or "/" in name_or_path:
        return path
    ships = shipped()
    for candidate in (name_or_path, f"{name_or_path}.yml"):
        if candidate in ships:
            return ships[candidate]
    return path


__all__ = ["LEVELS", "Playbook", "load_playbook", "load_playbook_file"]
