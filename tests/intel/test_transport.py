"""Cortex proxies and CA bundles reach the HTTP session; a wrong certificate is a clear failure."""

from __future__ import annotations

import json
from pathlib import Path

from fakes.cti import FakeVirusTotal

from .conftest import job, taxonomies

GET = "Socflow_VirusTotal_GetReport"


def test_cortex_proxy_setting_is_used(vt: FakeVirusTotal, cache: Path) -> None:
    """api_url names a host that does not resolve; only the proxy (the fake) can answer."""
    vt.set_object("ip_addresses", "11.0.0.1", malicious=4)
    result = job(GET, vt, cache, "11.0.0.1", api_url="http://vt.socflow-test.invalid/api/v3",
                 proxy_http=vt.origin)
    assert taxonomies(result) == [("malicious", "VT", "GetReport", "4/74")]
    assert vt.requests[-1].proxied is True


def test_proxy_credentials_never_leak(cache: Path) -> None:
    proxy = "http://socuser:Pr0xyPassw0rd@127.0.0.1:9/"  # discard port: nothing listens
    with FakeVirusTotal() as vt:
        result = job(GET, vt, cache, "11.0.0.1", api_url="http://vt.socflow-test.invalid/api/v3",
                     proxy_http=proxy, timeout=1, time_budget=3)
    assert result.output["success"] is False
    assert "Pr0xyPassw0rd" not in json.dumps(result.output) + result.stdout + result.stderr


def test_untrusted_certificate_is_a_clear_failure(cache: Path, certificate: tuple[Path, Path]) -> None:
    fake = FakeVirusTotal().enable_tls(*certificate)
    with fake:
        result = job(GET, fake, cache, "11.0.0.1", timeout=2, time_budget=4)
    assert result.output["success"] is False
    assert "TLS certificate of 127.0.0.1" in result.output["errorMessage"]


def test_requests_ca_bundle_from_cortex_is_trusted(cache: Path, certificate: tuple[Path, Path]) -> None:
    fake = FakeVirusTotal().enable_tls(*certificate)
    fake.set_object("ip_addresses", "11.0.0.1", malicious=1)  # type: ignore[attr-defined]
    with fake:
        result = job(GET, fake, cache, "11.0.0.1", env={"REQUESTS_CA_BUNDLE": str(certificate[0])})
    assert taxonomies(result) == [("suspicious", "VT", "GetReport", "1/71")]
    assert fake.url.startswith("https://")  # type: ignore[attr-defined]
