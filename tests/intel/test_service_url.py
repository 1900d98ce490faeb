"""A wrong service URL is an error, never a verdict; a spent quota is remembered (issue 11 item 3).

Before: an ``api_url`` without ``/api/v3`` or ``/api/v2`` made every answer "not known" or
"safe 0 %", cached for hours under a key without the URL; a 429 without ``Retry-After`` (how
VirusTotal says its daily quota is spent) cost four calls and 14 s per job and was forgotten.
Every case runs the analyzer as Cortex does, against fakes that answer as the fact sheet says:
paths outside the API are a web server's HTML 404, not the API's not-found JSON.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fakes.cti import FakeAbuseIPDB, FakeOTX, FakeVirusTotal, fixture

from .conftest import Timer, job, taxonomies

GET, CHECK, QUERY = "Socflow_VirusTotal_GetReport", "Socflow_AbuseIPDB_Check", "Socflow_OTX_Query"
FAST = {"timeout": 2, "time_budget": 8}


# ------------------------------------------------------------------ base URL with or without
@pytest.mark.parametrize("suffix", ["", "/", "/api/v3", "/api/v3/"])
def test_virustotal_base_url_with_or_without_the_version_path(cache: Path, suffix: str) -> None:
    with FakeVirusTotal() as vt:
        vt.set_object("ip_addresses", "45.0.0.1", malicious=4)
        result = job(GET, vt, cache, "45.0.0.1", api_url=vt.origin + suffix)
        assert taxonomies(result) == [("malicious", "VT", "GetReport", "4/74")]
        assert [r.path for r in vt.requests] == ["/api/v3/ip_addresses/45.0.0.1"]


@pytest.mark.parametrize("suffix", ["", "/api/v2", "/api/v2/"])
def test_abuseipdb_base_url_with_or_without_the_version_path(cache: Path, suffix: str) -> None:
    with FakeAbuseIPDB() as abuse:
        abuse.set_ip("45.0.0.1", 90)
        result = job(CHECK, abuse, cache, "45.0.0.1", api_url=abuse.origin + suffix)
        assert taxonomies(result)[0] == ("malicious", "AbuseIPDB", "Score", 90)


@pytest.mark.parametrize("suffix", ["", "/api/v1", "/api/v1/"])
def test_otx_base_url_with_or_without_the_version_path(cache: Path, suffix: str) -> None:
    with FakeOTX() as otx:
        otx.set("45.0.0.1", 3)
        result = job(QUERY, otx, cache, "45.0.0.1", api_url=otx.origin + suffix)
        assert taxonomies(result) == [("malicious", "OTX", "Pulses", 3)]


# ------------------------------------------------------------------ a wrong URL is an error
WRONG = [
    (GET, FakeVirusTotal, "/v3", "VirusTotal"),
    (GET, FakeVirusTotal, "/api/v2", "VirusTotal"),
    (CHECK, FakeAbuseIPDB, "/v2", "AbuseIPDB"),
    (CHECK, FakeAbuseIPDB, "/api/v3", "AbuseIPDB"),
    (QUERY, FakeOTX, "/otx", "OTX"),
]


@pytest.mark.parametrize(("flavor", "fake_cls", "path", "title"), WRONG,
                         ids=[f"{t}{p}" for _, _, p, t in WRONG])
def test_a_wrong_api_url_is_a_configuration_error_and_nothing_is_cached(
        cache: Path, flavor: str, fake_cls: type, path: str, title: str) -> None:
    with fake_cls() as fake:
        if isinstance(fake, FakeVirusTotal):
            fake.set_object("ip_addresses", "45.0.0.1", malicious=4)
        elif isinstance(fake, FakeAbuseIPDB):
            fake.set_ip("45.0.0.1", 90)
        else:
            fake.set("45.0.0.1", 3)
        wrong = job(flavor, fake, cache, "45.0.0.1", api_url=fake.origin + path, **FAST)
        assert wrong.output["success"] is False, wrong.output
        message = wrong.output["errorMessage"]
        assert message.startswith(f"{title}: http://127.0.0.1:")
        assert f"answered HTTP 404: 404 Not Found, which is not {title}'s not-found answer: check api_url" in message
        assert "\n" not in message and fake.key not in json.dumps(wrong.output)
        # the right URL afterwards: asked again (nothing was cached), and the real verdict
        calls = fake.count()
        right = job(flavor, fake, cache, "45.0.0.1", api_url=fake.url)
        assert right.output["full"]["level"] == "malicious" and right.output["full"]["from_cache"] is False
        assert fake.count() == calls + 1


def test_abuseipdb_documents_no_404_so_a_json_404_is_an_error_too(abuse: FakeAbuseIPDB, cache: Path) -> None:
    abuse.inject("status", status=404, body={"errors": [{"detail": "Not Found", "status": 404}]})
    result = job(CHECK, abuse, cache, "45.0.0.1", **FAST)
    assert result.output["success"] is False
    assert "which is not AbuseIPDB's not-found answer: check api_url" in result.output["errorMessage"]


def test_only_the_documented_not_found_body_means_not_known(vt: FakeVirusTotal, cache: Path) -> None:
    vt.inject("status", status=404, body={"error": {"code": "SomethingElse", "message": "no"}})
    odd = job(GET, vt, cache, "a" * 64, "hash", **FAST)
    assert odd.output["success"] is False and "check api_url" in odd.output["errorMessage"]
    known = job(GET, vt, cache, "a" * 64, "hash")  # the fake's own 404 is the documented one
    assert taxonomies(known) == [("info", "VT", "GetReport", "not found")]


@pytest.mark.parametrize(("flavor", "fake_cls", "body"), [
    (GET, FakeVirusTotal, {"data": {}}),
    (GET, FakeVirusTotal, {"something": "else"}),
    (CHECK, FakeAbuseIPDB, {"data": {}}),
    (CHECK, FakeAbuseIPDB, {"status": "ok"}),
    (QUERY, FakeOTX, {"indicator": "45.0.0.1"}),
    (QUERY, FakeOTX, []),
], ids=["vt-empty-data", "vt-other", "abuse-empty-data", "abuse-other", "otx-no-pulse-info", "otx-list"])
def test_a_json_200_of_another_shape_is_an_error_and_not_cached(cache: Path, flavor: str, fake_cls: type,
                                                                body: object) -> None:
    """Before: VirusTotal read it as "no engine has analysed it", AbuseIPDB as "score 0: safe"."""
    with fake_cls() as fake:
        fake.inject("status", status=200, body=body)
        first = job(flavor, fake, cache, "45.0.0.1", **FAST)
        assert first.output["success"] is False, first.output
        assert "check api_url" in first.output["errorMessage"]
        second = job(flavor, fake, cache, "45.0.0.1")
        assert second.output["success"] is True and second.output["full"]["from_cache"] is False
        assert fake.count() == 2


def test_the_service_url_is_part_of_the_cache_key(cache: Path) -> None:
    """A verdict from one service URL (a test fake, a mirror) never answers for another."""
    with FakeVirusTotal() as one, FakeVirusTotal() as other:
        one.set_object("ip_addresses", "45.0.0.1", malicious=0)
        other.set_object("ip_addresses", "45.0.0.1", malicious=9)
        first = job(GET, one, cache, "45.0.0.1", key=one.key)
        second = job(GET, other, cache, "45.0.0.1", key=other.key)
        assert first.output["full"]["level"] == "safe"
        assert second.output["full"]["level"] == "malicious" and second.output["full"]["from_cache"] is False
        again = job(GET, one, cache, "45.0.0.1", key=one.key)
        assert again.output["full"]["from_cache"] is True and again.output["full"]["level"] == "safe"
        assert one.count() == other.count() == 1


# ------------------------------------------------------------------ quotas without Retry-After
def test_virustotal_spent_daily_quota_costs_one_call_and_is_remembered(cache: Path) -> None:
    """The free key's 500 a day, scaled to 1: the 429 carries no Retry-After (fact sheet §1.5)."""
    with FakeVirusTotal(per_day=1) as vt:
        for ip in ("45.0.0.1", "45.0.0.2", "45.0.0.3"):
            vt.set_object("ip_addresses", ip, malicious=4)
        assert job(GET, vt, cache, "45.0.0.1").output["success"] is True
        with Timer() as t:
            spent = job(GET, vt, cache, "45.0.0.2")
        assert vt.count() == 2 and t.elapsed < 5  # one call, no backoff (before: 4 calls, 14 s)
        message = spent.output["errorMessage"]
        assert message.startswith("VirusTotal: quota exhausted, resets at ") and "00:00:00 UTC" in message
        following = job(GET, vt, cache, "45.0.0.3")
        assert vt.count() == 2  # the next job does not even call
        assert following.output["errorMessage"].startswith("VirusTotal: quota exhausted, resets at ")
        assert "00:00:00 UTC" in following.output["errorMessage"]
        assert following.output["errorMessage"].endswith("(the service said: QuotaExceededError: Quota exceeded)")


