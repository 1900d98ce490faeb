"""``socflow doctor`` against a working setup and against deliberately broken ones.

Everything is real except the far ends: TheHive (``tests/fakes/thehive.py``) and Cortex
(``tests/fakes/cortex.py``) are loopback fakes, the blocklist service is the real
``socflow blocklist serve``, catalogs are served over real HTTP, and the docker CLI is replaced
by a tiny script only where the test needs a given answer from it.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from deploy.jobs import REPO, closed_port_url
from fakes.cortex import FakeCortex
from fakes.thehive import FakeTheHive

SOCFLOW = Path(sys.executable).parent / "socflow"
HIVE_KEY = "hive-key-7f3a9c1e5b2d4a60"
CORTEX_KEY = "cortex-key-0b9d8e7f6a5c4b3a"


# The caller's own doctor settings (SOCFLOW_IMAGE=… set for a CI run's container test, say) must
# not decide what these tests check: each test passes what it means.
_AMBIENT = {k: v for k, v in os.environ.items()
            if k not in ("SOCFLOW_IMAGE", "SOCFLOW_CORTEX_URL", "SOCFLOW_CORTEX_KEY",
                         "SOCFLOW_THEHIVE_URL", "SOCFLOW_THEHIVE_KEY", "SOCFLOW_BLOCKLIST_URL",
                         "SOCFLOW_JOB_DIR", "SOCFLOW_DOCKER_JOB_DIR")}


def doctor(*args: str | Path, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any], str]:
    proc = subprocess.run(
        [str(SOCFLOW), "doctor", "--json", *map(str, args)], capture_output=True, text=True,
        timeout=90, stdin=subprocess.DEVNULL, env={**_AMBIENT, **(env or {})},
    )
    assert proc.stdout, proc.stderr
    for secret in (HIVE_KEY, CORTEX_KEY):
        assert secret not in proc.stdout + proc.stderr
    return proc.returncode, json.loads(proc.stdout), proc.stderr


def by_name(report: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {c["name"]: c for c in report["checks"]}


def failed(report: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {c["name"]: c for c in report["checks"] if c["status"] == "fail"}


@pytest.fixture()
def neurons(tmp_path: Path) -> Path:
    """A copy of the repository's neurons folder, free to break."""
    root = tmp_path / "neurons"
    shutil.copytree(REPO / "analyzers", root / "analyzers")
    if (REPO / "responders").is_dir():
        shutil.copytree(REPO / "responders", root / "responders")
    shutil.copytree(REPO / "thehive-templates", root / "thehive-templates")
    return root


