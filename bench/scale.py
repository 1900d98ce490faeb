#!/usr/bin/env python3
"""Shared state throughput: lookups/s and window events/s with 1, 2 and 4 worker processes, on
SQLite (one file) and on a throwaway Redis (Debian's redis-server on loopback), plus Redis round
trips per lookup and per event (from ``INFO commandstats`` call counts).

    .venv/bin/python bench/scale.py [--events 20000] [--lookups 2000] [--workers 1,2,4]

A "lookup" is what a cached analyzer job costs the state: one cache read, one quota check (the
Lua script / one SQLite write transaction) and one cache write. An "event" is one matching log
line added to a shared window (``statestore`` windows, sent per commit batch of 1000, as the
bridge's ``Engine.sync`` does). CPU seconds of the workers are reported alongside wall time.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


def lookup_worker(url: str, n: int, wid: int, start_at: float, out: mp.Queue) -> None:
    from socflow.enrich.base import Deadline
    from socflow.enrich.enricher import Enricher
    from socflow.enrich.settings import RateLimit, load_settings

    enricher = Enricher(load_settings({"state_url": url}))
    limits = [RateLimit(limit=10**9, per_seconds=60.0), RateLimit(limit=10**9, per_seconds=86400.0)]
    while time.time() < start_at:
        time.sleep(0.001)
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(n):
        key = f"10.{wid}.{i // 250}.{i % 250}"
        enricher.cache.get("Bench https://x", "ipv4", key)
        enricher.ledger.acquire("Bench", f"bench.{wid % 2}:api", limits, Deadline(5.0))
        enricher.cache.put("Bench https://x", "ipv4", key, {"found": True}, "safe", 600)
    out.put((time.perf_counter() - t0, time.process_time() - c0))
    enricher.close()


def event_worker(url: str, n: int, wid: int, start_at: float, out: mp.Queue) -> None:
    from socflow.statestore import WindowEvent, open_windows, parse_state_url

    windows = open_windows(parse_state_url(url), None)
    while time.time() < start_at:
        time.sleep(0.001)
    t0, c0 = time.perf_counter(), time.process_time()
    batch = []
    for i in range(n):
        gid = f"ssh-brute-force\x1f1773100800\x1f45.{wid}.{i % 500 // 250}.{i % 250}"
        batch.append(WindowEvent(gid, f"w{wid}:{i}", 1773100800.0 + i % 600, None, (), 10, 3600.0))
        if len(batch) == 1000:
            windows.add(batch)
            batch = []
    windows.add(batch)
    out.put((time.perf_counter() - t0, time.process_time() - c0))
    windows.close()


def run(kind: str, url: str, workers: int, n: int, target: object) -> tuple[float, float]:
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()
    start_at = time.time() + 1.0  # every worker imported and connected by then
    procs = [ctx.Process(target=target, args=(url, n, w, start_at, out)) for w in range(workers)]
    for p in procs:
        p.start()
    results = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    wall = max(r[0] for r in results)
    cpu = sum(r[1] for r in results)
    return workers * n / wall, cpu / (workers * n) * 1e6


def calls(client: object) -> tuple[int, float]:
    """Redis commands run so far (scripts' inner commands included) and server CPU seconds."""
    stats = client.info("commandstats")  # type: ignore[attr-defined]
    cpu = client.info("cpu")  # type: ignore[attr-defined]
    return (sum(v["calls"] for k, v in stats.items() if k not in ("cmdstat_info",)),
            cpu["used_cpu_user"] + cpu["used_cpu_sys"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20000, help="events per worker")
    parser.add_argument("--lookups", type=int, default=2000, help="lookups per worker")
    parser.add_argument("--workers", default="1,2,4")
    args = parser.parse_args()
    from support.redisserver import RedisServer

    counts = [int(w) for w in args.workers.split(",")]
    folder = Path(tempfile.mkdtemp(prefix="socflow-bench-scale-"))
    server = RedisServer(folder / "redis")
    client = server.client()
    print(f"redis-server {client.info('server')['redis_version']} on TCP loopback; "  # type: ignore[attr-defined]
          f"{mp.cpu_count()} cores; CPython {sys.version.split()[0]}")
    print(f"{'what':<10} {'backend':<8} {'workers':>7} {'per s':>10} {'client CPU µs/op':>17} "
          f"{'Redis cmds/op':>15} {'Redis CPU µs/op':>16}")
    try:
        for what, target, n in (("lookups", lookup_worker, args.lookups), ("events", event_worker, args.events)):
            for kind in ("sqlite", "redis"):
                for workers in counts:
                    url = server.url if kind == "redis" else f"sqlite://{folder}/{what}-{workers}.sqlite"
                    before = calls(client) if kind == "redis" else (0, 0.0)
                    rate, cpu = run(kind, url, workers, n, target)
                    after = calls(client) if kind == "redis" else (0, 0.0)
                    ops = workers * n
                    cmds = (after[0] - before[0]) / ops if kind == "redis" else float("nan")
                    server_us = (after[1] - before[1]) / ops * 1e6 if kind == "redis" else float("nan")
                    print(f"{what:<10} {kind:<8} {workers:>7} {rate:>10,.0f} {cpu:>17.1f} {cmds:>15.3f} "
                          f"{server_us:>16.1f}", flush=True)
    finally:
        server.stop()
    print(f"max RSS of this process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MiB")


if __name__ == "__main__":
    main()
