"""Every flavor JSON in the repository, checked against what Cortex 4.1 requires (spec A.1) and
socflow's conventions; the validator itself is checked against deliberately broken flavors."""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deploy.jobs import REPO, flavor_paths
from socflow.adapters.cortex.flavors import (
    SHEBANG,
    catalog_problems,
    command_problems,
    definition_id,
    definition_problems,
    discover,
    load_flavor,
    template_problems,
)
from socflow.adapters.cortex.registry import WORKERS

REQUIRED_STRINGS = ("name", "version", "description", "author", "url", "license")
ITEM_TYPES = {"text", "string", "number", "boolean"}
GOOD: dict[str, Any] = {
    "name": "Socflow_Test", "version": "1.0", "description": "d", "author": "a", "url": "u",
    "license": "AGPL-V3", "dataTypeList": ["ip"], "command": "Test/test.py",
    "config": {"service": next(iter(WORKERS))},
    "configurationItems": [
        {"name": "key", "description": "API key", "type": "string", "required": True},
        {"name": "api_url", "description": "base URL", "type": "string",
         "defaultValue": "https://api.example.com/v1"},
    ],
}


def kind_of(path: Path) -> str:
    return path.parent.parent.name


# ------------------------------------------------------------ every flavor in the repository
@pytest.mark.parametrize("path", flavor_paths(), ids=lambda p: p.stem)
def test_flavor_is_what_cortex_requires(path: Path) -> None:
    flavor = json.loads(path.read_text(encoding="utf-8"))
    # Independent of the validator: the raw facts of spec A.1.
    for key in REQUIRED_STRINGS:
        assert isinstance(flavor.get(key), str) and flavor[key], f"{path}: {key}"
    assert flavor["name"].startswith("Socflow_") and re.fullmatch(r"\w+", flavor["name"])
    assert flavor["version"] == "1.0"
    assert path.stem == flavor["name"], "file name = flavor name keeps folders navigable"
    assert isinstance(flavor.get("dataTypeList"), list) and flavor["dataTypeList"]
    for item in flavor.get("configurationItems", []):
        assert isinstance(item["name"], str) and isinstance(item["description"], str), item
        assert item["type"] in ITEM_TYPES, item
        assert isinstance(item.get("multi", False), bool) and isinstance(item.get("required", False), bool)
    assert flavor["config"]["service"] in WORKERS
    command = (path.parent.parent / flavor["command"]).resolve()
    assert command.is_relative_to(path.parent.parent.resolve()) and command.is_file()
    assert os.access(command, os.X_OK), f"chmod +x {command}"
    assert command.read_text(encoding="utf-8").splitlines()[0] == SHEBANG
    assert "run_worker" in command.read_text(encoding="utf-8")
    names = {i["name"] for i in flavor.get("configurationItems", [])}
    if any("key" in n.lower() or n.endswith("_url") for n in names):
        assert "api_url" in names, "flavors that call a service need an api_url item"
    # And the validator agrees.
    assert load_flavor(path, kind_of(path)).problems == []


@pytest.mark.parametrize(
    "path", [p for p in flavor_paths() if kind_of(p) == "analyzers"], ids=lambda p: p.stem
)
def test_analyzer_has_report_templates(path: Path) -> None:
    flavor = json.loads(path.read_text(encoding="utf-8"))
    folder = REPO / "thehive-templates" / f"{flavor['name']}_{flavor['version'].replace('.', '_')}"
    text = (folder / "long.html").read_text(encoding="utf-8")
    assert "content." in text and 'ng-if="!success"' in text
    assert sorted(p.name for p in folder.iterdir()) == ["long.html"]  # TheHive 4/5 render no short.html
    assert template_problems(flavor, REPO / "thehive-templates") == []


def test_template_problems_name_a_missing_long_and_a_stray_short(tmp_path: Path) -> None:
    flavor = json.loads(flavor_paths()[0].read_text(encoding="utf-8"))
    folder = tmp_path / f"{flavor['name']}_{flavor['version'].replace('.', '_')}"
    folder.mkdir()
    assert template_problems(flavor, tmp_path) == [f"report template {folder / 'long.html'} is missing or empty"]
    (folder / "long.html").write_text('<div ng-if="!success">{{content.errorMessage}}</div>', encoding="utf-8")
    (folder / "short.html").write_text("<span></span>", encoding="utf-8")
    assert template_problems(flavor, tmp_path) == [
        f"{folder / 'short.html'} is never rendered by TheHive 4/5: delete it"]


def test_discover_finds_every_flavor_and_ids_are_unique() -> None:
    flavors = discover(REPO)
    assert sorted(f.path for f in flavors) == flavor_paths()
    ids = [definition_id(f.definition) for f in flavors if f.definition]
    assert len(ids) == len(set(ids)), ids


# ------------------------------------------------------------ the validator on broken flavors
def broken(**changes: Any) -> dict[str, Any]:
    flavor = copy.deepcopy(GOOD)
    for key, value in changes.items():
        if value is None:
            flavor.pop(key, None)
        else:
            flavor[key] = value
    return flavor


