"""Socflow_MailAnalysis run exactly as Cortex's process runner runs it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from support.cortexjob import ANALYZERS, assert_cortex_accepts, load_flavor, run_job

CORPUS = Path(__file__).resolve().parents[1] / "mail" / "corpus"
FLAVOR = "Socflow_MailAnalysis"


def test_flavor_runs_from_a_plain_folder_with_the_process_runner():
    definition, path = load_flavor(FLAVOR)
    command = (path.parent.parent / definition["command"]).resolve()
    assert command.is_relative_to(ANALYZERS.resolve())
    assert os.stat(command).st_mode & stat.S_IXUSR
    assert definition["config"]["service"] == "MailAnalysis"


def test_phishing_file_gives_verdict_taxonomies_and_sender_side_artifacts():
    result = run_job(FLAVOR, data_type="file", file=CORPUS / "phish" / "spoof-dmarc-fail-0.eml",
                     filename="suspicious.eml", tlp=3)
    out = result.output
    assert result.output_written and out["success"], out
    assert_cortex_accepts(out)
    taxes = {t["predicate"]: t for t in out["summary"]["taxonomies"]}
    assert taxes["Verdict"]["value"] == "malicious" and taxes["Verdict"]["level"] == "malicious"
    assert taxes["DMARC"] == {"level": "malicious", "namespace": "Mail", "predicate": "DMARC", "value": "fail"}
    assert taxes["SPF"]["value"] in ("fail", "softfail")
    assert out["full"]["reasons"] and out["full"]["authentication"]["source"] == "microsoft365"
    kinds = {(a["dataType"], tuple(a["tags"])) for a in out["artifacts"]}
    assert any(k == "mail" and "mail:sender" in tags for k, tags in kinds)
    assert any(k == "ip" and "mail:originating-ip" in tags for k, tags in kinds)
    assert any(k == "url" for k, _ in kinds) and any(k == "mail-subject" for k, _ in kinds)
    assert all(a["tlp"] == 3 for a in out["artifacts"])
    assert not any("contoso.com" in a["data"] for a in out["artifacts"] if a["dataType"] == "mail")


def test_report_with_attachment_hashes_and_reporter_kept():
    out = run_job(FLAVOR, data_type="file", file=CORPUS / "phish" / "report-eml-1.eml").output
    assert out["success"], out
    assert out["full"]["reporter"]["from"].startswith("Hana Sample")
    assert not any(a["data"].startswith("hana.sample") for a in out["artifacts"])


def test_attachments_become_hash_and_filename_observables():
    out = run_job(FLAVOR, data_type="file", file=CORPUS / "phish" / "attachment-0.eml").output
    assert out["success"], out
    by_type = {}
    for a in out["artifacts"]:
        by_type.setdefault(a["dataType"], []).append(a)
    assert [a["data"] for a in by_type["filename"]] == ["invoice.pdf.exe"]
    assert len(by_type["hash"][0]["data"]) == 64 and "mail:attachment" in by_type["hash"][0]["tags"]


def test_legitimate_mail_is_safe_and_configuration_items_apply():
    out = run_job(FLAVOR, data_type="file", file=CORPUS / "ham" / "m365-colleague-0.eml").output
    assert out["success"] and out["full"]["verdict"] == "safe"
    taxes = {t["predicate"]: t for t in out["summary"]["taxonomies"]}
    assert taxes["DMARC"]["level"] == "safe"
    strict = run_job(FLAVOR, data_type="file", file=CORPUS / "ham" / "m365-colleague-0.eml",
                     config={"policy": "thresholds:\n  suspicious: -5\n  malicious: 50\n"}).output
    assert strict["full"]["verdict"] == "suspicious"


def test_pasted_message_text_and_bad_input():
    text = (CORPUS / "phish" / "lookalike-3.eml").read_text()
    out = run_job(FLAVOR, data_type="other", data=text).output
    assert out["success"] and out["full"]["verdict"] != "safe"
    empty = run_job(FLAVOR, data_type="other", data="   ").output
    assert_cortex_accepts(empty)
    assert not empty["success"] and empty["errorMessage"] == "pasted message: empty, not an e-mail message"
    bad = run_job(FLAVOR, data_type="file", file=CORPUS / "ham" / "m365-colleague-0.eml",
                  config={"policy": "weights:\n  nope: 1\n"}).output
    assert not bad["success"] and "weights.nope: unknown finding" in bad["errorMessage"]
    bad = run_job(FLAVOR, data_type="file", file=CORPUS / "ham" / "m365-colleague-0.eml",
                  config={"own_domains": ["not a domain"]}).output
    assert not bad["success"] and "not a domain" in bad["errorMessage"]
