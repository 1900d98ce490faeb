"""The benchmark scripts still run end to end (tiny sizes, no timing assertions)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> dict:
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=240, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def test_extract_bench_quick_mode_runs_every_part(tmp_path: Path) -> None:
    data = _run("bench/extract.py", "--quick", "--size-mb", "0.3", "--slice-mb", "0.05",
                "--rss-small-mb", "0.1", "--adv-kb", "4,8", "--out", str(tmp_path), "--json")
    names = {p.name for p in Path(data["corpus_dir"]).iterdir() if not p.name.startswith(".")}
    assert {"apache_access.log", "auth.log", "mail.log", "syslog5424.log", "eve.json",
            "nginx_json.log", "notes.txt"} <= names
    assert data["corpus_mb"] > 0.25
    assert 0.05 < data["host_loop_cpu_s"] < 30  # the host's speed in this run, for the reader
    tools = {row["tool"]: row for row in data["speed"]}
    api = tools["socflow (API, one process)"]
    assert api["seconds"] > 0 and api["iocs"] > 100 and api["peak_rss_mb"] > 0
    assert "C extension" in api["note"] and "NOT built" not in api["note"]
    # fast tools: the median of three runs (the default --runs), each run's CPU time kept
    for name in ("socflow (API, one process)", "socflow extract --json (CLI)",
                 "grep -oE IPv4 regex (ceiling)"):
        runs = tools[name]["cpu_runs"]
        assert len(runs) == 3 and runs == sorted(runs), (name, runs)
        assert tools[name]["cpu_seconds"] == runs[1] and "median of 3 runs" in tools[name]["note"]
    twin = tools["socflow (API, one process, SOCFLOW_NO_NATIVE=1)"]
    assert twin["iocs"] == api["iocs"]  # the pure-Python twins find exactly the same
    assert tools["socflow extract --json (CLI)"]["seconds"] > 0
    assert tools["grep -oE IPv4 regex (ceiling)"]["peak_rss_mb"] > 0
    assert len(data["speed"]) == 7  # peers either measured or reported as not installed
    for row in data["speed"]:
        assert "seconds" in row or "not installed" in row["note"]
    assert [r["input_mb"] for r in data["rss"]][0] < data["rss"][1]["input_mb"]
    patterns = {r["pattern"] for r in data["adversarial"]}
    assert {"a. repeated", "1. repeated", "hex run", "@ run", "nested URLs"} <= patterns
    assert len(data["adversarial"]) == 2 * len(patterns)  # every pattern at both sizes
    assert all(r["truncated"] == 0 for r in data["adversarial"])  # whole lines were scanned
    assert any(v.startswith("socflow API") for v in data["verdicts"])


def test_extract_bench_runs_option(tmp_path: Path) -> None:
    data = _run("bench/extract.py", "--quick", "--size-mb", "0.2", "--slice-mb", "0.05",
                "--rss-small-mb", "0.1", "--adv-kb", "4,8", "--out", str(tmp_path), "--json",
                "--runs", "1", "--tools", "socflow-api,grep")
    api = data["speed"][0]
    assert api["cpu_runs"] == [api["cpu_seconds"]] and "median" not in api["note"]
    proc = subprocess.run([sys.executable, "bench/extract.py", "--runs", "0"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2 and "--runs: at least 1" in proc.stderr


def test_evaluate_cli_json() -> None:
    data = _run("bench/evaluate.py", "--json")
    assert set(data["types"]) >= {"ipv4", "domain", "url", "mail", "username"}
    assert data["lines"] > 2000
    for score in data["types"].values():
        assert score["tp"] + score["fn"] == score["labelled"]


def test_syslog_bench_throughput_runs_every_transport() -> None:
    data = _run("bench/syslog.py", "--messages", "2000", "--no-loss", "--json")
    rows = {row["transport"]: row for row in data["throughput"]}
    assert set(rows) == {"udp", "udp at 50k/s", "tcp", "relp"}
    for name in ("tcp", "relp"):  # streams lose nothing, every message reaches the pipeline
        assert rows[name]["received"] == rows[name]["into_pipeline"] == 2000
    assert all(row["listener_cpu_s"] > 0 and row["messages_per_cpu_s"] > 0 for row in rows.values())
    assert data["loss"] == []


def test_playbook_bench_runs_both_parts() -> None:
    data = _run("bench/playbook.py", "--runs", "3", "--http-runs", "2", "--latency-ms", "0,5",
                "--json")
    assert [r["latency_ms"] for r in data["engine"]] == [0.0, 5.0]
    for row in data["engine"]:
        assert row["journaled_steps_per_run"] == 14 and row["cpu_ms_per_step"] > 0
    for row in data["http"]:
        assert row["requests_per_run"] > 5 and row["runs_per_minute"] > 0