def test_good_flavor_has_no_problems() -> None:
    assert definition_problems(GOOD) == []


@pytest.mark.parametrize(
    ("flavor", "expected"),
    [
        (broken(name=None), "name: Field required"),
        (broken(license=3), "license: Input should be a valid string"),
        (broken(name="VirusTotal"), "must start with 'Socflow_'"),
        (broken(name="Socflow_../x"), "must start with 'Socflow_'"),
        (broken(version="one"), "version 'one'"),
        (broken(command=None), "neither command"),
        (broken(config={"service": "Nope"}), "config.service 'Nope' is not a known worker"),
        (broken(config={}), "config.service None"),
        (broken(configurationItems=[{"name": "x", "description": "d", "type": "list"}]), "configurationItems.0.type"),
        (broken(configurationItems=[{"name": "x", "type": "string"}]), "configurationItems.0.description"),
        (broken(configurationItems=[{"name": "n", "description": "d", "type": "number", "defaultValue": "3"}]),
         "does not match type 'number'"),
        (broken(configurationItems=[{"name": "n", "description": "d", "type": "string", "multi": True,
                                     "defaultValue": "a"}]), "must be a list"),
        (broken(configurationItems=[{"name": "key", "description": "d", "type": "string"}]), "no api_url item"),
        (broken(configurationItems=[{"name": "api_url", "description": "d", "type": "string",
                                     "defaultValue": "www.example.com"}]), "needs an http(s) URL"),
        ([GOOD], "must be a JSON object, not list"),
    ],
)
def test_broken_flavor_is_reported(flavor: Any, expected: str) -> None:
    problems = definition_problems(flavor)
    assert any(expected in p for p in problems), problems


def write_neuron(root: Path, body: str, mode: int = 0o755) -> Path:
    (root / "Test").mkdir(parents=True, exist_ok=True)
    script = root / "Test" / "test.py"
    script.write_text(body, encoding="utf-8")
    script.chmod(mode)
    return script


def test_command_checks_pass_for_a_proper_script(tmp_path: Path) -> None:
    write_neuron(tmp_path, f"{SHEBANG}\nprint()\n")
    assert command_problems("Test/test.py", tmp_path) == []


def test_missing_exec_bit_is_reported_with_the_fix(tmp_path: Path) -> None:
    script = write_neuron(tmp_path, f"{SHEBANG}\n", mode=0o644)
    assert command_problems("Test/test.py", tmp_path) == [f"{script} is not executable: chmod +x {script}"]


@pytest.mark.parametrize("first", ["#!/usr/bin/python2", "#!/usr/bin/env python3\r", "import sys", ""])
def test_bad_shebang_is_reported(tmp_path: Path, first: str) -> None:
    write_neuron(tmp_path, first + "\nprint()\n")
    problems = command_problems("Test/test.py", tmp_path)
    if first.rstrip("\r") == SHEBANG:  # CRLF line ends are tolerated by the check, not by the kernel
        return
    assert any("must start with" in p for p in problems), problems


def test_command_outside_the_root_is_refused(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "evil.py").write_text(SHEBANG)
    assert "must be a path inside" in command_problems("../evil.py", tmp_path / "root")[0]
    assert "does not exist" in command_problems("Nope/x.py", tmp_path / "root")[0]


def test_invalid_json_flavor_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "analyzers" / "Test" / "Socflow_Test.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"name": "Socflow_Test",', encoding="utf-8")
    [flavor] = discover(tmp_path)
    assert flavor.definition is None and "not readable JSON" in flavor.problems[0]


def test_responder_data_types_must_be_thehive_entities(tmp_path: Path) -> None:
    path = tmp_path / "responders" / "Test" / "Socflow_Test.json"
    path.parent.mkdir(parents=True)
    write_neuron(tmp_path / "responders", f"{SHEBANG}\n")
    path.write_text(json.dumps(broken(dataTypeList=["ip"])), encoding="utf-8")
    [flavor] = discover(tmp_path)
    assert any("thehive:<type>" in p for p in flavor.problems), flavor.problems


def test_catalog_entries_need_an_image_and_no_command_when_remote() -> None:
    entry = broken(command=None, dockerImage="ghcr.io/socflow/socflow-neurons:0")
    assert catalog_problems([entry], remote=True) == []
    with_command = broken(dockerImage="img:1")
    assert any("has a command" in p for p in catalog_problems([with_command], remote=True))
    assert any("neither command" in p for p in catalog_problems([broken(command=None)]))
    assert catalog_problems({"not": "a flavor"})  # a single object is read as one definition


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(key=st.sampled_from(sorted(GOOD)), value=JSON_VALUES)
def test_validator_never_crashes_and_flags_wrong_types(key: str, value: Any) -> None:
    flavor = broken(**{key: value})
    problems = definition_problems(flavor)
    assert isinstance(problems, list) and all(isinstance(p, str) and p for p in problems)
    if key in REQUIRED_STRINGS and not isinstance(value, str):
        assert problems, f"{key}={value!r} accepted"
