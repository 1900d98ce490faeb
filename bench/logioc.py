"""Socflow_LogIOC cold start (issue 12 §1, §6, §7): one analyzer job on a small file, as Cortex runs it.

Usage: ``.venv/bin/python bench/logioc.py [--jobs 20] [--file examples/logs/auth.log]``

Each job is started like Cortex's process runner starts it (``tests/support/cortexjob.py``: job
folder, a new process, output.json); the time is wall time from start to the process's exit, and
CPU = user + sys of the job process. socflow's bytecode is compiled first, as ``pip install`` and
the image build do (see bench/enrich.py). Every job must report success and, on the default file,
the brute-force detection — a run that stopped detecting would otherwise look fast.

Results go to stdout and ``bench/out/logioc.json``.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.cortexjob import run_job

FLAVOR = "Socflow_LogIOC"


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {"median_ms": round(statistics.median(ordered), 1),
            "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))], 1),
            "min_ms": round(ordered[0], 1)}


def cold_start(path: Path, jobs: int, config: dict[str, object]) -> tuple[list[float], list[float]]:
    walls, cpus = [], []
    for _ in range(jobs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        result = run_job(FLAVOR, data_type="file", file=path, config=config)
        walls.append((time.perf_counter() - start) * 1000)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append((after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000)
        assert result.output.get("success"), result.output
        if path.name == "auth.log":
            rules = {d["rule"] for d in result.output["full"].get("detections", [])}
            assert "ssh-brute-force" in rules, result.output["full"].get("detections")
    return walls, cpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--file", type=Path, default=ROOT / "examples" / "logs" / "auth.log")
    parser.add_argument("--no-warninglists", action="store_true",
                        help="Switch the warning lists off (to see what they cost).")
    args = parser.parse_args()
    if not compileall.compile_dir(ROOT / "src" / "socflow", quiet=1):
        raise SystemExit("bench: socflow's sources do not compile")
    config: dict[str, object] = {"warninglists": not args.no_warninglists}
    load = os.getloadavg()
    run_job(FLAVOR, data_type="file", file=args.file, config=config)  # warm the page cache
    walls, cpus = cold_start(args.file, args.jobs, config)
    results = {
        "file": str(args.file.relative_to(ROOT) if args.file.is_relative_to(ROOT) else args.file),
        "bytes": args.file.stat().st_size,
        "jobs": args.jobs,
        "warninglists": not args.no_warninglists,
        "wall": summary(walls),
        "cpu": summary(cpus),
        "load_average_start": [round(x, 2) for x in load],
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
    }
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "logioc.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
