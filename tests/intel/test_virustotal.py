"""Socflow_VirusTotal_GetReport run as Cortex runs it, against the loopback VirusTotal fake."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from fakes.cti import FakeVirusTotal

from .conftest import job, taxonomies

GET = "Socflow_VirusTotal_GetReport"


@pytest.mark.parametrize(
    ("malicious", "suspicious", "level", "value"),
    [
        (6, 1, "malicious", "6/77"),       # >= threshold 3
        (1, 0, "suspicious", "1/71"),      # one engine is not enough for red
        (0, 2, "suspicious", "0/72"),      # suspicious engines only
        (0, 0, "safe", "0/70"),            # engines ran, none flagged: green, not blue
    ],
)
def test_ip_taxonomy_follows_engine_counts(vt: FakeVirusTotal, cache: Path, malicious: int,
                                           suspicious: int, level: str, value: str) -> None:
    vt.set_object("ip_addresses", "11.0.0.1", malicious=malicious, suspicious=suspicious)
    result = job(GET, vt, cache, "11.0.0.1")
    assert result.output["success"] is True
    assert taxonomies(result) == [(level, "VT", "GetReport", value)]
    assert vt.count("/ip_addresses/11.0.0.1") == 1 and vt.count() == 1  # one call per report


def test_unknown_hash_is_an_info_success_and_is_negatively_cached(vt: FakeVirusTotal, cache: Path) -> None:
    unknown = "0" * 64
    first = job(GET, vt, cache, unknown, "hash")
    assert first.output["success"] is True
    assert taxonomies(first) == [("info", "VT", "GetReport", "not found")]
    assert first.output["full"]["found"] is False
    second = job(GET, vt, cache, unknown.upper(), "hash")
    assert taxonomies(second) == taxonomies(first)
    assert second.output["full"]["from_cache"] is True
    assert vt.count() == 1


def test_cache_hit_makes_zero_calls(vt: FakeVirusTotal, cache: Path) -> None:
    vt.set_object("domains", "bad.example.com", malicious=9)
    first = job(GET, vt, cache, "bad.example.com", "domain")
    calls = vt.count()
    second = job(GET, vt, cache, "BAD.example.com.", "fqdn")
    assert vt.count() == calls == 1
    assert second.output["full"]["from_cache"] is True
    assert taxonomies(second) == taxonomies(first) == [("malicious", "VT", "GetReport", "9/79")]


def test_cache_ttl_zero_means_always_ask(vt: FakeVirusTotal, cache: Path) -> None:
    vt.set_object("ip_addresses", "11.0.0.2")
    for _ in range(2):
        job(GET, vt, cache, "11.0.0.2", cache_ttl_safe=0)
    assert vt.count() == 2


def test_threshold_is_configurable(vt: FakeVirusTotal, cache: Path) -> None:
    vt.set_object("ip_addresses", "11.0.0.3", malicious=2)
    result = job(GET, vt, cache, "11.0.0.3", malicious_threshold=2)
    assert taxonomies(result)[0][0] == "malicious"


def test_url_is_looked_up_by_its_base64_id(vt: FakeVirusTotal, cache: Path) -> None:
    url = "http://login.example.net/secure/update.php"
    vt.set_object("urls", "ignored", malicious=4, url=url)
    result = job(GET, vt, cache, url, "url")
    assert taxonomies(result) == [("malicious", "VT", "GetReport", "4/74")]
    assert vt.requests[-1].path.endswith("/urls/aHR0cDovL2xvZ2luLmV4YW1wbGUubmV0L3NlY3VyZS91cGRhdGUucGhw")


def test_md5_hash_and_file_observable(vt: FakeVirusTotal, cache: Path, tmp_path: Path) -> None:
    sample = tmp_path / "sample.bin"
    sample.write_bytes(b"not really malware\n")
    sha256 = hashlib.sha256(sample.read_bytes()).hexdigest()
    md5 = hashlib.md5(sample.read_bytes()).hexdigest()
    vt.set_object("files", sha256, malicious=30, md5=md5, sha256=sha256)
    by_md5 = job(GET, vt, cache, md5, "hash")
    assert taxonomies(by_md5)[0][:3] == ("malicious", "VT", "GetReport")
    by_file = job(GET, vt, cache, None, "file", file=sample)
    assert taxonomies(by_file)[0][0] == "malicious"
    # the file was hashed locally: nothing was uploaded
    assert all(r.method == "GET" for r in vt.requests)
    assert vt.requests[-1].path.endswith(f"/files/{sha256}")


def test_private_ip_is_answered_without_a_call(vt: FakeVirusTotal, cache: Path) -> None:
    result = job(GET, vt, cache, "10.1.2.3")
    assert taxonomies(result) == [("info", "VT", "GetReport", "private address")]
    assert vt.count() == 0


def test_relationships_become_artifacts_only_when_enabled(vt: FakeVirusTotal, cache: Path) -> None:
    vt.set_object("domains", "malicious.example.com", malicious=9)
    plain = job(GET, vt, cache, "malicious.example.com", "domain")
    assert plain.output["artifacts"] == [] and vt.count() == 1
    rich = job(GET, vt, cache, "malicious.example.com", "domain", relationships=True)
    assert {"dataType": "ip", "data": "203.0.113.45", "tags": ["vt:resolutions"],
            "message": "VirusTotal resolutions"} in rich.output["artifacts"]
    assert vt.count() == 3


def test_premium_relationship_refusal_is_not_a_failure(vt: FakeVirusTotal, cache: Path) -> None:
    sha = "a" * 64
    vt.set_object("files", sha, malicious=5)
    result = job(GET, vt, cache, sha, "hash", relationships=True)
    assert result.output["success"] is True
    rels = result.output["full"]["details"]["relationships"]
    assert rels["contacted_domains"] == {"error": "premium API only"}


@pytest.mark.parametrize(("config", "expected"), [
    ({"key": None}, "'key' configuration item"),
    ({"api_url": "ftp://nowhere"}, "api_url"),
    ({"malicious_threshold": 0}, "malicious_threshold"),
    ({"cache_path": "/proc/socflow-nope/cache.sqlite"}, "state dir /proc/socflow-nope cannot be created"),
    ({"time_budget": "soon"}, "time_budget must be a number"),
])
def test_bad_configuration_is_one_clear_line(vt: FakeVirusTotal, cache: Path, config: dict,
                                             expected: str) -> None:
    result = job(GET, vt, cache, "11.0.0.1", **config)
    assert result.output["success"] is False
    assert expected in result.output["errorMessage"] and "\n" not in result.output["errorMessage"]
    assert vt.count() == 0


@pytest.mark.parametrize("config", [
    {},  # Cortex stores unset check_tlp/max_tlp as null, which beats the flavor default
    {"check_tlp": True, "max_tlp": 2},  # what the Cortex UI pre-fills (cortexutils refuses)
])
def test_tlp_red_never_reaches_the_service(vt: FakeVirusTotal, cache: Path, config: dict) -> None:
    result = job(GET, vt, cache, "11.0.0.1", tlp=3, **config)
    assert result.output["success"] is False and "TLP" in result.output["errorMessage"]
    assert vt.count() == 0


def test_invalid_observable_is_refused_locally(vt: FakeVirusTotal, cache: Path) -> None:
    result = job(GET, vt, cache, "not-an-ip", "ip")
    assert result.output["success"] is False and "not an IP address" in result.output["errorMessage"]
    assert vt.count() == 0
