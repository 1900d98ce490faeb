"""``socflow doctor``: preflight for the Cortex host (or the compose stack).

Each check targets one of the failures Cortex admins hit most (prior-art-ecosystem §5.2): a job
folder not shared with the neuron containers (``JSONDecodeError`` on every job), a missing exec
bit or shebang ("permission denied" under the process runner), flavors or catalogs Cortex skips
silently, an image that is not there, wrong API keys. Every failed check says what to fix. Checks
whose inputs were not given are reported as ``skip``; exit status 1 when any check fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Callable

import click
import requests
from .common import Console, secret_option
from rich.table import Table

from ..cortex.flavors import KINDS, catalog_problems, discover

CORTEX_UID = 1001  # user of the official Cortex image and of the socflow image
MIN_CORTEXUTILS = "2.2.1"
TIMEOUT = (5, 10)  # connect, read (seconds)
STATUS_STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red", "skip": "dim"}


@dataclass
class Check:
    name: str
    status: str  # ok | warn | fail | skip
    detail: str
    fix: str = ""


# ------------------------------------------------------------------ neurons on disk
def check_flavors(source: Path) -> list[Check]:
    if not any((source / kind).is_dir() for kind in KINDS):
        return [Check("flavors", "skip", f"no analyzers/ or responders/ in {source}",
                      "pass --source with the folder listed in analyzer.urls/responder.urls")]
    flavors = discover(source)
    if not flavors:
        return [Check("flavors", "fail", f"no */*.json under {source}/analyzers or responders",
                      "Cortex reads <root>/<Name>/<flavor>.json, one level deep")]
    return [
        Check(f"flavor {f.path.relative_to(source)}", "fail" if f.problems else "ok",
              "; ".join(f.problems) if f.problems else f"{f.name} is valid",
              "fix the flavor JSON / entry script as stated, then refresh analyzers in Cortex"
              if f.problems else "")
        for f in flavors
    ]


def _numeric(text: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", text)[:3])


def check_cortexutils() -> Check:
    try:
        found = version("cortexutils")
    except PackageNotFoundError:
        return Check("cortexutils", "fail", "not installed for this Python",
                     f"pip install 'cortexutils>={MIN_CORTEXUTILS}' (process runner only)")
    if _numeric(found) < _numeric(MIN_CORTEXUTILS):
        return Check("cortexutils", "fail", f"version {found} is older than {MIN_CORTEXUTILS}",
                     f"pip install -U 'cortexutils>={MIN_CORTEXUTILS}'")
    return Check("cortexutils", "ok", f"version {found}")


# ------------------------------------------------------------------ catalogs
def _read_catalog(location: str) -> Any:
    if location.startswith(("http://", "https://")):
        response = requests.get(location, timeout=TIMEOUT)
        response.raise_for_status()
        return response.json()
    return json.loads(Path(location.removeprefix("file://")).read_text(encoding="utf-8"))


def check_catalog(location: str) -> Check:
    name = f"catalog {location}"
    remote = location.startswith(("http://", "https://"))
    try:
        catalog = _read_catalog(location)
    except requests.RequestException as exc:
        return Check(name, "fail", f"not reachable: {type(exc).__name__}: {_short(exc)}",
                     "check the URL and that Cortex can reach it (proxy, firewall)")
    except (OSError, ValueError) as exc:
        return Check(name, "fail", f"not readable JSON: {_short(exc)}",
                     "regenerate it with `socflow catalog --output DIR`")
    problems = catalog_problems(catalog, remote=remote)
    if problems:
        return Check(name, "fail", "; ".join(problems)[:600],
                     "regenerate it with `socflow catalog`; Cortex skips invalid entries silently")
    count = len(catalog) if isinstance(catalog, list) else 1
    return Check(name, "ok", f"{count} valid entr{'y' if count == 1 else 'ies'}")


# ------------------------------------------------------------------ job folder and image
def check_job_directory(job_dir: Path | None, docker_job_dir: Path | None) -> list[Check]:
    if job_dir is None:
        return [Check("job directory", "skip", "not given", "pass --job-dir (Cortex job.directory)")]
    if not job_dir.is_dir():
        return [Check("job directory", "fail", f"{job_dir} does not exist",
                      f"create it (mkdir -p {job_dir}; chown {CORTEX_UID} {job_dir})")]
    probe = job_dir / f".socflow-doctor-{uuid.uuid4().hex}"
    try:
        probe.write_text("probe", encoding="utf-8")
    except OSError as exc:
        return [Check("job directory", "fail", f"{job_dir} is not writable: {exc.strerror}",
                      f"chown {CORTEX_UID} {job_dir} (the Cortex user)")]
    try:
        checks = [_owner_check(job_dir), _shared_check(job_dir, docker_job_dir or job_dir, probe.name)]
    finally:
        probe.unlink(missing_ok=True)
    return checks


def _owner_check(job_dir: Path) -> Check:
    st = job_dir.stat()
    if st.st_uid == CORTEX_UID or st.st_mode & 0o002:
        return Check("job directory owner", "ok", f"{job_dir} is writable by uid {CORTEX_UID}")
    return Check(
        "job directory owner", "warn",
        f"{job_dir} belongs to uid {st.st_uid}; Cortex and the socflow image run as uid {CORTEX_UID}",
        f"chown {CORTEX_UID}:{CORTEX_UID} {job_dir}, or run Cortex as uid {CORTEX_UID}",
    )


def _shared_check(job_dir: Path, docker_job_dir: Path, probe: str) -> Check:
    name = "job directory shared"
    if not (docker_job_dir / probe).is_file():
        return Check(
            name, "fail",
            f"a file written to {job_dir} (job.directory) is not visible at {docker_job_dir} "
            "(job.dockerDirectory): neuron containers would see an empty /job (JSONDecodeError)",
            f"bind-mount the host folder {docker_job_dir} into Cortex at the same path and set "
            "job.directory = job.dockerDirectory to it",
        )
    if os.path.abspath(job_dir) != os.path.abspath(docker_job_dir):  # symlinks count as two paths
        return Check(name, "warn", f"{job_dir} and {docker_job_dir} are the same folder under two paths",
                     "using one path inside and outside the Cortex container avoids mistakes")
    return Check(name, "ok", f"{job_dir} is job.directory and job.dockerDirectory")


def check_image(image: str | None, run: Callable[..., subprocess.CompletedProcess[str]]) -> Check:
    if not image:
        return Check("image", "skip", "not given", "pass --image NAME:TAG as in the catalog")
    cli = next((c for c in ("docker", "podman") if shutil.which(c)), None)
    if cli is None:
        return Check("image", "skip", "neither docker nor podman CLI found on this host",
                     "run doctor where Cortex talks to the container engine")
    try:
        proc = run([cli, "image", "inspect", image], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return Check("image", "fail", f"`{cli} image inspect` did not answer in 30 s",
                     "check that the container engine (and /var/run/docker.sock) works")
    if proc.returncode == 0:
        return Check("image", "ok", f"{image} is present ({cli})")
    reason = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
    if "daemon" in reason[0].lower() or "docker.sock" in reason[0]:
        fix = "start the Docker daemon and give Cortex /var/run/docker.sock"
    else:
        fix = (f"docker build -f docker/Dockerfile -t {image} . (or pull it); for images that exist "
               "only locally set docker.autoUpdate=false in Cortex")
    return Check("image", "fail", f"{image} not usable via {cli}: {reason[0][:200]}", fix)


# ------------------------------------------------------------------ services
def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def _get(url: str, key: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return requests.get(url, headers=headers, timeout=TIMEOUT, allow_redirects=False)


def check_api(product: str, base: str | None, key: str | None, status_path: str, user_path: str) -> Check:
    if not base:
        return Check(product, "skip", "no URL given",
                     f"pass --{product.lower()}-url or SOCFLOW_{product.upper()}_URL")
    base = base.rstrip("/")
    try:
        status = _get(base + status_path)
    except requests.RequestException as exc:
        return Check(product, "fail", f"{base} is not reachable: {type(exc).__name__}: {_short(exc)}",
                     "check the URL, DNS, firewall and that the service is up")
    if status.status_code != 200:
        return Check(product, "fail", f"{base}{status_path} answered HTTP {status.status_code}",
                     f"is {base} really {product}? (reverse-proxy path prefix?)")
    if not key:
        return Check(product, "warn", f"{base} is up; no API key given, so it was not checked",
                     f"pass --{product.lower()}-key or SOCFLOW_{product.upper()}_KEY")
    try:
        who = _get(base + user_path, key)
    except requests.RequestException as exc:
        return Check(product, "fail", f"{base}{user_path} failed: {_short(exc)}", "retry; check the service logs")
    if who.status_code in (401, 403):
        return Check(product, "fail", f"{base} rejected the API key (HTTP {who.status_code})",
                     f"create a new API key for the socflow user in {product} and pass it")
    if who.status_code != 200:
        return Check(product, "fail", f"{base}{user_path} answered HTTP {who.status_code}",
                     "check the service logs")
    login = _login_of(who)
    return Check(product, "ok", f"{base} is up and the key is valid (user {login})")


def _login_of(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return "?"
    return str(body.get("login") or body.get("id") or body.get("name") or "?") if isinstance(body, dict) else "?"


def check_blocklist(base: str | None) -> Check:
    if not base:
        return Check("blocklist", "skip", "no URL given", "pass --blocklist-url or SOCFLOW_BLOCKLIST_URL")
    url = base.rstrip("/") + "/healthz"
    try:
        response = _get(url)
    except requests.RequestException as exc:
        return Check("blocklist", "fail", f"{url} is not reachable: {type(exc).__name__}: {_short(exc)}",
                     "start it: socflow blocklist serve --host 0.0.0.0 --port 8080")
    if response.status_code != 200:
        return Check("blocklist", "fail", f"{url} answered HTTP {response.status_code}",
                     "check `socflow blocklist serve` logs")
    return Check("blocklist", "ok", f"{url} answered 200")


def check_state(url: str | None, password: str | None, containerised: bool) -> Check:
    """The shared state backend: reachable, password accepted, version, persistence; and the
    per-job SQLite state that containers cannot share (each job: empty cache, its own quota)."""
    from ...errors import SocflowError
    from ...statestore import connect, parse_state_url, redis_errors, server_info, translate

    if not url:
        if containerised:
            return Check("state", "warn", "no state_url: containerised neurons keep a per-job SQLite "
                         "cache and quota ledger (every job starts empty and spends its own quota)",
                         "set the intel flavors' state_url to a Redis all jobs reach "
                         "(pass --state-url / SOCFLOW_STATE_URL here to check it)")
        return Check("state", "skip", "no state URL given", "pass --state-url or SOCFLOW_STATE_URL")
    try:
        target = parse_state_url(url)
    except SocflowError as exc:
        return Check("state", "fail", str(exc), "fix the URL (docs/deploy.md §9)")
    if target.kind == "sqlite":
        if containerised:
            return Check("state", "warn", f"{target.url} is a per-host SQLite file: containers of "
                         "the docker/kubernetes runner do not share it",
                         "use a redis:// state_url for containerised neurons")
        return Check("state", "ok", f"{target.url} (SQLite, this host's processes only)")
    client = connect(target, password)
    try:
        client.ping()
        info = server_info(client, target)
    except redis_errors() as exc:
        problem = translate(target, exc)
        return Check("state", "fail", str(problem),
                     "check the host, port and TLS options, and SOCFLOW_STATE_PASSWORD")
    except SocflowError as exc:
        return Check("state", "fail", str(exc), "check SOCFLOW_STATE_PASSWORD and the user in the URL")
    finally:
        client.close()
    what = f"{target.url}: {info['server']} {info['version']}"
    if not info["aof"]:
        return Check("state", "warn", f"{what}, appendonly off: a restart or kill loses cached "
                     "verdicts, quota counts and open rule windows since the last snapshot",
                     "CONFIG SET appendonly yes (then persist it in redis.conf)")
    return Check("state", "ok", f"{what}, appendonly on")


# ------------------------------------------------------------------ command
_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")


def redact(checks: list[Check], secrets: list[str]) -> list[Check]:
    """No key, token or URL password in anything printed (exception texts included)."""

    def clean(text: str) -> str:
        for secret in sorted(filter(None, secrets), key=len, reverse=True):
            text = text.replace(secret, "REMOVED")
        return _USERINFO.sub("REMOVED@", text)

    return [Check(clean(c.name), c.status, clean(c.detail), clean(c.fix)) for c in checks]


def check_native() -> Check:
    """The C extension speeds up log extraction (LogIOC, socflow extract/ingest) about twofold;
    without it everything works, slower."""
    from ...native import NATIVE

    if NATIVE is not None:
        return Check("C extension", "ok", "socflow._native loaded (fast extraction)")
    return Check("C extension", "warn", "not loaded: extraction runs in pure Python, ~2x slower",
                 "reinstall socflow where gcc and the Python headers exist "
                 "(or unset SOCFLOW_NO_NATIVE)")


def run_checks(opts: dict[str, Any]) -> list[Check]:
    checks = check_flavors(opts["source"])
    checks.append(check_cortexutils())
    checks.append(check_native())
    checks += [check_catalog(c) for c in opts["catalog"]]
    checks += check_job_directory(opts["job_dir"], opts["docker_job_dir"])
    checks.append(check_image(opts["image"], subprocess.run))
    checks.append(check_api("TheHive", opts["thehive_url"], opts["thehive_key"],
                            "/api/v1/status/public", "/api/v1/user/current"))
    checks.append(check_api("Cortex", opts["cortex_url"], opts["cortex_key"],
                            "/api/status", "/api/user/current"))
    checks.append(check_blocklist(opts["blocklist_url"]))
    password = os.environ.get("SOCFLOW_STATE_PASSWORD") or None
    checks.append(check_state(opts["state_url"], password, containerised=bool(opts["image"])))
    return redact(checks, [opts["thehive_key"], opts["cortex_key"], password or ""])


def _print_table(checks: list[Check]) -> None:
    table = Table(title="socflow doctor", show_lines=False)
    for column in ("status", "check", "detail", "what to fix"):
        table.add_column(column, overflow="fold")
    for c in checks:
        table.add_row(f"[{STATUS_STYLE[c.status]}]{c.status}[/]", c.name, c.detail, c.fix)
    console = Console()
    (console if console.is_terminal else Console(width=200)).print(table)  # pipes: no truncation


@click.command("doctor")
@click.option("--source", default=".", show_default=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder with analyzers/ and responders/ (as listed in analyzer.urls).")
@click.option("--catalog", multiple=True, metavar="PATH|URL", help="A catalog Cortex reads (repeatable).")
@click.option("--job-dir", type=click.Path(path_type=Path), envvar="SOCFLOW_JOB_DIR",
              help="Cortex job.directory.")
@click.option("--docker-job-dir", type=click.Path(path_type=Path), envvar="SOCFLOW_DOCKER_JOB_DIR",
              help="Cortex job.dockerDirectory (default: same as --job-dir).")
@click.option("--image", envvar="SOCFLOW_IMAGE", help="Neuron image to look for, e.g. NAME:TAG.")
@click.option("--thehive-url", envvar="SOCFLOW_THEHIVE_URL")
@secret_option("--thehive-key", "SOCFLOW_THEHIVE_KEY", "TheHive API key")
@click.option("--cortex-url", envvar="SOCFLOW_CORTEX_URL")
@secret_option("--cortex-key", "SOCFLOW_CORTEX_KEY", "Cortex API key")
@click.option("--blocklist-url", envvar="SOCFLOW_BLOCKLIST_URL")
@click.option("--state-url", envvar="SOCFLOW_STATE_URL",
              help="Shared state the neurons' state_url names (password in SOCFLOW_STATE_PASSWORD).")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
def doctor(as_json: bool, **opts: Any) -> None:
    """Check a socflow/Cortex/TheHive deployment and say what to fix."""
    checks = run_checks(opts)
    failed = [c for c in checks if c.status == "fail"]
    if as_json:
        click.echo(json.dumps({"ok": not failed, "checks": [asdict(c) for c in checks]}, indent=2))
    else:
        _print_table(checks)
        click.echo(f"{len(failed)} check(s) failed." if failed else "All checks passed.")
    if failed:
        raise SystemExit(1)
