"""Base classes every socflow analyzer and responder derives from.

How to write one:

* subclass :class:`SocflowAnalyzer` (or :class:`SocflowResponder`), set ``DATA_TYPES`` and
  ``SECRET_CONFIG`` (names of config items that hold secrets, beyond the name heuristics),
  implement ``analyze()`` (``respond()`` for responders) returning the ``full`` report dict, and
  override ``summary()`` / ``artifacts()`` / ``operations()`` as cortexutils expects;
* raise :class:`socflow.errors.SocflowError` subclasses for expected failures: they become
  ``success:false`` with the message. Anything else becomes "Unexpected error: …" — never a
  traceback, never a missing ``output.json``;
* the entry script calls :func:`run_worker` with the class.

Secrets: every config string whose key looks secret, or is listed in ``SECRET_CONFIG``, is
replaced by ``REMOVED`` in the echoed input and scrubbed from every message and report.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, ClassVar

from cortexutils.analyzer import Analyzer
from cortexutils.responder import Responder

from ...errors import SocflowError

SECRET_PHRASES = (
    "key", "password", "passwd", "secret", "token", "auth", "credential", "cookie", "session",
)
REDACTED = "REMOVED"


def is_secret_key(name: str, extra: frozenset[str] = frozenset()) -> bool:
    low = name.lower()
    return name in extra or any(p in low for p in SECRET_PHRASES)


def collect_secrets(config: Any, extra: frozenset[str] = frozenset()) -> set[str]:
    """Every string value under a secret-looking key, at any depth, plus proxy credentials."""
    found: set[str] = set()

    def walk(node: Any, secret: bool) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, secret or is_secret_key(str(k), extra))
        elif isinstance(node, list):
            for v in node:
                walk(v, secret)
        elif secret and isinstance(node, (int, float)) and not isinstance(node, bool):
            if len(str(node)) >= 4:  # a secret given as a number (Cortex's API accepts one)
                found.add(str(node))
        elif isinstance(node, str) and node:
            if secret and len(node) >= 4:
                found.add(node)
            if "://" in node and "@" in node.split("://", 1)[1].split("/", 1)[0]:
                userinfo = node.split("://", 1)[1].split("@", 1)[0]
                found.update(p for p in userinfo.split(":") if len(p) >= 4)

    walk(config, False)
    return found


def scrub(value: Any, secrets: set[str]) -> Any:
    """Replace every occurrence of a secret inside strings of ``value`` (recursively)."""
    if not secrets:
        return value
    if isinstance(value, str):
        for s in sorted(secrets, key=len, reverse=True):
            value = value.replace(s, REDACTED)
        return value
    if isinstance(value, dict):
        return {k: scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, secrets) for v in value]
    return value


def _redacted_input(job_input: Any, extra: frozenset[str] = frozenset()) -> Any:
    """The job input as echoed on failure: every config string is hidden, whatever its name, and
    under a secret-looking key every value but true/false/null (a password given as a number)."""
    if not isinstance(job_input, dict):
        return None
    echoed = {k: v for k, v in job_input.items() if k != "config"}

    def hide(node: Any, secret: bool) -> Any:
        if isinstance(node, dict):
            return {k: hide(v, secret or is_secret_key(str(k), extra)) for k, v in node.items()}
        if isinstance(node, list):
            return [hide(v, secret) for v in node]
        if isinstance(node, str):
            return REDACTED if node else node
        if secret and isinstance(node, (int, float)) and not isinstance(node, bool):
            return REDACTED
        return node

    echoed["config"] = hide(job_input.get("config") or {}, False)
    return echoed


class _SocflowWorker:
    """Behaviour shared by analyzers and responders (mixed in before the cortexutils class)."""

    DATA_TYPES: ClassVar[tuple[str, ...]] = ()
    SECRET_CONFIG: ClassVar[frozenset[str]] = frozenset()
    _input: dict[str, Any]
    job_directory: str | None
    data_type: str

    @property
    def secrets(self) -> set[str]:
        return collect_secrets(self._input.get("config") or {}, self.SECRET_CONFIG)

    def config(self, name: str, default: Any = None) -> Any:
        """A config item; JSON null (Cortex's "not set") gives ``default``."""
        value = (self._input.get("config") or {}).get(name)
        return default if value is None else value

    def _write_output(self, output: dict[str, Any]) -> None:
        output = scrub(output, self.secrets)
        text = json.dumps(output, ensure_ascii=False)
        if self.job_directory is None:
            sys.stdout.write(text)
            return
        out_dir = Path(self.job_directory) / "output"
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "output.json").write_text(text, encoding="utf-8")

    # cortexutils' own report()/error() write with the platform encoding and echo secrets.
    def error(self, message: str, ensure_ascii: bool = False) -> None:
        self._write_output(
            {"success": False, "input": _redacted_input(self._input, self.SECRET_CONFIG),
             "errorMessage": message}
        )
        sys.exit(1)

    def check_data_type(self) -> None:
        if self.DATA_TYPES and self.data_type not in self.DATA_TYPES:
            raise SocflowError(
                f"data type '{self.data_type}' is not supported; use one of: "
                + ", ".join(self.DATA_TYPES)
            )

    def run(self) -> None:
        try:
            self.check_data_type()
            self._run_checked()
        except SocflowError as exc:
            self.error(str(exc))
        except Exception as exc:  # noqa: BLE001 - last line of defence: Cortex needs an output
            self.error(f"Unexpected error: {type(exc).__name__}: {exc}")

    def _run_checked(self) -> None:
        raise NotImplementedError


