"""What the full reports hold beyond the verdict (issue 12 §2 and §5): each fact the provider's one
answer carries, shaped for the templates, and the defects the browser test found fixed."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fakes.cti import FakeAbuseIPDB, FakeOTX, FakeVirusTotal, fixture

from socflow.enrich import abuseipdb, otx, virustotal
from socflow.enrich.base import envelope
from socflow.models import IocType

from .conftest import job

GET, SCAN = "Socflow_VirusTotal_GetReport", "Socflow_VirusTotal_Scan"


def test_virustotal_file_report_shows_sandboxes_yara_ids_in_one_call(vt: FakeVirusTotal, cache: Path) -> None:
    sha = "b" * 64
    vt.set_object("files", sha, malicious=40, size=2048,
                  sandbox_verdicts={"Zenbox": {"category": "malicious", "confidence": 80, "sandbox_name": "Zenbox",
                                               "malware_classification": ["TROJAN"], "malware_names": ["AgentTesla"]},
                                    "VMRay": {"category": "harmless", "sandbox_name": "VMRay"}},
                  crowdsourced_yara_results=[{"rule_name": "r1", "ruleset_name": "rs", "source": "s", "author": "a",
                                              "description": "d"}],
                  crowdsourced_ids_results=[{"rule_msg": "low one", "alert_severity": "low"},
                                            {"rule_msg": "ET MALWARE x", "alert_severity": "high", "rule_id": "1:2"}],
                  crowdsourced_ids_stats={"high": 1, "low": 1})
    details = job(GET, vt, cache, sha, "hash").output["full"]["details"]
    assert vt.count() == 1  # all of it came with the object itself
    assert [(s["sandbox"], s["category"], s["names"]) for s in details["sandbox_verdicts"]] == [
        ("Zenbox", "malicious", ["AgentTesla"]), ("VMRay", "harmless", [])]
    assert details["yara"] == [{"rule": "r1", "ruleset": "rs", "author": "a", "source": "s", "description": "d"}]
    assert [a["severity"] for a in details["ids"]] == ["high", "low"]  # worst first
    assert details["ids_stats"] == {"high": 1, "low": 1}
    assert {"label": "Size", "value": 2048, "kind": "size"} in details["facts"]
    assert all("_" not in f["label"] for f in details["facts"])  # human labels, not raw keys


def test_virustotal_domain_popularity_dns_and_resolutions(vt: FakeVirusTotal, cache: Path) -> None:
    vt.set_object("domains", "malicious.example.com", malicious=9,
                  popularity_ranks={"Majestic": {"rank": 900}, "Cisco Umbrella": {"rank": 12}, "bad": "x"})
    details = job(GET, vt, cache, "malicious.example.com", "domain", relationships=True).output["full"]["details"]
    assert details["popularity"] == [{"ranker": "Cisco Umbrella", "rank": 12}, {"ranker": "Majestic", "rank": 900}]
    assert {"type": "A", "value": "203.0.113.45", "ttl": 300} in details["dns_records"]
    # A domain's resolutions are the addresses it resolves to, never the domain itself again.
    resolutions = [r for r in details["related"] if r["relationship"] == "resolutions"]
    assert resolutions == [{"relationship": "resolutions", "type": "ip", "value": "203.0.113.45"}]
    assert {"label": "Registrar", "value": "Example Registrar, Inc.", "kind": "text"} in details["facts"]


def test_virustotal_ip_resolutions_are_host_names() -> None:
    body = fixture("virustotal", "ip_address.json")
    raw = envelope("VirusTotal", IocType.IPV4, "203.0.113.45", body,
                   relationships={"resolutions": fixture("virustotal", "relationship_resolutions.json"),
                                  "contacted_urls": {"error": "premium API only"}})
    details = virustotal.details(raw)
    assert [r["value"] for r in details["related"]] == ["malicious.example.com"]
    assert details["relationship_errors"] == {"contacted_urls": "premium API only"}
    assert {"label": "AS owner", "value": body["data"]["attributes"]["as_owner"], "kind": "text"} in details["facts"]


def test_virustotal_scan_links_to_the_url_and_the_file_not_the_analysis(cache: Path, tmp_path: Path) -> None:
    with FakeVirusTotal(per_minute=100) as vt:
        scan_links(vt, cache, tmp_path)


def scan_links(vt: FakeVirusTotal, cache: Path, tmp_path: Path) -> None:
    url = "http://login.example.net/secure/update.php"
    vt.set_object("urls", "ignored", malicious=5, url=url)
    full = job(SCAN, vt, cache, url, "url", tlp=1, pap=1, poll_interval=0.05,
               quota_per_minute=100).output["full"]
    sha_of_url = hashlib.sha256(url.encode()).hexdigest()
    assert full["details"]["link"] == f"https://www.virustotal.com/gui/url/{sha_of_url}"
    sample = tmp_path / "setup.msi"
    sample.write_bytes(b"MZ installer")  # no trailing newline: the fake strips the part's CRLF
    full = job(SCAN, vt, cache, None, "file", file=sample, tlp=1, pap=1, poll_interval=0.05,
               quota_per_minute=100).output["full"]
    assert full["details"]["link"] == \
        f"https://www.virustotal.com/gui/file/{hashlib.sha256(sample.read_bytes()).hexdigest()}"


def test_otx_pulses_list_each_reference_once_and_dates_in_utc(otx: FakeOTX, cache: Path) -> None:
    otx.set("45.155.205.233", 2)
    pulse = otx.known["45.155.205.233"]["pulse_info"]["pulses"][0]
    pulse["references"] = ["https://blog.example.org/a", "https://blog.example.org/a", "", 7]
    pulse["tags"] = ["ssh", "ssh", "bruteforce"]
    details = job("Socflow_OTX_Query", otx, cache, "45.155.205.233").output["full"]["details"]
    first = details["pulses"][0]
    assert first["references"] == ["https://blog.example.org/a"]
    assert first["tags"] == ["ssh", "bruteforce"]
    assert first["modified"].endswith("+00:00")
    assert details["attack_ids"] == ["T1110 - Brute Force"]


def test_otx_general_answer_gives_geo_and_labelled_facts() -> None:
    raw = envelope("OTX", IocType.IPV4, "203.0.113.45", fixture("otx", "ipv4_general.json"))
    details = otx.details(raw)
    labels = {f["label"]: f["value"] for f in details["facts"]}
    assert labels["Country"] == "Netherlands" and labels["City"] == "Amsterdam"
    assert labels["AS"] == "AS64500 EXAMPLE-HOSTING-AS"
    assert details["geo"]["latitude"] == 52.3759 and "openstreetmap.org" in details["geo"]["map"]


def test_abuseipdb_counts_recent_reports_and_reporter_countries_over_every_report() -> None:
    now = time.time()

    def at(hours: float) -> str:
        return (datetime.fromtimestamp(now, tz=UTC) - timedelta(hours=hours)).isoformat()

    reports = [{"reportedAt": at(1), "reporterCountryCode": "DE", "reporterCountryName": "Germany"},
               {"reportedAt": at(30), "reporterCountryCode": "DE", "reporterCountryName": "Germany"},
               {"reportedAt": at(24 * 8), "reporterCountryCode": "US"},
               {"reportedAt": "garbage"}, "not a report"]
    stats = abuseipdb.report_stats(reports, now)
    assert (stats["last_24h"], stats["last_7d"]) == (1, 2)
    assert stats["countries"] == [{"code": "DE", "name": "Germany", "count": 2},
                                  {"code": "US", "name": "US", "count": 1}]


def test_abuseipdb_check_report_and_artifacts(abuse: FakeAbuseIPDB, cache: Path) -> None:
    abuse.set_ip("45.155.205.233", 100, reports=60)
    body = abuse.ips["45.155.205.233"]
    recent = datetime.now(tz=UTC).isoformat()
    body["reports"] = [dict(body["reports"][0], reportedAt=recent) for _ in range(60)]  # more than kept
    body["hostnames"] = ["vps-45.example-hosting.net", "<b>not a host</b>", "x" * 300]
    result = job("Socflow_AbuseIPDB_Check", abuse, cache, "45.155.205.233")
    details = result.output["full"]["details"]
    assert details["report_stats"]["last_24h"] == 60  # counted before the answer is cut to 50
    assert details["reports_kept"] == 50 and len(details["recent_reports"]) == 50
    assert details["report_stats"]["countries"][0]["code"] == "DE"
    artifacts = {(a["dataType"], a["data"], tuple(a["tags"])) for a in result.output["artifacts"]}
    assert artifacts == {("domain", "example-hosting.net", ("abuseipdb:isp-domain",)),
                         ("hostname", "vps-45.example-hosting.net", ("abuseipdb:hostname",))}
    # the quota line names only the bucket this flavor spends
    assert [q["bucket"] for q in result.output["full"]["usage"]["quota"]] == ["check"]


def test_check_block_quota_line_is_its_own_bucket(abuse: FakeAbuseIPDB, cache: Path) -> None:
    full = job("Socflow_AbuseIPDB_CheckBlock", abuse, cache, "45.155.205.0/24", "other").output["full"]
    assert [(q["bucket"], q["per"]) for q in full["usage"]["quota"]] == [("check-block", "day")]


def test_vt_quota_lines_say_minute_and_day(vt: FakeVirusTotal, cache: Path) -> None:
    vt.set_object("ip_addresses", "11.0.0.9")
    full = job(GET, vt, cache, "11.0.0.9").output["full"]
    assert [q["per"] for q in full["usage"]["quota"]] == ["minute", "day"]


def test_otx_sections_are_opt_in_one_call_each(otx: FakeOTX, cache: Path, tmp_path: Path) -> None:
    otx.set("malicious.example.com", 2)
    plain = job("Socflow_OTX_Query", otx, cache, "malicious.example.com", "domain").output["full"]["details"]
    assert otx.count() == 1 and not {"passive_dns", "url_list", "malware"} & set(plain)
    rich = job("Socflow_OTX_Query", otx, tmp_path / "other.sqlite", "malicious.example.com", "domain",
               sections=["passive_dns", "url_list", "malware"]).output["full"]["details"]
    assert otx.count() == 1 + 4  # general + three sections
    assert rich["passive_dns"]["rows"][0]["hostname"] == "malicious.example.com"
    assert rich["passive_dns"]["rows"][0]["last"].endswith("+00:00")
    assert rich["url_list"] == {"rows": [{"url": "http://203.0.113.45/bins/x86", "date": "2024-11-19T22:01:13+00:00",
                                          "httpcode": 200}], "total": 1}
    assert rich["malware"]["rows"][0]["detections"] == [
        "EICAR Test-NOT virus!!!", "Virus:DOS/EICAR_Test_File", "Win.Test.EICAR_HDB-1"]
    # a URL has only the url_list section: the others are not asked for
    otx.set("http://malicious.example.com/x", 1)
    job("Socflow_OTX_Query", otx, tmp_path / "third.sqlite", "http://malicious.example.com/x", "url",
        sections=["passive_dns", "url_list"])
    assert otx.count("/passive_dns") == 1 and otx.count("/url_list") == 2


def test_otx_sections_are_part_of_the_cache_key(otx: FakeOTX, cache: Path) -> None:
    otx.set("malicious.example.com", 2)
    job("Socflow_OTX_Query", otx, cache, "malicious.example.com", "domain")
    rich = job("Socflow_OTX_Query", otx, cache, "malicious.example.com", "domain", sections=["malware"])
    assert rich.output["full"]["from_cache"] is False and "malware" in rich.output["full"]["details"]


def test_otx_unknown_section_is_a_config_error(otx: FakeOTX, cache: Path) -> None:
    out = job("Socflow_OTX_Query", otx, cache, "malicious.example.com", "domain", sections=["whois"]).output
    assert out["success"] is False and "sections" in out["errorMessage"] and otx.count() == 0
