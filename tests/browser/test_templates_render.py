"""Every report template rendered in a real browser, the way TheHive shows an analyzer report.

The data is real: each case runs a flavor as Cortex runs it (``support.cortexjob``) against the
loopback fakes of the services (``fakes.cti``) and takes its ``output.json``. One headless Chromium
(Debian's ``chromium``, driven by puppeteer-core from ``tests/browser/node_modules``, installed by
``make test``) loads AngularJS 1.7.8, jQuery 3, Bootstrap 3, ui-bootstrap 2.5, Font Awesome 4.7 and
angular-moment from npm, plus a stand-in for TheHive's ``report`` directive and filters
(``standin.js``), compiles the template with the output and reads the page at 1200 px.

Checks per case: no AngularJS or console error, no request leaves file://, no ``{{`` left, no
``undefined``/``NaN``, no element wider than its panel and no horizontal scrolling, the verdict
word in the first panel heading (failures: "failed", never malicious red), the observable named in
every top-level panel, hostile text shown as text (no element, no script, no evaluated expression).
Screenshots land in ``tests/browser/screenshots/`` (git-ignored); docs/img holds a chosen few.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fakes.cti import FakeAbuseIPDB, FakeOTX, FakeVirusTotal, fixture
from support.cortexjob import REPO, JobResult, assert_cortex_accepts, load_flavor, run_job

HERE = Path(__file__).resolve().parent
TEMPLATES = REPO / "thehive-templates"
SHOTS = HERE / "screenshots"
CHROMIUM = os.environ.get("SOCFLOW_CHROMIUM", "/usr/bin/chromium")

# Attacker-written text (log lines, pulse names, report comments, page titles): markup, a script,
# an AngularJS expression that would print 94011 if evaluated. No dot and no "http" in it, so
# TheHive's defanging filter leaves it intact and the checks can find it verbatim.
HOSTILE = ('<img id="HOSTILE_img" src=x onerror="window.HOSTILE_RAN=1"><script>window.HOSTILE_RAN=2'
           '</script>{{HOSTILE_RAN=31337*3}}</td></table></div><b id="HOSTILE_b">bold</b>')
HOSTILE_EXPRESSION = re.compile(r"\{\{[^{}]*HOSTILE[^{}]*\}\}")

WORDS = {"malicious": "Malicious", "suspicious": "Suspicious", "safe": "Safe", "info": "Info"}
PANEL_CLASS = {"malicious": "panel-danger", "suspicious": "panel-warning", "safe": "panel-success",
               "info": "panel-info"}


@dataclass
class Ctx:
    vt: FakeVirusTotal
    abuse: FakeAbuseIPDB
    otx: FakeOTX
    tmp: Path
    n: int = 0

    def cache(self, name: str | None = None) -> str:
        self.n += 1
        return str(self.tmp / f"{name or f'cache{self.n}'}.sqlite")


@dataclass
class Case:
    id: str
    flavor: str
    build: Callable[[Ctx], tuple[JobResult, dict[str, Any]]]
    hostile: bool = False
    data: dict[str, Any] = field(default_factory=dict)


def _intel(ctx: Ctx, flavor: str, fake: Any, value: str | None, data_type: str, *,
           cache: str | None = None, file: Path | None = None, tlp: int = 2, pap: int = 2,
           **config: Any) -> tuple[JobResult, dict[str, Any]]:
    cfg = {"key": fake.key, "api_url": fake.url, "cache_path": cache or ctx.cache(), "timeout": 2,
           "time_budget": 6, "allow_private_targets": True, **config}  # the fakes are on loopback
    result = run_job(flavor, data=value, data_type=data_type, file=file, config=cfg, tlp=tlp, pap=pap,
                     timeout=60)
    artifact: dict[str, Any] = {"dataType": data_type, "tlp": tlp}
    if file is not None:
        artifact["attachment"] = {"name": file.name, "size": file.stat().st_size}
    else:
        artifact["data"] = value
    return result, artifact


VT, VTSCAN = "Socflow_VirusTotal_GetReport", "Socflow_VirusTotal_Scan"
ABUSE, BLOCK, OTX, LOGIOC = ("Socflow_AbuseIPDB_Check", "Socflow_AbuseIPDB_CheckBlock",
                             "Socflow_OTX_Query", "Socflow_LogIOC")
SHA = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"


# -- VirusTotal -------------------------------------------------------------------------------
def vt_ip_malicious(ctx: Ctx) -> tuple[JobResult, dict[str, Any]]:
    ctx.vt.set_object("ip_addresses", "45.155.205.233", malicious=12, suspicious=2,
                      tags=["scanner", "bruteforce"])
    return _intel(ctx, VT, ctx.vt, "45.155.205.233", "ip", relationships=True)


def vt_domain_clean(ctx: Ctx) -> tuple[JobResult, dict[str, Any]]:
    ctx.vt.set_object("domains", "malicious.example.com", malicious=0, suspicious=0,
                      popularity_ranks={"Cisco Umbrella": {"rank": 80311, "timestamp": 1732000000},
                                        "Majestic": {"rank": 120455, "timestamp": 1732000000}})
    return _intel(ctx, VT, ctx.vt, "malicious.example.com", "domain", relationships=True)


def vt_file_malicious(ctx: Ctx) -> tuple[JobResult, dict[str, Any]]:
    sample = ctx.tmp / "invoice-2024-11.pdf.exe"
    sample.write_bytes(b"MZ not really a sample, just bytes for the hash\n" * 40)
    sha256 = hashlib.sha256(sample.read_bytes()).hexdigest()
    ctx.vt.set_object("files", sha256, malicious=48, suspicious=1, sha256=sha256, size=sample.stat().st_size,
                      sandbox_verdicts={
                          "Zenbox": {"category": "malicious", "confidence": 80, "sandbox_name": "Zenbox",
                                     "malware_classification": ["MALWARE", "TROJAN"],
                                     "malware_names": ["AgentTesla"]},
                          "VMRay": {"category": "harmless", "sandbox_name": "VMRay",
                                    "malware_classification": ["CLEAN"]}},
                      crowdsourced_yara_results=[
                          {"rule_name": "Agenttesla_strings", "ruleset_name": "agenttesla",
                           "ruleset_id": "000a1b2c3d", "source": "https://github.com/example/yara-rules",
                           "author": "Example Researcher", "description": "AgentTesla stealer strings"}],
                      crowdsourced_ids_results=[
                          {"rule_msg": "ET MALWARE AgentTesla Exfil Via SMTP", "alert_severity": "high",
                           "rule_category": "A Network Trojan was detected", "rule_source": "Proofpoint ET Open",
                           "rule_id": "1:2030171"}],
                      crowdsourced_ids_stats={"high": 1, "medium": 0, "low": 0, "info": 0})
    return _intel(ctx, VT, ctx.vt, None, "file", file=sample)


def vt_url_hostile(ctx: Ctx) -> tuple[JobResult, dict[str, Any]]:
    url = "http://login.example.net/secure/update.php?next=" + "a" * 1500
    ctx.vt.set_object("urls", "ignored", malicious=4, url=url, title=HOSTILE, last_final_url=url,
                      tags=[HOSTILE], as_owner=HOSTILE)
    return _intel(ctx, VT, ctx.vt, url, "url")


def vt_hash_unknown(ctx: Ctx) -> tuple[JobResult, dict[str, Any]]:
    return _intel(ctx, VT, ctx.vt, "0" * 64, "hash")


def vt_ip_private(ctx: Ctx) -> tuple[JobResult, dict[str, Any]]:
    return _intel(ctx, VT, ctx.vt, "10.20.30.40", "ip")


def vt_cached(ctx: Ctx) -> tuple[JobResult, dict[str, Any]]:
    ctx.vt.set_object("ip_addresses", "45.155.205.99", malicious=1, suspicious=0)
    cache = ctx.cache("vt-cached")
    _intel(ctx, VT, ctx.vt, "45.155.205.99", "ip", cache=cache)
    return _intel(ctx, VT, ctx.vt, "45.155.205.99", "ip", cache=cache)


def vt_fail_auth(ctx: Ctx) -> tuple[JobResult, dict[str, Any]]:
    return _intel(ctx, VT, ctx.vt, "45.155.205.233", "ip", key="w" * 64)


def vt_fail_quota(ctx: Ctx) -> tuple[JobResult, dict[str, Any]]:
    fake = FakeVirusTotal(per_day=0).start()
    try:
        return _intel(ctx, VT, fake, "45.155.205.233", "ip")
    finally:
        fake.stop()


def vt_fail_malformed(ctx: Ctx) -> tuple[JobResult, dict[str, Any]]:
    ctx.vt.inject("malformed", path="/ip_addresses/45.155.205.77")
    return _intel(ctx, VT, ctx.vt, "45.155.205.77", "ip")


def vt_fail_config(ctx: Ctx) -> tuple[JobResult, dict[str, Any]]:
    return _intel(ctx, VT, ctx.vt, "45.155.205.233", "ip", key=None)


def vt_fail_policy(ctx: Ctx) -> tuple[JobResult, dict[str, Any]]:
    return _intel(ctx, VT, ctx.vt, "45.155.205.233", "ip", tlp=3)


def vtscan_url(ctx: Ctx) -> tuple[JobResult, dict[str, Any]]:
    url = "http://login.example.net/secure/update.php"
    ctx.vt.set_object("urls", "ignored", malicious=5, url=url)
    return _intel(ctx, VTSCAN, ctx.vt, url, "url", poll_interval=0.05, tlp=1, pap=1)


def vtscan_file(ctx: Ctx) -> tuple[JobResult, dict[str, Any]]:
    sample = ctx.tmp / "setup.msi"
    sample.write_bytes(b"a harmless installer stand-in\n" * 30)
    return _intel(ctx, VTSCAN, ctx.vt, None, "file", file=sample, poll_interval=0.05, tlp=1, pap=1)


def vtscan_fail_tlp(ctx: Ctx) -> tuple[JobResult, dict[str, Any]]:
    return _intel(ctx, VTSCAN, ctx.vt, "http://login.example.net/", "url", tlp=2, pap=1)


# -- AbuseIPDB --------------------------------------------------------------------------------
def abuse_malicious(ctx: Ctx) -> tuple[JobResult, dict[str, Any]]:
    ctx.abuse.set_ip("185.220.101.45", 100, reports=40, categories=(18, 22, 14))
    body = ctx.abuse.ips["185.220.101.45"]
    body["reports"] = reports = [dict(body["reports"][i % 5]) for i in range(12)]
    countries = [("DE", "Germany"), ("US", "United States of America"), ("NL", "Netherlands")]
    for i, r in enumerate(reports):
        r["reporterCountryCode"], r["reporterCountryName"] = countries[i % 3]
    return _intel(ctx, ABUSE, ctx.abuse, "185.220.101.45", "ip")


def abuse_hostile(ctx: Ctx) -> tuple[JobResult, dict[str, Any]]:
    ctx.abuse.set_ip("185.220.101.66", 55, reports=3)
    for r in ctx.abuse.ips["185.220.101.66"]["reports"]:
        r["comment"] = HOSTILE + " " + "x" * 900
    ctx.abuse.ips["185.220.101.66"]["hostnames"] = [HOSTILE]
    return _intel(ctx, ABUSE, ctx.abuse, "185.220.101.66", "ip")


def abuse_clean(ctx: Ctx) -> tuple[JobResult, dict[str, Any]]:
    return _intel(ctx, ABUSE, ctx.abuse, "93.184.215.14", "ip")


def abuse_private(ctx: Ctx) -> tuple[JobResult, dict[str, Any]]:
    return _intel(ctx, ABUSE, ctx.abuse, "192.168.1.20", "ip")


def abuse_fail_quota(ctx: Ctx) -> tuple[JobResult, dict[str, Any]]:
    fake = FakeAbuseIPDB(daily={"check": 0}).start()
    try:
        return _intel(ctx, ABUSE, fake, "185.220.101.45", "ip")
    finally:
        fake.stop()


def block_reported(ctx: Ctx) -> tuple[JobResult, dict[str, Any]]:
    ctx.abuse.set_ip("185.220.101.45", 100, reports=40)
    ctx.abuse.set_ip("185.220.101.46", 35, reports=2)
    return _intel(ctx, BLOCK, ctx.abuse, "185.220.101.0/24", "other")


def block_fail_wide(ctx: Ctx) -> tuple[JobResult, dict[str, Any]]:
    return _intel(ctx, BLOCK, ctx.abuse, "185.220.0.0/16", "other")


# -- OTX --------------------------------------------------------------------------------------
def otx_malicious(ctx: Ctx) -> tuple[JobResult, dict[str, Any]]:
    ctx.otx.set("45.155.205.233", 8)
    body = ctx.otx.known["45.155.205.233"]
    body["pulse_info"]["pulses"][0]["references"] = ["https://blog.example.org/a", "https://blog.example.org/a"]
    body["pulse_info"]["pulses"][1]["tags"] = ["ssh", "ssh"]
    return _intel(ctx, OTX, ctx.otx, "45.155.205.233", "ip")


def otx_sections(ctx: Ctx) -> tuple[JobResult, dict[str, Any]]:
    """The opt-in sections: passive DNS (30 rows, capped), URL list and malware samples."""
    ctx.otx.set("malicious.example.com", 4)
    dns = fixture("otx", "ipv4_passive_dns.json")
    row = dns["passive_dns"][0]
    dns["passive_dns"] = [dict(row, address=f"45.155.205.{i}") for i in range(30)]
    dns["count"] = 30
    ctx.otx.sections[("malicious.example.com", "passive_dns")] = dns
    urls = fixture("otx", "ipv4_url_list.json")
    urls["url_list"][0]["url"] = "http://malicious.example.com/dl?" + "q" * 1500
    ctx.otx.sections[("malicious.example.com", "url_list")] = urls
    return _intel(ctx, OTX, ctx.otx, "malicious.example.com", "domain",
                  sections=["passive_dns", "url_list", "malware"])


def otx_hostile(ctx: Ctx) -> tuple[JobResult, dict[str, Any]]:
    ctx.otx.set("45.155.205.66", 2, tags=(HOSTILE,))
    body = ctx.otx.known["45.155.205.66"]
    body["pulse_info"]["pulses"][0].update(name=HOSTILE, references=["javascript:alert(1)", HOSTILE])
    return _intel(ctx, OTX, ctx.otx, "45.155.205.66", "ip")


def otx_whitelisted(ctx: Ctx) -> tuple[JobResult, dict[str, Any]]:
    ctx.otx.set("8.8.8.8", 0, whitelisted=True)
    return _intel(ctx, OTX, ctx.otx, "8.8.8.8", "ip")


def otx_unknown(ctx: Ctx) -> tuple[JobResult, dict[str, Any]]:
    return _intel(ctx, OTX, ctx.otx, "never-seen.example.org", "domain")


def otx_private(ctx: Ctx) -> tuple[JobResult, dict[str, Any]]:
    return _intel(ctx, OTX, ctx.otx, "172.16.5.4", "ip")


def otx_fail_auth(ctx: Ctx) -> tuple[JobResult, dict[str, Any]]:
    return _intel(ctx, OTX, ctx.otx, "45.155.205.233", "ip", key="z" * 64)


# -- LogIOC -----------------------------------------------------------------------------------
EXAMPLES = REPO / "examples" / "logs"


def _logioc(ctx: Ctx, *, file: Path | None = None, text: str | None = None,
            **config: Any) -> tuple[JobResult, dict[str, Any]]:
    if file is not None:
        result = run_job(LOGIOC, data_type="file", file=file, config=config, timeout=120)
        return result, {"dataType": "file", "attachment": {"name": file.name, "size": file.stat().st_size}}
    result = run_job(LOGIOC, data_type="other", data=text, config=config, timeout=120)
    return result, {"dataType": "other", "data": text}


def logioc_auth(ctx: Ctx) -> tuple[JobResult, dict[str, Any]]:
    return _logioc(ctx, file=EXAMPLES / "auth.log")


def logioc_access(ctx: Ctx) -> tuple[JobResult, dict[str, Any]]:
    return _logioc(ctx, file=EXAMPLES / "access.log")


def logioc_large(ctx: Ctx) -> tuple[JobResult, dict[str, Any]]:
    """600 public clients, private ones, a 1,500-character URL, gzip-compressed."""
    lines = []
    for i in range(600):
        ip = f"45.{150 + i // 250}.{(i // 10) % 25}.{i % 250 + 1}"
        lines.append(f'{ip} - - [10/Oct/2026:13:{i // 60 % 60:02d}:{i % 60:02d} +0000] "GET /index.php?page={i} '
                     f'HTTP/1.1" 200 {512 + i} "-" "Mozilla/5.0 (X11; Linux x86_64) scanner/{i}"')
    for i in range(20):
        lines.append(f'10.0.0.{i + 1} - - [10/Oct/2026:14:00:{i:02d} +0000] "GET /health HTTP/1.1" 200 2 "-" "kube-probe"')
    long_url = "https://cdn.example.net/track?" + "&".join(f"k{i}=v{i:04d}" for i in range(150))
    long_url = (long_url + "x" * 1500)[:1500]
    lines.append(f'45.155.205.233 - - [10/Oct/2026:14:01:00 +0000] "GET /login HTTP/1.1" 302 0 "{long_url}" '
                 f'"Mozilla/5.0 (Windows NT 10.0; Win64; x64)"')
    path = ctx.tmp / "access-2026-10-10.log.gz"
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    return _logioc(ctx, file=path)


def logioc_hostile(ctx: Ctx) -> tuple[JobResult, dict[str, Any]]:
    text = (
        f'45.155.205.233 - - [10/Oct/2026:13:57:33 +0000] "GET /{{{{HOSTILE_RAN=31337*3}}}}/x HTTP/1.1" '
        f'404 512 "-" "{HOSTILE}"\n'
        f"Oct 10 13:58:01 web1 sshd[2211]: Invalid user {HOSTILE} from 193.32.162.157 port 40112\n"
        "Phishing kit at hxxps://login-micros0ft[.]top/{{HOSTILE_RAN=31337*3}} sent by billing@invoices-secure.top\n"
    )
    return _logioc(ctx, text=text)


def logioc_empty(ctx: Ctx) -> tuple[JobResult, dict[str, Any]]:
    return _logioc(ctx, text="nothing to see here, all quiet\n")


def logioc_fail_config(ctx: Ctx) -> tuple[JobResult, dict[str, Any]]:
    return _logioc(ctx, file=EXAMPLES / "auth.log", log_format="cobol")


# -- MailAnalysis -----------------------------------------------------------------------------
MAIL = "Socflow_MailAnalysis"
MAIL_CORPUS = REPO / "tests" / "mail" / "corpus"


def _mail(ctx: Ctx, *, file: Path | None = None, text: str | None = None,
          **config: Any) -> tuple[JobResult, dict[str, Any]]:
    if file is not None:
        result = run_job(MAIL, data_type="file", file=file, config=config, timeout=120)
        return result, {"dataType": "file", "attachment": {"name": file.name, "size": file.stat().st_size}}
    result = run_job(MAIL, data_type="other", data=text, config=config, timeout=120)
    return result, {"dataType": "other", "data": text}


def mail_phish(ctx: Ctx) -> tuple[JobResult, dict[str, Any]]:
    return _mail(ctx, file=MAIL_CORPUS / "phish" / "spoof-dmarc-fail-0.eml")


def mail_attachments(ctx: Ctx) -> tuple[JobResult, dict[str, Any]]:
    return _mail(ctx, file=MAIL_CORPUS / "phish" / "attachment-8.eml")


def mail_newsletter(ctx: Ctx) -> tuple[JobResult, dict[str, Any]]:
    return _mail(ctx, file=MAIL_CORPUS / "ham" / "newsletter-3.eml")


def mail_hostile(ctx: Ctx) -> tuple[JobResult, dict[str, Any]]:
    text = (f'From: "{HOSTILE}" <boss@hacked-bakery.com>\nTo: a@contoso.com\n'
            f"Subject: {HOSTILE}\nContent-Type: text/html\n\n"
            f'<a href="https://docs-share.online/{{{{HOSTILE_RAN=31337*3}}}}">{HOSTILE}</a>\n')
    return _mail(ctx, text=text)


def mail_fail_config(ctx: Ctx) -> tuple[JobResult, dict[str, Any]]:
    return _mail(ctx, file=MAIL_CORPUS / "ham" / "newsletter-3.eml", policy="weights:\n  nope: 1\n")


CASES = [
    Case("vt-ip-malicious", VT, vt_ip_malicious),
    Case("vt-domain-clean", VT, vt_domain_clean),
    Case("vt-file-malicious", VT, vt_file_malicious),
    Case("vt-url-hostile", VT, vt_url_hostile, hostile=True),
    Case("vt-hash-unknown", VT, vt_hash_unknown),
    Case("vt-ip-private", VT, vt_ip_private),
    Case("vt-ip-cached", VT, vt_cached),
    Case("vt-fail-auth", VT, vt_fail_auth),
    Case("vt-fail-quota", VT, vt_fail_quota),
    Case("vt-fail-malformed", VT, vt_fail_malformed),
    Case("vt-fail-config", VT, vt_fail_config),
    Case("vt-fail-policy", VT, vt_fail_policy),
    Case("vtscan-url", VTSCAN, vtscan_url),
    Case("vtscan-file", VTSCAN, vtscan_file),
    Case("vtscan-fail-tlp", VTSCAN, vtscan_fail_tlp),
    Case("abuse-malicious", ABUSE, abuse_malicious),
    Case("abuse-hostile", ABUSE, abuse_hostile, hostile=True),
    Case("abuse-clean", ABUSE, abuse_clean),
    Case("abuse-private", ABUSE, abuse_private),
    Case("abuse-fail-quota", ABUSE, abuse_fail_quota),
    Case("block-reported", BLOCK, block_reported),
    Case("block-fail-too-wide", BLOCK, block_fail_wide),
    Case("otx-malicious", OTX, otx_malicious),
    Case("otx-sections", OTX, otx_sections),
    Case("otx-hostile", OTX, otx_hostile, hostile=True),
    Case("otx-whitelisted", OTX, otx_whitelisted),
    Case("otx-unknown", OTX, otx_unknown),
    Case("otx-private", OTX, otx_private),
    Case("otx-fail-auth", OTX, otx_fail_auth),
    Case("logioc-auth", LOGIOC, logioc_auth),
    Case("logioc-access", LOGIOC, logioc_access),
    Case("logioc-large", LOGIOC, logioc_large),
    Case("logioc-hostile", LOGIOC, logioc_hostile, hostile=True),
    Case("logioc-empty", LOGIOC, logioc_empty),
    Case("logioc-fail-config", LOGIOC, logioc_fail_config),
    Case("mail-phish", MAIL, mail_phish),
    Case("mail-attachments", MAIL, mail_attachments),
    Case("mail-newsletter", MAIL, mail_newsletter),
    Case("mail-hostile", MAIL, mail_hostile, hostile=True),
    Case("mail-fail-config", MAIL, mail_fail_config),
]


def template_id(flavor: str) -> str:
    definition, _ = load_flavor(flavor)
    return f"{definition['name']}_{definition['version'].replace('.', '_')}"


def defang(value: str) -> str:
    """What TheHive's ``fang`` filter shows (it defangs: http -> hxxp, . -> [.])."""
    return re.sub("http", "hxxp", value, flags=re.IGNORECASE).replace(".", "[.]")


