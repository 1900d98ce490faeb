"""Socflow_LogIOC run exactly as Cortex's process runner runs it."""

import json
import os
import random
import stat
from pathlib import Path

import pytest

from support.cortexjob import ANALYZERS, assert_cortex_accepts, load_flavor, run_job

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "logs"
FLAVOR = "Socflow_LogIOC"


def test_flavor_runs_from_a_plain_folder_with_the_process_runner():
    definition, path = load_flavor(FLAVOR)
    command = (path.parent.parent / definition["command"]).resolve()
    assert command.is_relative_to(ANALYZERS.resolve())
    assert os.stat(command).st_mode & stat.S_IXUSR
    assert command.read_text().startswith("#!/usr/bin/env python3\n")
    assert definition["config"]["service"] == "LogIOC"


def test_auth_log_attachment_gives_taxonomies_and_artifacts():
    result = run_job(FLAVOR, data_type="file", file=EXAMPLES / "auth.log", tlp=3)
    out = result.output
    assert result.output_written and out["success"], out
    assert_cortex_accepts(out)
    taxes = {t["predicate"]: t for t in out["summary"]["taxonomies"]}
    # the verdict comes from the bridge's rule engine: one brute-forcing source, red
    assert taxes["ssh-brute-force"] == {"level": "malicious", "namespace": "LogIOC",
                                        "predicate": "ssh-brute-force", "value": "1"}
    assert out["summary"]["taxonomies"][0]["predicate"] == "ssh-brute-force"  # worst first
    assert taxes["FailedLogins"]["level"] == "info" and int(taxes["FailedLogins"]["value"]) >= 60
    assert out["full"]["level"] == "malicious" and out["full"]["taxonomies"] == out["summary"]["taxonomies"]
    (found,) = out["full"]["detections"]
    assert found["rule"] == "ssh-brute-force" and found["name"] == "SSH brute force"
    assert found["who"] == "193.32.162.157" and found["group"] == {"client_ip": "193.32.162.157"}
    assert found["count"] == 100 and found["level"] == "malicious"
    assert found["first_seen"] == "2026-10-10T14:00:02+00:00" and found["last_seen"] == "2026-10-10T14:02:42+00:00"
    assert len(found["evidence"]) == 3 and found["evidence_not_listed"] == 97
    assert all("193.32.162.157" in line for line in found["evidence"])
    assert {"root", "admin", "ubuntu"} <= set(found["values"]["usernames"])
    by_data = {a["data"]: a for a in out["artifacts"]}
    attacker = by_data["193.32.162.157"]
    assert attacker["dataType"] == "ip" and attacker["tlp"] == 3
    assert "context:ssh-failed-login-source" in attacker["tags"]
    assert "socflow:detection=ssh-brute-force" in attacker["tags"]
    assert "detection(s) ssh-brute-force" in attacker["message"]
    assert out["artifacts"][0]["data"] == "193.32.162.157"  # what a detection names comes first
    assert by_data["oracle"]["dataType"] == "other"
    assert "10.0.4.12" not in by_data  # private addresses are left out by default
    assert out["full"]["sources"][0]["format"] == "syslog"


def test_gzip_attachment_and_configuration_items():
    gz = EXAMPLES / "app-syslog.log.gz"
    result = run_job(FLAVOR, data_type="file", file=gz, filename="app.log.gz",
                     config={"types": ["username"], "max_artifacts": 1})
    out = result.output
    assert out["success"], out
    assert [a["data"] for a in out["artifacts"]] == ["pi"]
    assert set(out["full"]["iocs"]) == {"username"}
    assert out["full"]["sources"][0]["compression"] == "gzip"


def test_pasted_text_with_defanged_indicators():
    text = (EXAMPLES / "notes.txt").read_text()
    out = run_job(FLAVOR, data_type="other", data=text, config={"include_private": True}).output
    assert out["success"], out
    values = {(a["dataType"], a["data"]) for a in out["artifacts"]}
    assert {("domain", "login-micros0ft.top"), ("ip", "194.26.29.113"), ("mail", "billing@invoices-secure.top"),
            ("url", "http://194.26.29.113/x.sh"), ("other", "CVE-2023-4966")} <= values
    assert not any(d in {"report.pdf", "workers2.properties", "build01.corp.local", "1.9.0.14", "1.2.3.4"}
                   for _, d in values)


@pytest.mark.parametrize("content", [b"", b"\x00\x01\x02\xff" * 5000, random.Random(3).randbytes(200_000),
                                     b"\xff\xfe\xfd invalid utf-8 8.8.8.8\n" * 100])
def test_bad_files_end_in_a_correct_report(tmp_path, content):
    path = tmp_path / "junk.bin"
    path.write_bytes(content)
    result = run_job(FLAVOR, data_type="file", file=path)
    assert result.output_written, result.stderr
    assert result.output["success"], result.output
    assert_cortex_accepts(result.output)


def test_fifty_megabyte_single_line_is_truncated_and_counted(tmp_path):
    path = tmp_path / "huge.log"
    with open(path, "wb") as fh:
        fh.write(b"8.8.8.8 " + b"a." * (25 * 1024 * 1024) + b"\n9.9.9.9 after\n")
    out = run_job(FLAVOR, data_type="file", file=path, timeout=120).output
    assert out["success"], out
    assert out["full"]["sources"][0]["truncated_lines"] == 1
    assert {"8.8.8.8", "9.9.9.9"} <= {a["data"] for a in out["artifacts"]}


def test_tlp_above_max_is_refused_without_echoing_secrets():
    result = run_job(FLAVOR, data_type="other", data="8.8.8.8", tlp=3,
                     config={"check_tlp": True, "max_tlp": 2, "some_api_token": "s3cr3t-tok3n",
                             "weird_name": "hunter2-password-value"})
    assert result.output_written
    assert result.output == {**result.output, "success": False}
    assert "TLP" in result.output["errorMessage"]
    blob = json.dumps(result.output)
    assert "s3cr3t-tok3n" not in blob and "hunter2-password-value" not in blob


def test_wrong_data_type_and_bad_config_are_clear_failures():
    out = run_job(FLAVOR, data_type="ip", data="8.8.8.8").output
    assert not out["success"] and "not supported" in out["errorMessage"]
    out = run_job(FLAVOR, data_type="other", data="x", config={"types": ["ipv5"]}).output
    assert not out["success"] and "invalid configuration" in out["errorMessage"]
    out = run_job(FLAVOR, data_type="other", data="x", config={"log_format": "csv"}).output
    assert not out["success"] and "unknown log format" in out["errorMessage"]
    assert "Traceback" not in json.dumps(out)


def test_missing_attachment_and_broken_input_json(tmp_path):
    result = run_job(FLAVOR, data_type="file", file=EXAMPLES / "auth.log", keep=True)
    job = result.job_dir
    for f in (job / "input").glob("attachment*"):
        f.unlink()
    (job / "output" / "output.json").unlink()
    definition, path = load_flavor(FLAVOR)
    import subprocess, sys
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    cmd = [str((path.parent.parent / definition["command"]).resolve()), str(job)]
    subprocess.run(cmd, cwd=path.parent.parent, env=env, check=False)
    out = json.loads((job / "output" / "output.json").read_text())
    assert not out["success"] and "attached file is missing" in out["errorMessage"]
    (job / "input" / "input.json").write_text("{not json")
    subprocess.run(cmd, cwd=path.parent.parent, env=env, check=False)
    out = json.loads((job / "output" / "output.json").read_text())
    assert not out["success"] and "not valid JSON" in out["errorMessage"]
