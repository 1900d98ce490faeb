"""Classify stage: detection rules (YAML, validated on load) and the engine that applies them.

The package exports load on first use (PEP 562), so ``socflow.classify.yamlfile`` (also used by
the mail policy) can be imported without the engine, the rules and Jinja: analyzer cold start.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .engine import Detection, Engine, IntelSource, field_value
    from .rules import Condition, IndicatorMatch, ObservableSpec, Rule, load_rule_files, load_rules

_LAZY = {
    "Detection": ".engine", "Engine": ".engine", "IntelSource": ".engine", "field_value": ".engine",
    "Condition": ".rules", "IndicatorMatch": ".rules", "ObservableSpec": ".rules", "Rule": ".rules",
    "load_rule_files": ".rules", "load_rules": ".rules",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_LAZY)
