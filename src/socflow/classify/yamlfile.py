"""YAML that remembers where each value came from, so errors can say ``file:line: key: problem``.

PyYAML's composer gives every node a start mark; we build plain Python data from the node tree
and keep a map from the key path (``("rules", 2, "window")``) to the 1-based line number.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..errors import ConfigError

Path_ = tuple[Any, ...]
# Aliases let a few lines stand for a huge tree ("billion laughs": each level refers to the one
# below ten times). Building the data visits every node of the expanded tree, so the number of
# visits is capped: a config or rule file never needs more than a few thousand values.
MAX_NODES = 100_000
MAX_DEPTH = 64
# libyaml's composer when PyYAML was built with it: ~25x faster than the pure-Python one (the
# default rules: 0.8 ms instead of 22 ms, paid by every LogIOC job); same nodes and marks.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_CONSTRUCTOR: list[yaml.SafeLoader] = []  # one scalar constructor, made on first use


def load(text: str, source: str) -> tuple[Any, dict[Path_, int]]:
    """Parse ``text``; return the data and a ``{key path: line}`` map. Raise ConfigError."""
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}: invalid YAML: {_without_content(problem)}") from None
    except RecursionError:
        raise ConfigError(f"{source}: invalid YAML: nested too deeply") from None
    lines: dict[Path_, int] = {}
    budget = [MAX_NODES]
    data = _build(node, (), lines, source, budget, ()) if node is not None else None
    return data, lines


_QUOTED = re.compile(r"""(['"])(.*?)\1""")
_TOKEN = re.compile(r"<[a-z ]+>|.|\\.|\\x[0-9a-f]{2}|\\u[0-9a-f]{4}")


def _without_content(problem: str) -> str:
    """PyYAML quotes what it found: a token name or one character is kept, longer text (an alias,
    a tag, a key of the file) is not shown. The file may be the wrong one, a secrets file."""
    return _QUOTED.sub(lambda m: m[0] if _TOKEN.fullmatch(m[2]) else "(text not shown)", problem)


def load_file(path: str | Path) -> tuple[Any, dict[Path_, int]]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    return load(text, str(path))


def _build(node: yaml.Node, path: Path_, lines: dict[Path_, int], source: str,
           budget: list[int], parents: tuple[int, ...]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise ConfigError(
            f"{source}:{node.start_mark.line + 1}: more than {MAX_NODES} values once aliases are "
            "expanded (an alias bomb?)"
        )
    if len(parents) > MAX_DEPTH:
        raise ConfigError(f"{source}:{node.start_mark.line + 1}: nested deeper than {MAX_DEPTH} levels")
    if id(node) in parents:
        raise ConfigError(f"{source}:{node.start_mark.line + 1}: an alias refers to itself")
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        inside = (*parents, id(node))
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node, source)
            if key in out:
                raise ConfigError(f"{source}:{key_node.start_mark.line + 1}: duplicate key {key!r}")
            lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = _build(value_node, (*path, key), lines, source, budget, inside)
            lines[(*path, key)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        inside = (*parents, id(node))
        return [_build(item, (*path, i), lines, source, budget, inside)
                for i, item in enumerate(node.value)]
    return _scalar(node, source)


def _scalar(node: yaml.Node, source: str) -> Any:
    """Resolve one scalar node the way ``yaml.safe_load`` would (ints, bools, nulls, dates…)."""
    line = node.start_mark.line + 1
    if not isinstance(node, yaml.ScalarNode):
        raise ConfigError(f"{source}:{line}: a mapping key must be a plain value")
    if not _CONSTRUCTOR:
        _CONSTRUCTOR.append(yaml.SafeLoader(""))
    try:
        return _CONSTRUCTOR[0].construct_object(node)
    except (yaml.YAMLError, ValueError, TypeError, OverflowError, AttributeError) as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if isinstance(exc, AttributeError):  # PyYAML's !!timestamp on a non-date
            problem = f"not a valid {node.tag.rsplit(':', 1)[-1]}"
        raise ConfigError(f"{source}:{line}: invalid YAML value: {_without_content(problem)}") from None
    finally:
        _CONSTRUCTOR[0].constructed_objects.clear()  # it caches every node it built


def line_of(lines: dict[Path_, int], loc: Sequence[Any]) -> int | None:
    """The line of the deepest known prefix of ``loc`` (pydantic locations may go deeper)."""
    loc = tuple(loc)
    while loc:
        if loc in lines:
            return lines[loc]
        loc = loc[:-1]
    return lines.get(())


def config_error(
    exc: ValidationError, source: str, lines: dict[Path_, int], prefix: Path_ = ()
) -> ConfigError:
    """One message per problem: ``file:line: rules[2].window: reason``."""
    messages = []
    for err in exc.errors(include_url=False):
        loc = (*prefix, *(p for p in err["loc"] if not str(p).startswith("function-")))
        line = line_of(lines, loc)
        key = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in loc).replace(
            ".[", "["
        )
        msg = err["msg"].removeprefix("Value error, ")
        messages.append(
            f"{source}:{line}: {key or '(top level)'}: {msg}" if line else f"{source}: {key}: {msg}"
        )
    return ConfigError(
        "; ".join(messages[:5]) + (f" (and {len(messages) - 5} more)" if len(messages) > 5 else "")
    )
