"""Socflow_LogIOC's detections (issue 12 §1): the bridge's rule engine run by the analyzer, as Cortex runs it."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socflow.classify import Engine, load_rule_files
from socflow.classify.detect import Detector
from socflow.models import IocType
from socflow.report import detection_index, findings, printable, taxonomies
from support.cortexjob import assert_cortex_accepts, run_job

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "logs"
FLAVOR = "Socflow_LogIOC"


def job(**kwargs):
    result = run_job(FLAVOR, **kwargs)
    assert result.output_written, result.stderr
    assert_cortex_accepts(result.output)
    return result.output


def test_access_log_names_the_web_attackers_and_what_they_did():
    out = job(data_type="file", file=EXAMPLES / "access.log", filename="access.log")
    assert out["success"], out
    found = {(d["rule"], d["who"]): d for d in out["full"]["detections"]}
    assert {("web-sqli", "91.240.118.172"), ("web-path-traversal", "45.155.205.233"),
            ("web-command-injection", "45.155.205.233"), ("web-xss", "185.220.101.4"),
            ("web-scanner", "91.240.118.172")} <= set(found)
    sqli = found[("web-sqli", "91.240.118.172")]
    assert sqli["level"] == "malicious" and sqli["count"] == 6
    assert any("UNION%20SELECT" in line for line in sqli["evidence"])
    levels = [d["level"] for d in out["full"]["detections"]]
    rank = {"malicious": 3, "suspicious": 2, "info": 0}
    assert levels == sorted(levels, key=lambda lv: -rank[lv])  # worst first
    taxes = {t["predicate"]: t for t in out["summary"]["taxonomies"]}
    assert taxes["web-sqli"]["level"] == "malicious" and taxes["web-xss"]["level"] == "suspicious"
    assert taxes["suspicious-tld"]["level"] == "info"  # a LOW rule informs, it does not accuse
    assert out["full"]["source"] == "access.log"


def test_the_full_report_holds_everything_the_taxonomies_claim():
    for name in ("access.log", "auth.log", "eve.json"):
        out = job(data_type="file", file=EXAMPLES / name, config={"include_private": True})
        full = out["full"]
        assert full["taxonomies"] == out["summary"]["taxonomies"]
        for tax in out["summary"]["taxonomies"]:
            p, value = tax["predicate"], int(tax["value"])
            groups = [d for d in full["detections"] if d["rule"] == p]
            if groups:  # a detection taxonomy: that many sources, each in full with its level
                assert len(groups) == value, (name, p)
                assert tax["level"] == max((d["level"] for d in groups),
                                           key=["info", "suspicious", "malicious"].index)
            elif p == "PublicIPs":
                ips = full["iocs"].get("ipv4", []) + full["iocs"].get("ipv6", [])
                assert sum(i["ip_class"] == "public" for i in ips) == value, name
            elif p == "Domains":
                assert full["totals"]["domain"] == value == len(full["iocs"]["domain"])
            elif p == "URLs":
                assert full["totals"]["url"] == value == len(full["iocs"]["url"])
            elif p == "Hashes":
                assert sum(full["totals"].get(k, 0) for k in ("md5", "sha1", "sha256")) == value
            elif p == "FailedLogins":
                assert sum(max(sum(n for c, n in u["context_counts"].items()
                                   if c in {"ssh-failed-login", "pam-auth-failure", "su-failed", "sudo-failed"}),
                               u["context_counts"].get("ssh-invalid-user", 0))
                           for u in full["iocs"]["username"]) == value
            else:
                raise AssertionError(f"taxonomy {p} has no backing in full")


def test_brute_force_threshold_decides_red_or_orange():
    out = job(data_type="file", file=EXAMPLES / "auth.log", config={"brute_force_threshold": 1000})
    (found,) = out["full"]["detections"]
    assert found["level"] == "suspicious"  # the rule's MEDIUM severity, below the threshold
    assert out["summary"]["taxonomies"][0] == {"level": "suspicious", "namespace": "LogIOC",
                                               "predicate": "ssh-brute-force", "value": "1"}


ROOT_RULE = ("{rules: [{id: root-login, name: Root logged in, formats: [syslog], severity: 3, "
             "match: [{field: message, regex: '^Accepted \\S+ for root from'}], "
             "group_by: [client_ip], title: root login}]}")


def test_rules_configured_in_the_flavor_inline_and_as_files(tmp_path):
    log = tmp_path / "auth.log"
    log.write_text("Oct 10 14:00:00 bastion sshd[1]: Accepted publickey for root from 203.0.113.9 port 2 ssh2\n"
                   + (EXAMPLES / "auth.log").read_text())
    out = job(data_type="file", file=log, config={"rules": [ROOT_RULE], "disable_rules": ["ssh-brute-force"]})
    assert [(d["rule"], d["who"], d["level"]) for d in out["full"]["detections"]] == [
        ("root-login", "203.0.113.9", "malicious")]
    rule_file = tmp_path / "mine.yml"
    rule_file.write_text(ROOT_RULE)
    out = job(data_type="file", file=log, config={"rule_files": [str(rule_file)], "default_rules": False})
    assert [d["rule"] for d in out["full"]["detections"]] == ["root-login"]
    out = job(data_type="file", file=log, config={"default_rules": False})
    assert out["full"]["detections"] == [] and out["full"]["level"] == "info"
    assert out["full"]["taxonomies"][0]["predicate"] == "PublicIPs"


def test_a_bad_configured_rule_is_a_one_line_failure(tmp_path):
    out = job(data_type="other", data="x", config={"rules": ["{rules: [{id: x, name: y, window: 10 minutes, "
                                                             "match: [{field: url, contains: a}], title: t}]}"]})
    assert not out["success"]
    assert out["errorMessage"].startswith("rules[0]:1: rules[0].window: '10 minutes' is not a duration")
    out = job(data_type="other", data="x", config={"rule_files": [str(tmp_path / "missing.yml")]})
    assert not out["success"] and "cannot read rule file" in out["errorMessage"]


def test_pasted_notes_without_time_still_give_detections():
    text = "phishing kit on login-micros0ft.top\nsecond mail links https://login-micros0ft.top/o365\n"
    out = job(data_type="other", data=text)
    (found,) = out["full"]["detections"]
    assert (found["rule"], found["who"], found["count"]) == ("suspicious-tld", "login-micros0ft.top", 2)
    assert found["first_seen"] is None and found["last_seen"] is None and found["windows"] == 1


def test_hostile_log_text_stays_inert():
    evil_user = "x\x1b[31m\u202e{{constructor.constructor('alert(1)')()}}<script>8.8.8.8"
    lines = [f"Oct 10 14:00:{n:02d} h sshd[{n}]: Failed password for invalid user {evil_user} "
             f"from 193.32.162.157 port 4{n} ssh2" for n in range(12)]
    out = job(data_type="other", data="\n".join(lines))
    (found,) = out["full"]["detections"]
    assert found["who"] == "193.32.162.157"
    blob = json.dumps(out["full"]["detections"], ensure_ascii=False)
    assert "\x1b" not in blob and "\u202e" not in blob
    assert "\\x1b[31m" in found["evidence"][0] and "\\u202e" in found["evidence"][0]
    assert "{{constructor" in found["evidence"][0]  # data, bound as text by the template, never compiled
    by_data = {a["data"]: a for a in out["artifacts"]}
    assert "socflow:detection=ssh-brute-force" in by_data["193.32.162.157"]["tags"]


def test_a_username_cannot_choose_who_is_blamed():
    evil_user = "x from 8.8.8.8 port 1 ssh2"
    lines = [f"Oct 10 14:00:{n:02d} h sshd[{n}]: Failed password for invalid user {evil_user} "
             f"from 193.32.162.157 port 4{n} ssh2" for n in range(12)]
    out = job(data_type="other", data="\n".join(lines))
    assert [d["who"] for d in out["full"]["detections"]] == ["193.32.162.157"]


def test_long_evidence_is_cut_with_an_ellipsis():
    url = "/search?q=" + "%27%20UNION%20SELECT%20" + "a" * 3000
    line = f'198.51.100.7 - - [10/Oct/2026:13:57:31 +0000] "GET {url} HTTP/1.1" 500 1 "-" "curl"'
    out = job(data_type="other", data=line)
    (found,) = [d for d in out["full"]["detections"] if d["rule"] == "web-sqli"]
    assert len(found["evidence"][0]) == 501 and found["evidence"][0].endswith("…")


# ---- the core behind it, in process (hypothesis): attacker text never decides who is blamed

RULES = load_rule_files([])
HOSTILE = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=60).filter(
    lambda s: "\n" not in s and "\r" not in s)


@settings(max_examples=60, deadline=None)
@given(user=HOSTILE, agent=HOSTILE)
def test_findings_blame_the_parsed_source_whatever_the_attacker_writes(user, agent):
    detector = Detector(Engine(RULES, grace=0))
    # a blank username is no sshd line at all (nothing to attribute)
    user = user if user.strip() else "x"
    ssh = [f"Oct 10 14:00:{n:02d} h sshd[{n}]: Failed password for invalid user {user} from "
           f"193.32.162.157 port {n} ssh2" for n in range(6)]
    web = [f'45.155.205.233 - - [10/Oct/2026:13:57:{n:02d} +0000] "GET /../../etc/passwd HTTP/1.1" 404 1 '
           f'"-" "nikto {agent}"' for n in range(3)]
    _, early = detector.feed("\n".join(ssh).encode(), "syslog")
    _, early2 = detector.feed("\n".join(web).encode(), "access")
    found = findings(early + early2 + detector.flush())
    who = {(f.rule_id, f.who) for f in found}
    # the parser names the address sshd wrote, or nobody when the username makes the line
    # ambiguous; never an address the attacker typed
    assert {w for r, w in who if r == "ssh-brute-force"} <= {"193.32.162.157"}
    if not any(c.isspace() for c in user):
        assert ("ssh-brute-force", "193.32.162.157") in who
    assert ("web-path-traversal", "45.155.205.233") in who
    assert {w for _, w in who} <= {"193.32.162.157", "45.155.205.233"}
    for f in found:
        for line in f.to_dict(3, {})["evidence"]:
            assert not any(unicodedata.category(c)[0] == "C" and c != "\t" for c in line)
    if ("ssh-brute-force", "193.32.162.157") in who:
        assert detection_index(found)["193.32.162.157"] == ["ssh-brute-force"]


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=700), limit=st.integers(1, 600))
def test_printable_keeps_length_bounded_and_shows_every_control_character(text, limit):
    out = printable(text, limit)
    assert not any(unicodedata.category(c)[0] == "C" and c != "\t" for c in out)
    assert out.endswith("…") == (len(text) > limit)


def test_warninglists_never_change_a_level():
    from socflow.models import Ioc

    detector = Detector(Engine(RULES, grace=0))
    lines = [f"Oct 10 14:00:{n:02d} h sshd[{n}]: Failed password for root from 8.8.8.8 port {n} ssh2"
             for n in range(20)]
    detector.feed("\n".join(lines).encode(), "syslog")
    found = findings(detector.flush())
    listed = Ioc(IocType.IPV4, "8.8.8.8", count=20, warninglists=("public-dns-v4",))
    (tax, *_rest) = taxonomies([listed], found)
    assert (tax.predicate, tax.level.value) == ("ssh-brute-force", "malicious")
    assert found[0].to_dict(3, {"8.8.8.8": ["public-dns-v4"]})["warninglists"] == {"8.8.8.8": ["public-dns-v4"]}


# ---- MISP warning lists in the analyzer (issue 12 §6)

NOTES = ("dns to 8.8.8.8 and www.google.com, payload from 194.26.29.113, "
         "docs at www.example.org, short link bit.ly\n")


def test_artifacts_carry_the_warninglists_they_are_on():
    out = job(data_type="other", data=NOTES)
    tags = {a["data"]: a["tags"] for a in out["artifacts"]}
    assert "warninglist:public-dns-v4" in tags["8.8.8.8"]
    assert {"warninglist:cisco_top10k", "warninglist:tranco10k"} <= set(tags["www.google.com"])
    assert "warninglist:rfc6761" in tags["www.example.org"]
    assert not any(t.startswith("warninglist:") for t in tags["194.26.29.113"])
    iocs = {i["value"]: i for kind in out["full"]["iocs"].values() for i in kind}
    assert iocs["8.8.8.8"]["warninglists"] == ["public-dns-v4"]
    assert out["full"]["warninglisted"] == 4  # 8.8.8.8, www.google.com, www.example.org, bit.ly


def test_warninglist_items_of_the_flavor():
    out = job(data_type="other", data=NOTES, config={"warninglists": False})
    assert out["full"]["warninglisted"] == 0
    assert not any(t.startswith("warninglist:") for a in out["artifacts"] for t in a["tags"])
    out = job(data_type="other", data=NOTES, config={"warninglists_add": ["url-shortener"],
                                                     "warninglists_disable": ["cisco_top10k"]})
    tags = {a["data"]: a["tags"] for a in out["artifacts"]}
    assert "warninglist:url-shortener" in tags["bit.ly"]
    assert "warninglist:cisco_top10k" not in tags["www.google.com"]
    out = job(data_type="other", data=NOTES, config={"warninglists_add": ["top-1m"]})
    assert not out["success"] and "unknown warning list 'top-1m'" in out["errorMessage"]


def test_a_job_never_imports_pymispwarninglists_nor_the_http_stack():
    result = run_job(FLAVOR, data_type="other", data=NOTES, env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert result.output["success"] and result.output["full"]["warninglisted"] == 4
    names = {line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines()
             if line.startswith("import time:") and "|" in line}
    assert "socflow.warninglists" in names and "socflow.classify.detect" in names  # the log is real
    assert not {n for n in names if n.split(".")[0] in {"pymispwarninglists", "requests", "urllib3", "jinja2"}}
