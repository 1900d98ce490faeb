#!/usr/bin/env python3
"""Run every flavor inside the socflow image exactly as Cortex's runners do (used by CI).

For each ``analyzers/*/*.json`` and ``responders/*/*.json``:

* docker runner (spec A.7): job folder bind-mounted read-write at ``/job``, image ENTRYPOINT, **no
  arguments**, job folder owned by the Cortex user (uid 1001) with mode 0700 like Cortex creates it,
  ``--network=none`` unless the flavor calls a service; then the host network, with every ``*_url``
  item pointed at a fresh loopback endpoint (intel fakes, the blocklist service, webhook/SMTP
  receivers: ``deploy/jobs.py``) or a closed local port, so nothing reaches a real service;
* kubernetes runner (spec A.8): argument ``/job``, ``input/`` read-only, ``output/`` writable.

Each output must be one Cortex accepts and must equal what the flavor's own script produces under
the process runner for the same job; flavors that call no service must succeed. Finally the image
is started without a job folder, the classic "job directory not shared" mistake, and its logs must
say so, and the image must serve ``socflow blocklist serve`` as the compose stack runs it.

Shared state (issue 15, "done when"): Socflow_VirusTotal_GetReport containers created as the docker
runner does (each with its own job folder as its only volume) and started all at once, sharing
nothing but ``state_url`` — a real redis-server and the VirusTotal fake on loopback, host network:
6 jobs over 2 indicators make one call per indicator, all with that indicator's verdict; 6 jobs over
6 indicators with a quota of 3 per minute (Redis with a password, given as ``state_password``) make
exactly 3 calls, the other jobs fail at once naming the reset time, and the password is in no
output.json and no container log; without ``state_url`` two containers each call (the contrast).

Usage: ``container_jobs.py --image IMAGE [--engine podman|docker]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))

from deploy.jobs import (  # noqa: E402
    SampleJob, closed_port_url, comparable, has_local_service, flavor_paths, sample_job, service_endpoint,
    write_job_folder,
)
from fakes.cti import FakeVirusTotal  # noqa: E402
from support.cortexjob import ANALYZERS, assert_cortex_accepts, run_job  # noqa: E402
from support.redisserver import REDIS, RedisServer  # noqa: E402

CORTEX_UID = 1001
RUN_TIMEOUT = 120


def prepare(job: SampleJob, job_dir: Path) -> None:
    write_job_folder(job, job_dir)
    for path in [job_dir, *job_dir.rglob("*")]:
        os.chown(path, CORTEX_UID, CORTEX_UID)
    job_dir.chmod(0o700)


def run_container(engine: str, image: str, job_dir: Path, network: str, k8s: bool) -> tuple[dict, str]:
    if k8s:
        mounts = ["-v", f"{job_dir}/input:/job/input:ro", "-v", f"{job_dir}/output:/job/output"]
        args = ["/job"]
    else:
        mounts, args = ["-v", f"{job_dir}:/job"], []
    cmd = [engine, "run", "--rm", f"--network={network}", *mounts, image, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT, stdin=subprocess.DEVNULL)
    out = job_dir / "output" / "output.json"
    if not out.is_file() or out.stat().st_size == 0:
        raise AssertionError(f"no output.json (rc {proc.returncode}): {proc.stderr.strip()[-400:]}")
    return json.loads(out.read_text(encoding="utf-8")), proc.stderr


def check_flavor(engine: str, image: str, path: Path, work: Path) -> list[str]:
    lines = []
    tmp = work / path.stem
    tmp.mkdir()
    flavor = json.loads(path.read_text(encoding="utf-8"))
    with service_endpoint(flavor) as (url, key):
        job = sample_job(path, url, tmp, key)
        expected = run_job(
            path, data=job.data, data_type=job.data_type, file=job.file, config=job.config,
            filename=job.file.name if job.file else None, content_type="text/plain",
        ).output
    network = "host" if job.calls_services else "none"
    must_succeed = not job.calls_services or has_local_service(flavor)
    for runner, k8s in (("docker", False), ("kubernetes", True)):
        job_dir = Path(tempfile.mkdtemp(prefix=f"cortex-job-{runner}-", dir=work))
        job_dir.rmdir()
        started = time.monotonic()
        with service_endpoint(flavor) as (url, key):
            prepare(sample_job(path, url, tmp, key), job_dir)
            output, _ = run_container(engine, image, job_dir, network, k8s)
        assert_cortex_accepts(output)
        if comparable(output) != comparable(expected):
            raise AssertionError(
                f"{runner}: output differs from the process runner:\n  image:   "
                f"{json.dumps(comparable(output))[:600]}\n  process: {json.dumps(comparable(expected))[:600]}"
            )
        if must_succeed and output["success"] is not True:
            raise AssertionError(f"{runner}: failed: {output.get('errorMessage')}")
        lines.append(
            f"ok  {path.stem:30} {runner:10} network={network:4} success={output['success']!s:5} "
            f"{time.monotonic() - started:.1f}s"
        )
    return lines


def check_unshared_job_folder(engine: str, image: str) -> str:
    proc = subprocess.run(
        [engine, "run", "--rm", "--network=none", image],
        capture_output=True, text=True, timeout=RUN_TIMEOUT, stdin=subprocess.DEVNULL,
    )
    if "not shared with the container" not in proc.stderr:
        raise AssertionError(f"no clear message without /job: {proc.stderr.strip()[-400:]}")
    return "ok  no /job mounted: the container logs say the job folder is not shared"


def check_blocklist_service(engine: str, image: str) -> str:
    """The same image serves the blocklist the way docker/compose.yml starts it."""
    url = closed_port_url()
    name = f"socflow-ci-blocklist-{os.getpid()}"
    subprocess.run(
        [engine, "run", "-d", "--rm", "--name", name, "--network=host",
         "-e", "SOCFLOW_BLOCKLIST_TOKEN=ci-token-0123456789abcdef", "--entrypoint", "socflow", image,
         "blocklist", "serve", "--host", "127.0.0.1", "--port", url.rsplit(":", 1)[1],
         "--state-dir", "/var/lib/socflow/blocklist"],
        check=True, capture_output=True, text=True, timeout=RUN_TIMEOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        return "ok  socflow blocklist serve runs from the image (compose service)"
            except OSError:
                time.sleep(0.3)
        logs = subprocess.run([engine, "logs", name], capture_output=True, text=True, timeout=30)
        raise AssertionError(f"blocklist service did not answer: {(logs.stdout + logs.stderr)[-400:]}")
    finally:
        subprocess.run([engine, "stop", "-t", "2", name], capture_output=True, timeout=60)


# ------------------------------------------------------------------ shared state (issue 15)
VT_FLAVOR = ANALYZERS / "VirusTotal" / "Socflow_VirusTotal_GetReport.json"
QUOTA_BUDGET = 10  # time_budget of the quota run: below the 60 s reset, so over-quota jobs fail


@dataclass
class Ran:
    output: dict[str, Any]
    logs: str  # everything the container wrote to stdout and stderr
    started: float  # epoch seconds, from the engine
    finished: float


def _epoch(stamp: str) -> float:
    """An engine's ``{{json .State.StartedAt}}`` (RFC 3339, nanoseconds) as epoch seconds."""
    found = re.match(r'"?(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)', stamp.strip())
    if not found:
        raise AssertionError(f"unreadable container time {stamp!r}")
    zone = "+00:00" if found[3] == "Z" else found[3]
    return datetime.fromisoformat(found[1] + zone).timestamp() + float("0." + (found[2] or "0"))


