"""No API key in any output.json, stdout or stderr line, whatever the failure and item name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fakes.cti import FakeVirusTotal

from .conftest import job

KEY = "f00dfeed" * 8
ECHOING_FAULTS: list[dict[str, Any]] = [
    {"kind": "status", "status": 401, "body": {"error": {"code": "WrongCredentialsError",
                                                         "message": "key {key} is not valid"}}},
    {"kind": "html", "times": None, "status": 502,
     "body": "<html><head><title>Bad gateway for {key}</title></head><body>{key}</body></html>"},
    {"kind": "status", "status": 429, "headers": {"Retry-After": "9999"},
     "body": {"error": {"code": "QuotaExceededError", "message": "quota of {key} used up"}}},
    {"kind": "wrong_type"},
]


@pytest.mark.parametrize(("item", "fault"), [
    ("key", ECHOING_FAULTS[0]), ("api_key", ECHOING_FAULTS[1]), ("key", ECHOING_FAULTS[2]),
    ("api_key", ECHOING_FAULTS[3])], ids=["401-key", "502-html-api_key", "429-key", "wrong-type-api_key"])
def test_key_never_leaks(cache: Path, item: str, fault: dict[str, Any]) -> None:
    with FakeVirusTotal(key=KEY) as vt:
        vt.set_object("ip_addresses", "11.0.0.1", malicious=3)  # type: ignore[attr-defined]
        vt.inject(**fault)
        config = {"key": None, item: KEY, "timeout": 1, "time_budget": 4}
        result = job("Socflow_VirusTotal_GetReport", vt, cache, "11.0.0.1", **config)
        assert vt.requests and vt.requests[0].header("x-apikey") == KEY  # the key was really used
    everything = json.dumps(result.output) + result.stdout + result.stderr
    assert result.output["success"] is False
    assert KEY not in everything
    assert KEY[:16] not in everything


def test_key_not_in_a_successful_report(cache: Path) -> None:
    with FakeVirusTotal(key=KEY) as vt:
        vt.set_object("ip_addresses", "11.0.0.1", malicious=3)  # type: ignore[attr-defined]
        result = job("Socflow_VirusTotal_GetReport", vt, cache, "11.0.0.1", key=KEY)
    assert result.output["success"] is True
    assert KEY not in json.dumps(result.output) + result.stdout + result.stderr
    stored = b"".join(p.read_bytes() for p in Path(cache).parent.glob(Path(cache).name + "*"))
    assert stored and KEY.encode() not in stored  # nor in the shared cache file (and its WAL)


@pytest.mark.parametrize(("fake_cls", "flavor", "status", "body"), [
    ("FakeAbuseIPDB", "Socflow_AbuseIPDB_Check", 401,
     {"errors": [{"detail": "Authentication failed for key {key}", "status": 401}]}),
    ("FakeOTX", "Socflow_OTX_Query", 403, {"detail": "Invalid key {key}"}),
])
def test_other_providers_scrub_the_key_too(cache: Path, fake_cls: str, flavor: str, status: int,
                                           body: dict[str, Any]) -> None:
    from fakes import cti

    secret = "c0ffee42" * 10
    with getattr(cti, fake_cls)(key=secret) as fake:
        fake.inject("status", status=status, body=body)
        result = job(flavor, fake, cache, "45.0.0.1", api_key=secret, key=None)
        assert fake.sent_key(fake.requests[0]) == secret
    assert result.output["success"] is False and "REMOVED" in result.output["errorMessage"]
    assert secret not in json.dumps(result.output) + result.stdout + result.stderr