def observable_text(artifact: dict[str, Any]) -> str:
    """How every panel names the observable: the file name, or the defanged value (its start)."""
    if artifact.get("attachment"):
        return str(artifact["attachment"]["name"])
    return " ".join(defang(str(artifact["data"]))[:40].split())


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[Case, dict[str, Any]]]]:
    missing = [str(p) for p in (Path(CHROMIUM), HERE / "node_modules" / "puppeteer-core") if not p.exists()]
    if missing or not shutil.which("node"):
        pytest.fail(f"browser test needs {missing or 'node'}: run `make test` (it installs Debian's "
                    "chromium and runs npm ci in tests/browser)")
    tmp = tmp_path_factory.mktemp("render")
    with FakeVirusTotal(per_minute=1000) as vt, FakeAbuseIPDB() as abuse, FakeOTX() as otx:
        ctx = Ctx(vt, abuse, otx, tmp)  # type: ignore[arg-type]
        payload = []
        for case in CASES:
            result, artifact = case.build(ctx)
            assert result.output_written, (case.id, result.stdout, result.stderr)
            assert_cortex_accepts(result.output)
            tid = template_id(case.flavor)
            case.data = {"output": result.output, "artifact": artifact, "template": tid}
            payload.append({"id": case.id, "name": tid, "artifact": artifact, "output": result.output,
                            "template": (TEMPLATES / tid / "long.html").read_text(encoding="utf-8")})
    cases_file = tmp / "cases.json"
    cases_file.write_text(json.dumps(payload), encoding="utf-8")
    if SHOTS.exists():
        shutil.rmtree(SHOTS)
    proc = subprocess.run(["node", str(HERE / "render.js"), str(cases_file), str(SHOTS)],
                          capture_output=True, text=True, timeout=240, cwd=HERE)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = {r["id"]: r for r in json.loads((SHOTS / "results.json").read_text(encoding="utf-8"))}
    yield {c.id: (c, results[c.id]) for c in CASES}


