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
say so, and the image must serve ``socflow blocklist serve`` as the compose stack runs it. Usage: ``container_jobs.py --image IMAGE [--engine podman|docker]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))

from deploy.jobs import (  # noqa: E402
    SampleJob, closed_port_url, comparable, has_local_service, flavor_paths, sample_job, service_endpoint,
    write_job_folder,
)
from support.cortexjob import assert_cortex_accepts, run_job  # noqa: E402

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
        for extra in (check_unshared_job_folder, check_blocklist_service):
            try:
                print(extra(opts.engine, opts.image), flush=True)
            except (AssertionError, subprocess.SubprocessError) as exc:
                failed += 1
                print(f"FAIL {extra.__name__}: {exc}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"container_jobs: {len(paths)} flavor(s), {failed} failure(s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
