"""Loopback fakes of VirusTotal v3, AbuseIPDB v2 and AlienVault OTX v1 (shared/specs/cti-apis.md).

Real sockets on 127.0.0.1 (ephemeral ports), one thread per request. Every request is recorded
before anything else happens, so tests can count calls exactly. Bodies are built from the
fixture files in ``tests/fixtures/cti/`` (made-up example values from the fact sheet) with the
per-indicator facts a test sets (``vt.set_object(...)``, ``abuse.set_ip(...)``, ``otx.set(...)``).

Paths outside each API root (``/api/v3``, ``/api/v2``, ``/api/v1``) answer an HTML 404 page, as
a web server does, never the API's not-found JSON; quota 429s follow §1.5/§2.3/§3.4 (VirusTotal:
``QuotaExceededError`` without headers unless ``retry_after``; AbuseIPDB: ``Retry-After`` and
``X-RateLimit-*``; OTX: no headers, after ``quota`` calls).

Faults are injected per test: ``server.inject(kind, times=1, path=regex, ...)`` with kind one of
``status`` (any code/body/headers), ``html`` (5xx HTML page), ``hang`` (accept, never answer),
``slow`` (answer after ``delay``), ``stall_body`` (headers then silence), ``malformed`` (truncated
JSON), ``wrong_type`` (valid body served as text/html), ``empty`` (200 without body), ``reset``
(close without answering). A body may contain ``{key}``: it is replaced by the API key the client
sent (to prove our scrubbing, never what the real services do).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import ipaddress
import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs, unquote, unquote_plus, urlsplit

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cti"
JSON = "application/json"


def fixture(service: str, name: str) -> Any:
    return json.loads((FIXTURES / service / name).read_text(encoding="utf-8"))


@dataclass
class Request:
    method: str
    path: str  # without the query string, still percent-encoded
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    proxied: bool
    at: float

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


@dataclass
class Reply:
    status: int
    body: Any = None  # dict/list -> JSON, str/bytes -> as is
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = JSON

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return b"" if self.body is None else json.dumps(self.body).encode("utf-8")


@dataclass
class Fault:
    kind: str
    times: int | None = 1  # None: every matching request
    path: str = ""
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = JSON
    delay: float = 30.0


HTML_502 = "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1>" \
           "<p>The server encountered a temporary error.</p></body></html>"
# What a web server answers for a path outside the API (a wrong api_url): a page, not the API's
# documented not-found JSON. The three services document no body for it; any HTML page will do.
HTML_404 = "<!DOCTYPE html><html><head><title>404 Not Found</title></head><body><h1>Not Found</h1>" \
           "<p>The requested URL was not found on this server.</p></body></html>"


def page_not_found() -> Reply:
    return Reply(404, HTML_404, content_type="text/html; charset=utf-8")


class FakeService:
    """Base: threaded server, request log, fault queue. Subclasses implement ``route``."""

    name = "fake"

    def __init__(self, key: str = "k" * 64) -> None:
        self.key = key
        self.requests: list[Request] = []
        self.faults: list[Fault] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def setup(self) -> None:
                super().setup()
                # headers and body leave in two writes: without this, Nagle + delayed ACK add
                # 40 ms to every keep-alive response (not a property of the real services)
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _any(self) -> None:
                fake._handle(self)

            do_GET = do_POST = do_DELETE = do_PUT = do_HEAD = _any

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.scheme = "http"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def origin(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.httpd.server_address[1]}"

    def enable_tls(self, certfile: str | Path, keyfile: str | Path) -> Self:
        """Serve HTTPS with this certificate (call before ``start``)."""
        import ssl

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(certfile), str(keyfile))
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.scheme = "https"
        return self

    def start(self) -> Self:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test helpers ----------------------------------------------------------------------
    def inject(self, kind: str, *, times: int | None = 1, path: str = "", **kw: Any) -> Fault:
        fault = Fault(kind, times=times, path=path, **kw)
        with self.lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def count(self, contains: str = "") -> int:
        with self.lock:
            return sum(1 for r in self.requests if contains in r.path)

    # -- request handling ------------------------------------------------------------------
    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        target = h.path
        proxied = target.startswith(("http://", "https://"))
        if proxied:
            split = urlsplit(target)
            target = split.path + (f"?{split.query}" if split.query else "")
        path, _, query = target.partition("?")
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        req = Request(h.command, path, parse_qs(query, keep_blank_values=True),
                      {k.lower(): v for k, v in h.headers.items()}, body, proxied, time.time())
        with self.lock:
            self.requests.append(req)
            fault = self._take_fault(path)
        if fault is not None and self._apply_fault(h, fault, req):
            return
        try:
            reply = self.route(req)
        except Exception as exc:  # noqa: BLE001 - a bug in the fake must show, not hang a test
            reply = Reply(500, f"fake crashed: {type(exc).__name__}: {exc}", content_type="text/plain")
        if fault is not None and fault.kind == "wrong_type":
            reply.content_type = "text/html; charset=utf-8"
        self._send(h, reply, req)

    def _take_fault(self, path: str) -> Fault | None:
        for fault in self.faults:
            if (fault.times is None or fault.times > 0) and re.search(fault.path, path):
                if fault.times is not None:
                    fault.times -= 1
                return fault
        return None

    def _apply_fault(self, h: BaseHTTPRequestHandler, f: Fault, req: Request) -> bool:
        """Serve the fault; False when the normal route must still answer (slow, wrong_type)."""
        if f.kind == "slow":
            self.stopping.wait(f.delay)
            return False
        if f.kind == "wrong_type":
            return False
        h.close_connection = True
        if f.kind == "hang":
            self.stopping.wait(f.delay)
        elif f.kind == "reset":
            pass
        elif f.kind == "stall_body":
            h.send_response(200)
            h.send_header("Content-Type", JSON)
            h.send_header("Content-Length", "100000")
            h.end_headers()
            h.wfile.write(b'{"data": {"id": "')
            h.wfile.flush()
            self.stopping.wait(f.delay)
        elif f.kind == "malformed":
            self._send(h, Reply(200, '{"data": {"id": "x", "type": "ip_address", "attr'), req)
        elif f.kind == "empty":
            self._send(h, Reply(200, b""), req)
        elif f.kind == "html":
            self._send(h, Reply(f.status if f.status >= 500 else 502, f.body or HTML_502,
                                f.headers, "text/html; charset=utf-8"), req)
        else:  # "status"
            self._send(h, Reply(f.status, f.body, dict(f.headers), f.content_type), req)
        return True

    def _send(self, h: BaseHTTPRequestHandler, reply: Reply, req: Request) -> None:
        data = reply.encoded()
        sent_key = self.sent_key(req)
        if sent_key and b"{key}" in data:
            data = data.replace(b"{key}", sent_key.encode())
        try:
            h.send_response(reply.status)
            h.send_header("Content-Type", reply.content_type)
            h.send_header("Content-Length", str(len(data)))
            for k, v in reply.headers.items():
                h.send_header(k, v)
            h.end_headers()
            if req.method != "HEAD":
                h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    # -- to implement ----------------------------------------------------------------------
    def sent_key(self, req: Request) -> str:
        return ""

    def route(self, req: Request) -> Reply:
        raise NotImplementedError


class SlidingQuota:
    """Calls allowed per sliding window (the fakes' side of the quota; counts what it served)."""

    def __init__(self, limits: list[tuple[int, float]]) -> None:
        self.limits = limits
        self.served: list[float] = []
        self.refused = 0

    def take(self, now: float) -> bool:
        for limit, per in self.limits:
            if sum(1 for t in self.served if t > now - per) >= limit:
                self.refused += 1
                return False
        self.served.append(now)
        return True


# ------------------------------------------------------------------------------------------
# VirusTotal v3
# ------------------------------------------------------------------------------------------
VT_KINDS = {"ip_addresses": ("ip_address.json", "ip_address"), "domains": ("domain.json", "domain"),
            "urls": ("url.json", "url"), "files": ("file.json", "file")}


def vt_error(status: int, code: str, message: str) -> Reply:
    return Reply(status, {"error": {"code": code, "message": message}})


class FakeVirusTotal(FakeService):
    name = "virustotal"

    def __init__(self, key: str = "v" * 64, per_minute: int = 4, per_day: int = 500,
                 polls_to_complete: int = 2, premium: bool = False,
                 retry_after: int | None = None) -> None:
        """``retry_after``: add that header to quota 429s (VirusTotal documents none, §1.5)."""
        super().__init__(key)
        self.retry_after = retry_after
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.quota = SlidingQuota([(per_minute, 60.0), (per_day, 86400.0)])
        self.polls_to_complete = polls_to_complete
        self.premium = premium
        self.analyses: dict[str, dict[str, Any]] = {}
        self.upload_tokens: set[str] = set()

    @property
    def url(self) -> str:
        return self.origin + "/api/v3"

    def sent_key(self, req: Request) -> str:
        return req.header("x-apikey")

    def set_object(self, coll: str, oid: str, *, malicious: int = 0, suspicious: int = 0,
                   harmless: int = 60, undetected: int = 10, **attrs: Any) -> None:
        """Make ``oid`` known with these engine counts (the rest of the body from the fixture)."""
        name, _kind = VT_KINDS[coll]
        body = copy.deepcopy(fixture("virustotal", name))
        data = body["data"]
        data["id"] = oid
        stats = {"harmless": harmless, "malicious": malicious, "suspicious": suspicious,
                 "undetected": undetected, "timeout": 0}
        data["attributes"]["last_analysis_stats"] = stats
        data["attributes"]["last_analysis_results"] = _vt_results(stats)
        data["attributes"].update(attrs)
        key = oid.lower() if coll != "urls" else oid
        self.objects[(coll, key)] = body
        if coll == "files":  # the fixture's hashes also answer for this object
            for alias in ("md5", "sha1", "sha256"):
                data["attributes"][alias] = attrs.get(alias, data["attributes"].get(alias))
        if coll == "urls":
            url = attrs.get("url", "")
            if url:
                sha = hashlib.sha256(url.encode()).hexdigest()
                data["id"] = sha
                self.objects[(coll, sha)] = body
                self.objects[(coll, base64.urlsafe_b64encode(url.encode()).decode().rstrip("="))] = body

    def route(self, req: Request) -> Reply:
        if req.path.startswith("/upload/"):
            return self._upload(req)
        if not req.path.startswith("/api/v3/"):
            return page_not_found()  # the web site, not the API: no JSON error object
        sent = req.header("x-apikey")
        if not sent:
            return Reply(401, fixture("virustotal", "error_authentication_required.json"))
        if sent != self.key:
            return Reply(401, fixture("virustotal", "error_wrong_credentials.json"))
        parts = [unquote(p) for p in req.path[len("/api/v3/"):].split("/") if p]
        if parts == ["files", "upload_url"]:  # does not consume quota (vt-py issue #140)
            token = hashlib.sha1(str(time.time()).encode()).hexdigest()
            self.upload_tokens.add(token)
            return Reply(200, {"data": f"{self.origin}/upload/{token}"})
        with self.lock:
            allowed = self.quota.take(time.time())
        if not allowed:  # body NOT gzip-encoded, no headers (as vt-go's own test)
            headers = {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}
            return Reply(429, fixture("virustotal", "error_quota_exceeded.json"), headers)
        return self._dispatch(req, parts)

    def _dispatch(self, req: Request, parts: list[str]) -> Reply:
        if req.method == "GET" and len(parts) == 2 and parts[0] in VT_KINDS:
            return self._object(*parts)
        if req.method == "GET" and len(parts) == 3 and parts[0] in VT_KINDS:
            return self._relationship(*parts)
        if req.method == "GET" and parts[:1] == ["analyses"] and len(parts) == 2:
            return self._analysis(parts[1])
        if req.method == "POST" and parts == ["urls"]:
            return self._submit_url(req)
        if req.method == "POST" and parts == ["files"]:
            return self._submit_file(req)
        return vt_error(400, "BadRequestError", f"unsupported {req.method} {req.path}")

    def _object(self, coll: str, oid: str) -> Reply:
        if coll == "ip_addresses":
            try:
                ipaddress.ip_address(oid)
            except ValueError:
                return vt_error(400, "InvalidArgumentError", f"Invalid IP address: {oid}")
        key = oid if coll == "urls" else oid.lower()
        body = self.objects.get((coll, key))
        if body is None and coll == "files":
            body = next((b for (c, _), b in self.objects.items() if c == "files" and key in (
                b["data"]["attributes"].get("md5"), b["data"]["attributes"].get("sha1"))), None)
        if body is None:
            what = {"ip_addresses": "IP address", "domains": "Domain", "urls": "URL", "files": "File"}
            return vt_error(404, "NotFoundError", f'{what[coll]} "{oid}" not found')
        return Reply(200, body)

    def _relationship(self, coll: str, oid: str, rel: str) -> Reply:
        if rel != "resolutions" and not self.premium:
            return Reply(403, fixture("virustotal", "error_forbidden.json"))
        if (coll, oid if coll == "urls" else oid.lower()) not in self.objects:
            return vt_error(404, "NotFoundError", f'"{oid}" not found')
        if rel == "resolutions":
            return Reply(200, fixture("virustotal", "relationship_resolutions.json"))
        item = {"ip": ("ip_address", "198.51.100.99"), "dom": ("domain", "c2.example.org")}
        kind, value = item["ip" if rel == "contacted_ips" else "dom"]
        if rel == "contacted_urls":
            return Reply(200, {"data": [{"type": "url", "id": "x", "attributes": {
                "url": "http://c2.example.org/gate.php"}}], "meta": {"count": 1}})
        return Reply(200, {"data": [{"type": kind, "id": value, "attributes": {}}], "meta": {"count": 1}})

    # -- scans -----------------------------------------------------------------------------
    def _submit_url(self, req: Request) -> Reply:
        url = _form_field(req, "url")
        if not url:
            return vt_error(400, "BadRequestError", "missing url")
        sha = hashlib.sha256(url.encode()).hexdigest()
        aid = f"u-{sha}-{int(time.time())}"
        body = self.objects.get(("urls", sha))
        self.analyses[aid] = {"polls": 0, "kind": "url", "object": body, "info": {"id": sha, "url": url}}
        return Reply(200, {"data": {"type": "analysis", "id": aid,
                                    "links": {"self": f"{self.url}/analyses/{aid}"}}})

    def _submit_file(self, req: Request) -> Reply:
        content = _multipart_file(req)
        if content is None:
            return vt_error(400, "BadRequestError", "missing file")
        md5 = hashlib.md5(content).hexdigest()
        sha256 = hashlib.sha256(content).hexdigest()
        aid = base64.b64encode(f"{md5}:{int(time.time())}".encode()).decode()
        body = self.objects.get(("files", sha256))
        self.analyses[aid] = {"polls": 0, "kind": "file", "object": body, "info": {
            "sha256": sha256, "sha1": hashlib.sha1(content).hexdigest(), "md5": md5, "size": len(content)}}
        return Reply(200, {"data": {"type": "analysis", "id": aid,
                                    "links": {"self": f"{self.url}/analyses/{aid}"}}})

    def _upload(self, req: Request) -> Reply:
        token = req.path.rsplit("/", 1)[-1]
        if token not in self.upload_tokens or req.method != "POST":
            return vt_error(400, "BadRequestError", "invalid or used upload URL")
        self.upload_tokens.discard(token)
        if req.header("x-apikey") != self.key:
            return Reply(401, fixture("virustotal", "error_wrong_credentials.json"))
        return self._submit_file(req)

    def _analysis(self, aid: str) -> Reply:
        state = self.analyses.get(aid)
        if state is None:
            return vt_error(404, "NotFoundError", f'Analysis "{aid}" not found')
        state["polls"] += 1
        done = state["polls"] >= self.polls_to_complete
        name = "analysis_file_completed.json" if state["kind"] == "file" else "analysis_url_completed.json"
        body = copy.deepcopy(fixture("virustotal", name))
        attrs = body["data"]["attributes"]
        body["data"]["id"] = aid
        if state["object"] is not None:
            stats = state["object"]["data"]["attributes"]["last_analysis_stats"]
        else:
            stats = {"harmless": 50, "malicious": 0, "suspicious": 0, "undetected": 20, "timeout": 0}
        attrs["stats"] = stats if done else {k: 0 for k in stats}
        attrs["results"] = _vt_results(stats) if done else {}
        attrs["status"] = "completed" if done else ("in-progress" if state["polls"] > 1 else "queued")
        body["meta"] = {"file_info" if state["kind"] == "file" else "url_info": state["info"]}
        return Reply(200, body)


def _vt_results(stats: dict[str, int]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for category in ("malicious", "suspicious", "harmless", "undetected"):
        for i in range(min(stats.get(category, 0), 3)):
            name = f"{category.title()}Engine{i}"
            verdict = {"malicious": "malware", "suspicious": "suspicious"}.get(category, "clean")
            results[name] = {"category": category, "engine_name": name, "method": "blacklist",
                             "result": verdict if category != "undetected" else None}
    return results


def _form_field(req: Request, name: str) -> str:
    ctype = req.header("content-type")
    if ctype.startswith("multipart/form-data"):
        for part_name, _, content in _multipart_parts(req):
            if part_name == name:
                return content.decode("utf-8", "replace")
        return ""
    values = parse_qs(req.body.decode("utf-8", "replace")).get(name) or [""]
    return values[0]


def _multipart_file(req: Request) -> bytes | None:
    for part_name, filename, content in _multipart_parts(req):
        if part_name == "file" and filename is not None:
            return content
    return None


def _multipart_parts(req: Request) -> list[tuple[str, str | None, bytes]]:
    match = re.search(r'boundary="?([^";]+)"?', req.header("content-type"))
    if not match:
        return []
    parts = []
    for chunk in req.body.split(b"--" + match.group(1).encode())[1:-1]:
        head, _, content = chunk.strip(b"\r\n").partition(b"\r\n\r\n")
        disp = head.decode("utf-8", "replace")
        name = re.search(r'name="([^"]*)"', disp)
        filename = re.search(r'filename="([^"]*)"', disp)
        parts.append((name.group(1) if name else "", filename.group(1) if filename else None, content))
    return parts


# ------------------------------------------------------------------------------------------
# AbuseIPDB v2
# ------------------------------------------------------------------------------------------
ABUSE_DAILY = {"check": 1000, "check-block": 100, "blacklist": 5, "reports": 100}


def abuse_error(status: int, detail: str, parameter: str | None = None) -> Reply:
    err: dict[str, Any] = {"detail": detail, "status": status}
    if parameter:
        err["source"] = {"parameter": parameter}
    return Reply(status, {"errors": [err]})


class FakeAbuseIPDB(FakeService):
    name = "abuseipdb"

    def __init__(self, key: str = "a" * 80, daily: dict[str, int] | None = None,
                 retry_after: int | None = None, max_prefix: int = 24) -> None:
        super().__init__(key)
        self.ips: dict[str, dict[str, Any]] = {}
        self.daily = {**ABUSE_DAILY, **(daily or {})}
        self.used: dict[str, int] = {}
        self.refused = 0
        self.retry_after = retry_after
        self.max_prefix = max_prefix

    @property
    def url(self) -> str:
        return self.origin + "/api/v2"

    def sent_key(self, req: Request) -> str:
        return req.header("key")

    def set_ip(self, ip: str, score: int, *, reports: int | None = None, whitelisted: bool | None = False,
               tor: bool = False, usage: str = "Data Center/Web Hosting/Transit",
               categories: tuple[int, ...] = (18, 22)) -> None:
        body = copy.deepcopy(fixture("abuseipdb", "check_verbose.json"))["data"]
        total = (3 if score else 0) if reports is None else reports
        body.update(ipAddress=ip, abuseConfidenceScore=score, isWhitelisted=whitelisted, isTor=tor,
                    usageType=usage, totalReports=total, numDistinctUsers=total,
                    ipVersion=ipaddress.ip_address(ip).version)
        template = body["reports"][0]
        body["reports"] = [dict(template, categories=list(categories)) for _ in range(min(total, 5))]
        if not total:
            body["lastReportedAt"] = None
        self.ips[ip] = body

    def _reset_headers(self, endpoint: str) -> dict[str, str]:
        now = time.time()
        midnight = (int(now) // 86400 + 1) * 86400
        wait = self.retry_after if self.retry_after is not None else int(midnight - now)
        return {"Retry-After": str(wait), "X-RateLimit-Limit": str(self.daily[endpoint]),
                "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(now + wait))}

    def route(self, req: Request) -> Reply:
        wants_json = JSON in req.header("accept")
        if req.header("key") != self.key:
            if not wants_json:
                return Reply(401, "<html><title>Unauthorized</title></html>", content_type="text/html")
            return Reply(401, fixture("abuseipdb", "error_401_auth.json"))
        if not req.path.startswith("/api/v2/"):
            return page_not_found()
        endpoint = req.path.removeprefix("/api/v2/").strip("/")
        if endpoint not in self.daily:
            return abuse_error(404, f"Unknown endpoint {endpoint}")
        with self.lock:
            used = self.used.get(endpoint, 0)
            if used >= self.daily[endpoint]:
                self.refused += 1
                body = fixture("abuseipdb", "error_429_daily_limit.json")
                body["errors"][0]["detail"] = body["errors"][0]["detail"].replace(
                    "1000", str(self.daily[endpoint]))
                return Reply(429, body, self._reset_headers(endpoint)) if wants_json else Reply(
                    429, "<html><title>Too Many Requests</title></html>",
                    self._reset_headers(endpoint), "text/html")
            self.used[endpoint] = used + 1
        reply = getattr(self, "_" + endpoint.replace("-", "_"))(req)
        remaining = max(0, self.daily[endpoint] - self.used[endpoint])
        reply.headers.update({"X-RateLimit-Limit": str(self.daily[endpoint]),
                              "X-RateLimit-Remaining": str(remaining)})
        return reply

    def _max_age(self, req: Request) -> int | None:
        raw = (req.query.get("maxAgeInDays") or ["30"])[0]
        return int(raw) if raw.isdigit() and 1 <= int(raw) <= 365 else None

    def _check(self, req: Request) -> Reply:
        ip = (req.query.get("ipAddress") or [""])[0]
        try:
            parsed = ipaddress.ip_address(ip)
        except ValueError:
            return Reply(422, fixture("abuseipdb", "error_422_ip.json"))
        if self._max_age(req) is None:
            return Reply(422, fixture("abuseipdb", "error_422_max_age.json"))
        body = copy.deepcopy(self.ips.get(str(parsed)))
        if body is None:
            body = copy.deepcopy(fixture("abuseipdb", "check.json"))["data"]
            body.update(ipAddress=str(parsed), abuseConfidenceScore=0, totalReports=0,
                        numDistinctUsers=0, lastReportedAt=None, isWhitelisted=None,
                        ipVersion=parsed.version)
        if "verbose" not in req.query:
            body.pop("reports", None)
            body.pop("countryName", None)
        return Reply(200, {"data": body})

    def _check_block(self, req: Request) -> Reply:
        network = unquote_plus((req.query.get("network") or [""])[0])
        try:
            net = ipaddress.ip_network(network, strict=False)
        except ValueError:
            return abuse_error(422, "The network must be a valid CIDR.", "network")
        if net.version == 4 and net.prefixlen < self.max_prefix:
            return Reply(402, fixture("abuseipdb", "error_402_plan_limit.json"))
        body = copy.deepcopy(fixture("abuseipdb", "check_block.json"))
        hosts = list(net.hosts()) or [net.network_address]
        data = body["data"]
        data.update(networkAddress=str(net.network_address), netmask=str(net.netmask),
                    minAddress=str(hosts[0]), maxAddress=str(hosts[-1]), numPossibleHosts=len(hosts))
        data["reportedAddress"] = [
            {"ipAddress": ip, "numReports": p["totalReports"], "mostRecentReport": p["lastReportedAt"],
             "abuseConfidenceScore": p["abuseConfidenceScore"], "countryCode": p["countryCode"]}
            for ip, p in self.ips.items() if ipaddress.ip_address(ip) in net and p["totalReports"]
        ]
        return Reply(200, body)

    def _blacklist(self, req: Request) -> Reply:
        minimum = int((req.query.get("confidenceMinimum") or ["100"])[0])
        listed = sorted((p for p in self.ips.values() if p["abuseConfidenceScore"] >= minimum),
                        key=lambda p: -p["abuseConfidenceScore"])
        data = [{"ipAddress": p["ipAddress"], "countryCode": p["countryCode"],
                 "abuseConfidenceScore": p["abuseConfidenceScore"], "lastReportedAt": p["lastReportedAt"]}
                for p in listed]
        return Reply(200, {"meta": {"generatedAt": "2024-11-21T12:00:01+00:00"}, "data": data})

    def _reports(self, req: Request) -> Reply:
        return Reply(200, fixture("abuseipdb", "reports.json"))


# ------------------------------------------------------------------------------------------
# AlienVault OTX v1
# ------------------------------------------------------------------------------------------
OTX_TYPES = {"IPv4", "IPv6", "domain", "hostname", "url", "file", "cve"}
OTX_SECTION_FIXTURES = {"passive_dns": "ipv4_passive_dns.json", "url_list": "ipv4_url_list.json",
                        "malware": "ipv4_malware.json", "geo": "ipv4_geo.json"}
OTX_PATH = re.compile(r"^/api/v1/indicators/(?P<type>[A-Za-z0-9]+)/(?P<value>.+)/(?P<section>[a-z_]+)$")


class FakeOTX(FakeService):
    name = "otx"

    def __init__(self, key: str = "o" * 64, quota: int | None = None) -> None:
        """``quota``: indicator calls served before every call is a 429 without ``Retry-After``
        or quota headers (fact sheet §3.4: OTX publishes no limit and no reset time)."""
        super().__init__(key)
        self.known: dict[str, dict[str, Any]] = {}
        self.quota = quota
        self.served = 0
        self.refused = 0
        # (indicator, section) -> body for sections beyond general; known indicators answer the
        # fixture's body otherwise
        self.sections: dict[tuple[str, str], Any] = {}

    @property
    def url(self) -> str:
        return self.origin

    def sent_key(self, req: Request) -> str:
        return req.header("x-otx-api-key")

    def set(self, value: str, pulses: int, *, whitelisted: bool = False,
            tags: tuple[str, ...] = ("ssh", "bruteforce")) -> None:
        base = "ipv4_general_no_pulses.json" if whitelisted else "ipv4_general.json"
        body = copy.deepcopy(fixture("otx", base))
        template = copy.deepcopy(fixture("otx", "ipv4_general.json")["pulse_info"]["pulses"][0])
        body["indicator"] = value
        body["pulse_info"]["count"] = pulses
        body["pulse_info"]["pulses"] = [
            dict(template, id=f"{i:024x}", name=f"Pulse {i} about {value}", tags=list(tags))
            for i in range(pulses)
        ]
        if not whitelisted:
            body["validation"] = []
        self.known[value.lower()] = body

    def route(self, req: Request) -> Reply:
        sent = req.header("x-otx-api-key")
        if sent and sent != self.key:
            return Reply(403, {"detail": "Authentication credentials were not provided or are invalid."})
        match = OTX_PATH.match(req.path)
        if not req.path.startswith("/api/v1/"):
            return page_not_found()  # the OTX web site, not its API
        if not match or match["type"] not in OTX_TYPES:
            return Reply(404, {"detail": "Not found."})
        with self.lock:
            if self.quota is not None and self.served >= self.quota:
                self.refused += 1
                return Reply(429, {"detail": "Request was throttled."})
            self.served += 1
        value = unquote(match["value"])
        if match["type"] == "IPv4":
            try:
                ipaddress.IPv4Address(value)
            except ValueError:
                return Reply(400, {"detail": "Invalid IPv4 indicator"})
        body = self.known.get(value.lower())
        if body is None:
            return Reply(404, {"detail": "Not found."})
        section = match["section"]
        if section == "general":
            return Reply(200, body)
        extra = self.sections.get((value.lower(), section))
        if extra is None and section in OTX_SECTION_FIXTURES:
            extra = fixture("otx", OTX_SECTION_FIXTURES[section])
        return Reply(200, extra) if extra is not None else Reply(404, {"detail": "Not found."})


def start_all() -> tuple[FakeVirusTotal, FakeAbuseIPDB, FakeOTX]:
    return FakeVirusTotal().start(), FakeAbuseIPDB().start(), FakeOTX().start()  # type: ignore[return-value]
