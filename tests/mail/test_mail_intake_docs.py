"""docs/phishing.md's intake section runs: every `socflow mail intake` command it shows is run
against a real dovecot, the TheHive emulator and an SMTP server, with the documented exports.

Only where things are changes: the exported host, password file, TheHive URL and key file point
at the test's servers and files (the port and CA of the test server come from
SOCFLOW_IMAP_PORT / SOCFLOW_IMAP_CA_FILE, which the docs also name), ``/var/lib/socflow``,
``/var/mail/phish-reports`` and ``/etc/socflow/ack.yml`` at temporary paths, ``--imap-port 143``
at the server's STARTTLS port. A command without ``--once`` is a service: it must start, log its
first event and stop with exit 0 on SIGTERM.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from fakes.mail import PASSWORD as SMTP_PASSWORD
from fakes.mail import USER as SMTP_USER
from fakes.mail import FakeSMTP
from fakes.thehive import FakeTheHive
from support.dovecot import PASSWORD, USER, Dovecot

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "phishing.md").read_text()
SECTION = DOC[DOC.index("## Intake of reported mail"):DOC.index("## How the verdict is made")]
CORPUS = Path(__file__).resolve().parent / "corpus"
EXPORTED = {"SOCFLOW_IMAP_HOST", "SOCFLOW_IMAP_USER", "SOCFLOW_IMAP_PASSWORD_FILE",
            "SOCFLOW_THEHIVE_URL", "SOCFLOW_THEHIVE_KEY_FILE"}


def _shell_lines() -> tuple[list[str], list[str]]:
    exports, commands = [], []
    for block in re.findall(r"```sh\n(.*?)```", SECTION, re.S):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith("export "):
                exports.append(line)
            elif line:
                commands.append(line)
    return exports, commands


def test_every_intake_command_in_the_docs_runs(tmp_path):
    exports, commands = _shell_lines()
    assert len(commands) >= 5 and all("socflow mail intake" in c for c in commands)
    exported = {w.split("=", 1)[0] for e in exports for w in shlex.split(e)[1:]}
    assert exported == EXPORTED  # a new export needs a value below
    ack_example = re.findall(r"```yml\n(.*?)```", SECTION, re.S)[0]

    server = Dovecot(tmp_path / "dovecot").start()
    try:
        with FakeTheHive() as hive, FakeSMTP("starttls") as smtp:
            secrets = tmp_path / "etc"
            secrets.mkdir()
            (secrets / "imap-password").write_text(PASSWORD + "\n")
            (secrets / "thehive-key").write_text(hive.api_key + "\n")
            ack = ack_example.replace("smtp.contoso.com", "127.0.0.1").replace(
                "smtp_port: 587", f"smtp_port: {smtp.port}").replace(
                "smtp_user: soc-notify", f"smtp_user: {SMTP_USER}")
            ack += "cacerts: |\n" + "".join(f"  {line}\n" for line in smtp.ca_pem.splitlines())
            (secrets / "ack.yml").write_text(ack)
            maildir = tmp_path / "phish-reports"
            for sub in ("cur", "new", "tmp"):
                (maildir / sub).mkdir(parents=True)
            (maildir / "new" / "1.host").write_bytes((CORPUS / "phish" / "lookalike-1.eml").read_bytes())
            server.create_folder("Reported")
            env = {k: v for k, v in os.environ.items() if not k.startswith("SOCFLOW_IMAP")}
            env.update(
                SOCFLOW_IMAP_HOST="127.0.0.1", SOCFLOW_IMAP_USER=USER,
                SOCFLOW_IMAP_PASSWORD_FILE=str(secrets / "imap-password"),
                SOCFLOW_THEHIVE_URL=hive.url,
                SOCFLOW_THEHIVE_KEY_FILE=str(secrets / "thehive-key"),
                SOCFLOW_IMAP_PORT=str(server.tls_port), SOCFLOW_IMAP_CA_FILE=str(server.ca_file),
                SOCFLOW_SMTP_PASSWORD=SMTP_PASSWORD)
            # a different reported message per command (the same one twice would be one alert)
            reports = [CORPUS / "phish" / name for name in (
                "content-1.eml", "report-rfc822-0.eml", "report-rfc822-2.eml", "report-eml-1.eml")]
            for index, command in enumerate(commands):
                line = (command.replace("/var/lib/socflow", str(tmp_path / "state"))
                        .replace("/var/mail/phish-reports", str(maildir))
                        .replace("/etc/socflow/ack.yml", str(secrets / "ack.yml"))
                        .replace("--imap-port 143", f"--imap-port {server.port}"))
                words = shlex.split(line)
                assert words[0] == ".venv/bin/socflow"
                argv = [sys.executable, "-m", "socflow.adapters.cli.main", *words[1:]]
                if "--maildir" not in words:
                    server.append(reports[index].read_bytes())
                before = len(hive.alerts)
                if "--once" in words:
                    proc = subprocess.run(argv, env=env, capture_output=True, text=True,
                                          timeout=120, stdin=subprocess.DEVNULL)
                    assert proc.returncode == 0, (command, proc.stderr)
                    assert "Traceback" not in proc.stderr and PASSWORD not in proc.stdout + proc.stderr
                    if "--json" in words:
                        assert json.loads(proc.stdout)["new_alerts"] == 1
                else:
                    service = subprocess.Popen(argv, env=env, text=True, stdin=subprocess.DEVNULL,
                                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                    deadline = time.monotonic() + 30
                    while len(hive.alerts) == before and time.monotonic() < deadline:
                        time.sleep(0.05)
                    service.send_signal(signal.SIGTERM)
                    _, err = service.communicate(timeout=30)
                    assert service.returncode == 0, (command, err)
                    assert json.loads(err.splitlines()[0])["event"] == "intake"
                assert len(hive.alerts) == before + 1, command  # each command took its message in
            assert server.messages() == {} or all(b"$SocflowIntake" in f
                                                  for f in server.messages().values())
            assert len(server.messages("Reported")) == 1  # the --move-to line
            assert [m.rcpt_tos for m in smtp.received] and all(
                m.message["Subject"].startswith("Thank you for your report:") for m in smtp.received)
    finally:
        server.stop()