class SocflowAnalyzer(_SocflowWorker, Analyzer):
    """Base for analyzers: implement ``analyze() -> dict`` (the ``full`` report)."""

    def __init__(self, job_directory: str | None = None) -> None:
        Analyzer.__init__(self, job_directory, secret_phrases=SECRET_PHRASES)

    def analyze(self) -> dict[str, Any]:
        raise NotImplementedError

    def _run_checked(self) -> None:
        full = self.analyze()
        if not isinstance(full, dict):
            raise SocflowError("internal error: the analyzer produced no report object")
        self._write_output(
            {
                "success": True,
                "summary": self.summary(full),
                "artifacts": self.artifacts(full),
                "operations": self.operations(full),
                "full": full,
            }
        )

    def artifacts(self, raw: Any) -> list[dict[str, Any]]:
        return []


class SocflowResponder(_SocflowWorker, Responder):
    """Base for responders: implement ``respond() -> dict`` and ``operations(full)``."""

    def __init__(self, job_directory: str | None = None) -> None:
        Responder.__init__(self, job_directory, secret_phrases=SECRET_PHRASES)

    def respond(self) -> dict[str, Any]:
        raise NotImplementedError

    def _run_checked(self) -> None:
        full = self.respond()
        self._write_output(
            {"success": True, "full": full, "operations": self.operations(full)}
        )


MAX_INPUT_BYTES = 16 * 1024 * 1024  # a TheHive alert with every observable is far below this
MAX_INPUT_DEPTH = 64  # TheHive objects nest a handful of levels; past this it is an attack


def _depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value, without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            node = list(node.values())
        if isinstance(node, list):
            deepest = max(deepest, level)
            if level > MAX_INPUT_DEPTH:
                return level
            stack.extend((child, level + 1) for child in node)
    return deepest


def check_job_input(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """(the job, None) or (None, one-line reason) for ``input/input.json``: bounded in size and
    nesting, UTF-8, JSON, an object — read once, before cortexutils or any worker code sees it."""
    where = "input/input.json"
    try:
        size = path.stat().st_size
        if size > MAX_INPUT_BYTES:
            return None, (
                f"{where} is {size} bytes, more than the {MAX_INPUT_BYTES} a job may hold"
            )
        raw = path.read_bytes()
    except OSError as exc:
        return None, f"cannot read {where}: {exc.strerror or exc}"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"{where} is not valid JSON: not UTF-8 text (byte {exc.start})"
    try:
        job = json.loads(text)
    except RecursionError:
        return None, f"{where} is nested too deeply (more than {MAX_INPUT_DEPTH} levels)"
    except ValueError as exc:
        return None, f"{where} is not valid JSON: {exc}"
    if not isinstance(job, dict):
        return None, f"{where} must hold a JSON object, not {type(job).__name__}"
    if _depth(job) > MAX_INPUT_DEPTH:
        return None, f"{where} is nested too deeply (more than {MAX_INPUT_DEPTH} levels)"
    return job, None


def _job_directory_from_argv() -> str:
    return sys.argv[1] if len(sys.argv) > 1 else "/job"


def write_failure_output(job_directory: str | Path, message: str, who: str = "socflow") -> None:
    """No worker could run (input unreadable, worker not loadable): still leave Cortex a
    readable ``output.json``; if even that is impossible, say why on stderr (Cortex logs it)."""
    out = Path(job_directory) / "output"
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "output.json").write_text(
            json.dumps({"success": False, "input": None, "errorMessage": message}),
            encoding="utf-8",
        )
    except OSError as exc:
        print(
            f"{who}: cannot write {out / 'output.json'}: {exc.strerror or exc}; the job folder "
            "must be writable by the user the worker runs as",
            file=sys.stderr,
        )


def run_worker(worker: type[_SocflowWorker] | str) -> None:
    """Entry point of every analyzer/responder script (process, docker and kubernetes runners).

    ``worker`` is the class or its ``config.service`` key; with the key, the worker module is
    imported here, so even an import failure ends as a readable ``output.json``.
    """
    job_directory = _job_directory_from_argv()
    if isinstance(worker, str):
        try:
            from .registry import load_worker

            worker = load_worker(worker)
        except Exception as exc:  # noqa: BLE001 - Cortex needs an output whatever broke
            write_failure_output(
                job_directory, f"cannot load the worker: {type(exc).__name__}: {exc}"
            )
            return
    worker_cls = worker
    input_path = Path(job_directory) / "input" / "input.json"
    if input_path.is_file():
        _, problem = check_job_input(input_path)
        if problem:
            write_failure_output(job_directory, problem)
            return
    try:
        worker = worker_cls(job_directory)  # type: ignore[call-arg]
    except SystemExit:
        return  # cortexutils already wrote the error (e.g. TLP/PAP above the maximum)
    except Exception as exc:  # noqa: BLE001
        if os.environ.get("SOCFLOW_DEBUG"):
            import traceback  # only here: every job's start-up would pay for it

            traceback.print_exc()
        write_failure_output(job_directory, f"cannot start the worker: {type(exc).__name__}: {exc}")
        return
    try:
        worker.run()
    except SystemExit:
        pass
