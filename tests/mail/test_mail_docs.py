"""docs/phishing.md stays true: every command it shows runs, every finding code is explained
with its shipped weight, and the policy example in it loads."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

from socflow.mail import load_policy
from socflow.mail.policy import FINDING_CODES

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "phishing.md").read_text()


def _blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", DOC, re.S)


def test_every_command_shown_runs(tmp_path):
    commands = [line.split("  #")[0].strip() for block in _blocks("sh") for line in block.splitlines()
                if "socflow mail" in line and "socflow mail intake" not in line]  # intake: a mailbox

    assert len(commands) >= 6
    socflow = f"{shlex.quote(sys.executable)} -m socflow.adapters.cli.main"
    for command in commands:
        shell = command.replace(".venv/bin/socflow", socflow).replace(
            "verdicts.json", str(tmp_path / "verdicts.json"))
        proc = subprocess.run(shell, shell=True, cwd=ROOT, capture_output=True, timeout=180)
        assert proc.returncode == 0, (command, proc.stderr.decode()[-1000:])
        assert b"Traceback" not in proc.stderr
    assert (tmp_path / "verdicts.json").read_text().startswith("[")


def test_every_finding_code_is_documented_with_its_weight():
    policy = load_policy()
    rows = dict(re.findall(r"^\| `([a-z_.]+)` \| (−?[\d.]+) \|", DOC, re.M))
    assert set(rows) == set(FINDING_CODES)
    for code, shown in rows.items():
        assert float(shown.replace("−", "-")) == policy.weight(code), code


def test_policy_example_loads(tmp_path):
    (example,) = [b for b in _blocks("yaml") if "organisation:" in b]
    path = tmp_path / "policy.yml"
    path.write_text(example)
    policy = load_policy(path)
    assert policy.organisation.own_domains == ["contoso.com"]
    assert "Contoso Payroll" in policy.organisation.protected_names
    assert load_policy(ROOT / "examples" / "mail-policy.yml").organisation.receiving_hosts == [".contoso.com"]