def intel_job(fake: Any, tmp: Path, ip: str, **config: Any) -> SampleJob:
    """A Socflow_VirusTotal_GetReport job for ``ip`` against ``fake``; ``cache_path`` left at its
    default (a SQLite file in the container's own state dir) so only ``config`` can share state."""
    job = sample_job(VT_FLAVOR, fake.url, tmp, fake.key)
    merged = {k: v for k, v in job.config.items() if k != "cache_path"}
    merged.update(config)
    return dataclasses.replace(job, data_type="ip", data=ip, config=merged)


def run_together(engine: str, image: str, jobs: list[SampleJob], work: Path, label: str) -> list[Ran]:
    """Create one container per job as the docker runner does (its job folder the only volume,
    image ENTRYPOINT, no arguments; host network, where Redis and the fake listen on loopback),
    then start them all at once and collect each output.json, log and run time."""
    tag = f"socflow-ci-{label}-{os.getpid()}-{os.urandom(3).hex()}"
    names, dirs = [], []
    try:
        for n, job in enumerate(jobs):
            job_dir = work / f"{label}-{n}"
            prepare(job, job_dir)
            names.append(f"{tag}-{n}")
            dirs.append(job_dir)
            subprocess.run(
                [engine, "create", "--name", names[-1], "--network=host", "-v", f"{job_dir}:/job", image],
                check=True, capture_output=True, text=True, timeout=RUN_TIMEOUT, stdin=subprocess.DEVNULL,
            )
        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            procs = list(pool.map(lambda name: subprocess.run(
                [engine, "start", "--attach", name], capture_output=True, text=True, timeout=RUN_TIMEOUT,
                stdin=subprocess.DEVNULL), names))
        ran = []
        for name, job_dir, proc in zip(names, dirs, procs, strict=True):
            out = job_dir / "output" / "output.json"
            if not out.is_file() or out.stat().st_size == 0:
                raise AssertionError(
                    f"{name}: no output.json (rc {proc.returncode}): {proc.stderr.strip()[-400:]}")
            times = subprocess.run(
                [engine, "inspect", "--format", "{{json .State.StartedAt}} {{json .State.FinishedAt}}", name],
                check=True, capture_output=True, text=True, timeout=RUN_TIMEOUT).stdout.split()
            output = json.loads(out.read_text(encoding="utf-8"))
            assert_cortex_accepts(output)
            ran.append(Ran(output, proc.stdout + proc.stderr, _epoch(times[0]), _epoch(times[1])))
        return ran
    finally:
        if names:
            subprocess.run([engine, "rm", "-f", *names], capture_output=True, timeout=RUN_TIMEOUT)


