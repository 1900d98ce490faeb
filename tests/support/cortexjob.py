"""Run a socflow flavor exactly as Cortex's process runner does (Cortex 4.1, spec A.5/A.6).

* job folder ``cortex-job-<id>-<random>/`` with ``input/input.json`` written compact, UTF-8, keys in
  Cortex's order, ``config`` = flavor ``config`` deep-merged with the worker configuration (items not
  given are ``null``, Cortex's global items included, proxies under ``config.proxy``);
* file observables copied to ``input/attachment<digits>``;
* argv ``[<absolute command>, <job folder>]``, cwd = the analyzers root, exit code ignored;
* a missing or empty ``output.json`` is replaced by ``{"success": false, "errorMessage": <stdout+stderr>}``
  like Cortex does — tests that need to know use ``JobResult.output_written``.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
ANALYZERS = REPO / "analyzers"
RESPONDERS = REPO / "responders"

_GLOBAL_ANALYZER_ITEMS = {"auto_extract_artifacts": False, "jobCache": 10}
_GLOBAL_ITEMS = {"proxy_http": None, "proxy_https": None, "cacerts": None, "jobTimeout": 30}


@dataclass
class JobResult:
    output: dict[str, Any]
    output_written: bool
    stdout: str
    stderr: str
    returncode: int
    job_dir: Path
    input: dict[str, Any]
    timed_out: bool = False


def load_flavor(flavor: str | Path) -> tuple[dict[str, Any], Path]:
    """Find a flavor JSON by name (``Socflow_LogIOC``) or path; return it and its file path."""
    path = Path(flavor)
    if not path.is_file():
        matches = [
            p
            for root in (ANALYZERS, RESPONDERS)
            for p in root.glob("*/*.json")
            if json.loads(p.read_text()).get("name") == str(flavor)
        ]
        if len(matches) != 1:
            raise LookupError(f"flavor {flavor!r}: found {len(matches)} definitions")
        path = matches[0]
    return json.loads(path.read_text()), path


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def build_config(definition: dict[str, Any], config: dict[str, Any], responder: bool) -> dict[str, Any]:
    stored: dict[str, Any] = {}
    for item in definition.get("configurationItems", []):
        default = item.get("defaultValue", [] if item.get("multi") else None)
        stored[item["name"]] = default
    for k in ("check_tlp", "max_tlp", "check_pap", "max_pap"):
        stored.setdefault(k, None)
    stored.update(_GLOBAL_ITEMS)
    if not responder:
        stored.update(_GLOBAL_ANALYZER_ITEMS)
    stored.update(config)
    merged = _deep_merge(definition.get("config", {}), stored)
    for scheme in ("http", "https"):
        if isinstance(merged.get(f"proxy_{scheme}"), str):
            merged = _deep_merge(merged, {"proxy": {scheme: merged[f"proxy_{scheme}"]}})
    return merged


def run_job(
    flavor: str | Path,
    *,
    data: Any = None,
    data_type: str,
    file: str | Path | None = None,
    filename: str | None = None,
    content_type: str = "application/octet-stream",
    tlp: int = 2,
    pap: int = 2,
    message: str = "",
    parameters: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    base_dir: str | Path | None = None,
    keep: bool = False,
    raw_input: bytes | None = None,
    job_id: str | None = None,
    on_timeout: str = "raise",
) -> JobResult:
    """``raw_input`` replaces the input.json Cortex would write (hostile-input tests).

    ``timeout=None`` waits for ever (Cortex's process runner without a worker ``jobTimeout``).
    ``on_timeout="fail"`` does what Cortex does when the job time runs out: the process is killed
    and the job ends with the synthetic output (``timed_out`` set); ``"raise"`` re-raises
    ``subprocess.TimeoutExpired`` (the default, for tests of one flavor).
    """
    definition, flavor_path = load_flavor(flavor)
    responder = flavor_path.parent.parent.name == "responders"
    root = flavor_path.parent.parent  # the analyzers (or responders) root
    command = (root / definition["command"]).resolve()

    base = Path(base_dir or tempfile.gettempdir())
    job_id = job_id or "".join(random.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(20))
    job_dir = Path(tempfile.mkdtemp(prefix=f"cortex-job-{job_id}-", dir=base))
    (job_dir / "input").mkdir()
    (job_dir / "output").mkdir()

    job: dict[str, Any] = {}
    if file is not None:
        attachment = f"attachment{random.randrange(10**17, 10**18)}"
        shutil.copyfile(file, job_dir / "input" / attachment)
        job.update(file=attachment, filename=filename or Path(file).name, contentType=content_type)
    else:
        job["data"] = data
    job.update(
        dataType=data_type,
        tlp=tlp,
        pap=pap,
        message=message,
        parameters=parameters or {},
        config=build_config(definition, config or {}, responder),
    )
    (job_dir / "input" / "input.json").write_bytes(
        raw_input
        if raw_input is not None
        else json.dumps(job, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    )

    run_env = dict(os.environ)
    run_env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{run_env.get('PATH', '')}"
    run_env.update(env or {})
    if (job_dir / "input" / "cacerts").exists():
        run_env["REQUESTS_CA_BUNDLE"] = str(job_dir / "input" / "cacerts")
    timed_out = False
    try:
        proc = subprocess.run(
            [str(command), str(job_dir)],
            cwd=root,
            env=run_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        stdout, stderr, returncode = proc.stdout, proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:
        if on_timeout != "fail":
            if not keep:
                shutil.rmtree(job_dir, ignore_errors=True)
            raise
        timed_out = True
        stdout = _text(exc.stdout)
        stderr = _text(exc.stderr)
        returncode = -9
    out_path = job_dir / "output" / "output.json"
    written = out_path.is_file() and out_path.stat().st_size > 0
    if written:
        output = json.loads(out_path.read_text(encoding="utf-8"))
    else:
        output = {"success": False, "errorMessage": stdout + stderr}
    result = JobResult(output, written, stdout, stderr, returncode, job_dir, job, timed_out)
    if not keep:
        shutil.rmtree(job_dir, ignore_errors=True)
    return result


def _text(value: str | bytes | None) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value or ""


def assert_cortex_accepts(output: dict[str, Any]) -> None:
    """What Cortex 4.1 needs to end a job cleanly (spec A.9)."""
    assert isinstance(output.get("success"), bool), output
    if not output["success"]:
        assert isinstance(output.get("errorMessage"), str) and output["errorMessage"], output
        return
    assert isinstance(output.get("full"), dict), "full must be an object or the job hangs"
    assert isinstance(output.get("summary", {}), dict)
    assert isinstance(output.get("operations", []), list)
    for op in output.get("operations", []):
        assert isinstance(op, dict) and isinstance(op.get("type"), str), op
    for tax in output.get("summary", {}).get("taxonomies", []):
        assert set(tax) == {"level", "namespace", "predicate", "value"}, tax
        assert tax["level"] in {"info", "safe", "suspicious", "malicious"}, tax
    artifacts = output.get("artifacts", [])
    assert isinstance(artifacts, list) and all(isinstance(a, dict) for a in artifacts)
    for art in artifacts:
        assert set(art) <= {"dataType", "data", "tlp", "tags", "message"}, art
        assert isinstance(art["dataType"], str) and isinstance(art["data"], str), art
        assert 0 <= art.get("tlp", 2) <= 3
        assert all(isinstance(t, str) for t in art.get("tags", []))
