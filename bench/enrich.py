"""Enrichment benchmark (issue 3 §8): API calls and analyzer cold start, socflow vs a naive script.

Usage: ``.venv/bin/python bench/enrich.py [--lines 20000] [--unique 400] [--jobs 20]``

1. A synthetic auth/access log whose source IPs follow a Zipf law over ``--unique`` public
   addresses (a few noisy scanners, a long tail), like real logs.
2. The naive script analysts write — read the log, regex the IPs, one VirusTotal call per line —
   and ``socflow enrich --from-log`` run against the same loopback VirusTotal fake; the fake
   counts every request. socflow is run twice: cold cache, then warm.
3. The Socflow_VirusTotal_GetReport analyzer started as Cortex starts it (``run_job``), once per
   job, with a cache miss (one call to the fake) and with a cache hit; wall time per job. socflow's
   bytecode is compiled first, as ``pip install`` and the image build do: an editable checkout
   under ``PYTHONDONTWRITEBYTECODE=1`` would otherwise recompile every socflow module in every job
   (~35 ms), which no installed analyzer pays.

Results go to stdout and ``bench/out/enrich.json``.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fakes.cti import FakeVirusTotal
from support.cortexjob import run_job

SOCFLOW = str(Path(sys.executable).parent / "socflow")
IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")


def make_log(path: Path, lines: int, unique: int, seed: int = 7) -> tuple[int, int]:
    """Write the log; return (lines with an IP, unique IPs actually used)."""
    rng = random.Random(seed)
    ips = [f"{rng.randint(11, 99)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
           for _ in range(unique)]
    weights = [1 / (rank + 1) for rank in range(unique)]  # Zipf, s = 1
    used = set()
    with path.open("w") as fh:
        for n in range(lines):
            ip = rng.choices(ips, weights)[0]
            used.add(ip)
            if n % 3:
                fh.write(f"Nov 22 10:{n // 60 % 60:02d}:{n % 60:02d} web sshd[{1000 + n}]: Failed password "
                         f"for root from {ip} port {40000 + n % 20000} ssh2\n")
            else:
                fh.write(f'{ip} - - [22/Nov/2026:10:00:{n % 60:02d} +0000] "GET /wp-login.php HTTP/1.1" '
                         f'404 153 "-" "Mozilla/5.0"\n')
    return lines, len(used)


def naive_script(log: Path, url: str, key: str) -> None:
    """What analysts write: one request per line, no cache, no quota, no timeout handling."""
    import requests

    session = requests.Session()
    with log.open() as fh:
        for line in fh:
            for ip in IPV4.findall(line)[:1]:
                session.get(f"{url}/ip_addresses/{ip}", headers={"x-apikey": key}, timeout=30)


def run_socflow(log: Path, vt: FakeVirusTotal, state: Path) -> float:
    env = dict(os.environ, SOCFLOW_VT_KEY=vt.key)
    start = time.perf_counter()
    proc = subprocess.run(
        [SOCFLOW, "enrich", "--from-log", str(log), "--provider", "virustotal", "--vt-url", vt.url,
         "--vt-per-minute", "1000000", "--state-dir", str(state), "--json", "--no-progress"],
        env=env, capture_output=True, text=True, timeout=3600, check=False,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"socflow enrich failed: {proc.stderr.strip()}")
    return elapsed


def calls(vt: FakeVirusTotal) -> int:
    return vt.count("/ip_addresses/")


def job_config(vt: FakeVirusTotal, cache: Path) -> dict[str, object]:
    return {"key": vt.key, "api_url": vt.url, "cache_path": str(cache),  # type: ignore[attr-defined]
            "quota_per_minute": 1000000, "quota_per_day": 1000000}


def cold_start(vt: FakeVirusTotal, jobs: int, cache: Path, hit: bool) -> tuple[list[float], list[float]]:
    """Wall and CPU milliseconds per analyzer job (CPU is steadier on a shared, loaded machine)."""
    walls, cpus = [], []
    config = job_config(vt, cache)
    for n in range(jobs):
        ip = "11.0.0.1" if hit else f"12.0.{n // 250}.{n % 250 + 1}"
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        result = run_job("Socflow_VirusTotal_GetReport", data=ip, data_type="ip", config=config)
        walls.append((time.perf_counter() - start) * 1000)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append((after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000)
        assert result.output.get("success"), result.output
        assert result.output["full"]["from_cache"] is hit
    return walls, cpus


def compare_calls(vt: FakeVirusTotal, log: Path, work: Path, results: dict[str, object]) -> None:
    start = time.perf_counter()
    naive_script(log, vt.url, vt.key)  # type: ignore[attr-defined]
    results["naive"] = {"calls": calls(vt), "seconds": round(time.perf_counter() - start, 2)}
    before = calls(vt)
    cold = run_socflow(log, vt, work / "state")
    cold_calls = calls(vt) - before
    before = calls(vt)
    warm = run_socflow(log, vt, work / "state")
    results["socflow_cold"] = {"calls": cold_calls, "seconds": round(cold, 2)}
    results["socflow_warm"] = {"calls": calls(vt) - before, "seconds": round(warm, 2)}


def compile_bytecode() -> None:
    """What ``pip install`` does for an installed socflow (``__pycache__`` is git-ignored)."""
    if not compileall.compile_dir(ROOT / "src" / "socflow", quiet=1):
        raise SystemExit("bench: socflow's sources do not compile")


def python_startup(runs: int = 10) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {"median_ms": round(statistics.median(ordered), 1),
            "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))], 1),
            "min_ms": round(ordered[0], 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=20000)
    parser.add_argument("--unique", type=int, default=400)
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--cold-start-only", action="store_true", help="Skip the calls comparison.")
    args = parser.parse_args()
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="socflow-bench-enrich-"))
    log = work / "auth.log"
    lines, unique = make_log(log, args.lines, args.unique)
    results: dict[str, object] = {"lines": lines, "unique_ips": unique,
                                  "load_average_start": [round(x, 2) for x in os.getloadavg()]}
    compile_bytecode()
    with FakeVirusTotal(per_minute=10**9, per_day=10**9) as vt:
        if not args.cold_start_only:
            compare_calls(vt, log, work, results)
        vt.set_object("ip_addresses", "11.0.0.1", malicious=4)  # type: ignore[attr-defined]
        cache = work / "analyzer-cache.sqlite"
        miss = cold_start(vt, args.jobs, cache, hit=False)
        # prime the hit (quota lifted as in the timed jobs: the default 4/min would wait a minute)
        run_job("Socflow_VirusTotal_GetReport", data="11.0.0.1", data_type="ip",
                config=job_config(vt, cache))
        hit = cold_start(vt, args.jobs, cache, hit=True)
    results["analyzer_job_cache_miss"] = {"wall": summary(miss[0]), "cpu": summary(miss[1])}
    results["analyzer_job_cache_hit"] = {"wall": summary(hit[0]), "cpu": summary(hit[1])}
    results["python_startup_ms"] = round(python_startup(), 1)
    results["load_average"] = os.getloadavg()[0]
    results["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    shutil.rmtree(work, ignore_errors=True)
    (out / "enrich.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
