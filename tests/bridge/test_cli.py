"""``socflow ingest`` and ``socflow alerts`` run as processes: end to end, bad input, follow mode."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakes.thehive import FakeTheHive, validate_alert

from bridge.samples import groups_of, write_logs

SOCFLOW = [sys.executable, "-m", "socflow.adapters.cli.main"]
KEY = "s3cret-api-key-0042"


def run(*args: str, env: dict[str, str], stdin: str | None = None, timeout: float = 120):
    return subprocess.run(
        [*SOCFLOW, *args],
        env=env,
        capture_output=True,
        text=True,
        input=stdin,
        timeout=timeout,
        check=False,
    )


@pytest.fixture()
def env(tmp_path):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SOCFLOW_")}
    return dict(clean, SOCFLOW_STATE_DIR=str(tmp_path / "state"), HOME=str(tmp_path))


@pytest.fixture()
def logs(tmp_path):
    d = tmp_path / "logs"
    d.mkdir()
    files, expected = write_logs(d, brute_forcers=4, web_attackers=3, noise=300)
    return files, expected.groups


def test_end_to_end_into_thehive_then_nothing_twice(env, logs):
    files, expected = logs
    with FakeTheHive(api_key=KEY) as hive:
        env = dict(env, SOCFLOW_THEHIVE_URL=hive.url, SOCFLOW_THEHIVE_KEY=KEY)
        first = run("ingest", "--json", *map(str, files), env=env)
        assert first.returncode == 0, first.stderr
        summary = json.loads(first.stdout)
        assert summary["alerts_by_rule"] == {"ssh-brute-force": 4, "web-sqli": 3}
        assert summary["delivery"]["delivered"] == 7 and summary["outbox"]["delivered"] == 7
        assert {s["format"] for s in summary["sources"]} == {"syslog", "access"}
        assert set(groups_of(hive.alerts)) == expected
        alert = hive.alerts[0]
        assert alert["type"] == "socflow" and len(alert["sourceRef"]) <= 128
        second = run("ingest", "--json", *map(str, files), env=env)
        again = json.loads(second.stdout)
        assert again["new_alerts"] == 0 and all(s["resumed_at"] > 0 for s in again["sources"])
        assert len(hive.alerts) == 7
        assert KEY not in first.stdout + first.stderr + second.stdout + second.stderr


def test_fresh_state_same_logs_gives_duplicates_that_thehive_refuses(env, logs, tmp_path):
    files, expected = logs
    with FakeTheHive(api_key=KEY) as hive:
        env = dict(env, SOCFLOW_THEHIVE_URL=hive.url, SOCFLOW_THEHIVE_KEY=KEY)
        assert run("ingest", *map(str, files), env=env).returncode == 0
        other = dict(env, SOCFLOW_STATE_DIR=str(tmp_path / "other-state"))
        again = run("ingest", "--json", *map(str, files), env=other)
        assert json.loads(again.stdout)["delivery"]["duplicates"] == len(expected)
        assert len(hive.alerts) == len(expected)


def test_without_thehive_alerts_wait_and_can_be_listed_exported_pushed(env, logs, tmp_path):
    files, expected = logs
    out = run("ingest", *map(str, files), env=env)
    assert out.returncode == 0 and "socflow alerts push" in out.stderr
    assert "Sources" in out.stdout and "ssh-brute-force" in out.stdout
    listed = json.loads(run("alerts", "list", "--json", env=env).stdout)
    assert len(listed) == len(expected) and {a["state"] for a in listed} == {"pending"}
    shown = run("alerts", "show", str(listed[0]["id"]), env=env)
    assert (
        shown.returncode == 0
        and listed[0]["title"] in shown.stdout
        and "Observables" in shown.stdout
    )
    assert json.loads(run("alerts", "show", listed[0]["sourceRef"], "--json", env=env).stdout)[
        "alert"
    ]
    export = tmp_path / "alerts.json"
    assert run("alerts", "export", "--output", str(export), env=env).returncode == 0
    exported = json.loads(export.read_text())
    assert len(exported) == len(expected) and all(validate_alert(a) == [] for a in exported)
    missing = run("alerts", "show", "nope", env=env)
    assert missing.returncode == 1 and "no alert 'nope'" in missing.stderr
    with FakeTheHive(api_key=KEY) as hive:
        pushed = run(
            "alerts",
            "push",
            "--json",
            "--thehive-url",
            hive.url,
            env=dict(env, SOCFLOW_THEHIVE_KEY=KEY),
        )
        assert pushed.returncode == 0, pushed.stderr
        assert json.loads(pushed.stdout)["delivered"] == len(expected)
        assert set(groups_of(hive.alerts)) == expected
    assert {a["state"] for a in json.loads(run("alerts", "list", "--json", env=env).stdout)} == {
        "delivered"
    }


def test_dry_run_prints_alerts_and_stores_nothing(env, logs, tmp_path):
    files, expected = logs
    out = run("ingest", "--dry-run", *map(str, files), env=env)
    assert out.returncode == 0, out.stderr
    alerts = json.loads(out.stdout)
    assert len(alerts) == len(expected) and all(validate_alert(a) == [] for a in alerts)
    assert not (tmp_path / "state" / "outbox.sqlite").exists()


def test_stdin_and_gzip(env, logs, tmp_path):
    import gzip

    files, _ = logs
    gz = tmp_path / "auth.log.gz"
    gz.write_bytes(gzip.compress(files[0].read_bytes()))
    out = run("ingest", "--dry-run", "--json", "-", str(gz), env=env, stdin=files[1].read_text())
    summary = json.loads(out.stdout)["summary"]
    assert summary["alerts_by_rule"] == {"web-sqli": 3, "ssh-brute-force": 4}


@pytest.mark.parametrize(
    "config,needle",
    [
        (
            "thehive:\n  url: thehive.local\n",
            "cfg.yml:2: thehive.url: TheHive URL must start with http",
        ),
        ("thehive:\n  timeout: -1\n", "cfg.yml:2: thehive.timeout"),
        ("alerts:\n  max_observables: 0\n", "cfg.yml:2: alerts.max_observables"),
        ("alerts:\n  allowlist: [10.0.0.0/33]\n", "cfg.yml:2: alerts.allowlist"),
        ("colour: blue\n", "cfg.yml:1: colour: Extra inputs are not permitted"),
        ("thehive: [\n", "cfg.yml:2: invalid YAML"),
        ("- a\n", "cfg.yml:1: the config file must be a mapping"),
        ("rules: [missing.yml]\n", "missing.yml: cannot read rule file"),
        ("intel_feeds: [nofeed.txt]\n", "nofeed.txt: cannot read intel feed"),
        ("thehive:\n  ca_bundle: nothere.pem\n", "CA bundle"),
        ("enrichment:\n  enabled: true\n", "no provider"),
        (f"thehive:\n  api_key: {KEY}\n", "a TheHive API key is set but no TheHive URL"),
    ],
)
def test_bad_configs_give_one_clear_line(env, logs, tmp_path, config, needle):
    cfg = tmp_path / "cfg.yml"
    cfg.write_text(config)
    out = run("ingest", "--config", str(cfg), str(logs[0][0]), env=env)
    assert out.returncode == 1, out.stdout
    assert needle in out.stderr and out.stderr.startswith("socflow: error:"), out.stderr
    assert (
        "Traceback" not in out.stderr
        and KEY not in out.stderr
        and len(out.stderr.splitlines()) == 1
    )


def test_bad_rule_file_and_bad_logs(env, logs, tmp_path):
    rules = tmp_path / "r.yml"
    rules.write_text(
        "rules:\n  - id: x\n    name: x\n    title: t\n    match: [{field: url, gte: abc}]\n"
    )
    out = run("ingest", "--rules", str(rules), str(logs[0][0]), env=env)
    assert out.returncode == 1 and f"{rules}:5: rules[0].match[0].gte" in out.stderr
    missing = run("ingest", str(tmp_path / "nope.log"), env=env)
    assert missing.returncode == 1 and "nope.log: no such file or directory" in missing.stderr
    junk = tmp_path / "junk.bin"
    # Seeded: truly random bytes can spell a rule's pattern now and then (a flaky test).
    junk.write_bytes(random.Random(7).randbytes(200_000) + b"\n" + b"A" * 3_000_000 + b"\n")
    out = run("ingest", "--json", str(junk), env=env)
    assert out.returncode == 0 and json.loads(out.stdout)["new_alerts"] == 0
    assert "over-long line(s) were cut" in out.stderr
    usage = run("ingest", env=env)
    assert usage.returncode == 2 and "Missing argument" in usage.stderr
    bad_url = run("ingest", "--thehive-url", "thehive.local:9000", str(junk), env=env)
    assert bad_url.returncode == 1 and bad_url.stderr == (
        "socflow: error: --thehive-url / SOCFLOW_THEHIVE_URL: TheHive URL must start with "
        "http:// or https://\n"  # not echoed: a URL may carry user:password@
    )


def test_wrong_key_is_an_error_and_alerts_stay(env, logs):
    files, expected = logs
    with FakeTheHive(api_key=KEY) as hive:
        env = dict(env, SOCFLOW_THEHIVE_URL=hive.url, SOCFLOW_THEHIVE_KEY="not-the-key-777")
        out = run("ingest", *map(str, files), env=env)
        assert out.returncode == 1 and "refused the credentials" in out.stderr
        assert "not-the-key-777" not in out.stdout + out.stderr
    assert len(
        json.loads(run("alerts", "list", "--state", "pending", "--json", env=env).stdout)
    ) == len(expected)


def test_follow_mode_rotation_and_structured_logs(env, tmp_path):
    log = tmp_path / "auth.log"
    log.write_text("")
    attack = "".join(
        f"2026-03-10T08:00:0{k}+00:00 web1 sshd[1]: Failed password for root from "
        f"45.9.9.9 port {k} ssh2\n"
        for k in range(6)
    )
    later = attack.replace("08:00:0", "08:30:0").replace("45.9.9.9", "45.8.8.8")
    closer = (
        "2026-03-10T09:00:00+00:00 web1 sshd[1]: Failed password for x from 45.7.7.7 port 1 ssh2\n"
    )
    with FakeTheHive(api_key=KEY) as hive:
        cfg = tmp_path / "cfg.yml"
        cfg.write_text("window_grace: 0\nthehive:\n  retries: 0\n")
        env = dict(env, SOCFLOW_THEHIVE_URL=hive.url, SOCFLOW_THEHIVE_KEY=KEY)
        proc = subprocess.Popen(
            [*SOCFLOW, "ingest", "--follow", "--config", str(cfg), str(log)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            first = json.loads(proc.stderr.readline())  # following: the file is open from here on
            assert first["event"] == "following" and first["files"] == [str(log)]
            with open(log, "a") as fh:
                fh.write(attack)
            os.rename(log, tmp_path / "auth.log.1")
            log.write_text(later + closer)  # the new file's events close both earlier windows
            deadline = time.monotonic() + 30
            while len(hive.alerts) < 2 and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert sorted(a["title"].split(" from ")[1].split(" ")[0] for a in hive.alerts) == [
            "45.8.8.8",
            "45.9.9.9",
        ]
        events = [json.loads(line) for line in err.splitlines()]
        kinds = [e["event"] for e in events]
        assert "alert" in kinds and "delivered" in kinds and kinds[-1] == "stopped"
        assert events[-1]["rotations"] == 1 and KEY not in err


def test_second_ingest_on_the_same_state_dir_is_refused(env, tmp_path):
    log = tmp_path / "a.log"
    log.write_text("hello\n")
    proc = subprocess.Popen(
        [*SOCFLOW, "ingest", "--follow", str(log)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while (
            not (Path(env["SOCFLOW_STATE_DIR"]) / "outbox.sqlite").exists()
            and time.monotonic() < deadline
        ):
            time.sleep(0.1)
        out = run("ingest", str(log), env=env)
        assert out.returncode == 1 and "another socflow ingest is running" in out.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)


def test_every_bridge_command_has_help():
    from click.testing import CliRunner

    from socflow.adapters.cli.main import COMMANDS, cli

    assert {"ingest", "alerts"} <= set(COMMANDS)
    runner = CliRunner()
    for args in (["ingest"], ["alerts"], *(["alerts", s] for s in ("list", "show", "export", "push"))):
        out = runner.invoke(cli, [*args, "--help"])
        assert out.exit_code == 0 and "Usage:" in out.output, args
        first = out.output.split("\n\n")[1].strip()
        assert len(first) > 20, (args, first)  # a sentence, not an empty docstring
