"""The analyzers' cold start, guarded without timing: which modules a job process imports.

A Cortex job is one process per observable, so start-up is paid on every click. Importing
pydantic (and building its schemas) used to be ~120 ms of a ~300 ms job and requests ~100 ms;
these tests fail as soon as either comes back on a path that does not need it. The job runs
exactly as Cortex runs it; ``PYTHONPROFILEIMPORTTIME`` (= ``-X importtime``) makes the process
list every module it imports on stderr.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes.cti import FakeAbuseIPDB, FakeOTX, FakeService, FakeVirusTotal
from support.cortexjob import JobResult

from .conftest import job

IMPORT_LOG = {"PYTHONPROFILEIMPORTTIME": "1"}
# What a job answered from the cache must never load: validation frameworks and the HTTP stack.
NOT_ON_HIT = ("pydantic", "pydantic_core", "annotated_types", "requests", "urllib3",
              "charset_normalizer", "idna", "certifi", "email", "importlib.metadata")
# A miss needs requests, still never pydantic.
NOT_ON_MISS = ("pydantic", "pydantic_core", "annotated_types", "importlib_metadata")


def imported(result: JobResult) -> set[str]:
    """Every module the job process imported, from its ``-X importtime`` lines."""
    names = {line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines()
             if line.startswith("import time:") and "|" in line}
    assert "socflow.adapters.cortex.base" in names, result.stderr[-2000:]  # the log is real
    return names


def loaded(names: set[str], package: str) -> list[str]:
    return sorted(n for n in names if n == package or n.startswith(package + "."))


def assert_none_of(names: set[str], packages: tuple[str, ...]) -> None:
    found = {p: loaded(names, p) for p in packages if loaded(names, p)}
    assert not found, f"imported on this path: {found}"


CASES = [
    ("Socflow_VirusTotal_GetReport", FakeVirusTotal, "ip", "11.0.0.1"),
    ("Socflow_VirusTotal_GetReport", FakeVirusTotal, "hash", "a" * 64),
    ("Socflow_AbuseIPDB_Check", FakeAbuseIPDB, "ip", "11.0.0.1"),
    ("Socflow_OTX_Query", FakeOTX, "domain", "example.com"),
]


@pytest.mark.parametrize(("flavor", "fake_cls", "data_type", "value"), CASES)
def test_a_cache_hit_imports_neither_pydantic_nor_the_http_stack(
        tmp_path: Path, flavor: str, fake_cls: type[FakeService], data_type: str, value: str) -> None:
    cache = tmp_path / "cache.sqlite"
    with fake_cls() as fake:
        miss = job(flavor, fake, cache, value, data_type, env=IMPORT_LOG)
        calls = fake.count()
        hit = job(flavor, fake, cache, value, data_type, env=IMPORT_LOG)
        assert fake.count() == calls  # the second job really was answered from the cache
    assert miss.output["success"] and hit.output["success"], (miss.output, hit.output)
    assert miss.output["full"]["from_cache"] is False and hit.output["full"]["from_cache"] is True
    miss_modules, hit_modules = imported(miss), imported(hit)
    assert_none_of(hit_modules, NOT_ON_HIT)
    assert "msgspec" in hit_modules  # the settings are still validated, with the light validator
    assert_none_of(miss_modules, NOT_ON_MISS)
    assert "requests" in miss_modules  # and the miss did go through requests


def test_a_private_address_is_answered_without_the_http_stack(tmp_path: Path) -> None:
    with FakeVirusTotal() as vt:
        result = job("Socflow_VirusTotal_GetReport", vt, tmp_path / "c.sqlite", "10.1.2.3", env=IMPORT_LOG)
        assert vt.count() == 0
    assert result.output["full"]["local"] == "private"
    assert_none_of(imported(result), NOT_ON_HIT)


def test_a_bad_configuration_is_refused_before_anything_heavy_is_loaded(tmp_path: Path) -> None:
    with FakeVirusTotal() as vt:
        result = job("Socflow_VirusTotal_GetReport", vt, tmp_path / "c.sqlite", "11.0.0.1",
                     env=IMPORT_LOG, malicious_threshold=0)
        assert vt.count() == 0
    message = result.output["errorMessage"]
    assert message == "VirusTotal configuration: virustotal.malicious_threshold: expected int >= 1"
    assert_none_of(imported(result), NOT_ON_HIT)
