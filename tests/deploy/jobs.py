"""Sample Cortex jobs for any flavor, so deploy tests stay generic over the flavors that exist.

``sample_job`` picks an observable for the flavor's first supported data type, fills required
configuration items with dummy values, points every ``*_url`` item at a local endpoint, empties
``*_path`` items (no job touches state on the host) and sets ``*_interval`` items to 1 s. ``service_endpoint`` gives that
endpoint: a fresh loopback fake from ``tests/fakes/cti.py`` when one is named like the flavor's
``config.service`` (VirusTotal, AbuseIPDB, OTX), the real ``socflow blocklist serve`` for the
block-list responders, a loopback HTTP sink for flavors with a ``webhook_url``, a loopback SMTP
server for flavors with ``smtp_host``/``smtp_port``, else a closed local port — never a real service.
"""

from __future__ import annotations

import http.server
import json
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from support.cortexjob import ANALYZERS, RESPONDERS, build_config

REPO = ANALYZERS.parent
LOG_SAMPLE = (
    "Nov 22 10:01:02 web1 sshd[811]: Failed password for root from 203.0.113.10 port 52113 ssh2\n"
    '198.51.100.7 - - [22/Nov/2026:10:01:03 +0000] "GET http://evil.example.com/x.php HTTP/1.1" 404 1\n'
)
_ENTITY = {"_id": "~4096", "_createdAt": 1763805662000, "tlp": 2, "pap": 2, "tags": []}
SAMPLES: dict[str, Any] = {
    "ip": "203.0.113.10",
    "domain": "example.com",
    "fqdn": "www.example.com",
    "url": "http://www.example.com/login.php",
    "hash": "44d88612fea8a8f36de82e1278abb02f",
    "mail": "phisher@example.com",
    "other": LOG_SAMPLE,
    # a global address: responders refuse documentation ranges (it only reaches local services)
    "thehive:case_artifact": {**_ENTITY, "_type": "case_artifact", "dataType": "ip",
                              "data": "81.2.69.142", "message": "", "ioc": True},
    "thehive:alert": {**_ENTITY, "_type": "alert", "title": "Brute force", "description": "x",
                      "severity": 2, "type": "socflow", "source": "ci", "sourceRef": "r1"},
    "thehive:case": {**_ENTITY, "_type": "case", "number": 7, "title": "Brute force",
                     "description": "x", "severity": 2, "status": "New"},
}
_DUMMY = {"string": "ci-dummy-value", "text": "ci-dummy-value", "number": 1, "boolean": False}


@dataclass
class SampleJob:
    flavor: dict[str, Any]
    path: Path
    responder: bool
    data_type: str
    data: Any
    file: Path | None
    config: dict[str, Any]

    @property
    def calls_services(self) -> bool:
        return any(i["name"].endswith("_url") for i in self.flavor.get("configurationItems", []))


def flavor_paths() -> list[Path]:
    return sorted([*ANALYZERS.glob("*/*.json"), *RESPONDERS.glob("*/*.json")])


def closed_port_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens (connection refused, instantly)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _fake_classes() -> list[type]:
    try:
        from fakes import cti
    except ImportError:
        return []
    found, todo = [], [cti.FakeService]
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if cls is not cti.FakeService:
            found.append(cls)
    return found


def fake_class_for(flavor: dict[str, Any]) -> type | None:
    service = str(flavor.get("config", {}).get("service", "")).lower()
    return next((c for c in _fake_classes() if service.startswith(c.name.lower())), None)


BLOCKLIST_SERVICES = {"Block", "Unblock"}  # config.service values served by `socflow blocklist`


@contextmanager
def blocklist_service() -> Iterator[tuple[str, str]]:
    """The real ``socflow blocklist serve`` on a free loopback port, fresh state; (URL, token)."""
    url, token = closed_port_url(), "ci-token-0123456789abcdef"
    with tempfile.TemporaryDirectory(prefix="socflow-blocklist-") as state:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "socflow"), "blocklist", "serve", "--port",
             url.rsplit(":", 1)[1], "--token", token, "--state-dir", state, "--log-level", "warning"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while not _healthy(url):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError("socflow blocklist serve did not start")
                time.sleep(0.1)
            yield url, token
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def _healthy(url: str) -> bool:
    try:
        return requests.get(url + "/healthz", timeout=1).status_code == 200
    except requests.RequestException:
        return False


