"""Intel calls go only where configured, and the key stays there (issue 11 item 6).

Before: a redirect to another host got the ``x-apikey`` header too, and any loopback or
link-local ``api_url`` was called. The policy is ``socflow.outbound``'s; these tests run the
analyzers as Cortex does. The fakes listen on loopback, so most jobs opt in with
``allow_private_targets`` (as an admin would for a local mirror) and the redirect targets are
other loopback fakes reached under another host name (``localhost``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes.cti import FakeVirusTotal

from .conftest import job, taxonomies

GET, SCAN = "Socflow_VirusTotal_GetReport", "Socflow_VirusTotal_Scan"
FAST = {"timeout": 2, "time_budget": 8}


@pytest.mark.parametrize("url", ["{origin}/api/v3", "http://localhost:{port}/api/v3",
                                 "http://[::ffff:127.0.0.1]:{port}/api/v3", "http://2130706433:{port}/api/v3"])
def test_a_loopback_api_url_is_refused_unless_allowed(vt: FakeVirusTotal, cache: Path, url: str) -> None:
    target = url.format(origin=vt.origin, port=vt.httpd.server_address[1])
    refused = job(GET, vt, cache, "45.0.0.1", api_url=target, allow_private_targets=False)
    assert refused.output["success"] is False
    message = refused.output["errorMessage"]
    assert message.startswith("VirusTotal api_url http://") and message.endswith(
        "is a loopback address: refused (set allow_private_targets to allow it)")
    assert vt.count() == 0


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data", "http://metadata.google.internal/api",
                                 "http://[fe80::1]/api/v3", "http://0.0.0.0:8080/api/v3"])
def test_metadata_and_link_local_targets_are_refused_without_a_packet(cache: Path, url: str) -> None:
    with FakeVirusTotal() as vt:
        result = job(GET, vt, cache, "45.0.0.1", api_url=url, allow_private_targets=False, **FAST)
    assert result.output["success"] is False and "refused (set allow_private_targets" in result.output["errorMessage"]


def test_the_default_is_to_refuse(vt: FakeVirusTotal, cache: Path) -> None:
    """The flavor's documented default (false), as Cortex fills it in, refuses the loopback fake."""
    result = job(GET, vt, cache, "45.0.0.1", allow_private_targets=None)
    assert "is a loopback address: refused" in result.output["errorMessage"] and vt.count() == 0


def test_a_redirect_to_another_host_is_refused_and_the_key_stays(vt: FakeVirusTotal, cache: Path) -> None:
    with FakeVirusTotal() as elsewhere:
        port = elsewhere.httpd.server_address[1]
        vt.inject("status", status=307, headers={"Location": f"http://localhost:{port}/api/v3/ip_addresses/45.0.0.1"},
                  body="")
        result = job(GET, vt, cache, "45.0.0.1", **FAST)
        assert elsewhere.requests == []  # not a byte, let alone the key
    assert result.output["success"] is False
    assert result.output["errorMessage"] == (
        f"VirusTotal: {vt.origin} answered HTTP 307: redirect to another host (http://localhost:{port}): refused")
    assert vt.count() == 1


def test_a_redirect_on_the_same_host_is_followed(vt: FakeVirusTotal, cache: Path) -> None:
    vt.set_object("ip_addresses", "45.0.0.1", malicious=4)
    vt.inject("status", path="^/api/v3/ip_addresses/45.0.0.1$", status=308,
              headers={"Location": "/api/v3/ip_addresses/45.0.0.1?moved=1"}, body="")
    result = job(GET, vt, cache, "45.0.0.1", **FAST)
    assert taxonomies(result) == [("malicious", "VT", "GetReport", "4/74")]
    assert [r.header("x-apikey") for r in vt.requests] == [vt.key, vt.key]


def test_https_to_http_redirect_is_refused(cache: Path, certificate: tuple[Path, Path]) -> None:
    with FakeVirusTotal() as plain:
        secure = FakeVirusTotal().enable_tls(*certificate)
        with secure:
            secure.inject("status", status=301, body="",
                          headers={"Location": f"{plain.origin}/api/v3/ip_addresses/45.0.0.1"})
            result = job(GET, secure, cache, "45.0.0.1", env={"REQUESTS_CA_BUNDLE": str(certificate[0])}, **FAST)
        assert plain.requests == []
    assert "redirect from https to http" in result.output["errorMessage"]


def test_an_upload_url_on_another_host_never_gets_the_key(vt: FakeVirusTotal, cache: Path, tmp_path: Path) -> None:
    sample = tmp_path / "big.iso"
    with sample.open("wb") as fh:
        fh.truncate(33 * 1024 * 1024)  # above the direct-upload limit: the upload-URL flow
    with FakeVirusTotal() as elsewhere:
        port = elsewhere.httpd.server_address[1]
        vt.inject("status", path="/files/upload_url$", body={"data": f"http://localhost:{port}/upload/x"})
        result = job(SCAN, vt, cache, None, "file", file=sample, tlp=1, pap=1, **FAST)
        assert elsewhere.requests == []
    assert result.output["success"] is False
    assert result.output["errorMessage"] == (
        f"VirusTotal: refused to send the API key to http://localhost:{port} (redirect to another host); "
        f"it only goes to {vt.origin}")
