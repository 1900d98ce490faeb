"""Detection rules: the YAML schema, validated on load with errors naming file, line and key.

A rule file holds ``rules:``, a list of rules. Each rule says which lines it looks at (``formats``,
``prefilter``), what an event must look like (``match``: all of; ``any``: at least one of;
``indicators``: indicators found in the line), how events are grouped (``group_by``, ``window``),
when a group becomes a detection (``threshold``), and what the TheHive alert carries (severity,
TLP, PAP, tags, Jinja2 ``title``/``description``, ``observables``). See ``docs/rules.md``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ..errors import ConfigError
from ..models import IocType
from . import yamlfile
from .prefilter import compile_pattern

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
EVENT_FIELDS = frozenset(
    {
        "raw",
        "fmt",
        "host",
        "program",
        "client_ip",
        "user",
        "method",
        "url",
        "status",
        "user_agent",
        "referer",
        "message",
    }
)
DEFAULT_RULES = "default.yml"


def parse_duration(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("a duration like 30s, 10m, 1h or 1d is expected")  # noqa: TRY004 (pydantic)
    if isinstance(value, int):
        seconds = value
    else:
        m = _DURATION.match(str(value))
        if not m:
            raise ValueError(f"{value!r} is not a duration (use 30s, 10m, 1h or 1d)")
        seconds = int(m.group(1)) * _UNITS[m.group(2)]
    if not 1 <= seconds <= 30 * 86400:
        raise ValueError("a window lasts between 1 second and 30 days")
    return seconds


def _as_list(value: Any) -> Any:
    return value if value is None or isinstance(value, list) else [value]


def _compile(patterns: list[str], ignore_case: bool) -> re.Pattern[str]:
    flags = re.IGNORECASE if ignore_case else 0
    try:
        return re.compile("|".join(f"(?:{p})" for p in patterns), flags)
    except re.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None


class Condition(BaseModel):
    """One test on one field; several operators in one condition must all hold."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)
    field: str = Field(min_length=1)
    equals: list[str | int] | None = None
    regex: list[str] | None = None
    contains: list[str] | None = None
    startswith: list[str] | None = None
    gte: float | None = None
    lte: float | None = None
    exists: bool | None = None
    negate: bool = Field(default=False, alias="not")
    ignore_case: bool = True
    decode: list[Literal["url"]] = Field(default_factory=list)
    _regex: re.Pattern[str] | None = PrivateAttr(default=None)

    _lists = field_validator("equals", "regex", "contains", "startswith", "decode", mode="before")(
        lambda cls, v: _as_list(v)
    )

    @model_validator(mode="after")
    def _check(self) -> Condition:
        ops = (
            self.equals,
            self.regex,
            self.contains,
            self.startswith,
            self.gte,
            self.lte,
            self.exists,
        )
        if all(op is None for op in ops):
            raise ValueError(
                "a condition needs one of equals, regex, contains, startswith, gte, lte, exists"
            )
        if self.regex:
            self._regex = _compile(self.regex, self.ignore_case)
        return self


