"""bench/scale.py runs (tiny sizes) and prints a row per backend, kind and worker count."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_scale_bench_runs_on_both_backends() -> None:
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "scale.py"), "--events", "300",
                           "--lookups", "20", "--workers", "1"], capture_output=True, text=True,
                          timeout=120, cwd=REPO, check=False)
    assert proc.returncode == 0, proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines() if line.startswith(("lookups", "events"))]
    assert {(r[0], r[1], r[2]) for r in rows} == {
        (what, kind, "1") for what in ("lookups", "events") for kind in ("sqlite", "redis")}
    for row in rows:
        assert float(row[3].replace(",", "")) > 0
        if row[1] == "redis":
            assert float(row[5]) > 0  # Redis commands per operation were counted
