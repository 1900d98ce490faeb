"""A documented option never crashes (issue 11, item 2), and hostile rule/config files are refused
in bounded time and memory (item 8).

Every optional key of the rule schema (the table in docs/rules.md) and of the bridge config is run
through a real ingestion twice - left out, and given at its documented default - and both must
give the same alerts. A rule without ``prefilter`` (documented as optional) used to crash
``socflow ingest`` in file and follow mode: RE2's ``Set.Match`` answers None when no pattern hits.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from bridge.test_cli import SOCFLOW, env, run  # noqa: F401 - the fixture is used by name
from socflow.adapters.thehive import bridge
from socflow.adapters.thehive.config import BridgeConfig, load_config
from socflow.classify import Engine
from socflow.classify.engine import group_id
from socflow.classify.rules import load_rules
from socflow.emit.alert import AlertBuilder, source_ref
from socflow.emit.ingest import Ingestor
from socflow.emit.outbox import Outbox
from socflow.emit.settings import AlertSettings
from socflow.errors import ConfigError
from socflow.models import Event

DOCS = Path(__file__).resolve().parents[2] / "docs" / "rules.md"
LOG = "".join(
    f"Mar 10 00:{m:02d}:0{k} web1 app[{k}]: boom from 45.10.{m}.{k + 1} user=u{k}\n"
    for m in range(3) for k in range(4)
) + "Mar 10 00:05:00 web1 app[9]: quiet line from 45.10.9.9\n"
BASE = {
    "id": "opt",
    "name": "Optional keys",
    "title": "boom {{ count }} {{ group | tojson }}",
    "match": [{"field": "message", "contains": "boom"}],
    "indicators": {"types": ["ipv4"]},
    "observables": [{"indicators": True}],
}


def _documented_rule_defaults() -> list[tuple[str, str]]:
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("### Optional keys and their defaults", 1)[1].split("\n### ", 1)[0]
    rows = re.findall(r"^\| `([^`]+)` \| (.+?) \|$", section, re.M)
    assert len(rows) >= 20, "the table of optional rule keys is missing from docs/rules.md"
    return rows


def _set(rule: dict, path: str, value) -> dict:
    rule = json.loads(json.dumps(rule))
    if path.startswith("match[]."):
        rule["match"][0][path[8:]] = value
    elif path.startswith("indicators."):
        rule["indicators"][path[11:]] = value
    elif path.startswith("observables[]."):
        rule["observables"][0][path[14:]] = value
    else:
        rule[path] = value
    return rule


def _alerts(rules_yaml: str, tmp_path: Path, settings: AlertSettings | None = None) -> list[dict]:
    log = tmp_path / "app.log"
    log.write_text(LOG)
    got: list[dict] = []
    with Outbox(":memory:") as outbox:
        ingestor = Ingestor(
            Engine(load_rules(rules_yaml, "rules.yml")),
            AlertBuilder(settings or AlertSettings()),
            outbox,
            on_alert=lambda alert, new: got.append(alert),
        )
        ingestor.run_files([str(log)])
    return got


@pytest.mark.parametrize("key, default", _documented_rule_defaults())
def test_every_optional_rule_key_absent_or_at_its_documented_default(key, default, tmp_path):
    base = {k: v for k, v in BASE.items() if k != key}
    absent = _alerts(yaml.safe_dump({"rules": [base]}), tmp_path)
    assert absent, "the base rule must fire"
    if not default.startswith("`"):
        return  # "every format", "none": only absence can say it, and it ran above
    value = yaml.safe_load(default.split("`")[1])
    given = _alerts(yaml.safe_dump({"rules": [_set(base, key, value)]}), tmp_path)
    assert given == absent


def test_documented_defaults_are_the_schemas():
    from socflow.classify.rules import Condition, IndicatorMatch, ObservableSpec, Rule

    models = {"": Rule, "match[].": Condition, "indicators.": IndicatorMatch, "observables[].": ObservableSpec}
    for key, default in _documented_rule_defaults():
        prefix = next(p for p in sorted(models, key=len, reverse=True) if key.startswith(p))
        model, name = models[prefix], key[len(prefix):]
        field = next(f for n, f in model.model_fields.items() if name in (n, f.alias))
        if default.startswith("`"):
            value = yaml.safe_load(default.split("`")[1])
            if name == "window":
                value = 3600
            actual = field.default_factory() if field.default_factory else field.default
            assert actual == value, key
        else:
            assert field.default is None, key


RULE_WITHOUT_PREFILTER = yaml.safe_dump({"rules": [{
    "id": "no-prefilter", "name": "No prefilter", "title": "boom on {{ group.host }}",
    "match": [{"field": "message", "contains": "boom"}], "group_by": ["host"],
}]})


def test_rule_without_prefilter_in_file_mode(env, tmp_path):  # noqa: F811
    rules = tmp_path / "mine.yml"
    rules.write_text(RULE_WITHOUT_PREFILTER)
    log = tmp_path / "app.log"
    log.write_text(LOG)
    out = run("ingest", "--json", "--rules", str(rules), str(log), env=env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["alerts_by_rule"] == {"no-prefilter": 1}


def test_rule_without_prefilter_in_follow_mode(env, tmp_path):  # noqa: F811
    rules = tmp_path / "mine.yml"
    rules.write_text(RULE_WITHOUT_PREFILTER)
    log = tmp_path / "app.log"
    log.write_text("")
    proc = subprocess.Popen([*SOCFLOW, "ingest", "--follow", "--rules", str(rules), str(log)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert json.loads(proc.stderr.readline())["event"] == "following"
        with open(log, "a") as fh:
            fh.write(LOG)
        deadline, events = time.monotonic() + 30, []
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            events.append(json.loads(line))
            if events[-1]["event"] == "alert":
                break
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert [e["title"] for e in events if e["event"] == "alert"] == ["boom on web1"]


# --- the bridge config: every key absent, and at its documented default ------------------------
BRIDGE_DEFAULTS = {
    "thehive": {"verify": True, "timeout": 30, "retries": 2, "parallel": 4},
    "alerts": {"type": "socflow", "source": "socflow", "max_observables": 100, "sample_lines": 10,
               "private": "tag", "allowlist": [], "allowlisted": "exclude", "tags": []},
    "rules": [], "default_rules": True, "disable_rules": [], "intel_feeds": [],
    "enrichment": {"enabled": False, "intel_rule": False},
    "window_grace": 300, "max_line_bytes": 1 << 20, "commit_bytes": 8 << 20, "deliver_timeout": 60,
    "max_alerts_per_rule": 10000,
}
_LEAVES = [(section, key, value) for section, body in BRIDGE_DEFAULTS.items()
           for key, value in (body.items() if isinstance(body, dict) else [(None, body)])]


@pytest.mark.parametrize("section, key, value", _LEAVES, ids=[f"{s}.{k}" if k else s for s, k, _ in _LEAVES])
def test_every_bridge_config_key_absent_or_at_its_default(section, key, value, tmp_path):
    cfg = tmp_path / "cfg.yml"
    cfg.write_text(yaml.safe_dump({section: {key: value}} if key else {section: value}))
    empty = tmp_path / "empty.yml"
    empty.write_text("")
    given, absent, none = load_config(str(cfg)), load_config(str(empty)), load_config(None)
    assert given.model_dump() == absent.model_dump() == none.model_dump() == BridgeConfig().model_dump()
    log = tmp_path / "auth.log"
    log.write_text("".join(f"Mar 10 00:00:0{k} web1 sshd[1]: Failed password for root from 45.9.9.9 "
                           f"port {k} ssh2\n" for k in range(6)))
    results = []
    for config in (given, none):
        got: list[dict] = []
        with bridge.open_outbox(config, memory=True) as outbox:
            bridge.build_ingestor(config, outbox, on_alert=lambda a, new: got.append(a)).run_files([str(log)])
        results.append(got)
    assert results[0] == results[1] and len(results[0]) == 1


def test_the_bridge_defaults_here_are_the_documented_ones():
    text = DOCS.read_text(encoding="utf-8")
    for name in ("window_grace: 300", "deliver_timeout: 60", "max_alerts_per_rule: 10000",
                 "timeout: 30", "retries: 2", "parallel: 4", "max_observables: 100", "sample_lines: 10"):
        assert name in text, name


# --- hostile YAML: alias bombs, self-reference, deep nesting -----------------------------------
BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['lol'] * 9)}]\n"
    for prev, name in zip([None, *"abcdefgh"], "abcdefghi")
)


@pytest.mark.parametrize("text, needle", [
    (BOMB + "rules: *i\n", "more than 100000 values once aliases are expanded"),
    ("rules: &r [*r]\n", "an alias refers to itself"),
    ("rules: " + "[" * 5000 + "]" * 5000 + "\n", "nested"),
])
def test_hostile_yaml_fails_fast_with_one_line(text, needle, tmp_path):
    start = time.process_time()
    for load in (lambda: load_rules(text, "r.yml"), lambda: _load_config_text(text, tmp_path)):
        with pytest.raises(ConfigError) as err:
            load()
        assert needle in str(err.value) and "\n" not in str(err.value)
    assert time.process_time() - start < 5


def _load_config_text(text: str, tmp_path: Path):
    cfg = tmp_path / "cfg.yml"
    cfg.write_text(text)
    return load_config(str(cfg))


def test_alias_bomb_through_the_command_is_one_line_in_bounded_memory(env, tmp_path):  # noqa: F811
    rules = tmp_path / "bomb.yml"
    rules.write_text(BOMB + "rules: *i\n")
    log = tmp_path / "a.log"
    log.write_text("x\n")
    rss = tmp_path / "rss"
    out = subprocess.run(["/usr/bin/time", "-o", str(rss), "-f", "%M", *SOCFLOW, "ingest", "--rules", str(rules),
                          str(log)], env=env, capture_output=True, text=True, timeout=60, check=False)
    lines = out.stderr.splitlines()
    assert out.returncode == 1 and len(lines) == 1 and "alias bomb" in lines[0]
    assert int(rss.read_text().split()[-1]) < 300_000  # kB; the bomb expands to 387M values


def test_aliases_that_stay_small_still_work():
    rules = load_rules(
        "rules:\n  - {id: x, name: X, title: X, tags: &t [a, b], match: [{field: line, contains: y}]}\n"
        "  - {id: z, name: Z, title: Z, tags: *t, match: [{field: line, contains: y}]}\n",
        "r.yml")
    assert rules[1].tags == ["a", "b"]


# --- a group key holding the separator does not merge two groups -------------------------------
def test_group_keys_holding_the_separator_stay_apart():
    rule_yaml = yaml.safe_dump({"rules": [{
        "id": "sep", "name": "Sep", "title": "{{ group.user }} / {{ group.host }}",
        "match": [{"field": "message", "contains": "x"}], "group_by": ["user", "host"],
    }]})
    engine = Engine(load_rules(rule_yaml, "r.yml"))
    rule = list(engine.rules.values())
    for user, host in (("a\x1fb", "c"), ("a", "b\x1fc")):
        engine.observe(Event(raw="x", fmt="json", user=user, host=host, message="x"), rule)
    detections = engine.flush()
    assert sorted((d.group["user"], d.group["host"]) for d in detections) == [("a", "b\x1fc"), ("a\x1fb", "c")]
    refs = {source_ref("sep", tuple(d.group.values()), d.window_start) for d in detections}
    assert len(refs) == 2
    # keys without the separator keep the ids (and alert references) they always had
    assert group_id("r", 60, ("1.2.3.4",)) == "r\x1f60\x1f1.2.3.4"


def test_every_yaml_load_goes_through_the_bounded_loader():
    """One YAML loader for the project: no other module of src/ calls PyYAML."""
    src = Path(__file__).resolve().parents[2] / "src" / "socflow"
    users = sorted(str(p.relative_to(src)) for p in src.rglob("*.py")
                   if re.search(r"^\s*(import yaml|from yaml)", p.read_text(encoding="utf-8"), re.M))
    assert users == ["classify/yamlfile.py"]
