"""Rule and config YAML read through libyaml when PyYAML has it: same data, same lines, same errors."""

from __future__ import annotations

import pytest
import yaml

from socflow.classify import load_rules, yamlfile
from socflow.classify.rules import default_rules_text
from socflow.errors import ConfigError


def test_libyaml_is_used_when_available_and_gives_what_safe_load_gives():
    assert yamlfile._LOADER is getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    text = default_rules_text()
    data, lines = yamlfile.load(text, "default.yml")
    assert data == yaml.safe_load(text)
    assert lines[("rules", 0, "id")] == next(
        n for n, line in enumerate(text.splitlines(), 1) if line.strip().startswith("- id:"))


def test_aliases_that_are_not_recursive_still_work():
    data, lines = yamlfile.load("a: &x [1, {b: 2}]\nc: *x\nd: 2026-01-01\n", "cfg.yml")
    assert data["a"] == data["c"] == [1, {"b": 2}] and lines[("c",)] == 2
    assert str(data["d"]) == "2026-01-01"  # scalars resolved as yaml.safe_load does


@pytest.mark.parametrize(("text", "message"), [
    ("thehive: [\n", "cfg.yml:2: invalid YAML"),
    ("a: 1\na: 2\n", "cfg.yml:2: duplicate key 'a'"),
    ("a: !!int x\n", "cfg.yml:1: invalid YAML value"),
])
def test_errors_keep_file_and_line(text, message):
    with pytest.raises(ConfigError, match=message):
        yamlfile.load(text, "cfg.yml")


def test_templates_are_checked_unless_the_caller_never_renders_them():
    text = "rules: [{id: x, name: y, match: [{field: url, contains: a}], title: '{{ oops'}]"
    with pytest.raises(ConfigError, match="template error"):
        load_rules(text, "r.yml")
    assert [r.id for r in load_rules(text, "r.yml", check_templates=False)] == ["x"]