def _together(ran: list[Ran]) -> str:
    """How long every container of the batch was running at the same time (the overlap)."""
    overlap = min(r.finished for r in ran) - max(r.started for r in ran)
    spread = max(r.finished for r in ran) - min(r.started for r in ran)
    starts = max(r.started for r in ran) - min(r.started for r in ran)
    together = (f"all {len(ran)} running together for {overlap:.1f}s" if overlap > 0
                else f"not all running at once (starts {starts:.1f}s apart)")
    return f"{together}, first start to last exit {spread:.1f}s"


def check_shared_lookups(engine: str, image: str, work: Path) -> str:
    """Six containers over two indicators, sharing nothing but ``state_url``: one call each."""
    redis = RedisServer(work / "redis-lookups")
    try:
        with FakeVirusTotal(per_minute=4) as vt:
            verdicts = {"11.15.0.7": "malicious", "11.15.0.8": "safe"}
            vt.set_object("ip_addresses", "11.15.0.7", malicious=5)
            vt.set_object("ip_addresses", "11.15.0.8")
            ips = list(verdicts) * 3
            jobs = [intel_job(vt, work, ip, state_url=redis.url) for ip in ips]
            ran = run_together(engine, image, jobs, work, "lookup")
            failed = [r.output.get("errorMessage") for r in ran if r.output["success"] is not True]
            if failed:
                raise AssertionError(f"shared lookups: {len(failed)} job(s) failed: {failed[:3]}")
            calls = {ip: vt.count(f"/ip_addresses/{ip}") for ip in verdicts}
            if calls != dict.fromkeys(verdicts, 1) or vt.count() != 2:
                raise AssertionError(f"shared lookups: VirusTotal calls {calls} ({vt.count()} in all), "
                                     "expected one per indicator")
            for ip, r in zip(ips, ran, strict=True):
                full = r.output["full"]
                if (full["indicator"], full["level"]) != (ip, verdicts[ip]):
                    raise AssertionError(
                        f"shared lookups: job for {ip} says {full['indicator']} {full['level']}")
            summaries: dict[str, set[str]] = {ip: set() for ip in verdicts}
            for ip, r in zip(ips, ran, strict=True):
                summaries[ip].add(json.dumps(r.output["summary"], sort_keys=True))
            if any(len(s) != 1 for s in summaries.values()):
                raise AssertionError(f"shared lookups: jobs for one indicator disagree: {summaries}")
            cached = sum(1 for r in ran if r.output["full"]["from_cache"])
            if cached != 4:
                raise AssertionError(f"shared lookups: {cached} answers from the shared cache, expected 4")
        if not redis.client().dbsize():  # type: ignore[attr-defined]
            raise AssertionError("shared lookups: nothing was stored in Redis")
    finally:
        redis.stop()
    return (f"ok  shared state: 6 containers, 2 indicators, state_url {redis.url.split('@')[-1]}: "
            f"2 VirusTotal calls (one per indicator), 4 answers from the shared cache, same verdicts; "
            f"{_together(ran)}")


