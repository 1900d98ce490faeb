"""Socflow_VirusTotal_Scan: submit, poll with a bound, verdict from the finished analysis."""

from __future__ import annotations

import hashlib
from pathlib import Path

from fakes.cti import FakeVirusTotal

from .conftest import Timer, job, taxonomies

SCAN = "Socflow_VirusTotal_Scan"
FAST = {"poll_interval": 0.2, "quota_per_minute": 100, "tlp": 1, "pap": 1}


def test_url_scan_polls_until_completed(vt: FakeVirusTotal, cache: Path) -> None:
    url = "http://login.example.net/secure/update.php"
    vt.set_object("urls", "x", malicious=4, url=url)
    result = job(SCAN, vt, cache, url, "url", **FAST)
    assert taxonomies(result) == [("malicious", "VT", "Scan", "4/74")]
    methods = [(r.method, r.path.split("/")[3]) for r in vt.requests]
    assert methods == [("POST", "urls"), ("GET", "analyses"), ("GET", "analyses")]
    assert vt.requests[0].body == b"url=http%3A%2F%2Flogin.example.net%2Fsecure%2Fupdate.php"


def test_file_scan_uploads_multipart_and_reports_the_sha256(vt: FakeVirusTotal, cache: Path,
                                                          tmp_path: Path) -> None:
    sample = tmp_path / "invoice.exe"
    sample.write_bytes(b"MZ fake sample for the scan test")
    result = job(SCAN, vt, cache, None, "file", file=sample, **FAST)
    assert taxonomies(result) == [("safe", "VT", "Scan", "0/70")]
    assert result.output["full"]["indicator"] == hashlib.sha256(sample.read_bytes()).hexdigest()
    upload = vt.requests[0]
    assert upload.method == "POST" and upload.path == "/api/v3/files"
    assert upload.header("content-type").startswith("multipart/form-data")


def test_large_file_goes_through_the_upload_url(vt: FakeVirusTotal, cache: Path, tmp_path: Path) -> None:
    sample = tmp_path / "big.iso"
    with sample.open("wb") as fh:
        fh.truncate(33 * 1024 * 1024)
    result = job(SCAN, vt, cache, None, "file", file=sample, **FAST)
    assert result.output["success"] is True, result.output
    paths = [r.path for r in vt.requests]
    assert paths[0] == "/api/v3/files/upload_url" and paths[1].startswith("/upload/")


def test_stuck_analysis_ends_as_a_clear_failure_within_max_wait(cache: Path) -> None:
    with FakeVirusTotal(polls_to_complete=10**6, per_minute=1000) as vt, Timer() as t:
        result = job(SCAN, vt, cache, "http://slow.example.org/", "url", max_wait=1.5, **FAST)
    assert result.output["success"] is False
    assert "still in-progress after" in result.output["errorMessage"]
    assert "run GetReport later" in result.output["errorMessage"]
    assert t.elapsed < 1.5 + 3


def test_default_tlp_limit_of_scans_is_stricter(vt: FakeVirusTotal, cache: Path) -> None:
    result = job(SCAN, vt, cache, "http://x.example.org/", "url", **{**FAST, "tlp": 2})
    assert result.output["success"] is False and "TLP 2 is above max_tlp 1" in result.output["errorMessage"]
    assert vt.count() == 0


def test_429_while_polling_is_waited_out(vt: FakeVirusTotal, cache: Path) -> None:
    vt.inject("status", path="/analyses/", status=429, headers={"Retry-After": "1"},
              body={"error": {"code": "QuotaExceededError", "message": "Quota exceeded"}})
    result = job(SCAN, vt, cache, "http://poll.example.org/", "url", **FAST)
    assert result.output["success"] is True
    assert [r.path.split("/")[3] for r in vt.requests] == ["urls", "analyses", "analyses", "analyses"]


def test_upload_refused_with_429_is_sent_again_whole(vt: FakeVirusTotal, cache: Path, tmp_path: Path) -> None:
    sample = tmp_path / "again.bin"
    sample.write_bytes(b"resend me entirely")
    vt.inject("status", path="^/api/v3/files$", status=429, headers={"Retry-After": "1"},
              body={"error": {"code": "QuotaExceededError", "message": "Quota exceeded"}})
    result = job(SCAN, vt, cache, None, "file", file=sample, **FAST)
    assert result.output["success"] is True, result.output
    uploads = [r for r in vt.requests if r.path == "/api/v3/files"]
    assert len(uploads) == 2 and all(b"resend me entirely" in r.body for r in uploads)
