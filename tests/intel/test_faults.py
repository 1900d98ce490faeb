"""Every fault of the fact sheet's list ends inside the job's time budget as a clean failure.

Each case runs the real analyzer process against a fake that misbehaves; the job must end with
``success:false`` and a one-line message saying what happened (or succeed when a retry can fix it),
never a traceback, never a hang, and never after its ``time_budget``.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from fakes.cti import FakeAbuseIPDB, FakeOTX, FakeService, FakeVirusTotal, fixture

from .conftest import Timer, job

BUDGET = 4.0
FAST = {"timeout": 1, "time_budget": BUDGET}
SLACK = 2.5  # process start-up and teardown on a busy 2-core CI machine

VT_FAULTS: list[tuple[str, dict[str, Any], str]] = [
    ("hang", {"kind": "hang", "times": None}, "no answer"),
    ("stall_body", {"kind": "stall_body", "times": None}, "no answer"),
    ("reset", {"kind": "reset", "times": None}, "cannot talk to"),
    ("html_502", {"kind": "html", "times": None}, "HTTP 502: 502 Bad Gateway; 3 attempt(s)"),
    ("json_503", {"kind": "status", "times": None, "status": 503,
                  "body": fixture("virustotal", "error_transient.json")}, "HTTP 503: TransientError"),
    ("malformed", {"kind": "malformed"}, "malformed JSON"),
    ("empty", {"kind": "empty"}, "malformed JSON"),
    ("wrong_type", {"kind": "wrong_type"}, "text/html instead of JSON"),
    ("invalid_argument", {"kind": "status", "status": 400,
                          "body": fixture("virustotal", "error_invalid_argument.json")}, "rejected the request"),
    ("quota_no_headers", {"kind": "status", "times": None, "status": 429,
                          "body": fixture("virustotal", "error_quota_exceeded.json")},
     "00:00:00 UTC (QuotaExceededError: Quota exceeded)"),
    ("quota_retry_after_hours", {"kind": "status", "status": 429, "headers": {"Retry-After": "7200"},
                                 "body": fixture("virustotal", "error_too_many_requests.json")},
     "quota exhausted, resets at 20"),
]


@pytest.mark.parametrize(("fault", "expected"), [(f, e) for _, f, e in VT_FAULTS],
                         ids=[name for name, _, _ in VT_FAULTS])
def test_virustotal_fault_is_a_clean_failure_within_budget(vt: FakeVirusTotal, cache: Path,
                                                           fault: dict[str, Any], expected: str) -> None:
    vt.set_object("ip_addresses", "11.0.0.1", malicious=5)
    vt.inject(**fault)
    with Timer() as t:
        result = job("Socflow_VirusTotal_GetReport", vt, cache, "11.0.0.1", **FAST)
    assert result.output["success"] is False, result.output
    message = result.output["errorMessage"]
    assert expected in message and message.startswith("VirusTotal")
    assert "\n" not in message and "<html" not in message.lower()
    assert t.elapsed < BUDGET + SLACK


def test_one_5xx_is_retried_and_succeeds(vt: FakeVirusTotal, cache: Path) -> None:
    vt.set_object("ip_addresses", "11.0.0.1", malicious=5)
    vt.inject("html", status=503)
    result = job("Socflow_VirusTotal_GetReport", vt, cache, "11.0.0.1", **FAST)
    assert result.output["success"] is True
    assert vt.count() == 2


def test_short_retry_after_is_waited_for(vt: FakeVirusTotal, cache: Path) -> None:
    vt.set_object("ip_addresses", "11.0.0.1", malicious=5)
    vt.inject("status", status=429, headers={"Retry-After": "1"},
              body=fixture("virustotal", "error_quota_exceeded.json"))
    with Timer() as t:
        result = job("Socflow_VirusTotal_GetReport", vt, cache, "11.0.0.1", **FAST)
    assert result.output["success"] is True
    assert vt.count() == 2 and t.elapsed >= 1.0


def test_server_block_is_shared_with_the_next_job(vt: FakeVirusTotal, cache: Path) -> None:
    """A 429 saying "come back in two hours" stops the next job before it calls."""
    vt.inject("status", status=429, headers={"Retry-After": "7200"},
              body=fixture("virustotal", "error_quota_exceeded.json"))
    first = job("Socflow_VirusTotal_GetReport", vt, cache, "11.0.0.1", **FAST)
    second = job("Socflow_VirusTotal_GetReport", vt, cache, "11.0.0.9", **FAST)
    assert "quota exhausted, resets at" in first.output["errorMessage"]
    assert "quota exhausted, resets at" in second.output["errorMessage"]
    assert vt.count() == 1


def test_wrong_key_is_an_authentication_failure(vt: FakeVirusTotal, cache: Path) -> None:
    result = job("Socflow_VirusTotal_GetReport", vt, cache, "11.0.0.1", key="0" * 64, **FAST)
    assert result.output["success"] is False
    assert "API key was refused (HTTP 401: WrongCredentialsError" in result.output["errorMessage"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_connection_refused(vt: FakeVirusTotal, cache: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/api/v3"
    with Timer() as t:
        result = job("Socflow_VirusTotal_GetReport", vt, cache, "11.0.0.1", api_url=url, **FAST)
    assert result.output["success"] is False
    assert "connection refused" in result.output["errorMessage"]
    assert t.elapsed < BUDGET + SLACK


OTHER_FAULTS: list[tuple[str, dict[str, Any], str]] = [
    ("hang", {"kind": "hang", "times": None}, "no answer"),
    ("html_502", {"kind": "html", "times": None}, "HTTP 502: 502 Bad Gateway"),
    ("json_504", {"kind": "status", "times": None, "status": 504, "body": {"detail": "Gateway Timeout"}},
     "HTTP 504"),
    ("malformed", {"kind": "malformed"}, "malformed JSON"),
    ("wrong_type", {"kind": "wrong_type"}, "instead of JSON"),
]


def _abuse() -> FakeService:
    fake = FakeAbuseIPDB()
    fake.set_ip("45.0.0.1", 90)
    return fake


def _otx() -> FakeService:
    fake = FakeOTX()
    fake.set("45.0.0.1", 3)
    return fake


@pytest.mark.parametrize(("fault", "expected"), [(f, e) for _, f, e in OTHER_FAULTS],
                         ids=[name for name, _, _ in OTHER_FAULTS])
@pytest.mark.parametrize(("make", "flavor", "title"), [
    (_abuse, "Socflow_AbuseIPDB_Check", "AbuseIPDB"), (_otx, "Socflow_OTX_Query", "OTX")],
    ids=["abuseipdb", "otx"])
def test_abuseipdb_and_otx_faults(cache: Path, make: Any, flavor: str, title: str,
                                  fault: dict[str, Any], expected: str) -> None:
    with make() as fake:
        fake.inject(**fault)
        with Timer() as t:
            result = job(flavor, fake, cache, "45.0.0.1", **FAST)
    assert result.output["success"] is False, result.output
    assert result.output["errorMessage"].startswith(title) and expected in result.output["errorMessage"]
    assert t.elapsed < BUDGET + SLACK


def test_slow_answer_inside_the_timeout_succeeds(vt: FakeVirusTotal, cache: Path) -> None:
    vt.set_object("ip_addresses", "11.0.0.1", malicious=5)
    vt.inject("slow", delay=0.5)
    result = job("Socflow_VirusTotal_GetReport", vt, cache, "11.0.0.1", timeout=2, time_budget=6)
    assert result.output["success"] is True and vt.count() == 1
