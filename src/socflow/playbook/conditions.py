"""Playbook conditions: structured YAML, parsed into a small tree, evaluated on facts.

Nothing in a playbook is ever evaluated as code. A condition is a mapping with exactly one key:

``all: [c, …]`` / ``any: [c, …]`` / ``not: c``
    combinations.
``verdict: malicious`` or ``verdict: {at_least: suspicious}`` (also ``at_most``, ``in``)
    the run's aggregated verdict (levels ``info < safe < suspicious < malicious``).
``observable: {data_type: ip, verdict: {at_least: malicious}, tag: T, count: {gte: 2}}``
    some (or, with ``count``, that many) observables of the target match. An observable's value
    is never compared with anything: only its type, tags and the verdict analyzers gave it.
``taxonomy: {analyzer: A, namespace: N, predicate: P, level: {at_least: suspicious}}``
    some analyzer taxonomy (after the level remapping) matches.
``tag: T`` / ``tag: {prefix: "rule:"}``
    the alert or case carries the tag.
``field: severity`` plus one of ``equals``, ``in``, ``gte``, ``lte``, ``contains``, ``exists``
    a field of the alert or case (``severity``, ``tlp``, ``pap``, ``type``, ``source``,
    ``status``, ``stage``, ``title``, ``assignee``, ``custom.<name>``).

``parse`` raises ``ValueError`` with a message naming the problem (the loader adds file and line).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

LEVELS = ("info", "safe", "suspicious", "malicious")
RANK = {name: i for i, name in enumerate(LEVELS)}
FIELDS = frozenset(
    {"severity", "tlp", "pap", "type", "source", "status", "stage", "title", "assignee", "flag"}
)
MAX_DEPTH = 16
COND_KEYS = ("all", "any", "not", "verdict", "observable", "taxonomy", "tag", "field")


def level_rank(level: str) -> int:
    return RANK.get(str(level).lower(), 0)


@dataclass(frozen=True)
class LevelTest:
    """``malicious`` (equals), ``{at_least: x}``, ``{at_most: x}``, ``{in: [x, y]}``."""

    at_least: int | None = None
    at_most: int | None = None
    among: frozenset[int] | None = None

    def __call__(self, level: str) -> bool:
        r = level_rank(level)
        if self.at_least is not None and r < self.at_least:
            return False
        if self.at_most is not None and r > self.at_most:
            return False
        return self.among is None or r in self.among


@dataclass(frozen=True)
class CountTest:
    gte: int | None = None
    lte: int | None = None

    def __call__(self, n: int) -> bool:
        return (self.gte is None or n >= self.gte) and (self.lte is None or n <= self.lte)


@dataclass(frozen=True)
class Cond:
    op: str
    children: tuple[Cond, ...] = ()
    level: LevelTest | None = None
    data_types: frozenset[str] | None = None
    tag: str | None = None
    tag_prefix: str | None = None
    count: CountTest | None = None
    analyzer: str | None = None
    namespace: str | None = None
    predicate: str | None = None
    name: str | None = None
    test: tuple[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass
class Facts:
    """What conditions see: the verdicts, the target's fields and tags, its observables' types,
    tags and verdicts, and the (remapped) taxonomies. Values of observables are not here."""

    verdict: str = "info"
    fields: Mapping[str, Any] = field(default_factory=dict)
    tags: Sequence[str] = ()
    observables: Sequence[Mapping[str, Any]] = ()  # {"dataType", "tags", "verdict"}
    taxonomies: Sequence[Mapping[str, Any]] = ()  # {"analyzer", "namespace", "predicate", "level"}


def _level_name(value: Any, where: str) -> int:
    if not isinstance(value, str) or value.lower() not in RANK:
        raise ValueError(f"{where}: unknown level {str(value)[:40]!r} (use {', '.join(LEVELS)})")
    return RANK[value.lower()]


def parse_level(value: Any, where: str = "verdict") -> LevelTest:
    if isinstance(value, str):
        r = _level_name(value, where)
        return LevelTest(among=frozenset({r}))
    if isinstance(value, list):
        return LevelTest(among=frozenset(_level_name(v, where) for v in value))
    if not isinstance(value, dict) or not value:
        raise ValueError(f"{where}: a level or a mapping with at_least, at_most or in")
    unknown = set(value) - {"at_least", "at_most", "in"}
    if unknown:
        raise ValueError(f"{where}: unknown key {sorted(unknown)[0]!r} (use at_least, at_most, in)")
    among = value.get("in")
    if among is not None and not isinstance(among, list):
        raise ValueError(f"{where}.in: a list of levels")
    return LevelTest(
        at_least=_level_name(value["at_least"], where) if "at_least" in value else None,
        at_most=_level_name(value["at_most"], where) if "at_most" in value else None,
        among=frozenset(_level_name(v, where) for v in among) if among is not None else None,
    )


def _count(value: Any, where: str) -> CountTest:
    if isinstance(value, int) and not isinstance(value, bool):
        return CountTest(gte=value)
    if isinstance(value, dict) and value and set(value) <= {"gte", "lte"} and all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value.values()
    ):
        return CountTest(gte=value.get("gte"), lte=value.get("lte"))
    raise ValueError(f"{where}: a number or a mapping with gte/lte numbers")


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 256:
        raise ValueError(f"{where}: a non-empty text of at most 256 characters")
    return value


def _strs(value: Any, where: str) -> frozenset[str]:
    items = value if isinstance(value, list) else [value]
    return frozenset(_str(v, where) for v in items)


def parse(data: Any, where: str = "when", depth: int = 0) -> Cond:
    """A condition tree from YAML data; ``ValueError`` naming ``where`` on any problem."""
    if depth > MAX_DEPTH:
        raise ValueError(f"{where}: conditions nested deeper than {MAX_DEPTH} levels")
    if not isinstance(data, dict) or len(data) != 1:
        if isinstance(data, dict) and "field" in data:
            return _field(data, where)
        raise ValueError(
            f"{where}: a condition is a mapping with one of {', '.join(COND_KEYS)}"
            if not isinstance(data, dict) or not data
            else f"{where}: one condition per mapping (found {', '.join(map(str, data))}); "
            "combine them with all: or any:"
        )
    ((key, value),) = data.items()
    sub = f"{where}.{key}"
    if key in ("all", "any"):
        if not isinstance(value, list) or not value:
            raise ValueError(f"{sub}: a non-empty list of conditions")
        return Cond(key, tuple(parse(v, f"{sub}[{i}]", depth + 1) for i, v in enumerate(value)))
    if key == "not":
        return Cond("not", (parse(value, sub, depth + 1),))
    if key == "verdict":
        return Cond("verdict", level=parse_level(value, sub))
    if key == "tag":
        if isinstance(value, dict):
            if set(value) != {"prefix"}:
                raise ValueError(f"{sub}: a tag, or a mapping with prefix")
            return Cond("tag", tag_prefix=_str(value["prefix"], sub + ".prefix"))
        return Cond("tag", tag=_str(value, sub))
    if key == "observable":
        if not isinstance(value, dict):
            raise ValueError(f"{sub}: a mapping with data_type, verdict, tag, count")
        unknown = set(value) - {"data_type", "verdict", "tag", "count"}
        if unknown:
            raise ValueError(
                f"{sub}: unknown key {sorted(map(str, unknown))[0]!r} "
                "(use data_type, verdict, tag, count; observable values are never compared)"
            )
        return Cond(
            "observable",
            data_types=_strs(value["data_type"], sub + ".data_type") if "data_type" in value else None,
            level=parse_level(value["verdict"], sub + ".verdict") if "verdict" in value else None,
            tag=_str(value["tag"], sub + ".tag") if "tag" in value else None,
            count=_count(value["count"], sub + ".count") if "count" in value else CountTest(gte=1),
        )
    if key == "taxonomy":
        if not isinstance(value, dict) or not value:
            raise ValueError(f"{sub}: a mapping with analyzer, namespace, predicate, level")
        unknown = set(value) - {"analyzer", "namespace", "predicate", "level"}
        if unknown:
            raise ValueError(
                f"{sub}: unknown key {sorted(map(str, unknown))[0]!r} "
                "(use analyzer, namespace, predicate, level)"
            )
        return Cond(
            "taxonomy",
            analyzer=_str(value["analyzer"], sub) if "analyzer" in value else None,
            namespace=_str(value["namespace"], sub) if "namespace" in value else None,
            predicate=_str(value["predicate"], sub) if "predicate" in value else None,
            level=parse_level(value["level"], sub + ".level") if "level" in value else None,
        )
    if key == "field":
        return _field(data, where)
    raise ValueError(f"{where}: unknown condition {str(key)[:40]!r} (use {', '.join(COND_KEYS)})")


_FIELD_OPS = ("equals", "in", "gte", "lte", "contains", "exists")


def _field(data: dict[str, Any], where: str) -> Cond:
    name = _str(data.get("field"), f"{where}.field")
    if name not in FIELDS and not (name.startswith("custom.") and len(name) > 7):
        raise ValueError(
            f"{where}.field: unknown field {name[:40]!r} (use {', '.join(sorted(FIELDS))} "
            "or custom.<name>)"
        )
    ops = [k for k in data if k != "field"]
    if len(ops) != 1 or ops[0] not in _FIELD_OPS:
        raise ValueError(f"{where}: field {name!r} takes exactly one of {', '.join(_FIELD_OPS)}")
    op, value = ops[0], data[ops[0]]
    if op in ("gte", "lte") and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise ValueError(f"{where}.{op}: a number")
    if op == "in" and not isinstance(value, list):
        raise ValueError(f"{where}.in: a list")
    if op == "exists" and not isinstance(value, bool):
        raise ValueError(f"{where}.exists: true or false")
    if isinstance(value, (dict,)):
        raise ValueError(f"{where}.{op}: a plain value")
    return Cond("field", name=name, test=(op, value))


def _field_value(facts: Facts, name: str) -> Any:
    if name.startswith("custom."):
        custom = facts.fields.get("customFields")
        wanted = name[7:]
        if isinstance(custom, dict):
            value = custom.get(wanted)
            return value.get("value") if isinstance(value, dict) else value
        if isinstance(custom, list):
            for item in custom:
                if isinstance(item, dict) and item.get("name") == wanted:
                    return item.get("value")
        return None
    return facts.fields.get(name)


def _field_test(value: Any, op: str, arg: Any) -> bool:
    if op == "exists":
        return (value is not None) == arg
    if value is None:
        return False
    if op == "equals":
        return bool(value == arg)
    if op == "in":
        return value in arg
    if op == "contains":
        if isinstance(value, str):
            return isinstance(arg, str) and arg.lower() in value.lower()
        return isinstance(value, list) and arg in value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return value >= arg if op == "gte" else value <= arg


def evaluate(cond: Cond, facts: Facts) -> bool:
    op = cond.op
    if op == "all":
        return all(evaluate(c, facts) for c in cond.children)
    if op == "any":
        return any(evaluate(c, facts) for c in cond.children)
    if op == "not":
        return not evaluate(cond.children[0], facts)
    if op == "verdict":
        assert cond.level is not None
        return cond.level(facts.verdict)
    if op == "tag":
        if cond.tag is not None:
            return cond.tag in facts.tags
        return any(str(t).startswith(cond.tag_prefix or "") for t in facts.tags)
    if op == "observable":
        n = 0
        for obs in facts.observables:
            if cond.data_types is not None and obs.get("dataType") not in cond.data_types:
                continue
            if cond.level is not None and not cond.level(str(obs.get("verdict", "info"))):
                continue
            if cond.tag is not None and cond.tag not in (obs.get("tags") or ()):
                continue
            n += 1
        assert cond.count is not None
        return cond.count(n)
    if op == "taxonomy":
        for tax in facts.taxonomies:
            if cond.analyzer is not None and tax.get("analyzer") != cond.analyzer:
                continue
            if cond.namespace is not None and str(tax.get("namespace", "")).lower() != cond.namespace.lower():
                continue
            if cond.predicate is not None and str(tax.get("predicate", "")).lower() != cond.predicate.lower():
                continue
            if cond.level is not None and not cond.level(str(tax.get("level", "info"))):
                continue
            return True
        return False
    if op == "field":
        assert cond.name is not None and cond.test is not None
        return _field_test(_field_value(facts, cond.name), *cond.test)
    raise AssertionError(op)


def describe(cond: Cond) -> str:
    """A short human reading of a condition (for plans, task logs and history)."""
    op = cond.op
    if op in ("all", "any"):
        joiner = " and " if op == "all" else " or "
        return "(" + joiner.join(describe(c) for c in cond.children) + ")"
    if op == "not":
        return "not " + describe(cond.children[0])
    if op == "verdict":
        return "verdict " + _describe_level(cond.level)
    if op == "tag":
        return f"tag {cond.tag!r}" if cond.tag is not None else f"a tag starting {cond.tag_prefix!r}"
    if op == "observable":
        parts = []
        if cond.data_types:
            parts.append("/".join(sorted(cond.data_types)))
        if cond.level:
            parts.append("verdict " + _describe_level(cond.level))
        if cond.tag:
            parts.append(f"tagged {cond.tag!r}")
        count = cond.count or CountTest(gte=1)
        many = f"at least {count.gte}" if count.gte is not None else "any number of"
        if count.lte is not None:
            many += f" (at most {count.lte})"
        return f"{many} observable(s) " + " ".join(parts)
    if op == "taxonomy":
        what = ":".join(x for x in (cond.namespace, cond.predicate) if x) or "any"
        who = f" from {cond.analyzer}" if cond.analyzer else ""
        lvl = f" at level {_describe_level(cond.level)}" if cond.level else ""
        return f"taxonomy {what}{who}{lvl}"
    assert cond.test is not None
    return f"{cond.name} {cond.test[0]} {cond.test[1]!r}"


def _describe_level(test: LevelTest | None) -> str:
    if test is None:
        return "any"
    parts = []
    if test.at_least is not None:
        parts.append(f">= {LEVELS[test.at_least]}")
    if test.at_most is not None:
        parts.append(f"<= {LEVELS[test.at_most]}")
    if test.among is not None:
        parts.append("in " + "/".join(LEVELS[r] for r in sorted(test.among)))
    return " ".join(parts)
