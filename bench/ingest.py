#!/usr/bin/env python3
"""Bridge throughput: ``socflow ingest`` over synthetic sshd + access logs with injected attacks.

    .venv/bin/python bench/ingest.py --size-mb 1024

Generates ``--size-mb`` of logs (half auth.log, half access.log, timestamps advancing so rule
windows keep closing) in a temporary directory, then measures, each in its own process:

1. ``read``: ``socflow ingest`` with no TheHive (logs → rules → alerts in the outbox): MB/s,
   lines/s, peak RSS; also on a quarter of the input, to show RSS does not grow with input size;
2. ``push``: ``socflow alerts push`` of those alerts into the TheHive emulator: alerts/s;
3. ``end to end``: a fresh ``socflow ingest`` with the emulator configured (read + deliver).

Every run must produce exactly the injected detections; the script fails otherwise.
Enrichment is off (it measures the bridge, not VirusTotal's quota).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from fakes.thehive import FakeTheHive

SOCFLOW = [sys.executable, "-m", "socflow.adapters.cli.main"]
START = datetime(2026, 3, 1, tzinfo=UTC)
AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "curl/8.5.0",
    "Googlebot/2.1 (+http://www.google.com/bot.html)",
]
PAGES = [
    "/",
    "/index.html",
    "/products/42",
    "/api/v1/items?page=3",
    "/static/app.js",
    "/img/logo.png",
    "/blog/2026/03/hello-world",
    "/search?q=shoes&sort=price",
]


def generate(directory: Path, size_mb: int, seed: int = 1) -> tuple[list[Path], int]:
    """Write auth.log and access.log (≈ size_mb together); return them and the expected alert count."""
    rnd = random.Random(seed)
    target = size_mb * 1024 * 1024 // 2
    expected = 0
    auth, access = directory / "auth.log", directory / "access.log"
    with open(auth, "w") as fa, open(access, "w") as fw:
        minute, written_a, written_w = 0, 0, 0
        while written_a < target or written_w < target:
            ts = START + timedelta(minutes=minute)
            iso, clf = ts.strftime("%Y-%m-%dT%H:%M"), ts.strftime("%d/%b/%Y:%H:%M")
            a_lines = [
                f"{iso}:{s % 60:02d}+00:00 web{s % 4} sshd[{1000 + s}]: Accepted publickey for deploy "
                f"from 10.{s % 200}.{minute % 250}.{s % 250 + 1} port {40000 + s} ssh2\n"
                for s in range(160)
            ]
            a_lines += [
                f"{iso}:{s:02d}+00:00 web1 CRON[{s}]: pam_unix(cron:session): session opened for user "
                f"root by (uid=0)\n"
                for s in range(0, 60, 3)
            ]
            w_lines = [
                f'10.{s % 200}.{minute % 250}.{s % 250 + 1} - - [{clf}:{s % 60:02d} +0000] "GET '
                f'{PAGES[s % len(PAGES)]} HTTP/1.1" {404 if s % 37 == 0 else 200} {rnd.randrange(200, 90000)} '
                f'"-" "{AGENTS[s % len(AGENTS)]}"\n'
                for s in range(180)
            ]
            if minute % 10 == 3 and written_a < target:  # one brute force per 10-minute rule window
                ip = f"45.{minute // 2500 % 200 + 10}.{minute // 10 % 250 + 1}.7"
                a_lines += [
                    f"{iso}:{20 + k:02d}+00:00 web1 sshd[77]: Failed password for invalid user "
                    f"admin{k} from {ip} port {50000 + k} ssh2\n"
                    for k in range(6)
                ]
                expected += 1
            if minute % 60 == 7 and written_w < target:  # one SQL injection source per hour
                ip = f"91.{minute // 15000 % 200 + 10}.{minute // 60 % 250 + 1}.9"
                w_lines.append(
                    f'{ip} - - [{clf}:30 +0000] "GET /item.php?id=1%27%20UNION%20SELECT%20pass'
                    f'%20FROM%20users-- HTTP/1.1" 200 12 "-" "{AGENTS[0]}"\n'
                )
                expected += 1
            if written_a < target:
                data = "".join(a_lines)
                fa.write(data)
                written_a += len(data)
            if written_w < target:
                data = "".join(w_lines)
                fw.write(data)
                written_w += len(data)
            minute += 1
    return [auth, access], expected


# Starts the command and writes its own peak RSS and CPU time (os.wait4) to the file argv[1].
# The command is not started by this (bench) process itself: Linux keeps the high-water mark of
# the memory map a child had before execve, so a child of a process that holds the TheHive
# emulator and its thousands of alerts reports that process's peak as its own (131 MB where the
# ingest process never passed 73 MB).
LAUNCHER = r"""
import json, os, subprocess, sys
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
child.returncode = os.waitstatus_to_exitcode(status)
with open(sys.argv[1], "w") as fh:
    json.dump({"peak_rss_kb": usage.ru_maxrss, "cpu_seconds": usage.ru_utime + usage.ru_stime}, fh)