@pytest.mark.parametrize("case_id", [c.id for c in CASES])
def test_report_renders_cleanly(rendered: dict[str, tuple[Case, dict[str, Any]]], case_id: str) -> None:
    case, page = rendered[case_id]
    output, artifact = case.data["output"], case.data["artifact"]
    assert page["rendered"], "AngularJS never finished compiling the template"
    assert page["angularErrors"] == [] and page["console"] == [], (page["angularErrors"], page["console"])
    assert page["requests"] == [], "the page asked for something beyond file://"
    text = page["text"]
    if case.hostile:
        assert page["injected"] == {"elements": 0, "ran": None}, "hostile markup became live"
        assert "94011" not in text, "an AngularJS expression from the data was evaluated"
        assert "HOSTILE_RAN=31337*3" in text, "the hostile text must still be shown, as text"
        text = HOSTILE_EXPRESSION.sub("", text)
    assert "{{" not in text and "}}" not in text
    assert not re.search(r"\bundefined\b|\bNaN\b|\[object Object\]", text), text[:2000]
    assert page["overflow"] == [], page["overflow"]
    assert page["docWidth"] <= 1200, f"the page scrolls sideways: {page['docWidth']} px"
    panels = page["panels"]
    assert panels, "the template drew no panel"
    name = observable_text(artifact)
    for panel in panels:
        assert name in " ".join(panel["text"].split()), f"panel does not name {name!r}: {panel['heading']!r}"
    first = panels[0]
    if output["success"]:
        level = output["full"]["level"]
        assert WORDS[level] in first["heading"], (level, first["heading"])
        assert PANEL_CLASS[level] in first["classes"]
    else:
        assert "failed" in first["heading"].lower()
        assert "panel-danger" not in first["classes"], "a failure is not a malicious verdict"
        message = " ".join(output["errorMessage"].split())
        assert message[:60] in " ".join(first["text"].split())


