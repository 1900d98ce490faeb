"""Typed responder configuration: Cortex items → a pydantic model, errors → one-line ConfigError."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ....errors import ConfigError, validation_summary

M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], fields: dict[str, Any]) -> M:
    """Build ``model`` from config items; ``None`` (Cortex's "not set") means the model default."""
    try:
        return model(**{k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        summary = validation_summary(exc, "configuration")
        raise ConfigError(f"configuration item {summary}") from None


def settings_from(worker: Any, model: type[M]) -> M:
    """``model`` filled from the worker's config items of the same names."""
    return validated(model, {name: worker.config(name) for name in model.model_fields})
