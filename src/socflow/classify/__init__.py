"""Classify stage: detection rules (YAML, validated on load) and the engine that applies them."""

from __future__ import annotations

from .engine import Detection, Engine, IntelSource, field_value
from .rules import Condition, IndicatorMatch, ObservableSpec, Rule, load_rule_files, load_rules

__all__ = [
    "Condition",
    "Detection",
    "Engine",
    "IndicatorMatch",
    "IntelSource",
    "ObservableSpec",
    "Rule",
    "field_value",
    "load_rule_files",
    "load_rules",
]
