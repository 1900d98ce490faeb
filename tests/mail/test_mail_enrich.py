"""Optional enrichment: off by default (no request), on with --enrich through the intel layer
against the loopback VirusTotal fake; the recipient is never looked up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fakes.cti import FakeVirusTotal

CORPUS = Path(__file__).resolve().parent / "corpus"
SOCFLOW = [sys.executable, "-m", "socflow.adapters.cli.main"]
MESSAGE = CORPUS / "phish" / "content-1.eml"  # credential form posting to account-check.xyz


def run(args, env):
    return subprocess.run([*SOCFLOW, *args], capture_output=True, timeout=120,
                          env={**os.environ, **env})


def test_enrichment_off_by_default_and_on_with_enrich(tmp_path):
    with FakeVirusTotal() as vt:
        vt.set_object("domains", "account-check.xyz", malicious=12, harmless=50)
        env = {"SOCFLOW_VT_KEY": vt.key, "SOCFLOW_STATE_DIR": str(tmp_path)}
        plain = json.loads(run(["mail", "analyze", "--json", "--allow-private-targets", "--vt-url", f"{vt.origin}/api/v3", str(MESSAGE)], env).stdout)
        assert vt.count() == 0 and plain["enrichment"] == []
        proc = run(["mail", "analyze", "--json", "--enrich", "--allow-private-targets", "--vt-url", f"{vt.origin}/api/v3", str(MESSAGE)], env)
        assert proc.returncode == 0, proc.stderr
        data = json.loads(proc.stdout)
        assert vt.count() > 0
        codes = {f["code"] for f in data["findings"]}
        assert "intel.malicious" in codes and data["verdict"] == "malicious"
        looked_up = {e.get("value") for e in data["enrichment"]}
        assert "account-check.xyz" in looked_up
        assert not any("contoso.com" in (v or "") for v in looked_up)  # the recipient's side
        assert vt.key not in proc.stdout.decode() + proc.stderr.decode()
        calls = vt.count()
        again = run(["mail", "analyze", "--json", "--enrich", "--allow-private-targets", "--vt-url", f"{vt.origin}/api/v3", str(MESSAGE)], env)
        assert again.returncode == 0 and vt.count() == calls  # the shared cache answered


def test_loopback_service_url_refused_without_allow_private_targets(tmp_path):
    env = {"SOCFLOW_VT_KEY": "v" * 64, "SOCFLOW_STATE_DIR": str(tmp_path),
           "SOCFLOW_ALLOW_PRIVATE_TARGETS": ""}
    proc = run(["mail", "analyze", "--enrich", "--vt-url", "http://127.0.0.1:9/api/v3", str(MESSAGE)], env)
    assert proc.returncode in (1, 2)
    assert proc.stderr.decode().strip().splitlines() == [proc.stderr.decode().strip()]
    assert "loopback address: refused" in proc.stderr.decode()


def test_enrich_without_a_key_is_a_one_line_error(tmp_path):
    env = {k: "" for k in ("SOCFLOW_VT_KEY", "SOCFLOW_ABUSEIPDB_KEY", "SOCFLOW_OTX_KEY")}
    proc = run(["mail", "analyze", "--enrich", str(MESSAGE)], env)
    assert proc.returncode == 1
    assert proc.stderr.decode().startswith("socflow: error: --enrich needs an API key")
