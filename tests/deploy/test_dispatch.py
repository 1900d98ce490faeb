"""``socflow-neuron``, the image ENTRYPOINT, run as a process the way the runners start it.

The docker runner passes no argument (job at ``/job``, only possible inside the image: covered by
``.ci/container-test``); the kubernetes runner passes ``/job``; here the job folder is passed
explicitly like the kubernetes runner does. Every failure before the worker starts must still
leave a ``success:false`` output.json Cortex can show.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.jobs import (
    comparable, has_local_service, flavor_paths, sample_job, service_endpoint, write_job_folder,
)
from socflow.adapters.cortex.registry import WORKERS
from support.cortexjob import assert_cortex_accepts, run_job

NEURON = Path(sys.executable).parent / "socflow-neuron"


def neuron(*args: str | Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(NEURON), *map(str, args)], capture_output=True, text=True, timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def job_with_input(tmp_path: Path, text: str) -> Path:
    (tmp_path / "input").mkdir()
    (tmp_path / "output").mkdir()
    (tmp_path / "input" / "input.json").write_text(text, encoding="utf-8")
    return tmp_path


def failure_of(job_dir: Path) -> str:
    output = json.loads((job_dir / "output" / "output.json").read_text(encoding="utf-8"))
    assert_cortex_accepts(output)
    assert output["success"] is False
    return str(output["errorMessage"])


def test_console_script_is_installed() -> None:
    assert NEURON.is_file(), "run: .venv/bin/pip install -e . (setup.cfg console_scripts)"


def test_job_folder_not_shared_gives_a_clear_failure_not_a_json_decode_error(tmp_path: Path) -> None:
    (tmp_path / "output").mkdir()
    proc = neuron(tmp_path)
    message = failure_of(tmp_path)
    assert "not shared with the container" in message and "job.dockerDirectory" in message
    assert "JSONDecodeError" not in message + proc.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"dataType": "ip", "data": ', "is not valid JSON"),
        ('["not", "an", "object"]', "must hold a JSON object, not list"),
        ('{"dataType": "ip", "data": "1.2.3.4", "config": {}}', "config.service is missing"),
        ('{"dataType": "ip", "data": "1.2.3.4", "config": null}', "config.service is missing"),
        ('{"dataType": "ip", "data": "1.2.3.4", "config": {"service": 42}}', "config.service is missing"),
        ('{"dataType": "ip", "data": "1.2.3.4", "config": {"service": "NoSuch"}}', "unknown service 'NoSuch'"),
    ],
)
def test_unusable_input_ends_as_success_false(tmp_path: Path, text: str, expected: str) -> None:
    job = job_with_input(tmp_path, text)
    proc = neuron(job)
    assert proc.returncode == 0, proc.stderr  # Cortex ignores exit codes; the output says it all
    message = failure_of(job)
    assert expected in message
    assert "Traceback" not in proc.stderr


def test_input_that_is_not_utf8_is_reported(tmp_path: Path) -> None:
    job = job_with_input(tmp_path, "")
    (job / "input" / "input.json").write_bytes(b'{"data": "\xff\xfe"}')
    neuron(job)
    assert "is not valid JSON" in failure_of(job)


def test_unknown_service_lists_the_known_ones(tmp_path: Path) -> None:
    job = job_with_input(tmp_path, '{"dataType":"ip","data":"1.2.3.4","config":{"service":"Nope"}}')
    neuron(job)
    message = failure_of(job)
    assert all(name in message for name in WORKERS)


def test_missing_output_folder_is_created(tmp_path: Path) -> None:
    (tmp_path / "input").mkdir()
    (tmp_path / "input" / "input.json").write_text('{"config": {"service": "Nope"}}')
    neuron(tmp_path)
    assert "unknown service" in failure_of(tmp_path)


def test_unwritable_output_is_reported_on_stderr_for_the_container_logs(tmp_path: Path) -> None:
    (tmp_path / "input").mkdir()
    (tmp_path / "input" / "input.json").write_text('{"config": {"service": "Nope"}}')
    (tmp_path / "output").write_text("a file where the folder should be")
    proc = neuron(tmp_path)
    assert "unknown service 'Nope'" in proc.stderr
    assert "cannot write" in proc.stderr and "uid 1001" in proc.stderr


def test_more_than_one_argument_is_a_usage_error(tmp_path: Path) -> None:
    proc = neuron(tmp_path, tmp_path)
    assert proc.returncode == 2
    assert "usage: socflow-neuron [JOB_DIRECTORY]" in proc.stderr


def test_there_are_flavors_to_dispatch() -> None:
    assert flavor_paths(), "no analyzers/*/*.json or responders/*/*.json in the repository"


@pytest.mark.parametrize("path", flavor_paths(), ids=lambda p: p.stem)
def test_every_flavor_gives_the_same_output_through_the_image_entry_point(
    path: Path, tmp_path: Path
) -> None:
    """Same job, once via the flavor's own script (process runner), once via socflow-neuron."""
    flavor = json.loads(path.read_text(encoding="utf-8"))
    with service_endpoint(flavor) as (url, key):
        job = sample_job(path, url, tmp_path, key)
        job_dir = tmp_path / "cortex-job-dispatch"
        write_job_folder(job, job_dir)
        neuron(job_dir)
    via_image = json.loads((job_dir / "output" / "output.json").read_text(encoding="utf-8"))
    assert_cortex_accepts(via_image)
    with service_endpoint(flavor) as (url, key):
        job = sample_job(path, url, tmp_path, key)
        via_process = run_job(
            path, data=job.data, data_type=job.data_type, file=job.file, config=job.config,
            filename=job.file.name if job.file else None, content_type="text/plain",
        )
    assert via_process.output_written
    assert comparable(via_image) == comparable(via_process.output)
    if not job.calls_services or has_local_service(flavor):
        assert via_image["success"] is True, via_image.get("errorMessage")
