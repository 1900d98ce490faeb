"""``socflow mail analyze`` as users run it: a real process, files, maildir, mbox, stdin, a terminal."""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import subprocess
import sys
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "corpus"
SOCFLOW = [sys.executable, "-m", "socflow.adapters.cli.main"]
PHISH = CORPUS / "phish" / "lookalike-0.eml"
HAM = CORPUS / "ham" / "m365-colleague-0.eml"


def run(*args, stdin=None):
    return subprocess.run([*SOCFLOW, *args], capture_output=True, input=stdin, timeout=120)


def test_table_for_one_message():
    proc = run("mail", "analyze", str(PHISH))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode()
    assert "malicious" in out and "imitates" in out and "hops (oldest first)" in out


def test_json_one_file_is_an_object_and_output_file(tmp_path):
    data = json.loads(run("mail", "analyze", "--json", str(PHISH)).stdout)
    assert data["verdict"] == "malicious" and data["reasons"][0].endswith(")")
    assert {"authentication", "hops", "findings", "links", "attachments", "indicators"} <= set(data)
    target = tmp_path / "out.json"
    proc = run("mail", "analyze", "--output", str(target), str(PHISH), str(HAM))
    assert proc.returncode == 0 and proc.stdout == b""
    both = json.loads(target.read_text())
    assert [r["verdict"] for r in both] == ["malicious", "safe"]


def test_directory_maildir_mbox_and_stdin(tmp_path):
    maildir = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    shutil.copy(PHISH, maildir / "new" / "1.host:2,")
    shutil.copy(HAM, maildir / "cur" / "2.host:2,S")
    data = json.loads(run("mail", "analyze", "--json", str(maildir)).stdout)
    assert sorted(r["verdict"] for r in data) == ["malicious", "safe"]

    mbox = tmp_path / "box.mbox"
    with mbox.open("wb") as fh:
        for src in (PHISH, HAM):
            fh.write(b"From MAILER-DAEMON Tue Nov  3 09:00:00 2026\n")
            fh.write(src.read_bytes().replace(b"\nFrom ", b"\n>From ") + b"\n")
    data = json.loads(run("mail", "analyze", "--json", str(mbox)).stdout)
    assert [r["source"] for r in data] == [f"{mbox}#0", f"{mbox}#1"]
    assert [r["verdict"] for r in data] == ["malicious", "safe"]

    data = json.loads(run("mail", "analyze", "--json", str(CORPUS / "ham")).stdout)
    assert len(data) == len(list((CORPUS / "ham").glob("*.eml")))

    proc = run("mail", "analyze", "--json", "-", stdin=PHISH.read_bytes())
    assert json.loads(proc.stdout)["source"] == "<stdin>"


def test_fail_on_sets_the_exit_code():
    assert run("mail", "analyze", "--fail-on", "suspicious", str(HAM)).returncode == 0
    assert run("mail", "analyze", "--fail-on", "suspicious", str(PHISH)).returncode == 1
    assert run("mail", "analyze", "--fail-on", "malicious", str(PHISH)).returncode == 1
    assert run("mail", "analyze", "--fail-on", "bogus", str(PHISH)).returncode == 2


def test_policy_option_and_its_errors(tmp_path):
    policy = tmp_path / "p.yml"
    policy.write_text("thresholds:\n  suspicious: 90\n  malicious: 99\n")
    data = json.loads(run("mail", "analyze", "--json", "--policy", str(policy), str(PHISH)).stdout)
    assert data["verdict"] == "safe"
    policy.write_text("weights:\n  nope.nope: 1\n")
    proc = run("mail", "analyze", "--policy", str(policy), str(PHISH))
    assert proc.returncode == 1
    assert proc.stderr.decode() == f"socflow: error: {policy}:2: weights.nope.nope: unknown finding (docs/phishing.md lists them)\n"


def test_reports_unwrapped_unless_asked_not_to():
    report = CORPUS / "phish" / "report-rfc822-0.eml"
    data = json.loads(run("mail", "analyze", "--json", str(report)).stdout)
    assert data["reporter"]["from"].startswith("Hana Sample") and data["verdict"] != "safe"
    data = json.loads(run("mail", "analyze", "--json", "--no-unwrap", str(report)).stdout)
    assert data["reporter"] is None and data["headers"]["subject"] == "Phishing: please check"


def test_bad_inputs_are_one_line_warnings(tmp_path):
    empty = tmp_path / "empty.eml"
    empty.write_bytes(b"")
    proc = run("mail", "analyze", str(empty), str(tmp_path / "missing.eml"), str(HAM))
    assert proc.returncode == 1
    lines = proc.stderr.decode().splitlines()
    assert lines == [f"socflow: warning: {empty}: empty input, not an e-mail message",
                     f"socflow: warning: {tmp_path / 'missing.eml'}: no such file or directory"]
    proc = run("mail", "analyze", str(empty))
    assert proc.stderr.decode().splitlines()[-1] == "socflow: error: no message could be analysed"


HOSTILE = (b"From: \"\x1b]0;pwned\x07Boss\x1b[2J\" <boss@fabrikam.com>\n"
           b"Subject: =?utf-8?B?" + __import__("base64").b64encode("hi \x1b[31mred\u202e [bold]x[/bold]".encode())
           + b"?=\nTo: a@contoso.com\n\nbody\n")


def test_table_in_a_terminal_keeps_header_text_inert(tmp_path):
    path = tmp_path / "hostile.eml"
    path.write_bytes(HOSTILE)
    pid, fd = pty.fork()
    if pid == 0:  # child: the CLI on a real terminal
        os.environ["COLUMNS"] = "200"
        os.execv(sys.executable, [*SOCFLOW, "mail", "analyze", str(path)])
    out = b""
    while True:
        ready, _, _ = select.select([fd], [], [], 30)
        if not ready:
            break
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.waitpid(pid, 0)
    assert b"Boss" in out
    assert b"\x1b]" not in out and b"\x07" not in out and b"\x1b[2J" not in out
    assert "\u202e".encode() not in out
    assert b"\\x1b" in out and b"\\u202e" in out  # shown, not obeyed
    assert b"[bold]x[/bold]" in out  # rich markup from a header is printed as text
