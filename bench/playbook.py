"""Playbook engine benchmark: runs per minute and overhead per step, with emulated latency.

Usage: ``.venv/bin/python bench/playbook.py [--runs 200] [--http-runs 40] [--latency-ms 0,20,50]``

1. The engine alone: the test playbook of ``tests/playbook/test_engine.py`` (analyze 3
   observables × 2 analyzers, decide, promote + 2 responders + tag, a task log) on the in-memory
   TheHive/Cortex of ``tests/playbook/memory.py``, each service call delayed by the latency, the
   journal a real SQLite file (``synchronous=FULL``). Per latency: runs per minute (one run after
   another), the engine's CPU seconds per run and per journaled step (journal writes included;
   the latency is wall time, not CPU).
2. Over HTTP: a TheHive-only playbook (decide, promote, tag, severity, a task log) through the
   real adapter (thehive4py) against the TheHive emulator with the same latencies added to every
   answer: runs per minute and CPU per run of the runner process (the emulator runs in the same
   process, so its CPU is included: an upper bound).

Results go to stdout (``--json``) and ``bench/out/playbook.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fakes.thehive import FakeTheHive  # noqa: E402
from playbook.memory import MemoryHive  # noqa: E402
from playbook.test_engine import ALERT, MAL, OBS, PLAYBOOK, SUS  # noqa: E402

from socflow.adapters.playbook.services import TheHiveCortex  # noqa: E402
from socflow.adapters.thehive.sender import TheHiveSettings  # noqa: E402
from socflow.playbook.engine import Engine  # noqa: E402
from socflow.playbook.journal import SqliteJournal  # noqa: E402
from socflow.playbook.model import load_playbook  # noqa: E402

HTTP_PLAYBOOK = """
name: http-bench
trigger: {event: alert, type: [socflow]}
steps:
  - id: decide
    kind: decide
    branches:
      - when: {tag: ssh}
        goto: work
  - id: work
    kind: act
    actions:
      - promote: {}
      - tag: [benchmarked]
      - severity: 3
  - id: log
    kind: record
    task: Triage
    task_status: Completed
"""


class SlowHive(MemoryHive):
    """Every service call waits ``latency`` seconds first (wall time, no CPU)."""

    latency = 0.0

    def _hit(self, name: str) -> None:
        if self.latency:
            time.sleep(self.latency)
        super()._hit(name)


def engine_alone(runs: int, latency: float, folder: Path) -> dict[str, Any]:
    playbook = load_playbook(PLAYBOOK, "bench.yml")
    journal = SqliteJournal(folder / f"engine-{latency}.sqlite")
    steps = calls = 0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for n in range(runs):
        alert = dict(ALERT, _id=f"~{n}")
        hive = SlowHive(alert, OBS, {("Socflow_AbuseIPDB_Check", "203.0.113.7"): MAL,
                                     ("Socflow_OTX_Query", "198.51.100.9"): SUS})
        hive.latency = latency
        result = Engine(playbook, hive, journal, sleep=lambda s: None).run("alert", alert["_id"])
        assert result.status == "done", result.reason
        steps += len(journal.steps(result.run_id))
        calls += sum(hive.calls.values())
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    journal.close()
    return {"latency_ms": latency * 1000, "runs": runs, "runs_per_minute": round(runs / wall * 60, 1),
            "wall_s_per_run": round(wall / runs, 4), "cpu_ms_per_run": round(cpu / runs * 1000, 2),
            "journaled_steps_per_run": steps / runs, "service_calls_per_run": calls / runs,
            "cpu_ms_per_step": round(cpu / steps * 1000, 3)}


def over_http(runs: int, latency: float, folder: Path) -> dict[str, Any]:
    playbook = load_playbook(HTTP_PLAYBOOK, "http-bench.yml")
    with FakeTheHive() as hive:
        headers = {"Authorization": f"Bearer {hive.api_key}"}
        ids = []
        for n in range(runs):
            r = requests.post(f"{hive.url}/api/v1/alert", headers=headers, timeout=10, json={
                "type": "socflow", "source": "bench", "sourceRef": f"b{n}", "title": "SSH",
                "description": "d", "tags": ["ssh"],
                "observables": [{"dataType": "ip", "data": f"45.0.{n // 250}.{n % 250 + 1}"}]})
            r.raise_for_status()
            ids.append(r.json()["_id"])
        hive.latency = latency
        services = TheHiveCortex(TheHiveSettings(url=hive.url, api_key=hive.api_key), None)
        journal = SqliteJournal(folder / f"http-{latency}.sqlite")
        requests_before = len(hive.requests)
        wall0, cpu0 = time.perf_counter(), time.process_time()
        for alert_id in ids:
            result = Engine(playbook, services, journal).run("alert", alert_id)
            assert result.status == "done", result.reason
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        sent = len(hive.requests) - requests_before
        journal.close()
    return {"latency_ms": latency * 1000, "runs": runs, "runs_per_minute": round(runs / wall * 60, 1),
            "wall_s_per_run": round(wall / runs, 4), "cpu_ms_per_run": round(cpu / runs * 1000, 2),
            "requests_per_run": sent / runs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--http-runs", type=int, default=40)
    ap.add_argument("--latency-ms", default="0,20,50")
    ap.add_argument("--json", action="store_true", help="only the JSON on stdout")
    args = ap.parse_args()
    latencies = [float(x) / 1000 for x in args.latency_ms.split(",") if x.strip()]
    with tempfile.TemporaryDirectory(prefix="socflow-bench-playbook-") as tmp:
        folder = Path(tmp)
        out = {"engine": [engine_alone(args.runs if not lat else max(10, args.runs // 10), lat, folder)
                          for lat in latencies],
               "http": [over_http(args.http_runs, lat, folder) for lat in latencies]}
    (ROOT / "bench" / "out").mkdir(exist_ok=True)
    (ROOT / "bench" / "out" / "playbook.json").write_text(json.dumps(out, indent=2) + "\n")
    if args.json:
        print(json.dumps(out))
        return
    for part, rows in out.items():
        for row in rows:
            print(part, json.dumps(row))


if __name__ == "__main__":
    main()