@pytest.fixture()
def job_dir(tmp_path: Path) -> Path:
    path = tmp_path / "cortex-jobs"
    path.mkdir()
    os.chown(path, 1001, 1001)
    return path


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTP server on 127.0.0.1 serving ``tmp_path/www``."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", www
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def blocklist(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = closed_port_url()
    port = url.rsplit(":", 1)[1]
    proc = subprocess.Popen(
        [str(SOCFLOW), "blocklist", "serve", "--port", port, "--token", "t" * 24,
         "--state-dir", str(tmp_path_factory.mktemp("blocklist")), "--log-level", "warning"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        else:
            raise AssertionError("socflow blocklist serve did not start")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def catalog_into(folder: Path, source: Path) -> None:
    proc = subprocess.run([str(SOCFLOW), "catalog", "-o", str(folder), "--source", str(source)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_a_working_setup_passes(neurons: Path, job_dir: Path, served: tuple[str, Path], blocklist: str) -> None:
    base, www = served
    catalog_into(www, neurons)
    with FakeTheHive(api_key=HIVE_KEY) as hive, FakeCortex(api_key=CORTEX_KEY) as cortex:
        code, report, _ = doctor(
            "--source", neurons, "--job-dir", job_dir,
            "--catalog", www / "analyzers.json", "--catalog", f"{base}/analyzers-stable.json",
            "--thehive-url", hive.url, "--cortex-url", cortex.url, "--blocklist-url", blocklist,
            env={"SOCFLOW_THEHIVE_KEY": HIVE_KEY, "SOCFLOW_CORTEX_KEY": CORTEX_KEY},
        )
    checks = by_name(report)
    assert code == 0 and report["ok"] is True, failed(report)
    for name in ("cortexutils", "C extension", "job directory shared", "job directory owner",
                 "TheHive", "Cortex", "blocklist"):
        assert checks[name]["status"] == "ok", checks[name]
    assert "key is valid" in checks["TheHive"]["detail"] and "key is valid" in checks["Cortex"]["detail"]
    catalogs = [c for c in report["checks"] if c["name"].startswith("catalog ")]
    assert len(catalogs) == 2 and all(c["status"] == "ok" for c in catalogs)
    flavors = [c for c in report["checks"] if c["name"].startswith("flavor ")]
    assert len(flavors) == len(list(neurons.glob("*/*/*.json"))) and all(c["status"] == "ok" for c in flavors)
    assert list(job_dir.iterdir()) == [], "the probe file is cleaned up"


def test_without_the_c_extension_doctor_warns_but_passes(neurons: Path) -> None:
    code, report, _ = doctor("--source", neurons, env={"SOCFLOW_NO_NATIVE": "1"})
    check = by_name(report)["C extension"]
    assert check["status"] == "warn" and "pure Python" in check["detail"], check
    assert code == 0, failed(report)


def test_missing_exec_bit_bad_shebang_and_invalid_json_are_each_reported(neurons: Path) -> None:
    scripts = sorted(neurons.glob("analyzers/*/*.py"))
    assert len(scripts) >= 2
    scripts[0].chmod(0o644)
    scripts[1].write_text("#!/usr/bin/python2\n" + scripts[1].read_text().split("\n", 1)[1])
    broken_json = sorted(neurons.glob("analyzers/*/*.json"))[-1]
    broken_json.write_text(broken_json.read_text()[:-20])
    code, report, _ = doctor("--source", neurons)
    fails = failed(report)
    assert code == 1 and report["ok"] is False
    details = " | ".join(c["detail"] for c in fails.values())
    assert f"{scripts[0]} is not executable: chmod +x {scripts[0]}" in details
    assert f"{scripts[1]} must start with '#!/usr/bin/env python3'" in details
    assert any(name.endswith(broken_json.name) and "not readable JSON" in c["detail"]
               for name, c in fails.items())
    assert all(c["fix"] for c in fails.values())


def test_wrong_keys_are_rejected_by_thehive_and_cortex() -> None:
    with FakeTheHive(api_key=HIVE_KEY) as hive, FakeCortex(api_key=CORTEX_KEY) as cortex:
        code, report, _ = doctor(
            "--source", "/nonexistent", "--thehive-url", hive.url, "--thehive-key", "wrong-key-123456",
            "--cortex-url", cortex.url, "--cortex-key", "another-wrong-key",
        )
    fails = failed(report)
    assert code == 1
    assert "rejected the API key (HTTP 401)" in fails["TheHive"]["detail"]
    assert "rejected the API key (HTTP 401)" in fails["Cortex"]["detail"]
    assert "create a new API key" in fails["Cortex"]["fix"]


def test_services_that_are_down_or_wrong_are_reported(served: tuple[str, Path]) -> None:
    base, _ = served  # a web server that is neither TheHive nor Cortex
    down = closed_port_url()
    code, report, _ = doctor("--source", "/nonexistent", "--thehive-url", base, "--cortex-url", down,
                             "--blocklist-url", down)
    fails = failed(report)
    assert code == 1
    assert "answered HTTP 404" in fails["TheHive"]["detail"]
    assert "is not reachable: ConnectionError" in fails["Cortex"]["detail"]
    assert "is not reachable" in fails["blocklist"]["detail"]
    assert "socflow blocklist serve" in fails["blocklist"]["fix"]


def test_url_given_without_key_is_a_warning() -> None:
    with FakeCortex() as cortex:
        code, report, _ = doctor("--source", "/nonexistent", "--cortex-url", cortex.url)
    assert code == 0 and by_name(report)["Cortex"]["status"] == "warn"


def test_job_directory_not_shared_with_the_docker_side(job_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    other.mkdir()
    code, report, _ = doctor("--source", "/nonexistent", "--job-dir", job_dir, "--docker-job-dir", other)
    check = failed(report)["job directory shared"]
    assert code == 1 and "JSONDecodeError" in check["detail"]
    assert f"bind-mount the host folder {other}" in check["fix"]


def test_same_folder_under_two_paths_is_only_a_warning(job_dir: Path, tmp_path: Path) -> None:
    alias = tmp_path / "alias"
    alias.symlink_to(job_dir)
    code, report, _ = doctor("--source", "/nonexistent", "--job-dir", job_dir, "--docker-job-dir", alias)
    assert code == 0 and by_name(report)["job directory shared"]["status"] == "warn"


def test_job_directory_problems(tmp_path: Path) -> None:
    code, report, _ = doctor("--source", "/nonexistent", "--job-dir", tmp_path / "missing")
    assert code == 1 and "does not exist" in failed(report)["job directory"]["detail"]
    root_owned = tmp_path / "root-owned"
    root_owned.mkdir(mode=0o755)
    code, report, _ = doctor("--source", "/nonexistent", "--job-dir", root_owned)
    owner = by_name(report)["job directory owner"]
    assert owner["status"] == "warn" and "chown 1001:1001" in owner["fix"]


def test_broken_catalogs(served: tuple[str, Path], neurons: Path) -> None:
    base, www = served
    entries = [json.loads(p.read_text()) for p in sorted(neurons.glob("analyzers/*/*.json"))]
    (www / "with-command.json").write_text(json.dumps(entries))  # flavors, not a catalog
    (www / "garbage.json").write_text("<html>")
    code, report, _ = doctor(
        "--source", "/nonexistent", "--catalog", f"{base}/with-command.json",
        "--catalog", f"{base}/missing.json", "--catalog", www / "garbage.json",
    )
    fails = failed(report)
    assert code == 1 and len(fails) == 3
    assert "Cortex drops such entries from http catalogs" in fails[f"catalog {base}/with-command.json"]["detail"]
    assert "404" in fails[f"catalog {base}/missing.json"]["detail"]
    assert "not readable JSON" in fails[f"catalog {www / 'garbage.json'}"]["detail"]


def fake_engine(tmp_path: Path, name: str, script: str) -> dict[str, str]:
    """PATH holding only a stand-in container CLI that answers ``image inspect`` as scripted."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    cli = bin_dir / name
    cli.write_text(f"#!/bin/sh\n{script}\n")
    cli.chmod(0o755)
    return {"PATH": str(bin_dir)}


def test_image_check_uses_the_container_cli(tmp_path: Path) -> None:
    env = fake_engine(tmp_path, "podman", 'echo "Error: $3: image not known" >&2; exit 125')
    code, report, _ = doctor("--source", "/nonexistent", "--image", "localhost/socflow:0", env=env)
    image = failed(report)["image"]
    assert code == 1 and "image not known" in image["detail"] and "docker.autoUpdate=false" in image["fix"]
    env = fake_engine(tmp_path, "docker",
                      'echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock" >&2; exit 1')
    code, report, _ = doctor("--source", "/nonexistent", "--image", "localhost/socflow:0", env=env)
    assert "docker.sock" in failed(report)["image"]["fix"]
    env = fake_engine(tmp_path, "docker", 'echo "[{}]"; exit 0')
    code, report, _ = doctor("--source", "/nonexistent", "--image", "localhost/socflow:0", env=env)
    assert code == 0 and by_name(report)["image"]["status"] == "ok"


def test_image_check_is_skipped_without_a_container_cli(tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    code, report, _ = doctor("--source", "/nonexistent", "--image", "x:1", env={"PATH": str(empty)})
    assert code == 0 and by_name(report)["image"]["status"] == "skip"


def test_table_output_says_what_to_fix(neurons: Path) -> None:
    next(neurons.glob("analyzers/*/*.py")).chmod(0o600)
    proc = subprocess.run([str(SOCFLOW), "doctor", "--source", str(neurons)], capture_output=True,
                          text=True, timeout=60, env=_AMBIENT)
    assert proc.returncode == 1
    assert "what to fix" in proc.stdout and "chmod +x" in proc.stdout
    assert "1 check(s) failed." in proc.stdout


def test_passwords_in_urls_are_never_printed() -> None:
    down = closed_port_url().replace("http://", "http://admin:Sup3rSecretPw@")
    proc = subprocess.run(
        [str(SOCFLOW), "doctor", "--source", "/nonexistent", "--thehive-url", down,
         "--catalog", down + "/analyzers.json"],
        capture_output=True, text=True, timeout=60, env=_AMBIENT,
    )
    assert proc.returncode == 1
    assert "Sup3rSecretPw" not in proc.stdout + proc.stderr
    assert "REMOVED@127.0.0.1" in proc.stdout
