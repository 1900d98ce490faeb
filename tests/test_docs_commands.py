"""Docs that run (issue 11 §10): every command in a fenced shell block of README.md and docs/*.md.

A block is a shell block when it is tagged ``sh``/``bash``/``shell``/``console``, or untagged with
a first command that starts like one (``socflow``, ``.venv/bin/…``, ``make``, ``docker``, …).
Each command line (``\\`` continuations joined, comments dropped) is then either

* **run**, as written, when it needs no outside service: a ``socflow`` command other than
  ``enrich`` (API keys), ``alerts push`` (TheHive), ``blocklist serve`` (a server), ``doctor`` (a
  deployment), ``mail intake`` (a mailbox: tests/mail/test_mail_intake_docs.py runs
  docs/phishing.md's against a real dovecot), ``--follow`` or ``--listen`` (run for ever;
  tests/bridge/test_rsyslog.py runs docs/syslog.md's ``--listen`` commands against a real rsyslog). Optional parts of a synopsis (``[--json]``) are
  left out and ``--state-dir …`` means the sandbox's state dir; a line still holding a placeholder
  (``…``, ``<x>``, ``PATH…``) is only checked.
  It runs with ``bash`` in a sandbox per document: a temporary folder with a copy of
  ``examples/``, the repository's ``.venv``, ``analyzers/``, ``responders/``,
  ``thehive-templates/`` and ``tests/`` (sample inputs such as the mail corpus), ``SOCFLOW_STATE_DIR`` and ``HOME`` inside it, and the system paths the
  docs use (``/var/log/…``, ``/var/lib/socflow``, ``/etc/socflow``) mapped into it, filled from
  ``examples/logs``; ``old.log.gz`` is the example auth log compressed. It must exit 0 without a
  traceback. Commands of one document run in order, so ``ingest`` fills the outbox
  ``alerts list`` then shows.
* **checked** otherwise: a ``socflow`` command must exist and take every flag and environment
  variable the line uses (per its ``--help``); a ``bench/*.py`` script likewise; a ``make``
  target must exist; ``docker build -f FILE`` must name a file of the repository.

In ``console`` blocks only ``$ `` lines are commands; the lines after one are its output as
shown, and running it must print each of them (``…`` matches anything). An output that starts
with ``socflow: error:`` shows a failure, so that command must exit 1 there.

Any other program is named in the result so a new kind of command cannot slip by unchecked.
"""

from __future__ import annotations

import gzip
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SHELL_TAGS = {"sh", "bash", "shell", "console", "shell-session"}
FENCE = re.compile(r"^(?P<fence>```+|~~~+)(?P<tag>[^\n`]*)\n(?P<body>.*?)^(?P=fence)[ \t]*$",
                   re.M | re.S)
SOCFLOW = {"socflow", ".venv/bin/socflow"}
PYTHON = {"python", "python3", ".venv/bin/python"}
STARTS_LIKE_SHELL = re.compile(
    r"^(?:[A-Z_][A-Z0-9_]*=\S*\s+)*(?:socflow|\.venv/bin/\S+|make|docker|export|zcat|cat|curl)(?:\s|$)"
)
NEEDS_SERVICE = {("enrich",), ("alerts", "push"), ("blocklist", "serve"), ("doctor",),
                 ("playbook", "run"), ("playbook", "watch"),
                 ("mail", "intake")}  # a mailbox: tests/mail/test_mail_intake_docs.py runs those
PLACEHOLDER = re.compile(r"…|^\[|\]$|^<.*>$")
MAPPED = {"/var/log/": "var/log/", "/var/lib/socflow": "var/lib/socflow", "/etc/socflow": "etc/socflow"}


@dataclass
class Command:
    doc: str
    line: int
    text: str  # as written (continuations joined)
    exports: list[str]  # the block's earlier `export` lines, for running
    shown: list[str] = field(default_factory=list)  # console blocks: the output shown after it


CONSOLE_TAGS = {"console", "shell-session"}


def shell_blocks(path: Path) -> list[tuple[int, str, str]]:
    text = path.read_text(encoding="utf-8")
    found = []
    for m in FENCE.finditer(text):
        tag = m["tag"].strip().split(" ")[0].lower()
        body = m["body"]
        first = next((ln.strip() for ln in body.splitlines()
                      if ln.strip() and not ln.strip().startswith("#")), "")
        if tag in SHELL_TAGS or (not tag and STARTS_LIKE_SHELL.match(first)):
            found.append((text[: m.start()].count("\n") + 2, tag, body))
    return found


