"""Block-list benchmark: service throughput, list size/latency, responder job time, policy speed.

Usage: ``.venv/bin/python bench/blocklist.py [--entries 20000] [--clients 8] [--jobs 10]``

1. ``socflow blocklist serve`` is started as a process on a fresh database (port 0).
2. ``--entries`` public IPv4 addresses are added through the JSON API by ``--clients`` threads
   (one HTTP connection each): adds per second, p50/p95 latency.
3. ``/edl/ip`` is fetched 20 times at that size: body size, p50 latency; once more with
   ``If-None-Match`` (304).
4. ``Socflow_Block`` is run ``--jobs`` times as Cortex's process runner runs it (``run_job``),
   one after the other: wall time per job.
5. The block policy alone (``BlockPolicy.check``) over 50,000 mixed values: values per second.
6. A 200 MiB unauthenticated POST streamed at the service: seconds to the answer and the
   service's peak RSS (VmHWM) before and after.

Results go to stdout and ``bench/out/blocklist.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from blocklist.service import TOKEN, start_service  # noqa: E402
from support.cortexjob import run_job  # noqa: E402

from socflow.policy import BlockPolicy  # noqa: E402


def public_ips(count: int) -> list[str]:
    out, i = [], 0
    while len(out) < count:
        a, b, c = 45 + (i >> 16) % 40, (i >> 8) & 255, i & 255
        out.append(f"{a}.{b}.{c}.{1 + i % 250}")
        i += 1
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_adds(url: str, values: list[str], clients: int) -> dict[str, float]:
    local = threading.local()
    latencies: list[float] = []

    def add(value: str) -> None:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
            session.headers["Authorization"] = f"Bearer {TOKEN}"
        started = time.perf_counter()
        resp = session.post(f"{url}/api/v1/entries", json={"value": value}, timeout=30)
        latencies.append(time.perf_counter() - started)
        assert resp.status_code == 201, resp.text

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(add, values))
    elapsed = time.perf_counter() - started
    return {"adds": len(values), "seconds": round(elapsed, 2),
            "adds_per_second": round(len(values) / elapsed, 1),
            "p50_ms": round(pct(latencies, 0.5) * 1000, 1), "p95_ms": round(pct(latencies, 0.95) * 1000, 1)}


def bench_edl(url: str) -> dict[str, float]:
    times, body = [], b""
    for _ in range(20):
        started = time.perf_counter()
        resp = requests.get(f"{url}/edl/ip", timeout=60)
        times.append(time.perf_counter() - started)
        body = resp.content
    etag = resp.headers["ETag"]
    started = time.perf_counter()
    cached = requests.get(f"{url}/edl/ip", headers={"If-None-Match": etag}, timeout=60)
    assert cached.status_code == 304
    return {"lines": body.count(b"\n"), "bytes": len(body), "p50_ms": round(pct(times, 0.5) * 1000, 1),
            "not_modified_ms": round((time.perf_counter() - started) * 1000, 1)}


def bench_jobs(url: str, jobs: int) -> dict[str, float]:
    times = []
    for i in range(jobs):
        artifact = {"_id": f"~{i}", "_type": "case_artifact", "dataType": "ip", "data": f"81.1.{i}.9"}
        started = time.perf_counter()
        out = run_job("Socflow_Block", data=artifact, data_type="thehive:case_artifact",
                      config={"api_url": url, "api_token": TOKEN}).output
        times.append(time.perf_counter() - started)
        assert out["success"], out
    return {"jobs": jobs, "p50_s": round(statistics.median(times), 3), "max_s": round(max(times), 3)}


def bench_policy() -> dict[str, float]:
    policy = BlockPolicy(allowlist=["8.8.8.8", "example-corp.com"])
    base = ["45.1.2.3", "10.0.0.1", "2a00:1450::1", "evil-site.com", "https://evil.com/a?b",
            "co.uk", "1.2.3.0/24", "not a value", "fe80::1", "www.example-corp.com"]
    values = [v if i % 3 else v.upper() for i, v in enumerate(base * 5000)]
    started = time.perf_counter()
    allowed = sum(policy.check(v).allowed for v in values)
    elapsed = time.perf_counter() - started
    return {"values": len(values), "allowed": allowed, "values_per_second": round(len(values) / elapsed)}


def bench_unauthenticated_upload(svc: object, mib: int = 200) -> dict[str, float]:
    pid = svc.proc.pid  # type: ignore[attr-defined]

    def peak_mb() -> float:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
        return 0.0

    block = b"x" * (1 << 20)
    before = peak_mb()
    started = time.perf_counter()
    status = "closed"
    try:
        status = str(requests.post(f"{svc.url}/api/v1/entries", data=(block for _ in range(mib)),  # type: ignore[attr-defined]
                                   headers={"Content-Type": "application/json"}, timeout=120).status_code)
    except requests.ConnectionError:
        pass  # answered 401 and closed while the client was still sending
    return {"mib_sent_at_most": mib, "answer": status, "seconds": round(time.perf_counter() - started, 2),
            "peak_rss_before_mb": before, "peak_rss_after_mb": peak_mb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=20000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=10)
    args = parser.parse_args()
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        svc = start_service(Path(tmp) / "bench.sqlite3")
        try:
            results["adds"] = bench_adds(svc.url, public_ips(args.entries), args.clients)
            results["edl"] = bench_edl(svc.url)
            results["responder_jobs"] = bench_jobs(svc.url, args.jobs)
            results["unauthenticated_upload"] = bench_unauthenticated_upload(svc)
        finally:
            svc.stop()
    results["policy"] = bench_policy()
    print(json.dumps(results, indent=2))
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "blocklist.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
