"""``socflow export`` as a user runs it (a process, its stdout/stderr/exit code), against the
TheHive emulator and the MISP fake."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fakes.misp import FakeMisp
from fakes.thehive import FakeTheHive

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "cases" / "phishing.json"


def socflow(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    run_env = {k: v for k, v in os.environ.items() if not k.startswith(("SOCFLOW_MISP", "SOCFLOW_THEHIVE"))}
    run_env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{run_env.get('PATH', '')}"
    run_env.update(env or {})
    return subprocess.run(["socflow", "export", *args], capture_output=True, text=True, timeout=60,
                          env=run_env, cwd=REPO)


def test_case_file_to_stdout_as_stix_with_reasons_on_stderr():
    run = socflow("--case-file", str(EXAMPLE), "--format", "stix")
    assert run.returncode == 0, run.stderr
    bundle = json.loads(run.stdout)
    patterns = sorted(o["pattern"] for o in bundle["objects"] if o["type"] == "indicator")
    assert patterns == [
        "[domain-name:value = 'invoice-portal.example']",
        "[email-addr:value = 'billing@invoice-portal.example']",
        "[file:hashes.MD5 = '44d88612fea8a8f36de82e1278abb02f']",
        "[ipv4-addr:value = '193.32.162.157']",
        "[url:value = 'https://invoice-portal.example/login?id=1337']"]
    assert run.stderr.splitlines() == [
        "socflow: warning: left out a file observable: no text value (file observables are exported by their hashes)",
        "socflow: exported 5 indicator(s) to stdout, 3 left out"]
    (identity,) = [o for o in bundle["objects"] if o["type"] == "identity"]
    assert identity["name"] == "socflow"  # --identity absent: its default


def test_case_from_thehive_to_a_misp_file_with_json_result(tmp_path):
    with FakeTheHive() as hive:
        from thehive4py import TheHiveApi

        api = TheHiveApi(hive.url, apikey=hive.api_key, max_retries=0)
        case = api.case.create({"title": "SSH brute force", "description": "d", "tlp": 3})
        api.case.create_observable(case["_id"], {"dataType": "ip", "data": "193.32.162.157", "ioc": True})
        api.case.create_observable(case["_id"], {"dataType": "ip", "data": "not an ip", "ioc": True})
        out = tmp_path / "event.json"
        run = socflow("--case", "1", "--output", str(out), "--json", "--all-observables",
                      env={"SOCFLOW_THEHIVE_URL": hive.url, "SOCFLOW_THEHIVE_KEY": hive.api_key})
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result == {"format": "misp", "exported": 1, "skipped": 1, "output": str(out),
                      "skipped_reasons": {"not an IP address or network": 1}, "idempotent": True}
    event = json.loads(out.read_text())["Event"]
    assert event["info"] == "SSH brute force (TheHive case #1)" and event["Tag"] == [{"name": "tlp:amber+strict"}]
    assert event["distribution"] == "0"  # --distribution absent: this organisation only
    assert "left out a ip observable: not an IP address or network" in run.stderr


def test_push_to_misp_with_the_key_from_the_environment(tmp_path):
    with FakeMisp() as misp:
        run = socflow("--case-file", str(EXAMPLE), "--push", "--publish", "--misp-url", misp.url,
                      "--allow-private-targets", "--json", env={"SOCFLOW_MISP_KEY": misp.api_key})
        assert run.returncode == 0, run.stderr
        result = json.loads(run.stdout)["misp"]
        stored = misp.events[result["event_id"]]
    assert result["published"] is True and stored["published"] is True and result["attributes"] == 5
    assert stored["info"] == "Invoice phishing reported by accounting (TheHive case #42)"
    assert misp.api_key not in run.stdout + run.stderr
    denied = socflow("--case-file", str(EXAMPLE), "--push", "--misp-url", "http://127.0.0.1:9",
                     env={"SOCFLOW_MISP_KEY": "k"})
    assert denied.returncode == 1 and denied.stderr.strip().splitlines()[-1] == (
        "socflow: error: the MISP url http://127.0.0.1:9 is a loopback address: refused "
        "(set allow_private_targets to allow it)")


def test_push_twice_updates_the_cases_one_event_and_the_file_has_its_uuids(tmp_path):
    with FakeTheHive() as hive, FakeMisp() as misp:
        from thehive4py import TheHiveApi

        api = TheHiveApi(hive.url, apikey=hive.api_key, max_retries=0)
        case = api.case.create({"title": "SSH brute force", "description": "d"})
        api.case.create_observable(case["_id"], {"dataType": "ip", "data": "193.32.162.157", "ioc": True})
        env = {"SOCFLOW_THEHIVE_URL": hive.url, "SOCFLOW_THEHIVE_KEY": hive.api_key,
               "SOCFLOW_MISP_KEY": misp.api_key}
        push = ("--case", "1", "--push", "--misp-url", misp.url, "--allow-private-targets")
        first = socflow(*push, "--json", env=env)
        assert first.returncode == 0, first.stderr
        api.case.create_observable(case["_id"], {"dataType": "domain", "data": "evil.example", "ioc": True})
        second = socflow(*push, env=env)  # an analyst running it again once the case grew
        assert second.returncode == 0, second.stderr
        out = tmp_path / "event.json"
        assert socflow("--case", case["_id"], "--output", str(out), env=env).returncode == 0
        (stored,) = misp.events.values()
    pushed = json.loads(first.stdout)["misp"]
    assert pushed["published"] is False and stored["published"] is False  # no --publish
    assert stored["distribution"] == "0"  # --distribution absent
    assert pushed["updated"] is False and pushed["idempotent"] is True and pushed["event_id"] == stored["id"]
    assert second.stderr.splitlines() == [f"socflow: exported 2 indicator(s) to MISP event {stored['id']} "
                                          f"({misp.url}/events/view/{stored['id']}, updated), 0 left out"]
    assert sorted(a["value"] for a in stored["Attribute"]) == ["193.32.162.157", "evil.example"]
    written = json.loads(out.read_text())["Event"]  # --output: the same UUIDs as the pushed event
    assert written["uuid"] == stored["uuid"] == pushed["uuid"]
    assert sorted(a["uuid"] for a in written["Attribute"]) == sorted(a["uuid"] for a in stored["Attribute"])


def test_a_case_file_pushes_once_per_case_given_the_thehive_it_came_from():
    with FakeMisp() as misp:
        env = {"SOCFLOW_MISP_KEY": misp.api_key}
        push = ("--case-file", str(EXAMPLE), "--push", "--misp-url", misp.url, "--allow-private-targets", "--json")
        anonymous = [socflow(*push, env=env) for _ in range(2)]
        assert len(misp.events) == 2  # nothing said which TheHive: a random UUID each time, and a warning
        known = [socflow(*push, "--thehive-url", "https://thehive.example-corp.com", env=env) for _ in range(2)]
        assert len(misp.events) == 3
    for run in anonymous:
        assert run.returncode == 0 and json.loads(run.stdout)["misp"]["idempotent"] is False
        assert run.stderr.splitlines()[-1] == (
            "socflow: warning: the case has no --thehive-url (the TheHive it came from): its MISP event "
            "gets a random UUID, so pushing or importing it again makes another event")
    results = [json.loads(run.stdout)["misp"] for run in known]
    assert [r["updated"] for r in results] == [False, True] and results[0]["event_id"] == results[1]["event_id"]
    assert all(r["idempotent"] for r in results) and "random UUID" not in known[0].stderr + known[1].stderr


def test_secret_flag_warns_and_errors_are_one_line(tmp_path):
    with FakeMisp() as misp:
        run = socflow("--case-file", str(EXAMPLE), "--push", "--misp-url", misp.url, "--allow-private-targets",
                      "--misp-key", "wrong-key-not-shown")
    assert run.returncode == 1
    lines = run.stderr.strip().splitlines()
    assert lines[0].startswith("socflow: warning: --misp-key on the command line is visible")
    assert lines[-1] == f"socflow: error: MISP {misp.url} refused the key"
    assert "wrong-key-not-shown" not in run.stderr + run.stdout


@pytest.mark.parametrize("args,message", [
    ((), "give one of --case or --case-file"),
    (("--case", "1", "--case-file", "x"), "give one of --case or --case-file"),
    (("--case-file", "x", "--format", "stix", "--push"), "--push sends MISP events"),
    (("--case-file", "x", "--publish"), "--publish needs --push"),
    (("--case-file", "x", "--push", "--output", "y"), "--push or --output, not both"),
    (("--case-file", "x", "--push"), "--push needs --misp-url"),
    (("--case-file", "x", "--distribution", "4"), "--distribution"),
])
def test_usage_errors_exit_2(args, message):
    run = socflow(*args)
    assert run.returncode == 2 and message in run.stderr


def test_bad_inputs_exit_1_with_one_line(tmp_path):
    bad = tmp_path / "bad.json"
    for content, message in ((b"\xff\xfe", "not JSON (UTF-8)"), (b"[1]", 'expected {"case"'),
                             (b"[" * 100_000, "not JSON"), (b'{"case": {}, "observables": 3}', "expected")):
        bad.write_bytes(content)
        run = socflow("--case-file", str(bad))
        assert run.returncode == 1 and len(run.stderr.strip().splitlines()) == 1, run.stderr
        assert message in run.stderr and "Traceback" not in run.stderr
    missing = socflow("--case-file", str(tmp_path / "nope.json"))
    assert missing.returncode == 1 and "cannot read" in missing.stderr
    with FakeTheHive() as hive:
        gone = socflow("--case", "7", env={"SOCFLOW_THEHIVE_URL": hive.url, "SOCFLOW_THEHIVE_KEY": hive.api_key})
        assert gone.returncode == 1 and "404" in gone.stderr and len(gone.stderr.strip().splitlines()) == 1
        hive.outage("refused")
        down = socflow("--case", "7", env={"SOCFLOW_THEHIVE_URL": hive.url, "SOCFLOW_THEHIVE_KEY": hive.api_key})
        assert down.returncode == 1 and "TheHive unreachable" in down.stderr


def test_options_distribution_case_tags_identity_and_misp_ca_bundle(tmp_path):
    out = tmp_path / "e.json"
    run = socflow("--case-file", str(EXAMPLE), "--distribution", "2", "--no-case-tags", "--output", str(out))
    assert run.returncode == 0, run.stderr
    event = json.loads(out.read_text())["Event"]
    assert event["distribution"] == "2" and event["Tag"] == [{"name": "tlp:amber"}]  # no phishing/reported
    run = socflow("--case-file", str(EXAMPLE), "--format", "stix", "--identity", "ACME CERT")
    (identity,) = [o for o in json.loads(run.stdout)["objects"] if o["type"] == "identity"]
    assert identity["name"] == "ACME CERT"
    with FakeMisp(tls=True) as misp:
        env = {"SOCFLOW_MISP_KEY": misp.api_key}
        untrusted = socflow("--case-file", str(EXAMPLE), "--push", "--misp-url", misp.url,
                            "--allow-private-targets", env=env)
        assert untrusted.returncode == 1 and untrusted.stderr.strip().endswith(  # unknown CA
            f"socflow: error: MISP {misp.url}: TLS verification failed (give MISP's CA certificate: "
            "--misp-ca-bundle or SOCFLOW_MISP_CA_BUNDLE)")
        trusted = socflow("--case-file", str(EXAMPLE), "--push", "--misp-url", misp.url,
                          "--allow-private-targets", "--misp-ca-bundle", str(misp.ca_file), env=env)
        assert trusted.returncode == 0, trusted.stderr
        assert len(misp.events) == 1
