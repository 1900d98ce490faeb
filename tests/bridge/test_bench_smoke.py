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


def test_ingest_bench_reports_the_commands_own_peak_rss_not_its_parents(tmp_path):
    # Linux keeps a child's pre-execve high-water mark: a bench process that has grown (it holds
    # the TheHive emulator and its alerts) must not show up as the command's peak RSS.
    log = tmp_path / "one.log"
    log.write_text("Mar  1 10:00:00 h sshd[1]: Accepted password for bob from 203.0.113.5 port 22 ssh2\n")
    code = (
        "import json, sys\n"
        "sys.path.insert(0, 'bench')\n"
        "import ingest\n"
        "ballast = bytearray(400 * 1024 * 1024)\n"
        "for i in range(0, len(ballast), 4096):\n"
        "    ballast[i] = 1\n"
        f"r = ingest.measure(['ingest', '--json', '--no-progress', {str(log)!r}],\n"
        f"                   dict(ingest.os.environ, SOCFLOW_STATE_DIR={str(tmp_path / 'state')!r}))\n"
        "print(json.dumps({'peak_rss_mb': r['peak_rss_mb'], 'cpu_seconds': r['cpu_seconds']}))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCFLOW_")}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert 10 < got["peak_rss_mb"] < 200 and got["cpu_seconds"] > 0  # the parent holds 400 MB