def check_shared_quota(engine: str, image: str, work: Path) -> str:
    """Six containers, six indicators, 3 calls/min for the key, Redis with a password: exactly 3
    calls; the others fail at once naming the reset; the password shows in no output."""
    password = "ctr-state-pw-" + os.urandom(6).hex()
    redis = RedisServer(work / "redis-quota", password=password)
    try:
        with FakeVirusTotal(per_minute=3) as vt:
            ips = [f"11.15.1.{n}" for n in range(1, 7)]
            for ip in ips:
                vt.set_object("ip_addresses", ip)
            begun = time.time()
            jobs = [intel_job(vt, work, ip, state_url=redis.url, state_password=password,
                              quota_per_minute=3, time_budget=QUOTA_BUDGET) for ip in ips]
            ran = run_together(engine, image, jobs, work, "quota")
            ended = time.time()
            ok = [r for r in ran if r.output["success"] is True]
            refused = [r for r in ran if r.output["success"] is not True]
            if vt.quota.refused or vt.count("/ip_addresses/") != 3 or len(ok) != 3:
                raise AssertionError(
                    f"shared quota: {vt.count('/ip_addresses/')} calls, {len(ok)} jobs served, "
                    f"{vt.quota.refused} answered 429; expected 3, 3, 0")
            slowest = 0.0
            for r in refused:
                message = r.output["errorMessage"]
                found = re.fullmatch(r"VirusTotal: quota exhausted, resets at "
                                     r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC \(3 calls per 60 s\)", message)
                if not found:
                    raise AssertionError(f"shared quota: over-quota job says {message!r}")
                resets = datetime.strptime(found[1] + "+0000", "%Y-%m-%d %H:%M:%S%z").timestamp()
                if not begun + 59 <= resets <= ended + 62:
                    raise AssertionError(
                        f"shared quota: reset {found[1]} is not a minute after the first call")
                slowest = max(slowest, r.finished - r.started)
            if slowest >= QUOTA_BUDGET:
                raise AssertionError(
                    f"shared quota: an over-quota job ran {slowest:.1f}s (waited for the quota)")
            for r in ran:
                if password in json.dumps(r.output) + r.logs:
                    raise AssertionError("shared quota: the Redis password appears in a job's output or log")
            echoed = {r.output.get("input", {}).get("config", {}).get("state_password") for r in refused}
            if echoed != {"REMOVED"}:
                raise AssertionError(f"shared quota: failed jobs echo state_password as {echoed}")
    finally:
        redis.stop()
    return (f"ok  shared quota: 6 containers, 6 indicators, 3 calls/min, Redis with a password: "
            f"3 calls, 0 429s, 3 jobs refused naming the reset (slowest {slowest:.1f}s), "
            f"password in no output; {_together(ran)}")


def check_unshared_state(engine: str, image: str, work: Path) -> str:
    """The contrast: without ``state_url`` each container keeps its own SQLite state."""
    with FakeVirusTotal(per_minute=4) as vt:
        vt.set_object("ip_addresses", "11.15.2.1")
        jobs = [intel_job(vt, work, "11.15.2.1") for _ in range(2)]
        ran = run_together(engine, image, jobs, work, "alone")
        if not all(r.output["success"] is True and not r.output["full"]["from_cache"] for r in ran):
            raise AssertionError(f"unshared state: {[r.output.get('errorMessage') for r in ran]}")
        if vt.count("/ip_addresses/") != 2:
            raise AssertionError(f"unshared state: {vt.count('/ip_addresses/')} calls, expected 2 (one each)")
    return "ok  no state_url: 2 containers, 1 indicator, 2 VirusTotal calls (each its own cache and quota)"


def check_shared_state(engine: str, image: str) -> str:
    if not Path(REDIS).exists():
        raise AssertionError("redis-server is missing: apt-get install redis-server (make system-deps)")
    work = Path(tempfile.mkdtemp(prefix="socflow-ctr-state-"))
    try:
        lines = []
        for check in (check_shared_lookups, check_shared_quota, check_unshared_state):
            started = time.monotonic()
            lines.append(f"{check(engine, image, work)} [{time.monotonic() - started:.1f}s]")
        return "\n".join(lines)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", required=True)
    parser.add_argument("--engine", default="podman")
    opts = parser.parse_args()
    paths = flavor_paths()
    if not paths:
        print("container_jobs: no flavor JSON found", file=sys.stderr)
        return 1
    failed = 0
    work = Path(tempfile.mkdtemp(prefix="socflow-ctr-jobs-"))
    try:
        for path in paths:
            try:
                print("\n".join(check_flavor(opts.engine, opts.image, path, work)), flush=True)
            except (AssertionError, subprocess.TimeoutExpired) as exc:
                failed += 1
                print(f"FAIL {path.stem}: {exc}", flush=True)
        for extra in (check_unshared_job_folder, check_blocklist_service, check_shared_state):
            try:
                print(extra(opts.engine, opts.image), flush=True)
            except (AssertionError, RuntimeError, subprocess.SubprocessError) as exc:
                failed += 1
                print(f"FAIL {extra.__name__}: {exc}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"container_jobs: {len(paths)} flavor(s), {failed} failure(s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
