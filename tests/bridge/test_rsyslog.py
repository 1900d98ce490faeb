"""Syslog forwarded by a real rsyslog (Debian's rsyslogd, its own config per test) reaches TheHive
(the emulator) as alerts through ``socflow ingest --listen``, with the configs docs/syslog.md shows.

Each test sends an SSH brute force per path (5 failed logins from one address, an hour ago) through
rsyslog's input socket, then one current event whose time closes the rule windows.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import socket
import ssl
import time
from collections import Counter

import pytest
from fakes.thehive import FakeTheHive

from bridge.syslog_support import (
    RSYSLOGD,
    ListenerProcess,
    brute_forcers,
    Rsyslog,
    doc_listen_commands,
    doc_snippet,
    env_for,
    for_test,
    point_at,
    throwaway_pki,
    wait_for,
)

pytestmark = pytest.mark.skipif(
    not shutil.which(RSYSLOGD), reason="rsyslog not installed (make system-deps installs it)"
)

AN_HOUR_AGO = dt.timedelta(hours=1)


def _attack(rs: Rsyslog, ip: str, n: int = 5) -> None:
    when = dt.datetime.now() - AN_HOUR_AGO
    for k in range(n):
        rs.log(f"Failed password for root from {ip} port {40000 + k} ssh2", when=when)


def _close_windows(rs: Rsyslog) -> None:
    """A current event the rules read (one failure: under every threshold) moves rule time on."""
    rs.log("Failed password for deploy from 10.0.0.1 port 50000 ssh2")


@pytest.fixture()
def hive():
    with FakeTheHive() as fake:
        yield fake


@pytest.fixture()
def rsyslogs(tmp_path):
    started: list[Rsyslog] = []

    def start(name: str, action: str) -> Rsyslog:
        rs = Rsyslog(tmp_path / f"rsyslog-{name}", action).start()
        started.append(rs)
        return rs

    yield start
    for rs in started:
        rs.stop()


@pytest.fixture()
def listeners():
    started: list[ListenerProcess] = []

    def start(args, env) -> ListenerProcess:
        proc = ListenerProcess(args, env)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill_if_running()


def test_rsyslog_udp_tcp_and_octet_counted_forwarding_become_alerts(tmp_path, hive, rsyslogs, listeners):
    env = env_for(tmp_path, hive)
    udp_tcp_relp = doc_listen_commands()[0]
    listener = listeners(for_test(udp_tcp_relp, {}, tmp_path / "bridge.yml"), env)
    udp, tcp, relp = listener.ports
    paths = {
        "udp": (udp, "45.77.10.1"),
        "tcp": (tcp, "45.77.10.2"),
        "tcp-octet": (tcp, "45.77.10.3"),
        "relp": (relp, "45.77.10.4"),
    }
    senders = {name: rsyslogs(name, point_at(doc_snippet(name), port)) for name, (port, _) in paths.items()}
    for name, (_, ip) in paths.items():
        _attack(senders[name], ip)
    time.sleep(0.3)  # the attacks are in before the event that closes their windows
    _close_windows(senders["tcp"])
    wait_for(lambda: len(brute_forcers(hive.alerts)) == len(paths), what="one alert per forwarding path")
    code, events, _ = listener.stop()
    assert code == 0
    assert brute_forcers(hive.alerts) == Counter({ip: 1 for _, ip in paths.values()})
    # the sender's address (rsyslog on 127.0.0.1) is never who is blamed
    assert not any("127.0.0.1" in json.dumps(a) for a in hive.alerts)
    alert = next(a for a in hive.alerts if "45.77.10.3" in a["title"])
    assert "(5 failed" in alert["title"]
    stopped = events[-1]
    assert stopped["event"] == "stopped"
    peers = {p["listener"].split(":")[0]: p for p in stopped["peers"]}
    # udp: 5 + rsyslog's own start message; tcp: two senders' 5 + 5 + 1 + starts; relp: 5 + start
    assert peers["udp"]["messages"] >= 5 and peers["udp"]["peer"] == "127.0.0.1"
    assert peers["tcp"]["messages"] >= 11 and peers["tcp"]["connections"] >= 2
    assert peers["relp"]["messages"] >= 5
    assert all(p["errors"] == 0 and p["dropped"] == 0 for p in stopped["peers"])


def test_rsyslog_over_tls_with_client_certificates(tmp_path, hive, rsyslogs, listeners):
    pki = throwaway_pki(tmp_path / "pki")
    env = env_for(tmp_path, hive)
    tls_command = next(c for c in doc_listen_commands() if any(w.startswith("tls://") for w in c))
    files = {
        "/etc/socflow/syslog-cert.pem": str(pki["server-cert"]),
        "/etc/socflow/syslog-key.pem": str(pki["server-key"]),
        "/etc/socflow/syslog-ca.pem": str(pki["ca-cert"]),
    }
    listener = listeners(for_test(tls_command, files, tmp_path / "bridge.yml"), env)
    (port,) = listener.ports
    action = point_at(
        doc_snippet("tls"),
        port,
        {
            "/etc/rsyslog.d/socflow-ca.pem": str(pki["ca-cert"]),
            "/etc/rsyslog.d/client-cert.pem": str(pki["client-cert"]),
            "/etc/rsyslog.d/client-key.pem": str(pki["client-key"]),
        },
    )
    rs = rsyslogs("tls", action)
    _attack(rs, "45.77.20.1")
    time.sleep(0.3)
    _close_windows(rs)
    wait_for(lambda: brute_forcers(hive.alerts) == Counter({"45.77.20.1": 1}), what="the alert over TLS")
    # a client without a certificate gets no further than the handshake
    plain = ssl.create_default_context(cafile=str(pki["ca-cert"]))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        try:
            with plain.wrap_socket(raw, server_hostname="socflow.example.net") as tls:
                tls.sendall(b"<38>Dec  7 00:00:00 web9 sshd[1]: Failed password for x from 9.9.9.9 port 1\n")
                assert tls.recv(1) == b""  # TLS 1.3: the refusal comes after the client's Finished
        except (ssl.SSLError, OSError):
            pass
    code, events, _ = listener.stop()
    assert code == 0
    tls_peers = [p for p in events[-1]["peers"] if p["listener"].startswith("tls://")]
    assert sum(p["messages"] for p in tls_peers) == 6  # rsyslog's 5 + 1; nothing from the other
    assert sum(p["refused"] for p in tls_peers) == 1
    refusal = [e for e in events if e["event"] == "peer-error"]
    assert len(refusal) == 1 and refusal[0]["error"].startswith("TLS handshake failed: "), refusal
    assert "certificate" in refusal[0]["error"]


def test_relp_loses_nothing_across_a_listener_kill9(tmp_path, hive, rsyslogs, listeners):
    """rsyslog's omrelp keeps what the killed listener did not acknowledge and re-sends it."""
    env = env_for(tmp_path, hive)
    args = for_test(doc_listen_commands()[0], {}, tmp_path / "bridge.yml")
    listener = listeners(args, env)
    relp_port = listener.ports[2]
    rs = rsyslogs("relp", point_at(doc_snippet("relp"), relp_port))
    ips = [f"45.77.30.{i}" for i in range(1, 41)]  # 40 attacks × 5 messages
    for i, ip in enumerate(ips):
        _attack(rs, ip)
        time.sleep(0.01)
        if i == 13:
            listener.kill9()  # messages in flight, queued, read but not committed
            time.sleep(0.5)
            fixed = [a.replace("relp://127.0.0.1:0", f"relp://127.0.0.1:{relp_port}") for a in args]
            listener = listeners(fixed, env)
    time.sleep(0.5)
    _close_windows(rs)
    wait_for(lambda: len(brute_forcers(hive.alerts)) == len(ips), timeout=60, what="all 40 alerts")
    listener.stop()
    got = brute_forcers(hive.alerts)
    assert got == Counter({ip: 1 for ip in ips})  # nothing lost, each alert created once
    counts = Counter(a["title"].split("(")[1].split(" ")[0] for a in hive.alerts)
    # a message whose commit landed but whose ack was lost in the kill is counted twice: rare
    assert counts["5"] >= len(ips) - 1, counts
