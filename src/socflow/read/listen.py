"""Syslog over the network: UDP (RFC 5426), TCP (RFC 6587), TLS (RFC 5425) and RELP.

A :class:`Listener` runs its sockets on an asyncio loop in a thread of its own. Every message it
receives becomes one line (trailing LF/CR/NUL removed, an inner LF written as ``#012`` the way
rsyslog escapes it, cut at ``max_message_bytes``) in one bounded queue that the ingest loop drains
with :meth:`Listener.take`. The sender's address is only counted (:class:`PeerStats`); nothing
from the socket is written into the line, so who is blamed is decided by the syslog parser's
anchoring rules alone.

Bounds and backpressure: the queue holds at most ``queue_bytes``; above it TCP, TLS and RELP
connections stop reading (the kernel's window closes, the sender waits) until the ingest loop has
taken half of it; UDP datagrams that find it full are dropped and counted. At most
``max_connections`` connections are open at once (more are closed at once and counted); a frame
left incomplete for ``frame_timeout`` seconds while we read (a slowloris peer) closes its
connection; a frame longer than ``max_message_bytes`` is cut and counted, never buffered whole.

Framing on TCP and TLS is detected per connection from its first byte: a digit means octet
counting (``LEN SP MSG``), anything else LF-terminated lines (RFC 6587 §3.4.1, §3.4.2).

RELP (rsyslog's ``omrelp``): ``open``, ``syslog`` and ``close`` commands; a ``syslog`` command is
answered ``200 OK`` only when the ingest loop calls :meth:`Listener.acknowledge` after the commit
that holds the message's effect (alerts, rule windows), so a receiver killed at any moment loses
nothing the sender was told is safe: the sender re-sends what was not acknowledged.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigError

SCHEMES = ("udp", "tcp", "tls", "relp")
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024
DEFAULT_QUEUE_BYTES = 16 << 20
DEFAULT_MAX_CONNECTIONS = 256
DEFAULT_FRAME_TIMEOUT = 30.0
MAX_PEERS = 4096  # per-peer rows kept; later peers are counted together as "other"
_ERROR_LOG_EVERY = 10.0  # seconds between two error lines about the same peer
_MAX_COUNT_DIGITS = 10


@dataclass(frozen=True)
class ListenSpec:
    scheme: str
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def parse_listen(value: str) -> ListenSpec:
    """``udp://HOST:PORT`` (or tcp, tls, relp) → :class:`ListenSpec`; ConfigError names the problem."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"--listen {value!r}: {exc}") from None
    if parts.scheme not in SCHEMES:
        raise ConfigError(
            f"--listen {value!r}: the scheme must be one of {', '.join(SCHEMES)} (udp://HOST:PORT)"
        )
    if not parts.hostname or port is None:
        raise ConfigError(f"--listen {value!r}: needs a host and a port ({parts.scheme}://HOST:PORT)")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ConfigError(f"--listen {value!r}: only {parts.scheme}://HOST:PORT is understood")
    return ListenSpec(parts.scheme, parts.hostname, port)


@dataclass
class TlsSettings:
    cert: str
    key: str
    client_ca: str | None = None  # set: clients must present a certificate it signed

    def context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            ctx.load_cert_chain(self.cert, self.key)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"TLS certificate {self.cert} / key {self.key}: {_reason(exc)}") from None
        if self.client_ca:
            try:
                ctx.load_verify_locations(cafile=self.client_ca)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(f"TLS client CA {self.client_ca}: {_reason(exc)}") from None
            ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason).lower().replace("_", " ")
    return getattr(exc, "strerror", None) or str(exc)


@dataclass
class PeerStats:
    """What one sender (by address, per listener) sent us."""

    listener: str
    peer: str
    connections: int = 0
    messages: int = 0
    bytes: int = 0
    truncated: int = 0  # messages cut at max_message_bytes
    dropped: int = 0  # UDP datagrams that found the queue full
    refused: int = 0  # connections over max_connections, TLS handshakes that failed
    errors: int = 0  # malformed frames, timeouts, protocol errors
    last_error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Batch:
    """What :meth:`Listener.take` returns: lines per listener URL, and the RELP acks they owe."""

    lines: dict[str, list[bytes]] = field(default_factory=dict)
    acks: list[tuple[Any, int]] = field(default_factory=list)
    bytes: int = 0

    def __bool__(self) -> bool:
        return bool(self.lines) or bool(self.acks)


