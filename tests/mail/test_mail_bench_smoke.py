"""bench/mail.py still runs end to end (tiny sizes, no timing assertions)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_mail_bench_runs():
    proc = subprocess.run([sys.executable, "bench/mail.py", "--rounds", "1", "--big-mb", "1",
                           "--jobs", "1", "--json"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(proc.stdout)
    assert data["typical"]["messages"] == data["typical"]["distinct"] >= 100
    assert data["typical"]["messages_per_cpu_s"] > 0
    assert 0.9 < data["big"]["message_mb"] < 1.2 and data["big"]["attachment_bytes"] > 700_000
    assert data["cold_start"]["verdict"] in ("suspicious", "malicious")
    jobs = data["job_cold_start"]
    assert jobs["ham/m365-colleague-0.eml"]["verdict"] == "safe"
    assert jobs["phish/lookalike-0.eml"]["verdict"] in ("suspicious", "malicious")
    assert all(job["jobs"] == 1 and job["median_cpu_ms"] > 0 for job in jobs.values())