sys.exit(child.returncode)
"""


def measure(args: list[str], env: dict[str, str]) -> dict:
    """Run one socflow command in a child; wall time, CPU and peak RSS of that child alone, its
    JSON output."""
    with tempfile.NamedTemporaryFile("r", suffix=".json") as usage_file:
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", LAUNCHER, usage_file.name, *SOCFLOW, *args],
                              env=env, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"socflow {' '.join(args[:2])} failed: {proc.stderr[-2000:]}")
        usage = json.loads(usage_file.read())
    return {
        "seconds": elapsed,
        "cpu_seconds": usage["cpu_seconds"],
        "peak_rss_mb": usage["peak_rss_kb"] / 1024,
        "out": json.loads(proc.stdout),
    }


def read_run(files: list[Path], state: Path, env: dict[str, str]) -> dict:
    r = measure(
        ["ingest", "--json", "--no-progress", *map(str, files)],
        dict(env, SOCFLOW_STATE_DIR=str(state)),
    )
    size = sum(f.stat().st_size for f in files)
    lines = sum(s["lines"] for s in r["out"]["sources"])
    return {
        "bytes": size,
        "lines": lines,
        "seconds": round(r["seconds"], 2),
        "cpu_seconds": round(r["cpu_seconds"], 2),
        "mb_per_s": round(size / r["seconds"] / 1e6, 1),
        "lines_per_s": int(lines / r["seconds"]),
        "mb_per_cpu_s": round(size / r["cpu_seconds"] / 1e6, 1),
        "peak_rss_mb": round(r["peak_rss_mb"], 1),
        "alerts": r["out"]["new_alerts"],
        "parsed": sum(s["events_parsed"] for s in r["out"]["sources"]),
        "summary": r["out"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--keep", help="generate into this directory and keep it")
    args = ap.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCFLOW_")}
    with tempfile.TemporaryDirectory(dir=args.keep) as tmp:
        tmpdir = Path(tmp)
        t0 = time.perf_counter()
        quarter_dir, full_dir = tmpdir / "quarter", tmpdir / "full"
        quarter_dir.mkdir()
        full_dir.mkdir()
        quarter, q_expected = generate(quarter_dir, max(1, args.size_mb // 4))
        full, expected = generate(full_dir, args.size_mb)
        print(
            f"generated {args.size_mb} MiB (+ a quarter) in {time.perf_counter() - t0:.0f} s; "
            f"{expected} attacks injected",
            file=sys.stderr,
        )

        small = read_run(quarter, tmpdir / "state-q", env)
        big = read_run(full, tmpdir / "state-read", env)
        for run, want in ((small, q_expected), (big, expected)):
            if run["alerts"] != want:
                raise SystemExit(
                    f"expected {want} alerts, got {run['alerts']}: {run['summary']['alerts_by_rule']}"
                )

        with FakeTheHive() as hive:
            hive_env = dict(env, SOCFLOW_THEHIVE_URL=hive.url, SOCFLOW_THEHIVE_KEY=hive.api_key)
            push = measure(
                ["alerts", "push", "--json"],
                dict(hive_env, SOCFLOW_STATE_DIR=str(tmpdir / "state-read")),
            )
            pushed = push["out"]["delivered"]
            e2e = read_run(full, tmpdir / "state-e2e", hive_env)
            delivered = e2e["summary"]["delivery"]["delivered"]
            if pushed != expected or delivered != expected or len(hive.alerts) != expected:
                raise SystemExit(
                    f"delivery mismatch: pushed {pushed}, delivered {delivered}, "
                    f"TheHive holds {len(hive.alerts)}, expected {expected}"
                )

    for run in (small, big, e2e):
        run.pop("summary")
    report = {
        "input_mb": args.size_mb,
        "expected_alerts": expected,
        "read_quarter": small,
        "read_full": big,
        "load_average_at_end": os.getloadavg(),
        "push": {
            "alerts": pushed,
            "seconds": round(push["seconds"], 2),
            "alerts_per_s": round(pushed / push["seconds"], 1),
        },
        "end_to_end": e2e,
        "rss_growth_quarter_to_full_mb": round(big["peak_rss_mb"] - small["peak_rss_mb"], 1),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
