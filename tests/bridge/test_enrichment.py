"""Enrichment before alerting: a fake enricher for the rules, then the real intel layer end to end
(its VirusTotal fake on a loopback socket, the alert into the TheHive emulator)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from fakes.cti import FakeVirusTotal
from fakes.thehive import FakeTheHive, validate_alert

from socflow.classify import Engine, load_rule_files
from socflow.classify.intel import EnrichmentIntel
from socflow.emit.enrichment import enrich_alert
from socflow.errors import QuotaError
from socflow.models import Event, IocType, Level, Verdict

SOCFLOW = [sys.executable, "-m", "socflow.adapters.cli.main"]


class FakeEnricher:
    def __init__(self, table):
        self.table = table
        self.asked = []

    def verdicts(self, ioc_type, value):
        self.asked.append((ioc_type, value))
        if value == "quota.example.com":
            raise QuotaError("quota exhausted", service="VirusTotal")
        return [
            Verdict("VirusTotal", value, level, score, "s", {}, 0.0)
            for level, score in self.table.get(value, [])
        ]


def _alert(*observables, severity=2):
    return {
        "type": "socflow",
        "source": "socflow",
        "sourceRef": "r",
        "title": "t",
        "description": "d",
        "severity": severity,
        "tags": ["x"],
        "observables": list(observables),
    }


def _obs(data_type, data, tags=()):
    return {
        "dataType": data_type,
        "data": data,
        "tags": list(tags),
        "ioc": False,
        "ignoreSimilarity": False,
    }


def test_verdicts_raise_severity_and_tag():
    enricher = FakeEnricher(
        {"45.1.1.1": [(Level.MALICIOUS, 12.0)], "bad.example.com": [(Level.SUSPICIOUS, None)]}
    )
    out = enrich_alert(
        _alert(
            _obs("ip", "45.1.1.1"),
            _obs("domain", "bad.example.com"),
            _obs("other", "root"),
            _obs("ip", "10.0.0.1", ["socflow:non-public"]),
        ),
        enricher,
    )
    ip, domain, user, private = out["observables"]
    assert ip["ioc"] is True and "vt:malicious=12" in ip["tags"]
    assert domain["ioc"] is False and "vt:suspicious" in domain["tags"]
    assert "vt:" not in " ".join(user["tags"] + private["tags"])
    assert [v for _, v in enricher.asked] == [
        "45.1.1.1",
        "bad.example.com",
    ]  # private never sent out
    assert out["severity"] == 3 and "intel:malicious" in out["tags"]
    assert "#### Threat intel" in out["description"] and validate_alert(out) == []


def test_failed_lookups_leave_a_tag_not_an_error():
    out = enrich_alert(_alert(_obs("domain", "quota.example.com"), severity=4), FakeEnricher({}))
    assert out["severity"] == 4 and "socflow:enrichment-incomplete" in out["tags"]


def test_enrichment_fires_the_intel_rule_once_per_indicator():
    enricher = FakeEnricher(
        {"45.6.6.6": [(Level.MALICIOUS, 30.0)], "45.7.7.7": [(Level.SAFE, 0.0)]}
    )
    rules = [r for r in load_rule_files([]) if r.id == "intel-hit"]
    engine = Engine(rules, intel=EnrichmentIntel(enricher))
    for _ in range(3):
        engine.observe(
            Event(raw="conn from 45.6.6.6 to 45.7.7.7 and 192.168.1.1", fmt="plain"), rules
        )
    assert [d.group["indicator"] for d in engine.flush()] == ["45.6.6.6"]
    assert sorted(v for _, v in enricher.asked) == [
        "45.6.6.6",
        "45.7.7.7",
    ]  # asked once each, never private
    assert all(t == IocType.IPV4 for t, _ in enricher.asked)


def test_real_intel_layer_end_to_end(tmp_path):
    log = tmp_path / "auth.log"
    log.write_text(
        "".join(
            f"2026-03-10T08:00:0{k}+00:00 web1 sshd[1]: Failed password for root from "
            f"45.10.1.7 port {k} ssh2\n"
            for k in range(6)
        )
    )
    with FakeVirusTotal(per_minute=1000) as vt, FakeTheHive() as hive:
        vt.set_object("ip_addresses", "45.10.1.7", malicious=12)
        cfg = tmp_path / "cfg.yml"
        cfg.write_text(
            json.dumps(
                {
                    "thehive": {"url": hive.url, "retries": 0},
                    "enrichment": {
                        "enabled": True,
                        "intel_rule": False,
                        "config": {
                            "cache_path": str(tmp_path / "intel.sqlite"),
                            "allow_private_targets": True,  # the fake listens on loopback
                            "virustotal": {
                                "api_url": vt.url,
                                "api_key": vt.key,
                                "limits": {"api": [{"limit": 1000, "per_seconds": 60}]},
                            },
                        },
                    },
                }
            )
        )
        env = dict(
            os.environ, SOCFLOW_THEHIVE_KEY=hive.api_key, SOCFLOW_STATE_DIR=str(tmp_path / "state")
        )
        out = subprocess.run(
            [*SOCFLOW, "ingest", "--config", str(cfg), str(log)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert out.returncode == 0, out.stderr
        (alert,) = hive.alerts
        ip = next(o for o in hive.observables_of(alert["_id"]) if o["dataType"] == "ip")
        assert alert["severity"] == 3 and "intel:malicious" in alert["tags"]
        assert ip["ioc"] is True and "vt:malicious=12" in ip["tags"]
        assert vt.count("/ip_addresses/45.10.1.7") == 1 and vt.key not in out.stdout + out.stderr


# ---- MISP warning lists (issue 12 §6): tagged, not looked up by default, never raising severity


def test_warninglisted_observables_are_not_looked_up_by_default():
    enricher = FakeEnricher({"8.8.8.8": [(Level.MALICIOUS, 40.0)], "45.1.1.1": [(Level.SAFE, 0.0)]})
    alert = _alert(_obs("ip", "8.8.8.8", ["warninglist:public-dns-v4"]), _obs("ip", "45.1.1.1"))
    out = enrich_alert(alert, enricher)
    assert [v for _, v in enricher.asked] == ["45.1.1.1"]
    assert out["severity"] == 2 and "intel:malicious" not in out["tags"]


def test_warninglisted_verdicts_when_asked_for_never_raise_the_severity():
    enricher = FakeEnricher({"8.8.8.8": [(Level.MALICIOUS, 40.0)]})
    alert = _alert(_obs("ip", "8.8.8.8", ["warninglist:public-dns-v4"]))
    out = enrich_alert(alert, enricher, warninglisted=True)
    (obs,) = out["observables"]
    assert [v for _, v in enricher.asked] == ["8.8.8.8"] and "vt:malicious=40" in obs["tags"]
    assert obs["ioc"] is False and out["severity"] == 2 and "intel:malicious" not in out["tags"]


def test_the_intel_rule_skips_warninglisted_values():
    from socflow.warninglists import WarningLists, WarningListSettings

    lists = WarningLists.from_settings(WarningListSettings())
    enricher = FakeEnricher({"8.8.8.8": [(Level.MALICIOUS, 40.0)], "45.6.6.6": [(Level.MALICIOUS, 30.0)]})
    rules = [r for r in load_rule_files([]) if r.id == "intel-hit"]
    intel = EnrichmentIntel(enricher, skip=lambda kind, value: bool(lists.match(kind, value)))
    engine = Engine(rules, intel=intel)
    engine.observe(Event(raw="dns 8.8.8.8 then 45.6.6.6", fmt="plain"), rules)
    assert [d.group["indicator"] for d in engine.flush()] == ["45.6.6.6"]
    assert [v for _, v in enricher.asked] == ["45.6.6.6"]


def _ingest(tmp_path, cfg: dict, log_text: str):
    tmp_path.mkdir(parents=True, exist_ok=True)
    log = tmp_path / "web.log"
    log.write_text(log_text)
    path = tmp_path / "cfg.yml"
    path.write_text(json.dumps(cfg))
    env = dict(os.environ, SOCFLOW_STATE_DIR=str(tmp_path / "state"))
    return subprocess.run([*SOCFLOW, "ingest", "--dry-run", "--json", "--config", str(path), str(log)],
                          env=env, capture_output=True, text=True, timeout=120, check=False)


SQLI_FROM_AWS = "".join(
    f'52.95.110.1 - - [10/Oct/2026:13:57:3{k} +0000] "GET /p?id=1%27%20OR%20%271%27=%271 HTTP/1.1" '
    f'500 5 "https://www.google.com/" "curl"\n' for k in range(3))


def test_bridge_observables_carry_the_warninglist_tags(tmp_path):
    out = _ingest(tmp_path, {}, SQLI_FROM_AWS)
    assert out.returncode == 0, out.stderr
    (alert,) = json.loads(out.stdout)["alerts"]
    ip = next(o for o in alert["observables"] if o["dataType"] == "ip")
    assert "warninglist:amazon-aws" in ip["tags"]
    assert alert["severity"] == 3  # the rule's severity: a cloud address is no excuse and no aggravation
    off = _ingest(tmp_path / "off", {"warninglists": {"enabled": False}}, SQLI_FROM_AWS)
    (alert,) = json.loads(off.stdout)["alerts"]
    assert not any(t.startswith("warninglist:") for o in alert["observables"] for t in o["tags"])
    less = _ingest(tmp_path / "less", {"warninglists": {"disable": ["amazon-aws"], "add": ["url-shortener"]}},
                   SQLI_FROM_AWS)
    (alert,) = json.loads(less.stdout)["alerts"]
    assert not any(t.startswith("warninglist:") for o in alert["observables"] for t in o["tags"])


def test_bridge_config_refuses_an_unknown_warninglist(tmp_path):
    out = _ingest(tmp_path, {"warninglists": {"add": ["tranco-1m"]}}, SQLI_FROM_AWS)
    assert out.returncode == 1
    assert "warninglists: unknown warning list 'tranco-1m'" in out.stderr and "Traceback" not in out.stderr
    assert out.stderr.strip().startswith("socflow: error: ") and "cfg.yml:1" in out.stderr


def test_real_intel_layer_skips_warninglisted_observables(tmp_path):
    with FakeVirusTotal(per_minute=1000) as vt:
        vt.set_object("ip_addresses", "52.95.110.1", malicious=12)
        base = {"enrichment": {"enabled": True, "config": {
            "cache_path": str(tmp_path / "intel.sqlite"),
            "allow_private_targets": True,  # the fake listens on loopback
            "virustotal": {"api_url": vt.url, "api_key": vt.key,
                           "limits": {"api": [{"limit": 1000, "per_seconds": 60}]}}}}}
        out = _ingest(tmp_path / "a", base, SQLI_FROM_AWS)
        assert out.returncode == 0, out.stderr
        (alert,) = json.loads(out.stdout)["alerts"]
        assert vt.count("/ip_addresses/") == 0 and alert["severity"] == 3
        base["enrichment"]["warninglisted"] = True
        out = _ingest(tmp_path / "b", base, SQLI_FROM_AWS)
        (alert,) = json.loads(out.stdout)["alerts"]
        ip = next(o for o in alert["observables"] if o["dataType"] == "ip")
        assert vt.count("/ip_addresses/52.95.110.1") == 1 and "vt:malicious=12" in ip["tags"]
        assert alert["severity"] == 3 and "intel:malicious" not in alert["tags"]  # not raised