class IndicatorMatch(BaseModel):
    """Indicators found in the line (the core extractor) that make the event match."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    types: list[IocType] = Field(min_length=1)
    tlds: list[str] = Field(default_factory=list)
    intel: bool = False
    public_only: bool = True

    @field_validator("tlds", mode="before")
    @classmethod
    def _tlds(cls, value: Any) -> Any:
        return [str(t).lower().lstrip(".") for t in _as_list(value) or []]


class ObservableSpec(BaseModel):
    """Which values of the grouped events become TheHive observables, and how they are flagged."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)
    field: str | None = None
    indicators: bool = False
    extract: list[IocType] | None = None
    data_type: str | None = Field(default=None, alias="dataType", min_length=1, max_length=64)
    name: str | None = None
    tags: list[str] = Field(default_factory=list)
    ioc: bool = False
    sighted: bool = False
    ignore_similarity: bool = Field(default=False, alias="ignoreSimilarity")
    message: str | None = Field(default=None, max_length=4096)

    _extract = field_validator("extract", mode="before")(lambda cls, v: _as_list(v))

    @model_validator(mode="after")
    def _one_source(self) -> ObservableSpec:
        given = sum((self.field is not None, self.indicators, self.extract is not None))
        if given != 1:
            raise ValueError(
                "an observable takes its values from exactly one of field, indicators, extract"
            )
        return self

    @property
    def key(self) -> str:
        return self.name or self.field or ("indicators" if self.indicators else "extracted")


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,47}$")
    name: str = Field(min_length=1, max_length=200)
    enabled: bool = True
    formats: list[str] | None = None
    prefilter: str | None = None
    match: list[Condition] = Field(default_factory=list)
    any_of: list[Condition] = Field(default_factory=list, alias="any")
    indicators: IndicatorMatch | None = None
    group_by: list[str] = Field(default_factory=list)
    threshold: int = Field(default=1, ge=1, le=1_000_000)
    window: int = 3600
    severity: int = Field(default=2, ge=1, le=4)
    tlp: int = Field(default=2, ge=0, le=4)
    pap: int = Field(default=2, ge=0, le=3)
    tags: list[str] = Field(default_factory=list)
    title: str = Field(min_length=1)
    description: str = ""
    observables: list[ObservableSpec] = Field(default_factory=list)
    samples: int = Field(default=10, ge=0, le=100)
    _prefilter: str | None = PrivateAttr(default=None)

    _formats = field_validator("formats", "group_by", "tags", mode="before")(
        lambda cls, v: _as_list(v)
    )

    @field_validator("window", mode="before")
    @classmethod
    def _window(cls, value: Any) -> int:
        return parse_duration(value)

    @field_validator("formats")
    @classmethod
    def _known_formats(cls, value: list[str] | None) -> list[str] | None:
        from ..parse import PARSERS  # the registry is the list of formats

        for fmt in value or []:
            if fmt not in PARSERS:
                raise ValueError(f"unknown format {fmt!r} (known: {', '.join(sorted(PARSERS))})")
        return value

    @field_validator("tags")
    @classmethod
    def _tag_length(cls, value: list[str]) -> list[str]:
        for tag in value:
            if not 1 <= len(tag) <= 128:
                raise ValueError(f"tag {tag[:20]!r}… must be 1-128 characters")
        return value

    @field_validator("title", "description")
    @classmethod
    def _template(cls, value: str, info: ValidationInfo) -> str:
        if info.context and info.context.get("check_templates") is False:
            return value  # a caller that never renders them (the LogIOC analyzer): no jinja2
        from jinja2 import TemplateSyntaxError

        from . import templates

        try:
            templates.compiled(value, True)
        except TemplateSyntaxError as exc:
            raise ValueError(f"template error: {exc.message}") from None
        return value

    @model_validator(mode="after")
    def _compile_prefilter(self) -> Rule:
        if not (self.match or self.any_of or self.indicators):
            raise ValueError("a rule needs at least one of match, any, indicators")
        if any(spec.indicators for spec in self.observables) and not self.indicators:
            raise ValueError("observables take 'indicators' only when the rule matches indicators")
        pattern = self.prefilter
        if pattern is None and self.indicators and self.indicators.tlds:
            pattern = r"\.(?:" + "|".join(re.escape(t) for t in self.indicators.tlds) + r")\b"
        if pattern is not None:
            compile_pattern(pattern)  # RE2 syntax: no look-around, no back-references
        self._prefilter = pattern
        return self

    @property
    def prefilter_source(self) -> bytes | None:
        """The line pre-filter (given, or derived from ``indicators.tlds``), RE2, case-insensitive."""
        return self._prefilter.encode() if self._prefilter is not None else None


class RuleFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rules: list[Rule] = Field(default_factory=list)


def load_rules(text: str, source: str, *, check_templates: bool = True) -> list[Rule]:
    """The rules of one file. ``check_templates=False`` skips compiling the title and
    description templates (for callers that never render them)."""
    data, lines = yamlfile.load(text, source)
    if data is None:
        return []
    if not isinstance(data, dict):
        raise ConfigError(f"{source}:1: a rule file is a mapping with a 'rules' list")
    try:
        rules = RuleFile.model_validate(data, context={"check_templates": check_templates}).rules
    except ValidationError as exc:
        raise yamlfile.config_error(exc, source, lines) from None
    seen: set[str] = set()
    for i, rule in enumerate(rules):
        if rule.id in seen:
            raise ConfigError(
                f"{source}:{yamlfile.line_of(lines, ('rules', i, 'id'))}: rule id {rule.id!r} "
                "is defined twice"
            )
        seen.add(rule.id)
    return rules


def load_rule_files(
    paths: Iterable[str | Path],
    *,
    defaults: bool = True,
    texts: Iterable[tuple[str, str]] = (),
    check_templates: bool = True,
) -> list[Rule]:
    """The shipped default rules (unless ``defaults`` is false), each file, then each
    ``(yaml text, source name)`` of ``texts`` (rules given inline, e.g. in a Cortex flavor), in order.

    Ids are unique within a file; a later file may redefine (replace) a rule of an earlier one.
    """
    rules: dict[str, Rule] = {}
    sources: list[tuple[str, str]] = []
    if defaults:
        sources.append((default_rules_text(), f"<default rules {DEFAULT_RULES}>"))
    for path in paths:
        try:
            sources.append((Path(path).read_text(encoding="utf-8"), str(path)))
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"{path}: cannot read rule file: {getattr(exc, 'strerror', None) or exc}"
            ) from None
    sources.extend(texts)
    for text, source in sources:
        for rule in load_rules(text, source, check_templates=check_templates):
            rules[rule.id] = rule
    return [r for r in rules.values() if r.enabled]


def default_rules_text() -> str:
    return (resources.files("socflow") / "data" / "rules" / DEFAULT_RULES).read_text(
        encoding="utf-8"
    )
