"""Socflow_OTX_Query run as Cortex runs it, against the OTX fake."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes.cti import FakeOTX

from .conftest import job, taxonomies

QUERY = "Socflow_OTX_Query"


@pytest.mark.parametrize(("pulses", "level"), [(3, "malicious"), (2, "suspicious"), (0, "safe")])
def test_pulse_count_taxonomy(otx: FakeOTX, cache: Path, pulses: int, level: str) -> None:
    otx.set("45.1.0.1", pulses)
    assert taxonomies(job(QUERY, otx, cache, "45.1.0.1")) == [(level, "OTX", "Pulses", pulses)]


def test_whitelisted_is_safe(otx: FakeOTX, cache: Path) -> None:
    otx.set("45.1.0.2", 4, whitelisted=True)
    assert taxonomies(job(QUERY, otx, cache, "45.1.0.2")) == [
        ("safe", "OTX", "Pulses", 4), ("info", "OTX", "Whitelisted", "true")]


def test_unknown_is_info_and_negatively_cached(otx: FakeOTX, cache: Path) -> None:
    first = job(QUERY, otx, cache, "unknown.example.org", "domain")
    assert taxonomies(first) == [("info", "OTX", "Pulses", "not found")]
    job(QUERY, otx, cache, "unknown.example.org", "domain")
    assert otx.count() == 1


def test_report_lists_pulse_names_tags_and_references(otx: FakeOTX, cache: Path) -> None:
    otx.set("malicious.example.com", 2, tags=("phishing", "kit"))
    details = job(QUERY, otx, cache, "malicious.example.com", "domain").output["full"]["details"]
    assert [p["name"] for p in details["pulses"]] == [
        "Pulse 0 about malicious.example.com", "Pulse 1 about malicious.example.com"]
    assert details["tags"] == ["phishing", "kit"]
    assert details["pulses"][0]["references"] == ["https://blog.example.org/ssh-botnet-2024"]
    assert otx.requests[-1].path == "/api/v1/indicators/domain/malicious.example.com/general"


@pytest.mark.parametrize(("value", "data_type", "slug"), [
    ("http://login.example.net/secure/update.php", "url", "url"),
    ("a.b.example.com", "fqdn", "domain"),
    ("mail.example.org", "hostname", "domain"),
    ("44d88612fea8a8f36de82e1278abb02f", "hash", "file"),
    ("2a00:1450::1", "ip", "IPv6"),
])
def test_every_type_goes_to_its_endpoint(otx: FakeOTX, cache: Path, value: str, data_type: str,
                                         slug: str) -> None:
    otx.set(value, 1)
    result = job(QUERY, otx, cache, value, data_type)
    assert taxonomies(result) == [("suspicious", "OTX", "Pulses", 1)]
    assert otx.requests[-1].path.startswith(f"/api/v1/indicators/{slug}/")
    assert otx.requests[-1].header("x-otx-api-key") == otx.key


def test_429_without_headers_backs_off_then_succeeds(otx: FakeOTX, cache: Path) -> None:
    otx.set("45.1.0.3", 1)
    otx.inject("status", status=429, body={"detail": "Request was throttled."})
    result = job(QUERY, otx, cache, "45.1.0.3", time_budget=6)
    assert result.output["success"] is True and otx.count() == 2


def test_bad_key_is_a_403_auth_failure(otx: FakeOTX, cache: Path) -> None:
    result = job(QUERY, otx, cache, "45.1.0.4", key="0" * 64)
    assert result.output["success"] is False
    assert result.output["errorMessage"].startswith("OTX: the API key was refused (HTTP 403")
