"""``socflow-neuron``: the one entry point of the socflow container image.

Cortex starts the image in two ways (spec A.7/A.8):

* docker runner: the image ENTRYPOINT with **no arguments**, job folder bind-mounted at ``/job``;
* kubernetes runner: args ``["/job"]``, ``/job/input`` read-only, ``/job/output`` writable.

Either way the job's ``config.service`` (set by the flavor JSON, merged into ``input.json`` by
Cortex) names the worker to run, so one image serves every flavor. Whatever goes wrong before the
worker starts still ends as a ``success:false`` ``output.json`` with a message saying what to fix,
because Cortex otherwise stores an opaque "no output" or the container logs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from .base import check_job_input, run_worker, write_failure_output
from .registry import WORKERS, load_worker

DEFAULT_JOB_DIRECTORY = "/job"


class DispatchError(Exception):
    """The job cannot be handed to a worker; the message tells the admin what to fix."""


def job_directory(argv: list[str]) -> Path:
    """``/job`` when started without arguments (docker runner), else the given folder."""
    if len(argv) > 2:
        raise DispatchError("usage: socflow-neuron [JOB_DIRECTORY]")
    return Path(argv[1] if len(argv) == 2 else DEFAULT_JOB_DIRECTORY)


def read_input(job_dir: Path) -> dict[str, Any]:
    path = job_dir / "input" / "input.json"
    if not path.is_file():
        raise DispatchError(
            f"{path} does not exist: the job folder is not shared with the container. "
            "Cortex's job.directory and job.dockerDirectory must be the same folder on the host "
            "(run `socflow doctor --job-dir …`)"
        )
    job, problem = check_job_input(path)  # size, encoding, JSON, nesting: one set of limits
    if problem:
        raise DispatchError(problem)
    assert job is not None
    return job


def service_of(job: dict[str, Any]) -> str:
    config = job.get("config")
    service = config.get("service") if isinstance(config, dict) else None
    if not isinstance(service, str) or not service:
        raise DispatchError(
            "config.service is missing from the job: the flavor JSON must set "
            '"config": {"service": "<name>"} (known: ' + ", ".join(sorted(WORKERS)) + ")"
        )
    return service


def write_failure(job_dir: Path, message: str) -> None:
    """Leave Cortex a readable error and repeat it on stderr (the container logs)."""
    print(f"socflow-neuron: {message}", file=sys.stderr)
    write_failure_output(job_dir, message, who="socflow-neuron (runs as uid 1001)")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    try:
        job_dir = job_directory(argv)
    except DispatchError as exc:
        print(f"socflow-neuron: {exc}", file=sys.stderr)
        return 2
    try:
        worker_cls = load_worker(service_of(read_input(job_dir)))
    except DispatchError as exc:
        write_failure(job_dir, str(exc))
        return 0  # Cortex ignores exit codes; the output carries the failure
    except LookupError as exc:
        write_failure(job_dir, str(exc))
        return 0
    except (ImportError, AttributeError) as exc:
        write_failure(job_dir, f"the worker code cannot be loaded: {exc}")
        return 0
    # run_worker (and cortexutils) read the job folder from sys.argv[1]
    sys.argv = [argv[0], str(job_dir)]
    run_worker(worker_cls)
    return 0


def console_main() -> None:
    sys.exit(main())


if __name__ == "__main__":
    console_main()
