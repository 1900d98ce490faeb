"""bench/ingest.py still runs end to end (a tiny size, no timing assertions)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ingest_bench_runs_and_checks_its_own_counts():
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCFLOW_")}
    proc = subprocess.run(
        [sys.executable, "bench/ingest.py", "--size-mb", "4"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(proc.stdout)
    assert data["expected_alerts"] > 10
    assert data["read_full"]["alerts"] == data["expected_alerts"] == data["push"]["alerts"]
    assert data["end_to_end"]["alerts"] == data["expected_alerts"]
    assert data["read_full"]["lines"] > data["read_quarter"]["lines"] > 0
    assert data["read_full"]["peak_rss_mb"] > 0
    for run in ("read_quarter", "read_full", "end_to_end"):  # the child's own figures
        assert data[run]["cpu_seconds"] > 0 and 20 < data[run]["peak_rss_mb"] < 500, run
