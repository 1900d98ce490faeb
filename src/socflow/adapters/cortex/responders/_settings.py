"""Typed responder configuration: Cortex items → a msgspec Struct, errors → one-line ConfigError.

msgspec, not pydantic: a responder is one process per click and pydantic's import and schema
building were ~100 ms of it (``socflow.config`` explains; docs/benchmarks.md has the figures).
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from ....config import convert

S = TypeVar("S", bound=msgspec.Struct)


class ResponderSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Base of every responder's settings (subclasses repeat ``kw_only=True``)."""


def settings_from(worker: Any, model: type[S]) -> S:
    """``model`` filled from the worker's config items of the same names; ``None`` (Cortex's
    "not set") means the model default."""
    values = {name: worker.config(name) for name in model.__struct_fields__}
    return convert({k: v for k, v in values.items() if v is not None}, model, "configuration item ")
