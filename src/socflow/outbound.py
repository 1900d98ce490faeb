"""Where socflow may send a request: one policy for every outbound HTTP client.

Intel clients (VirusTotal, AbuseIPDB, OTX) and the webhook responder send requests — with API
keys or tokens in them — to URLs an admin configured. Two things must never happen: a request (and
its key) going somewhere nobody configured, and a configured or redirected URL reaching the host
itself or its cloud metadata service (SSRF). The rules, in one place:

* **targets**: ``http``/``https`` only; loopback (127.0.0.0/8, ::1), unspecified/"this network"
  (0.0.0.0/8, ::), link-local (169.254.0.0/16 — which holds 169.254.169.254, the metadata service
  of AWS, GCP, Azure, OpenStack and Oracle — and fe80::/10) and the other cloud metadata addresses
  (100.100.100.200 Alibaba, fd00:ec2::254 AWS IPv6, 168.63.129.16 Azure WireServer) are refused,
  also when written IPv4-mapped (``::ffff:127.0.0.1``), NAT64 or 6to4, and names such as
  ``localhost`` and ``metadata.google.internal``. Private RFC 1918 ranges are *not* refused
  (internal mirrors and chat servers are normal). ``allow_private_targets: true`` in the caller's
  configuration lifts the refusal (tests against loopback fakes, a local mirror) — an explicit,
  documented setting, never a default.
* **names are checked where they are used**: :func:`guarded_adapter` checks the address a
  connection actually reached (after DNS), so a name that resolves — or is re-bound — to a
  refused address is refused at connect time. Through a configured proxy the proxy resolves the
  name; only the URL itself is checked then.
* **redirects**: followed only to the same host (same port, or http:80 -> https:443) and never
  from https to http (:func:`redirect_refusal`); anything else raises :class:`PolicyError`, so
  headers that carry keys never reach another host.

Messages name a URL by its origin only (:func:`origin`): webhook URLs carry their secret in the
path, and ``user:password@`` never appears.

API (``requests`` is imported only by the two session helpers)::

    check_target(url, allow_private=False, what="api_url")   # PolicyError if refused (no DNS)
    address_refusal(ip) -> str | None                         # "loopback", "link-local", ...
    redirect_refusal(from_url, to_url) -> str | None
    guarded_adapter(allow_private=False, **HTTPAdapter kwargs) -> requests HTTPAdapter
    guarded_session(allow_private=False, max_retries=None) -> requests.Session
    origin(url) -> "https://host:port"
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urljoin, urlsplit

from .errors import PolicyError

SETTING = "allow_private_targets"
SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_REDIRECTS = 5

_METADATA = {
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    ipaddress.ip_address("fd00:ec2::254"),  # AWS IMDS over IPv6
    ipaddress.ip_address("168.63.129.16"),  # Azure WireServer
}
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_REFUSED_NAMES = ("localhost", "localhost.localdomain", "metadata", "metadata.google.internal",
                  "metadata.goog", "instance-data", "instance-data.ec2.internal")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def address_refusal(address: str | IPAddress) -> str | None:
    """Why connecting to ``address`` is refused by default ("loopback", ...), or None if it is not."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0] if isinstance(address, str) else address)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return address_refusal(embedded)
    if ip in _METADATA:
        return "cloud metadata"
    if ip.is_loopback:
        return "loopback"
    if ip.is_unspecified or (isinstance(ip, ipaddress.IPv4Address) and ip in _THIS_NETWORK):
        return "unspecified"
    if ip.is_link_local:
        return "link-local (cloud metadata)" if str(ip) == "169.254.169.254" else "link-local"
    return None


def origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: what messages may show (no user, path or query)."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "(an unparsable URL)"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


def _host_refusal(host: str) -> str | None:
    name = host.strip("[]").rstrip(".").lower()
    if name in _REFUSED_NAMES or name.endswith(".localhost"):
        return "loopback" if "localhost" in name else "cloud metadata"
    if name and all(c in "0123456789abcdefx." for c in name) and name[-1] not in "abcdef":
        # the resolver reads "2130706433", "0x7f.1" and "127.1" as IPv4 addresses (inet_aton)
        import socket

        try:
            return address_refusal(ipaddress.IPv4Address(socket.inet_aton(name)))
        except OSError:
            pass
    return address_refusal(name)


