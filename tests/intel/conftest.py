"""Fixtures for the intel tests: fresh fakes per test, a private cache file, a job runner."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Self

import pytest
from fakes.cti import FakeAbuseIPDB, FakeOTX, FakeService, FakeVirusTotal
from support.cortexjob import JobResult, assert_cortex_accepts, run_job


@pytest.fixture
def vt() -> Iterator[FakeVirusTotal]:
    with FakeVirusTotal() as fake:
        yield fake  # type: ignore[misc]


@pytest.fixture
def abuse() -> Iterator[FakeAbuseIPDB]:
    with FakeAbuseIPDB() as fake:
        yield fake  # type: ignore[misc]


@pytest.fixture
def otx() -> Iterator[FakeOTX]:
    with FakeOTX() as fake:
        yield fake  # type: ignore[misc]


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (fakes serving HTTPS)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "intel-cache.sqlite"


def job(flavor: str, fake: FakeService, cache: Path | None, data: Any = None, data_type: str = "ip",
        *, file: Path | None = None, tlp: int = 2, pap: int = 2, env: dict[str, str] | None = None,
        **config: Any) -> JobResult:
    """Run a flavor the way Cortex does against ``fake``; the output must be one Cortex accepts."""
    # The fakes listen on loopback: the jobs opt in, as an admin would for a local mirror.
    cfg = {"key": fake.key, "api_url": fake.url, "cache_path": str(cache) if cache else "",  # type: ignore[attr-defined]
           "allow_private_targets": True}
    cfg.update(config)
    result = run_job(flavor, data=data, data_type=data_type, config=cfg, file=file, tlp=tlp, pap=pap,
                     env=env, timeout=60)
    assert result.output_written, result.stdout + result.stderr
    assert_cortex_accepts(result.output)
    assert "Traceback" not in result.stdout + result.stderr
    return result


def taxonomies(result: JobResult) -> list[tuple[str, str, str, Any]]:
    return [(t["level"], t["namespace"], t["predicate"], t["value"])
            for t in result.output["summary"]["taxonomies"]]


class Timer:
    def __enter__(self) -> Self:
        self.start = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.monotonic() - self.start