def normalize(message: bytes, limit: int) -> tuple[bytes, bool]:
    """One message → one line: trailer stripped, inner LF as ``#012``, cut at ``limit`` bytes."""
    message = message.rstrip(b"\n\r\x00")
    if b"\n" in message:
        message = message.replace(b"\n", b"#012")
    if len(message) > limit:
        return message[:limit], True
    return message, False


class Listener:
    """Syslog sockets on a private asyncio loop, feeding one bounded queue."""

    def __init__(
        self,
        specs: list[ListenSpec],
        *,
        tls: TlsSettings | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        queue_bytes: int = DEFAULT_QUEUE_BYTES,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        frame_timeout: float = DEFAULT_FRAME_TIMEOUT,
        on_error: Callable[[PeerStats, str], None] | None = None,
    ) -> None:
        if any(s.scheme == "tls" for s in specs) and tls is None:
            raise ConfigError("a tls:// listener needs --tls-cert and --tls-key")
        self.specs = specs
        self.ssl_context = tls.context() if tls is not None and any(s.scheme == "tls" for s in specs) else None
        self.max_message_bytes = max_message_bytes
        self.queue_bytes = queue_bytes
        self.max_connections = max_connections
        self.frame_timeout = frame_timeout
        self.on_error = on_error or (lambda peer, message: None)
        self.urls: list[str] = []  # bound addresses (port 0 resolved), in spec order
        self.peers: dict[tuple[str, str], PeerStats] = {}
        self._bound: dict[ListenSpec, str] = {}
        self._cond = threading.Condition()
        self._queue: collections.deque[tuple[str, bytes, Any, int]] = collections.deque()
        self._queued = 0
        self._waiting = False  # the consumer sleeps in take(): notify it
        self._paused: set[_Stream] = set()
        self._streams: set[_Stream] = set()
        self._handshakes = 0  # TLS connections accepted, handshake not finished
        self._error_logged: dict[tuple[str, str], float] = {}
        self._loop = asyncio.new_event_loop()
        self._loop.set_exception_handler(self._loop_error)
        self.internal_errors = 0
        self._servers: list[Any] = []
        self._thread = threading.Thread(target=self._loop.run_forever, name="syslog-listener", daemon=True)
        self._closed = False

    # ---- life cycle
    def start(self) -> list[str]:
        """Bind every socket (raises ConfigError when one cannot be bound); return their URLs."""
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._bind_all(), self._loop)
        try:
            self.urls = future.result(timeout=30)
        except OSError as exc:
            self.close()
            raise ConfigError(f"cannot listen: {_reason(exc)}") from None
        return self.urls

    async def _bind_all(self) -> list[str]:
        urls = []
        loop = asyncio.get_running_loop()
        for spec in self.specs:
            try:
                if spec.scheme == "udp":
                    reader = _UdpReader(self, spec)
                    self._servers.append(reader)
                    port = reader.sock.getsockname()[1]
                    reader.url = ListenSpec(spec.scheme, spec.host, port).url
                    reader.start()
                else:
                    factory: Callable[[], asyncio.Protocol]
                    if spec.scheme == "relp":
                        factory = lambda spec=spec: _Relp(self, spec)  # type: ignore[misc]  # noqa: E731
                    elif spec.scheme == "tls":
                        factory = lambda spec=spec: _TlsStart(self, spec)  # type: ignore[misc]  # noqa: E731
                    else:
                        factory = lambda spec=spec: _Stream(self, spec)  # type: ignore[misc]  # noqa: E731
                    server = await loop.create_server(factory, spec.host, spec.port, backlog=128)
                    self._servers.append(server)
                    port = server.sockets[0].getsockname()[1]
            except OSError as exc:
                raise OSError(exc.errno, f"{spec.url}: {exc.strerror or exc}") from None
            self._bound[spec] = ListenSpec(spec.scheme, spec.host, port).url
            urls.append(self._bound[spec])
        self._watchdog = asyncio.ensure_future(self._watch())
        return urls

    async def _watch(self) -> None:
        """Once a second: close connections whose incomplete frame has waited too long."""
        while True:
            await asyncio.sleep(min(1.0, self.frame_timeout / 2))
            now = time.monotonic()
            for stream in list(self._streams):
                stream.check_timeout(now)

    def close(self) -> None:
        """Stop accepting and reading; what was queued stays for :meth:`take`."""
        if self._closed:
            return
        self._closed = True
        if self._thread.is_alive():
            async def _shutdown() -> None:
                for server in self._servers:
                    server.close()
                for stream in list(self._streams):
                    stream.transport.abort() if stream.transport else None
                watchdog = getattr(self, "_watchdog", None)
                if watchdog:
                    watchdog.cancel()

            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(_shutdown(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        with contextlib.suppress(Exception):
            self._loop.close()

    # ---- the consumer's side (ingest loop thread)
    def take(self, timeout: float, max_bytes: int = 1 << 20) -> Batch:
        """The queued lines (up to ``max_bytes``), waiting up to ``timeout`` for the first one."""
        batch = Batch()
        with self._cond:
            if not self._queue and timeout > 0:
                self._waiting = True
                self._cond.wait(timeout)
                self._waiting = False
            while self._queue and batch.bytes < max_bytes:
                url, line, session, txnr = self._queue.popleft()
                self._queued -= len(line)
                batch.bytes += len(line)
                if line:
                    batch.lines.setdefault(url, []).append(line)
                if session is not None:
                    batch.acks.append((session, txnr))
            resume = self._paused and self._queued <= self.queue_bytes // 2
        if resume and not self._closed:
            self._loop.call_soon_threadsafe(self._resume_all)
        return batch

    def acknowledge(self, acks: list[tuple[Any, int]], *, wait: bool = False) -> None:
        """The batch these acks came with is committed: tell the RELP senders it is safe."""
        if not acks or self._closed:
            return
        if not wait:
            self._loop.call_soon_threadsafe(_Relp.send_acks, acks)
            return

        async def _send() -> None:
            _Relp.send_acks(acks)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(_send(), self._loop).result(timeout=10)

    def quiesce(self) -> None:
        """Stopping: accept and read nothing more, so that what is queued can be committed and
        acknowledged before the connections close."""
        if self._closed or not self._thread.is_alive():
            return

        async def _quiet() -> None:
            for server in self._servers:
                server.close()
            for stream in list(self._streams):
                stream.closing_soon()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(_quiet(), self._loop).result(timeout=10)

    def queued_bytes(self) -> int:
        with self._cond:
            return self._queued

    def stats(self) -> list[dict[str, Any]]:
        return [p.as_dict() for p in list(self.peers.values())]

    # ---- the producer's side (loop thread)
    def url_of(self, spec: ListenSpec) -> str:
        return self._bound.get(spec, spec.url)

    def peer(self, url: str, address: Any) -> PeerStats:
        host = address[0] if isinstance(address, tuple) and address else str(address)
        key = (url, host)
        stats = self.peers.get(key)
        if stats is None:
            if len(self.peers) >= MAX_PEERS:
                key = (url, "other")
                stats = self.peers.get(key)
            if stats is None:
                stats = self.peers[key] = PeerStats(url, key[1])
        return stats

    def put(self, url: str, message: bytes, peer: PeerStats, session: Any = None, txnr: int = 0) -> bool:
        """Queue one message; False when the queue is now full (streams should pause)."""
        return self.put_many(url, [(message, session, txnr)], peer)

    def put_many(self, url: str, messages: list[tuple[bytes, Any, int]], peer: PeerStats) -> bool:
        """Queue messages of one peer (one read's worth); False when the queue is now full."""
        limit = self.max_message_bytes
        items = []
        size = 0
        for message, session, txnr in messages:
            line, cut = normalize(message, limit)
            peer.messages += 1
            peer.bytes += len(message)
            peer.truncated += cut
            size += len(line)
            items.append((url, line, session, txnr))
        with self._cond:
            self._queue.extend(items)
            self._queued += size
            if self._waiting:
                self._cond.notify()
            return self._queued < self.queue_bytes

    def full(self) -> bool:
        return self._queued >= self.queue_bytes

    def error(self, peer: PeerStats, message: str) -> None:
        peer.errors += 1
        peer.last_error = message
        key = (peer.listener, peer.peer)
        now = time.monotonic()
        if now - self._error_logged.get(key, -1e9) >= _ERROR_LOG_EVERY:
            self._error_logged[key] = now
            self.on_error(peer, message)

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """A bug of ours in a socket callback: one line, counted; the listener goes on."""
        self.internal_errors += 1
        exc = context.get("exception")
        what = f"{type(exc).__name__}: {exc}" if exc is not None else context.get("message", "?")
        self.on_error(PeerStats("listener", "-"), f"internal error: {what}"[:300])

    def _resume_all(self) -> None:
        for stream in list(self._paused):
            stream.resume()
        self._paused.clear()


class _UdpReader:
    """RFC 5426: one message per datagram, read by a thread of its own with blocking calls (an
    asyncio datagram endpoint costs one loop turn per datagram: 4× the CPU)."""

    RCVBUF = 4 << 20  # asked for; Linux caps it at net.core.rmem_max (212 992 by default)

    def __init__(self, listener: Listener, spec: ListenSpec) -> None:
        self.listener, self.spec, self.url = listener, spec, spec.url
        family, kind, proto, _, addr = socket.getaddrinfo(spec.host, spec.port, type=socket.SOCK_DGRAM)[0]
        self.sock = socket.socket(family, kind, proto)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.RCVBUF)
            self.sock.bind(addr)
        except OSError:
            self.sock.close()
            raise
        self.sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="syslog-udp", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        sock, listener, stop = self.sock, self.listener, self._stop
        while not stop.is_set():
            try:
                first = sock.recvfrom(65535)
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                if stop.is_set():
                    return
                continue
            got = [first]
            while len(got) < 256:  # what else is waiting, in one queue step
                try:
                    got.append(sock.recvfrom(65535, socket.MSG_DONTWAIT))
                except OSError:
                    break
            by_peer: dict[Any, list[tuple[bytes, Any, int]]] = {}
            for data, addr in got:
                by_peer.setdefault(addr[0], []).append((data, None, 0))
            for host, messages in by_peer.items():
                peer = listener.peer(self.url, (host,))
                if listener.full():
                    peer.dropped += len(messages)
                    peer.bytes += sum(len(m) for m, _, _ in messages)
                    continue
                messages = [m for m in messages if m[0].strip(b"\n\r\x00 ")]
                if messages:
                    listener.put_many(self.url, messages, peer)

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self.sock.close()


class _Stream(asyncio.Protocol):
    """RFC 6587 over TCP or TLS: octet counting or LF framing, detected from the first byte."""

    def __init__(self, listener: Listener, spec: ListenSpec) -> None:
        self.listener, self.spec, self.url = listener, spec, listener.url_of(spec)
        self.transport: asyncio.Transport | None = None
        self.peer: PeerStats | None = None
        self.buf = bytearray()
        self.mode = ""  # "octet" | "lf", decided by the first byte
        self.discard = 0  # bytes of an over-long frame still to skip
        self.skip_line = False  # LF mode: the rest of an over-long line is skipped
        self.frame_since: float | None = None  # when the incomplete frame in buf began
        self.paused = False
        self.closing = False
        self.out: list[tuple[bytes, Any, int]] = []  # messages of the current read

    # -- connection
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        listener = self.listener
        self.peer = listener.peer(self.url, transport.get_extra_info("peername"))
        if len(listener._streams) >= listener.max_connections:
            self.peer.refused += 1
            listener.error(self.peer, f"too many connections (max {listener.max_connections}); closed")
            self.closing = True
            transport.abort()
            return
        self.peer.connections += 1
        listener._streams.add(self)
        if self.buf:  # TLS: application data that came with the end of the handshake
            self.frames()
            self.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        listener = self.listener
        listener._streams.discard(self)
        listener._paused.discard(self)
        if self.closing or self.peer is None:
            return
        if self.mode == "lf" and self.buf and not self.skip_line:
            self.emit(bytes(self.buf))  # a last line without its LF: the sender closed after it
            self.flush()
        elif self.buf.strip() or self.discard:
            listener.error(self.peer, f"connection closed inside a frame ({len(self.buf)} bytes unread)")
        self.buf.clear()

    def fail(self, message: str) -> None:
        assert self.peer is not None
        self.flush()  # the whole frames before the bad one count
        self.listener.error(self.peer, message)
        self.closing = True
        self.buf.clear()
        if self.transport is not None:
            self.transport.abort()

    def check_timeout(self, now: float) -> None:
        if self.frame_since is not None and not self.paused and now - self.frame_since > self.listener.frame_timeout:
            self.fail(f"frame incomplete after {self.listener.frame_timeout:g} s (slow or stalled sender); closed")

    def pause(self) -> None:
        if not self.paused and self.transport is not None and not self.closing:
            self.paused = True
            self.transport.pause_reading()
            self.listener._paused.add(self)

    def closing_soon(self) -> None:
        if self.transport is not None and not self.closing:
            self.transport.pause_reading()
            self.paused = True
            self.closing = True  # nothing more is read or resumed

    def resume(self) -> None:
        if self.paused and self.transport is not None and not self.closing:
            self.paused = False
            if self.frame_since is not None:
                self.frame_since = time.monotonic()
            self.transport.resume_reading()

    def emit(self, message: bytes, session: Any = None, txnr: int = 0) -> None:
        self.out.append((message, session, txnr))

    def flush(self) -> None:
        """Queue what this read completed, in one step; pause when the queue is full."""
        if self.out and self.peer is not None:
            out, self.out = self.out, []
            if not self.listener.put_many(self.url, out, self.peer):
                self.pause()

    # -- framing
    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        if self.peer is None:  # TLS: before start_tls has handed us the connection
            self.buf += data
            return
        if self.discard:
            n = min(self.discard, len(data))
            self.discard -= n
            data = data[n:]
        self.buf += data
        self.frames()
        self.flush()
        self.frame_since = (self.frame_since or time.monotonic()) if self.buf or self.discard else None

    def frames(self) -> None:
        buf, limit = self.buf, self.listener.max_message_bytes
        while buf and not self.closing:
            if not self.mode:
                first = buf.lstrip(b"\r\n\x00")
                if not first and len(buf) <= limit:
                    return  # only trailer bytes so far: kept (in LF framing they may start a line)
                self.mode = "octet" if first[:1].isdigit() else "lf"
            if self.mode == "lf":
                if self.skip_line:
                    cut = buf.find(b"\n")
                    if cut < 0:
                        buf.clear()
                        return
                    del buf[: cut + 1]
                    self.skip_line = False
                    continue
                cut = buf.find(b"\n")
                if cut < 0:
                    if len(buf) > limit:  # keep the start of an over-long line, skip its rest
                        self.emit(bytes(buf[: limit + 1]))
                        buf.clear()
                        self.skip_line = True
                    return
                line = bytes(buf[:cut])
                del buf[: cut + 1]
                if line.strip(b"\r\x00 "):
                    self.emit(line)
                continue
            # octet counting: MSG-LEN SP SYSLOG-MSG
            while buf[:1] in (b"\n", b"\r", b"\x00"):  # stray trailers between frames
                del buf[:1]
            if not buf:
                return
            space = buf.find(b" ", 0, _MAX_COUNT_DIGITS + 1)
            if space < 0:
                if len(buf) > _MAX_COUNT_DIGITS or not bytes(buf).isdigit():
                    self.fail(f"malformed octet-counted frame: {_preview(buf)}; closed")
                return
            digits = bytes(buf[:space])
            if not digits.isdigit() or int(digits) == 0:
                self.fail(f"malformed octet-counted frame: {_preview(buf)}; closed")
                return
            count = int(digits)
            start = space + 1
            if count <= limit:
                if len(buf) < start + count:
                    return
                message = bytes(buf[start : start + count])
                del buf[: start + count]
                self.emit(message)
                continue
            # longer than we keep: the first limit+1 bytes (so it is counted as cut), skip the rest
            if len(buf) < start + limit + 1:
                return
            message = bytes(buf[start : start + limit + 1])
            rest = count - (limit + 1)
            have = len(buf) - (start + limit + 1)
            del buf[: start + min(count, limit + 1 + have)]
            self.discard = max(0, rest - have)
            self.emit(message)
            if self.discard:
                return


class _TlsStart(asyncio.Protocol):
    """Accepts a TCP connection, then upgrades it to TLS (RFC 5425) before any byte is read, so
    that a failed handshake is counted against its peer with its reason (asyncio's own ``ssl=``
    server drops those silently)."""

    def __init__(self, listener: Listener, spec: ListenSpec) -> None:
        self.listener, self.spec = listener, spec

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        listener = self.listener
        if len(listener._streams) + listener._handshakes >= listener.max_connections:
            peer = listener.peer(listener.url_of(self.spec), transport.get_extra_info("peername"))
            peer.refused += 1
            listener.error(peer, f"too many connections (max {listener.max_connections}); closed")
            transport.abort()
            return
        listener._handshakes += 1  # pending handshakes hold a connection slot too
        transport.pause_reading()  # type: ignore[attr-defined]  # the ClientHello waits for start_tls
        asyncio.ensure_future(self._upgrade(transport))  # type: ignore[arg-type]

    async def _upgrade(self, transport: asyncio.Transport) -> None:
        listener = self.listener
        url = listener.url_of(self.spec)
        peer = listener.peer(url, transport.get_extra_info("peername"))
        stream = _Stream(listener, self.spec)
        assert listener.ssl_context is not None
        try:
            tls = await asyncio.get_running_loop().start_tls(
                transport, stream, listener.ssl_context, server_side=True, ssl_handshake_timeout=10.0
            )
        except (OSError, asyncio.TimeoutError, ConnectionError) as exc:
            peer.refused += 1
            listener.error(peer, f"TLS handshake failed: {_reason(exc) or type(exc).__name__}")
            transport.abort()
            return
        finally:
            listener._handshakes -= 1
        if tls is None:
            transport.abort()
            return
        stream.connection_made(tls)

    def connection_lost(self, exc: Exception | None) -> None:
        pass


class _Relp(_Stream):
    """The server side of RELP (librelp's protocol as rsyslog's omrelp speaks it)."""

    OFFERS = b"relp_version=0\nrelp_software=socflow\ncommands=syslog"

    def __init__(self, listener: Listener, spec: ListenSpec) -> None:
        super().__init__(listener, spec)
        self.opened = False
        self.unacked = 0
        self.close_txnr: int | None = None
        self.expect: tuple[int, bytes, int] | None = None  # txnr, command, datalen: waiting for data

    @staticmethod
    def send_acks(acks: list[tuple[Any, int]]) -> None:
        for session, txnr in acks:
            session.ack(txnr)

    def ack(self, txnr: int) -> None:
        self.unacked -= 1
        self.respond(txnr, b"200 OK")
        if self.close_txnr is not None and self.unacked <= 0:
            self.finish_close()

    def respond(self, txnr: int, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(b"%d rsp %d%s\n" % (txnr, len(data), b" " + data if data else b""))

    def finish_close(self) -> None:
        assert self.close_txnr is not None
        self.respond(self.close_txnr, b"")
        self.closing = True
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.listener._streams.discard(self)
        self.listener._paused.discard(self)
        self.closing = True

    def frames(self) -> None:
        buf, limit = self.buf, self.listener.max_message_bytes
        while buf and not self.closing:
            if self.expect is None:
                while buf[:1] in (b"\n", b"\r"):
                    del buf[:1]
                end = buf.find(b"\n", 0, 64)
                header_end = _relp_header_end(buf)
                if header_end is None:
                    if len(buf) > 48 or (end >= 0):
                        self.fail(f"malformed RELP frame: {_preview(buf)}; closed")
                    return
                parts = bytes(buf[:header_end]).split(b" ")
                txnr, command, datalen = int(parts[0]), parts[1], int(parts[2])
                del buf[:header_end]
                self.expect = (txnr, command, datalen)
            txnr, command, datalen = self.expect
            cap = limit + 1 if command == b"syslog" else 64 * 1024
            if datalen == 0:
                if not buf:
                    return
                if buf[:1] != b"\n":
                    self.fail(f"malformed RELP frame: no trailer after {command.decode('ascii', 'replace')}; closed")
                    return
                del buf[:1]
                self.expect = None
                self.command(txnr, command, b"")
                continue
            if command != b"syslog" and datalen > cap:
                self.fail(f"RELP {command.decode('ascii', 'replace')} data of {datalen} bytes; closed")
                return
            need = 1 + datalen + 1  # SP DATA LF
            if datalen > cap:  # keep the first cap bytes of an over-long message, skip the rest
                if len(buf) >= need:
                    if buf[need - 1 : need] != b"\n":
                        self.fail("malformed RELP frame: data length does not match its trailer; closed")
                        return
                    data = bytes(buf[1 : 1 + cap])
                    del buf[:need]
                    self.expect = None
                    self.command(txnr, command, data)
                    continue
                if len(buf) < 1 + cap:
                    return
                data = bytes(buf[1 : 1 + cap])
                self.discard = need - len(buf)
                buf.clear()
                self.expect = None
                self.command(txnr, command, data)
                return
            if len(buf) < need:
                return
            if buf[:1] != b" " or buf[need - 1 : need] != b"\n":
                self.fail("malformed RELP frame: data length does not match its trailer; closed")
                return
            data = bytes(buf[1 : 1 + datalen])
            del buf[:need]
            self.expect = None
            self.command(txnr, command, data)

    def command(self, txnr: int, command: bytes, data: bytes) -> None:
        if command == b"open":
            if b"relp_version=" not in data:
                self.fail("RELP open without relp_version; closed")
                return
            self.opened = True
            self.respond(txnr, b"200 OK\n" + self.OFFERS)
        elif not self.opened:
            self.fail(f"RELP {command.decode('ascii', 'replace')} before open; closed")
        elif command == b"syslog":
            self.unacked += 1
            assert self.peer is not None
            self.emit(data, self, txnr)
        elif command == b"close":
            self.close_txnr = txnr
            if self.unacked <= 0:
                self.finish_close()
        else:
            assert self.peer is not None
            self.listener.error(self.peer, f"RELP command {command.decode('ascii', 'replace')!r} not supported")
            self.respond(txnr, b"500 command not supported")


def _relp_header_end(buf: bytearray) -> int | None:
    """Offset just after ``TXNR SP COMMAND SP DATALEN`` (before SP or LF), or None if incomplete/bad."""
    first = buf.find(b" ", 0, 11)
    if first <= 0 or not bytes(buf[:first]).isdigit():
        return None
    second = buf.find(b" ", first + 1, first + 34)
    if second <= first + 1 or not bytes(buf[first + 1 : second]).isalpha():
        return None
    end = second + 1
    while end < len(buf) and end - second <= _MAX_COUNT_DIGITS and buf[end : end + 1].isdigit():
        end += 1
    if end == second + 1 or end >= len(buf) or buf[end : end + 1] not in (b" ", b"\n"):
        return None
    return end


def _preview(buf: bytes | bytearray) -> str:
    """The start of a bad frame, printable and short, for a one-line error."""
    text = bytes(buf[:24]).decode("ascii", "backslashreplace")
    return repr(text)
