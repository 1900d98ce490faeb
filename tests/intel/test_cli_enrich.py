"""``socflow enrich`` as a user runs it (a process), against the three fakes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.cti import FakeAbuseIPDB, FakeOTX, FakeVirusTotal

SOCFLOW = str(Path(sys.executable).parent / "socflow")
LOG = """\
Nov 22 10:00:01 web sshd[101]: Failed password for root from 45.0.0.1 port 51022 ssh2
Nov 22 10:00:02 web sshd[101]: Failed password for root from 45.0.0.1 port 51023 ssh2
Nov 22 10:00:03 web sshd[101]: Failed password for admin from 45.0.0.2 port 51024 ssh2
Nov 22 10:00:04 web sshd[101]: Accepted password for bob from 10.0.0.5 port 51025 ssh2
Nov 22 10:00:05 web sshd[101]: Failed password for root from 45.0.0.1 port 51026 ssh2
"""


@pytest.fixture
def fakes() -> Iterator[tuple[FakeVirusTotal, FakeAbuseIPDB, FakeOTX]]:
    with FakeVirusTotal() as vt, FakeAbuseIPDB() as abuse, FakeOTX() as otx:
        vt.set_object("ip_addresses", "45.0.0.1", malicious=5)  # type: ignore[attr-defined]
        abuse.set_ip("45.0.0.1", 90)  # type: ignore[attr-defined]
        otx.set("45.0.0.1", 2)  # type: ignore[attr-defined]
        yield vt, abuse, otx  # type: ignore[misc]


def socflow(fakes: tuple, state: Path, *args: str, keys: bool = True) -> subprocess.CompletedProcess[str]:
    vt, abuse, otx = fakes
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCFLOW_")}
    if keys:
        env.update(SOCFLOW_VT_KEY=vt.key, SOCFLOW_ABUSEIPDB_KEY=abuse.key, SOCFLOW_OTX_KEY=otx.key)
    urls = ["--vt-url", vt.url, "--abuseipdb-url", abuse.url, "--otx-url", otx.url, "--state-dir", str(state),
            "--allow-private-targets"]
    return subprocess.run([SOCFLOW, "enrich", *args, *urls], env=env, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL, check=False)


def test_values_json_then_all_from_cache(fakes: tuple, tmp_path: Path) -> None:
    vt, abuse, otx = fakes
    first = socflow(fakes, tmp_path, "45.0.0.1", "10.0.0.1", "--json")
    assert first.returncode == 0, first.stderr
    data = json.loads(first.stdout)
    levels = {v["service"]: v["level"] for v in data["results"][0]["verdicts"]}
    assert levels == {"VirusTotal": "malicious", "AbuseIPDB": "malicious", "OTX": "suspicious"}
    assert {v["summary"] for v in data["results"][1]["verdicts"]} == {"private address, not looked up"}
    assert data["usage"]["virustotal"]["calls"] == 1
    calls = vt.count() + abuse.count() + otx.count()
    again = json.loads(socflow(fakes, tmp_path, "45.0.0.1", "--json").stdout)
    assert all(v["from_cache"] for v in again["results"][0]["verdicts"])
    assert vt.count() + abuse.count() + otx.count() == calls == 3
    assert vt.key not in first.stdout + first.stderr


def test_from_log_looks_up_each_unique_public_indicator_once(fakes: tuple, tmp_path: Path) -> None:
    vt, abuse, otx = fakes
    log = tmp_path / "auth.log"
    log.write_text(LOG)
    result = socflow(fakes, tmp_path, "--from-log", str(log), "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["results"]
    assert [(r["indicator"], r["count"]) for r in rows] == [("45.0.0.1", 3), ("45.0.0.2", 1)]
    assert vt.count() == abuse.count() == otx.count() == 2  # 2 unique public IPs, 10.0.0.5 skipped


def test_table_and_quota_summary(fakes: tuple, tmp_path: Path) -> None:
    result = socflow(fakes, tmp_path, "45.0.0.1", "--provider", "virustotal")
    assert result.returncode == 0, result.stderr
    assert "malicious 5/75 engines flag it as malicious" in result.stdout
    assert "Calls and quota" in result.stdout and "3/4 per minute" in result.stdout
    assert "AbuseIPDB" not in result.stdout


def test_failed_lookup_is_shown_and_exits_1(fakes: tuple, tmp_path: Path) -> None:
    vt = fakes[0]
    vt.inject("html", times=None, status=503)
    result = socflow(fakes, tmp_path, "45.0.0.1", "--provider", "virustotal", "--json", "--budget", "5")
    assert result.returncode == 1
    errors = json.loads(result.stdout)["results"][0]["errors"]
    assert errors[0]["service"] == "VirusTotal" and "HTTP 503" in errors[0]["error"]
    assert "1 lookup(s) failed" in result.stderr and "Traceback" not in result.stderr


def test_no_key_is_one_line_and_exit_1(fakes: tuple, tmp_path: Path) -> None:
    result = socflow(fakes, tmp_path, "45.0.0.1", keys=False)
    assert result.returncode == 1
    assert result.stderr.strip().startswith("socflow: error: no provider has an API key")
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_value_is_a_usage_error(fakes: tuple, tmp_path: Path) -> None:
    result = socflow(fakes, tmp_path, "999.1.1.1")
    assert result.returncode == 2 and "not an IP address" in result.stderr


LISTED_LOG = LOG + (
    "Nov 22 10:00:06 web named[7]: client 45.0.0.1#5353: query: update.microsoft.com IN A\n"
    "Nov 22 10:00:07 web sshd[101]: Failed password for root from 8.8.8.8 port 51027 ssh2\n"
)


def test_from_log_skips_warninglisted_indicators_by_default(fakes: tuple, tmp_path: Path) -> None:
    vt = fakes[0]
    log = tmp_path / "auth.log"
    log.write_text(LISTED_LOG)
    result = socflow(fakes, tmp_path, "--from-log", str(log), "--provider", "virustotal", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert [r["indicator"] for r in doc["results"]] == ["45.0.0.1", "45.0.0.2"]
    skipped = {s["indicator"]: s["warninglists"] for s in doc["skipped_warninglisted"]}
    assert skipped == {"8.8.8.8": ["public-dns-v4"], "update.microsoft.com": ["cisco_top10k", "tranco10k"]}
    assert vt.count() == 2  # no quota spent on a public resolver or a top domain
    table = socflow(fakes, tmp_path / "t", "--from-log", str(log), "--provider", "virustotal")
    assert "2 indicator(s) on MISP warning lists not looked up" in table.stdout


def test_from_log_warninglist_options(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_text(LISTED_LOG)
    fast = ("--provider", "virustotal", "--json", "--vt-per-minute", "1000")
    with FakeVirusTotal(per_minute=1000) as vt, FakeAbuseIPDB() as abuse, FakeOTX() as otx:
        fakes = (vt, abuse, otx)
        every = socflow(fakes, tmp_path / "a", "--from-log", str(log), *fast, "--include-warninglisted")
        rows = json.loads(every.stdout)["results"]
        assert {r["indicator"] for r in rows} == {"45.0.0.1", "45.0.0.2", "8.8.8.8", "update.microsoft.com"}
        assert next(r for r in rows if r["indicator"] == "8.8.8.8")["warninglists"] == ["public-dns-v4"]
        assert vt.count() == 4
        one_off = socflow(fakes, tmp_path / "b", "--from-log", str(log), *fast, "--no-warninglist", "public-dns-v4")
        assert "8.8.8.8" in {r["indicator"] for r in json.loads(one_off.stdout)["results"]}
        off = socflow(fakes, tmp_path / "c", "--from-log", str(log), *fast, "--no-warninglists")
        assert json.loads(off.stdout)["skipped_warninglisted"] == []
        bad = socflow(fakes, tmp_path / "d", "--from-log", str(log), "--warninglist", "top-sites")
        assert bad.returncode == 2 and "unknown warning list 'top-sites'" in bad.stderr