def commands(path: Path) -> list[Command]:
    out = []
    for start, tag, body in shell_blocks(path):
        exports: list[str] = []
        joined, first_line = "", 0
        console = tag in CONSOLE_TAGS
        for offset, raw in enumerate(body.splitlines()):
            if console and not joined and not raw.startswith("$ "):
                if out and out[-1].doc == path.name and out[-1].line >= start and raw.strip():
                    out[-1].shown.append(raw.strip())  # output of the command above
                continue
            if not joined:
                first_line = start + offset
            joined += raw.rstrip()
            if joined.endswith("\\"):
                joined = joined[:-1] + " "
                continue
            line, joined = joined.strip(), ""
            if not line or line.startswith("#"):
                continue
            if line.startswith("$ "):
                line = line[2:]
            if line.startswith("export "):
                exports.append(line)
                continue
            out.append(Command(path.name, first_line, line, list(exports)))
    return out


def segments(text: str) -> list[list[str]]:
    """The simple commands of a line (split at | && || ;), words unquoted, comments dropped."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    parts: list[list[str]] = [[]]
    for token in lexer:
        if token in ("|", "||", "&&", ";", "&"):
            parts.append([])
        else:
            parts[-1].append(token)
    return [p for p in parts if p]


def split_env(words: list[str]) -> tuple[dict[str, str], list[str]]:
    env = {}
    while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
        name, value = words[0].split("=", 1)
        env[name] = value
        words = words[1:]
    return env, words


@cache
def socflow_help(path: tuple[str, ...]) -> str | None:
    proc = subprocess.run([sys.executable, "-m", "socflow.adapters.cli.main", *path, "--help"],
                          capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, COLUMNS="250"))
    return proc.stdout if proc.returncode == 0 else None


@cache
def script_help(script: str) -> str | None:
    proc = subprocess.run([sys.executable, str(REPO / script), "--help"], capture_output=True,
                          text=True, timeout=120, cwd=REPO)
    return proc.stdout if proc.returncode == 0 else None


def flags_of(words: list[str]) -> list[str]:
    flags = []
    for word in words:
        word = word.strip("[]…")
        if re.match(r"^--?[A-Za-z]", word):
            flags.append(word.split("=", 1)[0])
    return flags


def check_flags(what: str, help_text: str, words: list[str], env: dict[str, str]) -> list[str]:
    problems = []
    known = set(re.findall(r"(?<![\w-])(--?[A-Za-z0-9][\w-]*)", help_text))
    for flag in flags_of(words):
        if flag not in known:
            problems.append(f"{what}: no option {flag}")
    for name in env:
        if name not in help_text:
            problems.append(f"{what}: {name} is not an environment variable it reads")
    return problems


def socflow_path(words: list[str]) -> tuple[str, ...]:
    """The command (``ingest``) or group and sub-command (``blocklist add``) a line runs."""
    args = [w for w in words[1:] if not w.startswith("-")]
    if not args:
        return ()
    group = socflow_help((args[0],))
    if len(args) > 1 and group is not None and "\nCommands:" in group:
        return (args[0], args[1])
    return (args[0],)


def concrete(words: list[str]) -> list[str]:
    """A synopsis line as one runnable command: ``[optional parts]`` left out, ``--state-dir …``
    and ``--db …`` pointed at the sandbox's state (``$SOCFLOW_STATE_DIR``)."""
    out: list[str] = []
    depth = 0
    for word in words:
        if depth or word.startswith("["):
            depth += word.count("[") - word.count("]")
            continue
        if word == "…" and out and out[-1] in ("--state-dir", "--db"):
            word = "$SOCFLOW_STATE_DIR" if out[-1] == "--state-dir" else "$SOCFLOW_STATE_DIR/x.db"
        out.append(word)
    return out


def runnable(words: list[str], env: dict[str, str]) -> bool:
    path = socflow_path(words)
    if path in NEEDS_SERVICE or "--follow" in words or "--listen" in words or "--help" in words:
        return False
    return not any(PLACEHOLDER.search(w) for w in [*words, *env.values()])


def examine(cmd: Command) -> tuple[str, list[str], str]:
    """("run" | "checked", problems found without running, the line to run)."""
    problems: list[str] = []
    run = True
    parts = segments(cmd.text)
    script = cmd.text
    if len(parts) == 1 and parts[0] != concrete(parts[0]):
        env, words = split_env(parts[0])
        script = " ".join([*(f"{k}={shlex.quote(v)}" for k, v in env.items()),
                           *(w if w.startswith("$SOCFLOW") else shlex.quote(w)
                             for w in concrete(words))])
    for words in parts:
        env, words = split_env(words)
        program = words[0] if words else ""
        where = f"{cmd.doc}:{cmd.line}: {program}"
        if program in SOCFLOW:
            path = socflow_path(words)
            help_text = socflow_help(path)
            if help_text is None:
                problems.append(f"{where}: `socflow {' '.join(path)}` is no command")
                continue
            problems += check_flags(f"{where} {' '.join(path)}", help_text, words, env)
            run = run and runnable(concrete(words), env)
        elif program in PYTHON and len(words) > 1 and words[1].startswith("bench/"):
            help_text = script_help(words[1])
            if help_text is None:
                problems.append(f"{where}: {words[1]} --help fails")
            else:
                problems += check_flags(f"{where} {words[1]}", help_text, words[2:], {})
            run = False  # benchmarks take minutes: their flags are what we check
        elif program == "make":
            targets = re.findall(r"^([\w.-]+):", (REPO / "Makefile").read_text(), re.M)
            problems += [f"{where}: no make target {t}" for t in words[1:] if t not in targets]
            run = False
        elif program == "docker":
            if "-f" in words and not (REPO / words[words.index("-f") + 1]).is_file():
                problems.append(f"{where}: no file {words[words.index('-f') + 1]}")
            run = False
        elif program in ("zcat", "cat", "openssl", "head"):
            pass  # ordinary tools feeding a socflow command: run with it
        else:
            problems.append(f"{where}: a program this test does not know how to check")
            run = False
    return ("run" if run else "checked"), problems, script