@contextmanager
def webhook_sink() -> Iterator[tuple[str, None]]:
    """A loopback HTTP endpoint that accepts every POST with 200 ``ok`` (Slack's answer)."""

    class Sink(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", None
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def smtp_sink() -> Iterator[tuple[str, None]]:
    """A loopback SMTP server (aiosmtpd) that accepts every message; URL ``smtp://host:port``."""
    from aiosmtpd.controller import Controller

    class Accept:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            return "250 OK"

    port = int(closed_port_url().rsplit(":", 1)[1])
    controller = Controller(Accept(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}", None
    finally:
        controller.stop()


def _is_mail(flavor: dict[str, Any]) -> bool:
    return {"smtp_host", "smtp_port"} <= _item_names(flavor)


def _item_names(flavor: dict[str, Any]) -> set[str]:
    return {i.get("name") for i in flavor.get("configurationItems", [])}


def has_local_service(flavor: dict[str, Any]) -> bool:
    return (
        fake_class_for(flavor) is not None
        or flavor.get("config", {}).get("service") in BLOCKLIST_SERVICES
        or "webhook_url" in _item_names(flavor)
        or _is_mail(flavor)
    )


@contextmanager
def service_endpoint(flavor: dict[str, Any]) -> Iterator[tuple[str, str | None]]:
    """(base URL, API key) for one run: a fresh fake (own quota), the blocklist service, or a
    closed port and no key."""
    cls = fake_class_for(flavor)
    if cls is not None:
        with cls() as fake:
            yield fake.url, fake.key
    elif flavor.get("config", {}).get("service") in BLOCKLIST_SERVICES:
        with blocklist_service() as endpoint:
            yield endpoint
    elif "webhook_url" in _item_names(flavor):
        with webhook_sink() as endpoint:
            yield endpoint
    elif _is_mail(flavor):
        with smtp_sink() as endpoint:
            yield endpoint
    else:
        yield closed_port_url(), None


def sample_job(path: Path, service_url: str, tmp: Path, key: str | None = None) -> SampleJob:
    flavor = json.loads(path.read_text(encoding="utf-8"))
    responder = path.parent.parent == RESPONDERS
    types = [t for t in flavor.get("dataTypeList", []) if t in SAMPLES or t == "file"]
    if not types:
        raise AssertionError(f"{path}: no sample observable for dataTypeList {flavor.get('dataTypeList')}")
    data_type = types[0]
    file = None
    if data_type == "file":
        file = tmp / "sample.log"
        file.write_text(LOG_SAMPLE, encoding="utf-8")
    config: dict[str, Any] = {}
    if service_url.startswith("smtp://"):  # mail flavors: the loopback SMTP server, plain text
        host, port = service_url[len("smtp://"):].rsplit(":", 1)
        config.update(smtp_host=host, smtp_port=int(port), smtp_security="none",
                      allow_plaintext=True, to=["soc@example.org"])
        service_url = closed_port_url()
    for item in flavor.get("configurationItems", []):
        name = item["name"]
        if name in config:
            continue
        if name == "state_url":
            config[name] = ""  # the shared-state backend, not a service: its default (tests/state)
        elif name.endswith("_url"):
            config[name] = service_url
        elif name == "allow_private_targets":
            config[name] = True  # every endpoint here is a loopback one (socflow.outbound)
        elif name.endswith("_address") and item["type"] == "string":
            config[name] = "socflow-ci@example.org"
        elif name.endswith("_path"):
            config[name] = ""
        elif name.endswith("_interval") and item["type"] == "number":
            config[name] = 1  # polling flavors (scans) stay quick against the fakes
        elif key and re.search(r"key|token", name, re.I) and item["type"] == "string":
            config[name] = key
        elif item.get("required") and item.get("defaultValue") is None:
            value = _DUMMY[item["type"]]
            config[name] = [value] if item.get("multi") else value
    config.update(check_tlp=True, max_tlp=2, check_pap=True, max_pap=2)
    return SampleJob(flavor, path, responder, data_type, SAMPLES.get(data_type), file, config)


def write_job_folder(job: SampleJob, job_dir: Path) -> None:
    """``input/input.json`` (+ attachment) as Cortex writes it (spec A.5); empty ``output/``."""
    (job_dir / "input").mkdir(parents=True)
    (job_dir / "output").mkdir()
    body: dict[str, Any] = {}
    if job.file is not None:
        (job_dir / "input" / "attachment4711").write_bytes(job.file.read_bytes())
        body.update(file="attachment4711", filename=job.file.name, contentType="text/plain")
    else:
        body["data"] = job.data
    body.update(dataType=job.data_type, tlp=2, pap=2, message="", parameters={},
                config=build_config(job.flavor, job.config, job.responder))
    (job_dir / "input" / "input.json").write_text(
        json.dumps(body, separators=(",", ":"), ensure_ascii=False), encoding="utf-8"
    )


def comparable(output: dict[str, Any]) -> dict[str, Any]:
    """The parts of an output that must not depend on how the job was started."""
    keys = ("success", "summary", "artifacts", "operations", "errorMessage")
    # each run has its own loopback endpoint, so only the port may differ
    return json.loads(re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", json.dumps({k: output.get(k) for k in keys})))
