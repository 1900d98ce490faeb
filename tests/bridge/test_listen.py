"""The syslog listener (socflow.read.listen) with real sockets on loopback: framing, limits,
backpressure, hostile peers and the RELP server side; and ``socflow ingest --listen`` options."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socflow.errors import ConfigError
from socflow.parse import PARSERS
from socflow.read.listen import Listener, ListenSpec, TlsSettings, _Stream, normalize, parse_listen

from bridge.syslog_support import wait_for

SOCFLOW = [sys.executable, "-m", "socflow.adapters.cli.main"]
LINE = b"<38>Dec  7 00:00:00 web1 sshd[1]: Failed password for root from 45.77.1.1 port 22 ssh2"


@pytest.fixture()
def listen():
    started: list[Listener] = []

    def start(*urls: str, **kw) -> tuple[Listener, list[int], list[str]]:
        errors: list[str] = []
        listener = Listener([parse_listen(u) for u in urls], on_error=lambda p, m: errors.append(m), **kw)
        started.append(listener)
        bound = listener.start()
        return listener, [int(u.rsplit(":", 1)[1]) for u in bound], errors

    yield start
    for listener in started:
        listener.close()


def _drain(listener: Listener, want: int, timeout: float = 10.0) -> list[bytes]:
    got: list[bytes] = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        batch = listener.take(0.1)
        for lines in batch.lines.values():
            got += lines
        listener.acknowledge(batch.acks)
    return got


def _peer(listener: Listener) -> dict:
    (peer,) = listener.stats()
    return peer


def test_listen_urls_are_checked():
    assert parse_listen("udp://127.0.0.1:514") == ListenSpec("udp", "127.0.0.1", 514)
    assert parse_listen("tls://[::1]:6514").url == "tls://[::1]:6514"
    for bad, why in [
        ("http://127.0.0.1:80", "scheme must be one of udp, tcp, tls, relp"),
        ("tcp://127.0.0.1", "needs a host and a port"),
        ("tcp://:514", "needs a host and a port"),
        ("tcp://127.0.0.1:99999", "out of range"),
        ("udp://127.0.0.1:514/x?y", "only udp://HOST:PORT"),
    ]:
        with pytest.raises(ConfigError, match=why):
            parse_listen(bad)
    with pytest.raises(ConfigError, match="needs --tls-cert and --tls-key"):
        Listener([parse_listen("tls://127.0.0.1:0")])
    with pytest.raises(ConfigError, match="TLS certificate /nonexistent.pem"):
        TlsSettings("/nonexistent.pem", "/nonexistent.key").context()


def test_tcp_framing_is_detected_per_connection(listen):
    listener, (port,), errors = listen("tcp://127.0.0.1:0")
    octet = b"<38>1 2026-12-06T21:09:26+00:00 vm sshd 1 - -  Failed password\n"  # count includes LF
    multi = b"<38>Dec  7 00:00:00 web1 app[1]: first\nsecond"
    with socket.create_connection(("127.0.0.1", port)) as a, socket.create_connection(("127.0.0.1", port)) as b:
        a.sendall(b"%d %s%d %s" % (len(octet), octet, len(multi), multi))
        b.sendall(LINE + b"\n" + LINE + b"\r\n\n")
        got = _drain(listener, 4)
    assert sorted(got) == sorted([octet[:-1], multi.replace(b"\n", b"#012"), LINE, LINE])
    assert errors == []
    (peer,) = listener.stats()
    assert peer["messages"] == 4 and peer["connections"] == 2


def test_udp_is_one_message_per_datagram(listen):
    listener, (port,), _ = listen("udp://127.0.0.1:0")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(LINE + b"\n", ("127.0.0.1", port))
        s.sendto(b"<13>two\nlines\x00", ("127.0.0.1", port))
        s.sendto(b"\n", ("127.0.0.1", port))  # empty: nothing to read
        got = _drain(listener, 2)
    assert got == [LINE, b"<13>two#012lines"]
    assert _peer(listener)["messages"] == 2


def test_huge_messages_are_cut_and_the_stream_goes_on(listen):
    listener, (tcp, udp), errors = listen("tcp://127.0.0.1:0", "udp://127.0.0.1:0", max_message_bytes=1000)
    huge = b"<38>" + b"A" * 300_000
    with socket.create_connection(("127.0.0.1", tcp)) as octet, socket.create_connection(("127.0.0.1", tcp)) as lf:
        octet.sendall(b"%d %s" % (len(huge), huge) + b"6 <38>ok")
        lf.sendall(huge + b"\n" + b"<38>after\n")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(huge[:60_000], ("127.0.0.1", udp))
        got = _drain(listener, 5)
    assert sorted(got) == sorted([huge[:1000], b"<38>ok", huge[:1000], b"<38>after", huge[:1000]])
    stats = listener.stats()
    assert sum(p["truncated"] for p in stats) == 3 and errors == []


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.binary(min_size=1, max_size=300), min_size=1, max_size=12),
    st.lists(st.integers(min_value=1, max_value=97), min_size=1, max_size=20),
    st.booleans(),
)
def test_framing_keeps_every_message_whatever_the_read_sizes(messages, cuts, octet):
    """Hostile bytes (binary, invalid UTF-8, NULs, CRs) split at arbitrary points of the stream."""

    class Transport:
        def get_extra_info(self, name):
            return ("127.0.0.1", 1)

        def pause_reading(self): ...

        def resume_reading(self): ...

        def abort(self):
            raise AssertionError("a valid stream was closed")

    listener = Listener([parse_listen("tcp://127.0.0.1:0")], max_message_bytes=200)
    try:
        stream = _Stream(listener, listener.specs[0])
        stream.connection_made(Transport())
        if octet:
            wire = b"".join(b"%d %s" % (len(m), m) for m in messages)
            want = [normalize(m, 200)[0] for m in messages]
        else:
            lines = [m.replace(b"\n", b"") for m in messages]
            lines = [ln for ln in lines if ln.strip(b"\r\x00 ")]
            if lines and lines[0][:1].isdigit() or not lines:
                return  # a first digit means octet counting: not this case
            wire = b"".join(ln + b"\n" for ln in lines)
            want = [normalize(ln, 200)[0] for ln in lines]
        pos, i = 0, 0
        while pos < len(wire):
            step = cuts[i % len(cuts)]
            stream.data_received(wire[pos : pos + step])
            pos, i = pos + step, i + 1
        got = _drain(listener, len(want), timeout=0.5)
        assert got == [w for w in want if w]
        for line in got:  # the parser takes whatever came, without an exception
            PARSERS["syslog"].parse(line.decode("utf-8", "replace"))
    finally:
        listener.close()


def test_malformed_frames_close_the_connection_with_one_line(listen):
    listener, (port,), errors = listen("tcp://127.0.0.1:0")
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"12x <38>not a count\n")
        s.settimeout(5)
        assert s.recv(100) == b""  # closed by the listener
    wait_for(lambda: errors, what="the error line")
    assert errors == ["malformed octet-counted frame: '12x <38>not a count\\n'; closed"]
    assert _peer(listener)["errors"] == 1


def test_a_slowloris_peer_is_closed_and_counted(listen):
    listener, (port,), errors = listen("tcp://127.0.0.1:0", frame_timeout=0.5)
    with socket.create_connection(("127.0.0.1", port)) as slow, socket.create_connection(("127.0.0.1", port)) as ok:
        slow.sendall(b"500 <38>Dec  7 ")  # and nothing more
        ok.sendall(LINE + b"\n")
        slow.settimeout(5)
        t0 = time.monotonic()
        assert slow.recv(100) == b""
        assert time.monotonic() - t0 < 3
        assert _drain(listener, 1) == [LINE]
    assert errors == ["frame incomplete after 0.5 s (slow or stalled sender); closed"]


def test_too_many_connections_are_refused_and_counted(listen):
    listener, (port,), errors = listen("tcp://127.0.0.1:0", max_connections=2)
    conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
    try:
        conns[2].settimeout(5)
        assert conns[2].recv(10) == b""  # the third one is closed at once
        conns[0].sendall(LINE + b"\n")
        assert _drain(listener, 1) == [LINE]
    finally:
        for c in conns:
            c.close()
    assert _peer(listener)["refused"] == 1 and _peer(listener)["connections"] == 2
    assert errors == ["too many connections (max 2); closed"]


def test_backpressure_bounds_the_queue_tcp_waits_and_udp_drops(listen):
    listener, (tcp, udp), _ = listen("tcp://127.0.0.1:0", "udp://127.0.0.1:0", queue_bytes=64 * 1024)
    n = 20_000  # ≈18 MB: beyond the queue and what loopback socket buffers hold
    pad = b" " + b"p" * 800
    sent = b"".join(LINE + pad + b" %d\n" % i for i in range(n))
    with socket.create_connection(("127.0.0.1", tcp)) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        s.setblocking(False)
        pos, deadline = 0, time.monotonic() + 2
        while pos < len(sent) and time.monotonic() < deadline:
            try:
                pos += s.send(sent[pos : pos + 65536])
            except BlockingIOError:
                time.sleep(0.01)
        assert pos < len(sent)  # the sender is held back: the listener stopped reading
        # bounded: the queue limit plus what one read (≤256 KiB) had already split into messages
        assert listener.queued_bytes() <= 64 * 1024 + 256 * 1024
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as d:
            for _ in range(5):
                d.sendto(LINE, ("127.0.0.1", udp))
        wait_for(lambda: sum(p["dropped"] for p in listener.stats()) == 5, what="UDP drops counted")
        got: list[bytes] = []
        deadline = time.monotonic() + 20
        while len(got) < n and time.monotonic() < deadline:
            if pos < len(sent):
                try:
                    pos += s.send(sent[pos : pos + 65536])
                except BlockingIOError:
                    pass
            batch = listener.take(0.05)
            for lines in batch.lines.values():
                got += lines
    assert len(got) == n and got[-1] == LINE + pad + b" %d" % (n - 1)  # TCP: slowed, nothing lost


def _relp(sock: socket.socket, txnr: int, command: bytes, data: bytes = b"") -> None:
    frame = b"%d %s %d" % (txnr, command, len(data)) + (b" " + data if data else b"") + b"\n"
    sock.sendall(frame)


def _recv_until(sock: socket.socket, needle: bytes, timeout: float = 5.0) -> bytes:
    sock.settimeout(timeout)
    buf = b""
    while needle not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            break
        buf += chunk
    return buf


def test_relp_acknowledges_only_after_the_commit(listen):
    listener, (port,), errors = listen("relp://127.0.0.1:0")
    with socket.create_connection(("127.0.0.1", port)) as s:
        _relp(s, 1, b"open", b"relp_version=0\nrelp_software=test\ncommands=syslog")
        assert _recv_until(s, b"commands=syslog\n").startswith(b"1 rsp ")
        _relp(s, 2, b"syslog", LINE)
        _relp(s, 3, b"syslog", b"<38>two\nlines")
        wait_for(lambda: listener.queued_bytes() > 0, what="queued")
        s.settimeout(0.3)
        with pytest.raises(TimeoutError):
            s.recv(100)  # received, not committed: no ack yet
        batch = listener.take(1)
        assert list(batch.lines.values()) == [[LINE, b"<38>two#012lines"]]
        assert [t for _, t in batch.acks] == [2, 3]
        listener.acknowledge(batch.acks)  # what the ingest loop does after its commit
        assert _recv_until(s, b"3 rsp 6 200 OK\n") == b"2 rsp 6 200 OK\n3 rsp 6 200 OK\n"
        _relp(s, 4, b"close")
        assert _recv_until(s, b"4 rsp 0\n") == b"4 rsp 0\n"
        assert s.recv(10) == b""
    assert errors == []


def test_relp_protocol_errors_are_one_line_and_close_the_session(listen):
    listener, (port,), errors = listen("relp://127.0.0.1:0")

    def last_error(n: int) -> str:
        wait_for(lambda: _peer(listener)["errors"] == n, what=f"error {n}")
        return _peer(listener)["last_error"]

    with socket.create_connection(("127.0.0.1", port)) as s:
        _relp(s, 1, b"syslog", LINE)  # before open
        assert _recv_until(s, b"\n") == b""
    assert last_error(1) == "RELP syslog before open; closed"
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _recv_until(s, b"\n") == b""
    assert last_error(2).startswith("malformed RELP frame: 'GET / HTTP/1.1")
    with socket.create_connection(("127.0.0.1", port)) as s:
        _relp(s, 1, b"open", b"relp_version=0\ncommands=syslog")
        _recv_until(s, b"commands=syslog\n")
        s.sendall(b"2 syslog 5 toolong-data\n")  # the length does not match
        assert _recv_until(s, b"\n") == b""  # closed, nothing acknowledged
    assert last_error(3) == "malformed RELP frame: data length does not match its trailer; closed"
    assert errors == ["RELP syslog before open; closed"]  # one line per peer per 10 s; all counted


def test_relp_cuts_a_huge_message_and_still_acknowledges_it(listen):
    listener, (port,), _ = listen("relp://127.0.0.1:0", max_message_bytes=1000)
    huge = b"<38>" + b"B" * 200_000
    with socket.create_connection(("127.0.0.1", port)) as s:
        _relp(s, 1, b"open", b"relp_version=0\ncommands=syslog")
        _recv_until(s, b"commands=syslog\n")
        _relp(s, 2, b"syslog", huge)
        _relp(s, 3, b"syslog", LINE)
        got: list[bytes] = []
        while len(got) < 2:
            batch = listener.take(1)
            got += [ln for lines in batch.lines.values() for ln in lines]
            listener.acknowledge(batch.acks)
        assert got == [huge[:1000], LINE]
        assert _recv_until(s, b"3 rsp 6 200 OK\n").endswith(b"2 rsp 6 200 OK\n3 rsp 6 200 OK\n")
    assert _peer(listener)["truncated"] == 1


def _run_listener(tmp_path, *args: str) -> subprocess.Popen:
    env = {"SOCFLOW_STATE_DIR": str(tmp_path / "state"), "PATH": "/usr/bin:/bin"}
    return subprocess.Popen(
        [*SOCFLOW, "ingest", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_cli_options_of_the_listener(tmp_path):
    """--max-connections, --max-message-bytes, --stats-every and --json, as a process."""
    proc = _run_listener(
        tmp_path,
        "--listen", "tcp://127.0.0.1:0",
        "--max-connections", "1",
        "--max-message-bytes", "480",
        "--stats-every", "0.2",
        "--json",
    )  # fmt: skip
    first = json.loads(proc.stderr.readline())
    port = int(first["listeners"][0].rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as a:
        a.sendall(LINE + b" " + b"x" * 1000 + b"\n")
        time.sleep(0.3)
        with socket.create_connection(("127.0.0.1", port)) as b:
            b.settimeout(5)
            assert b.recv(10) == b""
        time.sleep(0.5)
    proc.terminate()
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in err
    events = [json.loads(ln) for ln in err.splitlines()]
    assert any(e["event"] == "listener-stats" for e in events)
    assert {"event": "peer-error", "error": "too many connections (max 1); closed"}.items() <= next(
        e for e in events if e["event"] == "peer-error"
    ).items()
    summary = json.loads(out)
    (peer,) = summary["peers"]
    assert (peer["messages"], peer["truncated"], peer["refused"], peer["connections"]) == (1, 1, 1, 1)
    (src,) = summary["sources"]
    assert src["source"] == first["listeners"][0] and src["format"] == "syslog"
    assert src["bytes"] == 480 + 1  # the cut line and its newline


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--listen", "ftp://127.0.0.1:21"], 1, "the scheme must be one of udp, tcp, tls, relp"),
        (["--listen", "tls://127.0.0.1:0"], 1, "a tls:// listener needs --tls-cert and --tls-key"),
        (["--listen", "tcp://127.0.0.1:0", "--tls-cert", "c.pem", "--tls-key", "k.pem"], 2, "need a --listen tls://"),
        (["--listen", "tls://127.0.0.1:0", "--tls-cert", "c.pem"], 2, "--tls-cert and --tls-key go together"),
        (["--listen", "tcp://127.0.0.1:0", "--dry-run"], 2, "cannot be combined with --listen"),
        (["--listen", "tls://127.0.0.1:0", "--tls-cert", "/nope.pem", "--tls-key", "/nope.key"], 1,
         "TLS certificate /nope.pem / key /nope.key: No such file or directory"),
        (["--listen", "tcp://192.0.2.1:5514"], 1, "cannot listen: tcp://192.0.2.1:5514:"),
        ([], 2, "Missing argument 'PATHS...' (files to read), or --listen URL"),
    ],
)
def test_cli_listen_errors_are_one_line(tmp_path, args, code, message):
    proc = _run_listener(tmp_path, *args)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    assert message in err and "Traceback" not in err
    assert len([ln for ln in err.splitlines() if "rror" in ln]) == 1, err


def test_ipv6_loopback_listeners(listen):
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        listener, (udp, tcp), _ = listen("udp://[::1]:0", "tcp://[::1]:0")
    except ConfigError as exc:
        pytest.skip(f"no ::1 here: {exc}")
    assert listener.urls == [f"udp://[::1]:{udp}", f"tcp://[::1]:{tcp}"]
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        s.sendto(LINE, ("::1", udp))
    with socket.create_connection(("::1", tcp)) as c:
        c.sendall(LINE + b" tcp\n")
        got = _drain(listener, 2)
    assert sorted(got) == [LINE, LINE + b" tcp"]
    assert {p["peer"] for p in listener.stats()} == {"::1"}


def test_listen_and_follow_files_in_one_process(tmp_path):
    """Files named with --listen are followed: both feed the same rules and outbox."""
    log = tmp_path / "auth.log"
    log.write_text(
        "".join(
            f"2026-03-10T08:00:0{k}+00:00 web1 sshd[1]: Failed password for root from 45.77.50.1 port {k} ssh2\n"
            for k in range(5)
        )
    )
    (tmp_path / "bridge.yml").write_text("window_grace: 0\n")
    proc = _run_listener(tmp_path, "--config", str(tmp_path / "bridge.yml"), "--listen", "udp://127.0.0.1:0", str(log))
    first = json.loads(proc.stderr.readline())
    assert first["files"] == [str(log)]
    port = int(first["listeners"][0].rsplit(":", 1)[1])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for k in range(5):
            s.sendto(
                f"<38>2026-03-10T08:00:1{k}+00:00 web2 sshd[2]: Failed password for admin from 45.77.50.2 port {k} ssh2".encode(),
                ("127.0.0.1", port),
            )
        time.sleep(0.3)
        with open(log, "a") as fh:  # a later event closes both windows
            fh.write("2026-03-10T09:00:00+00:00 web1 sshd[1]: Failed password for x from 10.0.0.1 port 1 ssh2\n")
        time.sleep(1.5)
    proc.terminate()
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in err
    alerts = [json.loads(ln) for ln in err.splitlines() if '"event": "alert"' in ln]
    assert sorted(a["title"].split(" from ")[1].split(" ")[0] for a in alerts) == ["45.77.50.1", "45.77.50.2"]


def test_tls_handshakes_hold_connection_slots(listen, tmp_path):
    """Connections that never finish their TLS handshake count against --max-connections; a
    failed handshake is refused and counted with its reason."""
    from bridge.syslog_support import throwaway_pki

    pki = throwaway_pki(tmp_path / "pki")
    tls = TlsSettings(str(pki["server-cert"]), str(pki["server-key"]))
    listener, (port,), errors = listen("tls://127.0.0.1:0", tls=tls, max_connections=2)
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]  # no ClientHello
    try:
        time.sleep(0.3)
        with socket.create_connection(("127.0.0.1", port)) as third:
            third.settimeout(5)
            assert third.recv(10) == b""
        assert errors == ["too many connections (max 2); closed"]
    finally:
        for c in idle:
            c.close()
    wait_for(lambda: listener._handshakes == 0, what="the abandoned handshakes to end")
    with socket.create_connection(("127.0.0.1", port)) as plain:
        plain.sendall(LINE + b"\n")  # not TLS at all
        plain.settimeout(5)
        with contextlib.suppress(OSError):
            plain.recv(10)
    wait_for(lambda: _peer(listener)["refused"] >= 3, what="the refusals")
    assert _peer(listener)["last_error"].startswith("TLS handshake failed: ")
    assert _peer(listener)["messages"] == 0
