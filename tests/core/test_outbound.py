"""The outbound-target policy (socflow.outbound): what it refuses, checked with real sockets.

Every server here is a loopback socket, so the sessions under test are either the default ones
(which must refuse them) or explicitly opted in with ``allow_private=True``, the switch admins set
as ``allow_private_targets``.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socflow.errors import PolicyError
from socflow.outbound import (
    address_refusal,
    check_target,
    guarded_session,
    origin,
    redirect_refusal,
)

REFUSED = ["127.0.0.1", "127.8.9.10", "::1", "0.0.0.0", "::", "0.1.2.3", "169.254.169.254",
           "169.254.170.2", "fe80::1", "100.100.100.200", "fd00:ec2::254", "168.63.129.16",
           "::ffff:127.0.0.1", "::ffff:169.254.169.254", "64:ff9b::7f00:1", "2002:7f00:1::"]
ALLOWED = ["10.0.0.1", "192.168.1.10", "172.16.0.1", "8.8.8.8", "2001:4860:4860::8888",
           "fd12:3456::1", "203.0.113.9"]


@pytest.mark.parametrize("address", REFUSED)
def test_loopback_link_local_and_metadata_addresses_are_refused(address: str) -> None:
    assert address_refusal(address)
    with pytest.raises(PolicyError, match="refused \\(set allow_private_targets to allow it\\)"):
        check_target(f"http://{'[' + address + ']' if ':' in address else address}:8080/x", what="api_url")


@pytest.mark.parametrize("address", ALLOWED)
def test_private_and_public_ranges_are_not_refused(address: str) -> None:
    assert address_refusal(address) is None
    check_target(f"https://{'[' + address + ']' if ':' in address else address}/api")


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST.", "api.localhost", "metadata.google.internal",
                                  "2130706433", "0x7f.1", "127.1", "0177.0.0.1"])
def test_names_and_legacy_spellings_of_refused_addresses(host: str) -> None:
    with pytest.raises(PolicyError, match="refused"):
        check_target(f"http://{host}/", what="webhook_url")


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_ipv4_mapped_ipv6_is_judged_as_the_ipv4_address(value: int) -> None:
    v4 = ipaddress.IPv4Address(value)
    mapped = ipaddress.IPv6Address(f"::ffff:{v4}")
    assert address_refusal(mapped) == address_refusal(v4)


def test_opting_in_allows_loopback_but_never_other_schemes() -> None:
    check_target("http://127.0.0.1:8080/api/v3", allow_private=True)
    for url in ("ftp://example.com/", "file:///etc/passwd", "gopher://x/", "http:///nohost", "http://h:99999/"):
        with pytest.raises(PolicyError):
            check_target(url, allow_private=True)


def test_messages_show_only_the_origin() -> None:
    url = "https://user:Passw0rd@hooks.example.com:8443/services/T000/B000/SECRETTOKEN?x=1"
    assert origin(url) == "https://hooks.example.com:8443"
    with pytest.raises(PolicyError) as err:
        check_target(url.replace("hooks.example.com", "169.254.169.254"), what="webhook_url")
    assert "SECRETTOKEN" not in str(err.value) and "Passw0rd" not in str(err.value)
    assert str(err.value).startswith("webhook_url https://169.254.169.254:8443 is a link-local")


@pytest.mark.parametrize(("src", "dst", "refused"), [
    ("https://a.example/x", "/y", None),
    ("https://a.example/x", "https://A.EXAMPLE/y", None),
    ("http://a.example/x", "https://a.example/y", None),  # AbuseIPDB's http -> https upgrade
    ("https://a.example/x", "http://a.example/y", "from https to http"),
    ("https://a.example/x", "https://b.example/y", "another host"),
    ("https://a.example/x", "//b.example/y", "another host"),
    ("https://a.example/x", "https://a.example.evil.test/y", "another host"),
    ("https://a.example/x", "https://a.example:8443/y", "another port"),
    ("https://a.example/x", "file:///etc/passwd", "file"),
])
def test_redirect_rules(src: str, dst: str, refused: str | None) -> None:
    why = redirect_refusal(src, dst)
    assert (why is None) if refused is None else (why is not None and refused in why)


# --------------------------------------------------------------------- with real sockets
class Server:
    def __init__(self, redirect_to: str = "") -> None:
        self.seen: list[dict[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server.seen.append({k.lower(): v for k, v in self.headers.items()})
                if self.path == "/redirect" and server.redirect_to:
                    self.send_response(307)
                    self.send_header("Location", server.redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.redirect_to = redirect_to
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    yield srv
    srv.close()


def test_a_name_resolving_to_loopback_is_refused_at_connect_time(server: Server) -> None:
    session = guarded_session()
    for url in (f"http://localhost:{server.port}/", f"http://2130706433:{server.port}/"):
        with pytest.raises(PolicyError, match="loopback address: refused"):
            session.get(url, timeout=5)
    assert server.seen == []  # the connection was closed before a byte of the request left


def test_opted_in_session_reaches_loopback(server: Server) -> None:
    assert guarded_session(allow_private=True).get(f"http://127.0.0.1:{server.port}/", timeout=5).text == "ok"


def test_a_cross_host_redirect_is_refused_and_the_key_stays_home(server: Server) -> None:
    other = Server()
    try:
        server.redirect_to = f"http://localhost:{other.port}/steal"  # another host name, same machine
        session = guarded_session(allow_private=True)
        with pytest.raises(PolicyError, match="redirect to another host"):
            session.get(f"http://127.0.0.1:{server.port}/redirect", headers={"x-apikey": "SECRET"}, timeout=5)
        assert other.seen == []
        assert server.seen[0]["x-apikey"] == "SECRET"
    finally:
        other.close()


def test_a_same_host_redirect_is_followed(server: Server) -> None:
    server.redirect_to = "/final"
    resp = guarded_session(allow_private=True).get(f"http://127.0.0.1:{server.port}/redirect", timeout=5)
    assert resp.status_code == 200 and len(server.seen) == 2