# ---- the sandbox --------------------------------------------------------------------------------


def sandbox(root: Path) -> tuple[Path, dict[str, str]]:
    shutil.copytree(REPO / "examples", root / "examples")
    (root / ".venv").symlink_to(Path(sys.prefix))  # the venv running the tests
    for name in ("analyzers", "responders", "thehive-templates", "tests"):  # read, never written
        (root / name).symlink_to(REPO / name)
    logs = REPO / "examples" / "logs"
    (root / "var" / "log" / "nginx").mkdir(parents=True)
    shutil.copy(logs / "auth.log", root / "var" / "log" / "auth.log")
    shutil.copy(logs / "access.log", root / "var" / "log" / "nginx" / "access.log")
    (root / "etc" / "socflow").mkdir(parents=True)
    (root / "etc" / "socflow" / "allowlist.txt").write_text("# nothing allowlisted\n10.0.0.0/8\n")
    (root / "old.log.gz").write_bytes(gzip.compress((logs / "auth.log").read_bytes()))
    (root / "home").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCFLOW_")}
    env.update(
        HOME=str(root / "home"),
        SOCFLOW_STATE_DIR=str(root / "state"),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        COLUMNS="160",
    )
    return root, env


def as_run_in(text: str, root: Path) -> str:
    for system, local in MAPPED.items():
        text = re.sub(rf"(?<![\w./]){re.escape(system)}", f"{root}/{local}", text)
    return text


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_command_in_the_docs_runs_or_matches_the_cli(doc, tmp_path):
    root, env = sandbox(tmp_path)
    problems, ran, checked = [], [], []
    for cmd in commands(doc):
        kind, found, line = examine(cmd)
        problems += found
        if kind == "checked" or found:
            checked.append(cmd.text)
            continue
        script = "\n".join([*cmd.exports, line])
        proc = subprocess.run(["bash", "-euo", "pipefail", "-c", as_run_in(script, root)],
                              cwd=root, env=env, capture_output=True, text=True, timeout=600,
                              stdin=subprocess.DEVNULL)
        ran.append(cmd.text)
        fails = any(line.startswith("socflow: error:") for line in cmd.shown)
        tail = (proc.stderr.strip().splitlines() or [""])[-1]
        if proc.returncode != (1 if fails else 0) or "Traceback" in proc.stderr:
            problems.append(f"{cmd.doc}:{cmd.line}: `{cmd.text}` exited {proc.returncode}: {tail}")
        printed = " ".join((proc.stdout + proc.stderr).split())
        for line in cmd.shown:
            pattern = ".*".join(re.escape(" ".join(part.split())) for part in line.split("…"))
            if not re.search(pattern, printed):
                problems.append(f"{cmd.doc}:{cmd.line}: `{cmd.text}` did not print: {line}")
    assert not problems, "\n".join(problems)
    print(f"{doc.name}: ran {len(ran)}, checked {len(checked)}")


def test_the_docs_have_commands_and_the_test_runs_most_of_them():
    """Guards the test itself: blocks are found, and the runnable ones are recognised."""
    kinds = [examine(c)[0] for doc in DOCS for c in commands(doc)]
    assert len(kinds) >= 20 and kinds.count("run") >= 8, kinds
    readme = [c.text for c in commands(REPO / "README.md")]
    assert any("socflow extract examples/logs" in c for c in readme)
    assert examine(Command("x", 1, "socflow enrich 1.2.3.4", []))[0] == "checked"
    assert examine(Command("x", 1, "socflow extract --no-such-flag x", []))[1]
    assert examine(Command("x", 1, "socflow blocklist list --type ip [--json]", []))[2] == (
        "socflow blocklist list --type ip"
    )
    assert examine(Command("x", 1, "socflow ingest [--json] PATH…", []))[0] == "checked"
    assert examine(Command("x", 1, "socflow blocklist add 193.32.162.157", []))[0] == "run"
    assert examine(Command("x", 1, "rm -rf /", []))[1]