def test_virustotal_burst_throttle_gets_one_short_retry(vt: FakeVirusTotal, cache: Path) -> None:
    vt.set_object("ip_addresses", "45.0.0.1", malicious=4)
    vt.inject("status", status=429, body=fixture("virustotal", "error_too_many_requests.json"))
    result = job(GET, vt, cache, "45.0.0.1", **FAST)
    assert result.output["success"] is True and vt.count() == 2


def test_a_429_that_is_not_virustotals_rests_a_minute_not_a_day(vt: FakeVirusTotal, cache: Path) -> None:
    """A proxy's own 429 page is no proof that VirusTotal's daily quota is spent."""
    vt.inject("status", times=None, status=429, body="<html><title>Slow down</title></html>",
              content_type="text/html")
    before = time.time()
    first = job(GET, vt, cache, "45.0.0.1", **FAST)
    assert vt.count() == 2  # one short retry
    second = job(GET, vt, cache, "45.0.0.2", **FAST)
    assert vt.count() == 2
    for result in (first, second):
        message = result.output["errorMessage"]
        stamp = message.removeprefix("VirusTotal: quota exhausted, resets at ")[:19]
        resets = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()
        assert before + 55 <= resets <= time.time() + 61, message


def test_virustotal_quota_429_with_retry_after_uses_it(cache: Path) -> None:
    with FakeVirusTotal(per_day=0, retry_after=3600) as vt:
        before = time.time()
        first = job(GET, vt, cache, "45.0.0.1", **FAST)
        second = job(GET, vt, cache, "45.0.0.2", **FAST)
    assert vt.count() == 1
    for result in (first, second):
        message = result.output["errorMessage"]
        assert message.startswith("VirusTotal: quota exhausted, resets at ")
        stamp = message.removeprefix("VirusTotal: quota exhausted, resets at ")[:19]
        resets = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()
        assert before + 3590 <= resets <= time.time() + 3601


def test_otx_spent_quota_two_calls_then_paused(cache: Path) -> None:
    """OTX sends bare 429s and documents no reset: one short retry, then an hour's pause."""
    with FakeOTX(quota=0) as otx:
        with Timer() as t:
            first = job(QUERY, otx, cache, "45.0.0.1", **FAST)
        assert otx.count() == 2 and t.elapsed < 6
        second = job(QUERY, otx, cache, "45.0.0.2", **FAST)
        assert otx.count() == 2
    for result in (first, second):
        assert result.output["errorMessage"].startswith("OTX: quota exhausted, resets at "), result.output