def test_show_all_reveals_every_row_without_breaking_the_layout(
        rendered: dict[str, tuple[Case, dict[str, Any]]]) -> None:
    """Capped tables say how many rows there are and show them all on a click."""
    clicked = {case_id: page for case_id, (_case, page) in rendered.items() if page["showAll"]}
    assert {"logioc-large", "abuse-malicious", "otx-malicious", "otx-sections"} <= set(clicked), sorted(clicked)
    for case_id, page in clicked.items():
        expanded = page["expanded"]
        assert expanded["angularErrors"] == [] and expanded["overflow"] == [], (case_id, expanded)
        assert expanded["docWidth"] <= 1200, case_id
    large, _ = rendered["logioc-large"]
    ipv4 = large.data["output"]["full"]["iocs"]["ipv4"]
    assert len(ipv4) == 601  # 600 clients and the one with the long referer
    assert "Showing 10 of 601." in rendered["logioc-large"][1]["text"]
    assert len(ipv4) in rendered["logioc-large"][1]["expanded"]["rows"]


def test_every_flavor_is_rendered_in_success_and_failure(rendered: dict[str, tuple[Case, dict[str, Any]]]) -> None:
    seen: dict[str, set[bool]] = {}
    for case, _page in rendered.values():
        seen.setdefault(case.flavor, set()).add(bool(case.data["output"]["success"]))
    flavors = {json.loads(p.read_text())["name"] for p in (REPO / "analyzers").glob("*/*.json")}
    assert set(seen) == flavors
    assert all(v == {True, False} for v in seen.values()), seen


