"""Typed settings for short-lived processes: msgspec Structs, one-line errors, hidden secrets.

A Cortex analyzer or responder is one process per job, so whatever it imports is paid on every
click. pydantic's import and schema building cost ~100–120 ms of such a process; msgspec validates
the same kind of typed settings (types, defaults, ``Meta`` limits, ``__post_init__`` checks) after
a ~15 ms import. Long-running front ends (the CLI, the bridge, the block-list service) keep
pydantic. Define settings as ``msgspec.Struct`` classes and build them with :func:`convert`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import msgspec

from .errors import ConfigError

T = TypeVar("T")


class Secret:
    """A password or API key that never shows in a repr, a log or a traceback (like pydantic's
    ``SecretStr``, same ``get_secret_value()``)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def _decode_custom(kind: type, value: Any) -> Any:
    """The types msgspec does not know: ``Path`` and :class:`Secret`, both from strings."""
    if not isinstance(value, str):
        raise TypeError(f"Expected `str`, got `{type(value).__name__}`")
    return Path(value) if kind is Path else Secret(value)


def convert(values: dict[str, Any], kind: type[T], prefix: str = "") -> T:
    """Validate plain JSON-typed ``values`` into ``kind``; ConfigError(``prefix`` + one line).

    Lax like pydantic's default mode where a job may send it (``4.0`` or ``"4"`` for an integer,
    ``"true"`` for a boolean); leave null items out so their defaults apply.
    """
    try:
        result = msgspec.convert(values, kind, strict=False, dec_hook=_decode_custom)
    except msgspec.ValidationError as exc:
        raise ConfigError(prefix + error_line(exc)) from None
    where = _exponent_integer(values, result)
    if where is not None:  # msgspec reads "1E0" as 1; pydantic (the CLI's model) refuses it
        raise ConfigError(prefix + (f"{where}: " if where else "") + "expected int, got str")
    return result


def _exponent_integer(given: Any, made: Any, path: str = "") -> str | None:
    """Where a string in exponent form ("1E0") became an integer, else None."""
    if isinstance(given, str):
        return path if isinstance(made, int) and not isinstance(made, bool) and (
            "e" in given or "E" in given) else None
    if isinstance(given, dict):
        for key, value in given.items():
            if isinstance(made, dict):
                inner = made.get(key)
            else:
                inner = getattr(made, key, None) if isinstance(key, str) else None
            found = _exponent_integer(value, inner, f"{path}.{key}" if path else str(key))
            if found is not None:
                return found
    elif isinstance(given, list) and isinstance(made, (list, tuple)):
        for index, (value, inner) in enumerate(zip(given, made)):
            found = _exponent_integer(value, inner, f"{path}[{index}]")
            if found is not None:
                return found
    return None


# msgspec reports these on the enclosing object; we name the item itself.
_ITEM_PROBLEMS = {"Object missing required field": "required but not set",
                  "Object contains unknown field": "not a known item"}


def error_line(exc: msgspec.ValidationError) -> str:
    """``Expected `int` >= 1 - at `$.virustotal.malicious_threshold``` as
    ``virustotal.malicious_threshold: expected int >= 1`` (one line, like validation_summary)."""
    message, _, where = str(exc).partition(" - at `$")
    where = where.rstrip("`").lstrip(".")
    for prefix, meaning in _ITEM_PROBLEMS.items():
        if message.startswith(prefix):
            item = message.removeprefix(prefix).strip(" `")
            where, message = ".".join(p for p in (where, item) if p), meaning
    message = message.replace("`", "").strip()
    message = message[:1].lower() + message[1:]
    line = f"{where}: {message}" if where else message
    return " ".join(line.split())
