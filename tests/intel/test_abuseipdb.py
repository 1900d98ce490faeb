"""Socflow_AbuseIPDB_Check / _CheckBlock run as Cortex runs them, against the AbuseIPDB fake."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes.cti import FakeAbuseIPDB

from .conftest import job, taxonomies

CHECK, BLOCK = "Socflow_AbuseIPDB_Check", "Socflow_AbuseIPDB_CheckBlock"


@pytest.mark.parametrize(("score", "level"), [(75, "malicious"), (74, "suspicious"), (24, "safe")])
def test_score_thresholds(abuse: FakeAbuseIPDB, cache: Path, score: int, level: str) -> None:
    abuse.set_ip("45.0.0.1", score)
    result = job(CHECK, abuse, cache, "45.0.0.1")
    assert taxonomies(result)[0] == (level, "AbuseIPDB", "Score", score)


def test_one_old_report_with_score_zero_is_not_red(abuse: FakeAbuseIPDB, cache: Path) -> None:
    abuse.set_ip("45.0.0.2", 0, reports=1)
    result = job(CHECK, abuse, cache, "45.0.0.2")
    assert ("safe", "AbuseIPDB", "Score", 0) in taxonomies(result)
    assert ("info", "AbuseIPDB", "Reports", 1) in taxonomies(result)


def test_unreported_ip_is_safe_and_context_is_info(abuse: FakeAbuseIPDB, cache: Path) -> None:
    abuse.set_ip("45.0.0.3", 0, reports=0, whitelisted=True, tor=True, usage="Content Delivery Network")
    found = taxonomies(job(CHECK, abuse, cache, "45.0.0.3"))
    assert found == [("safe", "AbuseIPDB", "Score", 0), ("info", "AbuseIPDB", "Reports", 0),
                     ("info", "AbuseIPDB", "Whitelisted", "true"), ("info", "AbuseIPDB", "Tor", "true"),
                     ("info", "AbuseIPDB", "Usage", "Content Delivery Network")]


def test_categories_are_shown_by_name_and_request_is_verbose(abuse: FakeAbuseIPDB, cache: Path) -> None:
    abuse.set_ip("45.0.0.4", 90, reports=3, categories=(18, 22))
    full = job(CHECK, abuse, cache, "45.0.0.4", max_age_days=90).output["full"]
    names = {c["name"]: c["count"] for c in full["details"]["categories"]}
    assert names == {"Brute-Force": 3, "SSH": 3}
    assert full["details"]["recent_reports"][0]["categories"] == ["Brute-Force", "SSH"]
    sent = abuse.requests[-1]
    assert sent.query["maxAgeInDays"] == ["90"] and "verbose" in sent.query
    assert sent.header("accept") == "application/json"


@pytest.mark.parametrize("ip", ["192.168.1.1", "fe80::1", "203.0.113.45"])
def test_private_and_reserved_ips_are_answered_locally(abuse: FakeAbuseIPDB, cache: Path, ip: str) -> None:
    result = job(CHECK, abuse, cache, ip)
    assert result.output["success"] is True
    assert taxonomies(result)[0][0] == "info" and result.output["full"]["local"]
    assert abuse.count() == 0


def test_cache_hit_makes_zero_calls(abuse: FakeAbuseIPDB, cache: Path) -> None:
    abuse.set_ip("45.0.0.5", 80)
    job(CHECK, abuse, cache, "45.0.0.5")
    second = job(CHECK, abuse, cache, "45.0.0.5")
    assert second.output["full"]["from_cache"] is True and abuse.count() == 1


def test_daily_limit_429_fails_fast_with_the_reset_time(cache: Path) -> None:
    with FakeAbuseIPDB(daily={"check": 0}) as fake:
        result = job(CHECK, fake, cache, "45.0.0.7", quota_per_day=5, time_budget=5)
        assert result.output["success"] is False
        message = result.output["errorMessage"]
        assert message.startswith("AbuseIPDB: quota exhausted, resets at ")
        assert "Daily rate limit of 0 requests exceeded" in message
        # the block is shared: the next job does not even ask
        second = job(CHECK, fake, cache, "45.0.0.8", quota_per_day=5, time_budget=5)
        assert "quota exhausted" in second.output["errorMessage"]
        assert fake.count() == 1  # type: ignore[attr-defined]


def test_remaining_zero_stops_the_next_job_before_a_429(cache: Path) -> None:
    with FakeAbuseIPDB(daily={"check": 1}) as fake:
        first = job(CHECK, fake, cache, "45.0.0.6", quota_per_day=5)
        assert first.output["success"] is True  # answered with X-RateLimit-Remaining: 0
        second = job(CHECK, fake, cache, "45.0.0.7", quota_per_day=5, time_budget=5)
        assert second.output["errorMessage"].startswith("AbuseIPDB: quota exhausted, resets at ")
        assert "00:00:00 UTC" in second.output["errorMessage"]
        assert fake.count() == 1 and fake.refused == 0  # type: ignore[attr-defined]


def test_client_side_daily_quota(abuse: FakeAbuseIPDB, cache: Path) -> None:
    for i in range(3):
        result = job(CHECK, abuse, cache, f"45.0.1.{i}", quota_per_day=2, time_budget=3)
    assert "1000" not in result.output["errorMessage"]
    assert "2 calls per 86400 s" in result.output["errorMessage"]
    assert abuse.count() == 2 and abuse.refused == 0


def test_blacklist_mode_answers_every_check_with_one_download(abuse: FakeAbuseIPDB, cache: Path) -> None:
    abuse.set_ip("45.0.2.1", 100)
    abuse.set_ip("45.0.2.2", 30)
    listed = job(CHECK, abuse, cache, "45.0.2.1", blacklist_mode=True)
    unlisted = job(CHECK, abuse, cache, "45.0.2.9", blacklist_mode=True)
    assert taxonomies(listed) == [("malicious", "AbuseIPDB", "Blacklist", 100)]
    assert taxonomies(unlisted) == [("info", "AbuseIPDB", "Blacklist", "not listed")]
    assert abuse.count() == 1 and abuse.count("/blacklist") == 1


def test_check_block_reports_the_worst_address(abuse: FakeAbuseIPDB, cache: Path) -> None:
    abuse.set_ip("45.0.3.7", 100)
    abuse.set_ip("45.0.3.9", 10)
    result = job(BLOCK, abuse, cache, "45.0.3.0/24", "other")
    assert taxonomies(result) == [("malicious", "AbuseIPDB", "MaxScore", 100),
                                  ("info", "AbuseIPDB", "ReportedIPs", 2)]
    assert {a["data"] for a in result.output["artifacts"]} == {"45.0.3.7", "45.0.3.9"}
    assert abuse.requests[-1].query["network"] == ["45.0.3.0/24"]


def test_check_block_wider_than_the_plan_is_refused_without_a_call(abuse: FakeAbuseIPDB, cache: Path) -> None:
    result = job(BLOCK, abuse, cache, "45.0.0.0/16", "other")
    assert result.output["success"] is False and "wider than /24" in result.output["errorMessage"]
    assert abuse.count() == 0


def test_plan_402_from_the_service_is_a_clear_failure(cache: Path) -> None:
    with FakeAbuseIPDB(max_prefix=25) as fake:
        result = job(BLOCK, fake, cache, "45.0.4.0/24", "other")
    assert result.output["success"] is False
    assert "exceeds the plan" in result.output["errorMessage"]


def test_wrong_key(abuse: FakeAbuseIPDB, cache: Path) -> None:
    result = job(CHECK, abuse, cache, "45.0.0.1", key="x" * 80)
    assert result.output["success"] is False
    assert "AbuseIPDB: the API key was refused (HTTP 401: Authentication failed" in result.output["errorMessage"]


def test_check_block_of_a_single_ip_checks_its_block(abuse: FakeAbuseIPDB, cache: Path) -> None:
    abuse.set_ip("45.0.5.20", 50)
    result = job(BLOCK, abuse, cache, "45.0.5.20", "ip")
    assert taxonomies(result)[0] == ("suspicious", "AbuseIPDB", "MaxScore", 50)
    assert abuse.requests[-1].query["network"] == ["45.0.5.0/24"]


def test_a_different_report_window_is_not_served_from_the_cache(abuse: FakeAbuseIPDB, cache: Path) -> None:
    abuse.set_ip("45.0.6.1", 60)
    job(CHECK, abuse, cache, "45.0.6.1", max_age_days=30)
    job(CHECK, abuse, cache, "45.0.6.1", max_age_days=90)
    job(CHECK, abuse, cache, "45.0.6.1", max_age_days=90)
    assert [r.query["maxAgeInDays"] for r in abuse.requests] == [["30"], ["90"]]