def test_every_case_left_a_screenshot(rendered: dict[str, tuple[Case, dict[str, Any]]]) -> None:
    for case_id in rendered:
        png = SHOTS / f"{case_id}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_hostile_cases_really_carry_hostile_text(rendered: dict[str, tuple[Case, dict[str, Any]]]) -> None:
    """Guards the guard: the payload reached the output of each hostile case (else the checks
    above would pass on a report that never showed attacker text)."""
    for case, _page in rendered.values():
        if case.hostile:
            assert "HOSTILE_RAN=31337*3" in json.dumps(case.data["output"]), case.id


def test_fixture_facts_used_by_the_cases_still_hold() -> None:
    """The OTX and VirusTotal fixture shapes the cases modify (a change there must fail here)."""
    assert fixture("otx", "ipv4_general.json")["pulse_info"]["pulses"][0]["references"]
    assert fixture("virustotal", "relationship_resolutions.json")["data"][0]["attributes"]["ip_address"]


def test_docs_show_screenshots_that_exist() -> None:
    """README and docs/reports.md show copies of this test's screenshots; each must be there."""
    shown = set()
    for doc in (REPO / "README.md", REPO / "docs" / "reports.md"):
        for target in re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", doc.read_text(encoding="utf-8")):
            png = (doc.parent / target).resolve()
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
            shown.add(png.name)
    assert len(shown) >= 5