def check_target(url: str, *, allow_private: bool = False, what: str = "the URL") -> None:
    """Refuse a URL socflow must not call (see the module doc); no DNS lookup is made here."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise PolicyError(f"{what} is not a valid URL") from None
    if parts.scheme.lower() not in SCHEMES or not host:
        raise PolicyError(f"{what} must be an http(s) URL with a host, got {origin(url)}")
    if allow_private:
        return
    why = _host_refusal(host)
    if why:
        raise PolicyError(
            f"{what} {origin(url)} is a {why} address: refused (set {SETTING} to allow it)"
        )


def _port(parts: Any) -> int | None:
    return parts.port or DEFAULT_PORTS.get(parts.scheme.lower())


def redirect_refusal(from_url: str, to_url: str) -> str | None:
    """Why following a redirect from ``from_url`` to ``to_url`` is refused, or None."""
    try:
        src, dst = urlsplit(from_url), urlsplit(urljoin(from_url, to_url))
        src_port, dst_port = _port(src), _port(dst)
    except ValueError:
        return "the redirect target is not a valid URL"
    s_scheme, d_scheme = src.scheme.lower(), dst.scheme.lower()
    if d_scheme not in SCHEMES:
        return f"redirect to a {d_scheme or 'scheme-less'} URL"
    if s_scheme == "https" and d_scheme == "http":
        return f"redirect from https to http ({origin(dst.geturl())})"
    if (src.hostname or "").lower() != (dst.hostname or "").lower():
        return f"redirect to another host ({origin(dst.geturl())})"
    upgrade = (s_scheme, src_port, d_scheme, dst_port) == ("http", 80, "https", 443)
    if src_port != dst_port and not upgrade:
        return f"redirect to another port ({origin(dst.geturl())})"
    return None


# ---------------------------------------------------------------------------------------------
# requests integration (imported lazily: analyzers answered from the cache never load requests)
# ---------------------------------------------------------------------------------------------
_classes: dict[str, Any] = {}


def _checked_pool_classes() -> dict[str, Any]:
    """Pool classes whose connections refuse a peer address :func:`address_refusal` names."""
    if _classes:
        return _classes
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    def checked(sock: Any, host: str, port: int | None) -> Any:
        try:
            peer = str(sock.getpeername()[0]).split("%", 1)[0]
        except OSError:
            return sock
        why = address_refusal(peer)
        if why:
            sock.close()
            where = f"{host}:{port}" if port else host
            how = "is" if host.strip("[]") == peer else f"resolved to {peer},"
            raise PolicyError(f"{where} {how} a {why} address: refused (set {SETTING} to allow it)")
        return sock

    class CheckedHTTPConnection(HTTPConnection):
        def _new_conn(self) -> Any:
            return checked(super()._new_conn(), self.host, self.port)

    class CheckedHTTPSConnection(HTTPSConnection):
        def _new_conn(self) -> Any:
            return checked(super()._new_conn(), self.host, self.port)

    class CheckedHTTPPool(HTTPConnectionPool):
        ConnectionCls = CheckedHTTPConnection

    class CheckedHTTPSPool(HTTPSConnectionPool):
        ConnectionCls = CheckedHTTPSConnection

    _classes.update(http=CheckedHTTPPool, https=CheckedHTTPSPool)
    return _classes


def guarded_adapter(*, allow_private: bool = False, **kwargs: Any) -> Any:
    """A ``requests`` HTTPAdapter (same arguments) that checks where each direct connection went.

    Connections through a proxy are not checked (the proxy was configured explicitly and it is
    the proxy that resolves the name); check the URL with :func:`check_target` as well.
    """
    from requests.adapters import HTTPAdapter

    adapter = HTTPAdapter(**kwargs)
    if not allow_private:
        adapter.poolmanager.pool_classes_by_scheme = _checked_pool_classes()
        original = adapter.init_poolmanager

        def init_poolmanager(*args: Any, **kw: Any) -> None:  # called again on unpickling
            original(*args, **kw)
            adapter.poolmanager.pool_classes_by_scheme = _checked_pool_classes()

        adapter.init_poolmanager = init_poolmanager  # type: ignore[method-assign]
    return adapter


def guarded_session(*, allow_private: bool = False, max_retries: Any = None) -> Any:
    """A ``requests.Session`` that follows only allowed redirects and checks every connection."""
    import requests

    class GuardedSession(requests.Session):
        def get_redirect_target(self, resp: Any) -> Any:
            target = super().get_redirect_target(resp)
            if target:
                why = redirect_refusal(resp.url, target)
                if why:
                    raise PolicyError(f"{origin(resp.url)} answered HTTP {resp.status_code}: {why}: refused")
            return target

    session = GuardedSession()
    session.max_redirects = MAX_REDIRECTS
    kwargs = {} if max_retries is None else {"max_retries": max_retries}
    for prefix in ("http://", "https://"):
        session.mount(prefix, guarded_adapter(allow_private=allow_private, **kwargs))
    return session


__all__ = [
    "SETTING", "address_refusal", "check_target", "guarded_adapter", "guarded_session", "origin",
    "redirect_refusal",
]
