"""Syslog forwarded by a real syslog-ng (Debian's syslog-ng-core 3.38, run from the .deb that make
unpacks into .venv/syslog-ng, since the package conflicts with rsyslog) reaches TheHive (the
emulator) as alerts through ``socflow ingest --listen``, with the snippets docs/syslog.md shows.

Every syslog-ng snippet of the page is (a) checked with ``syslog-ng --syntax-only`` where the page
says to put it (a conf.d file under Debian's default syslog-ng.conf) and (b) run: a syslog-ng per
snippet forwards an SSH brute force (5 failed logins from one address, an hour ago) to the
listener the snippet's transport names, then one current event whose time closes the windows.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections import Counter

import pytest
from fakes.thehive import FakeTheHive

from bridge.syslog_support import (
    SYSLOG_NG,
    ListenerProcess,
    brute_forcers,
    SyslogNg,
    debian_syslog_ng_conf,
    doc_listen_commands,
    doc_syslog_ng_snippets,
    env_for,
    for_test,
    point_syslog_ng_at,
    syslog_ng_check,
    throwaway_pki,
    wait_for,
)

pytestmark = pytest.mark.skipif(
    not SYSLOG_NG.exists(), reason="syslog-ng not unpacked (make syslog-ng-deps unpacks it)"
)

AN_HOUR_AGO = dt.timedelta(hours=1)
SNIPPETS = doc_syslog_ng_snippets()
DOC_PKI = {  # the file names the TLS snippet shows -> the throwaway CA's files
    "/etc/syslog-ng/socflow-ca.pem": "ca-cert",
    "/etc/syslog-ng/client-cert.pem": "client-cert",
    "/etc/syslog-ng/client-key.pem": "client-key",
}


def _transport(snippet: str) -> str:
    (transport,) = re.findall(r'\btransport\("(\w+)"\)', snippet)
    return transport


def _pki_paths(pki) -> dict[str, str]:  # noqa: ANN001
    return {shown: str(pki[stem]) for shown, stem in DOC_PKI.items()}


def test_the_page_shows_a_snippet_per_transport():
    assert sorted(_transport(s) for s in SNIPPETS.values()) == ["tcp", "tcp", "tls", "udp"]
    drivers = {re.search(r"\b(syslog|network)\(", s)[1] for s in SNIPPETS.values()}
    assert drivers == {"syslog", "network"}


@pytest.mark.parametrize("name", sorted(SNIPPETS))
def test_syslog_ng_accepts_the_snippet_under_debians_config(tmp_path, name):
    pki = throwaway_pki(tmp_path / "pki")
    snippet = SNIPPETS[name]
    for shown, real in _pki_paths(pki).items():  # syslog-ng checks that TLS files exist
        snippet = snippet.replace(shown, real)
    check = syslog_ng_check(debian_syslog_ng_conf(tmp_path / "etc", snippet))
    assert check.returncode == 0, check.stderr + check.stdout


def test_the_syntax_check_can_fail(tmp_path):
    """The check above reads the conf.d file: a misspelt option in it is refused, with its place."""
    broken = SNIPPETS["network"].replace("transport(", "transprt(")
    check = syslog_ng_check(debian_syslog_ng_conf(tmp_path / "etc", broken))
    assert check.returncode != 0
    assert "socflow.conf:2" in check.stderr and "transprt" in check.stderr, check.stderr


@pytest.fixture()
def hive():
    with FakeTheHive() as fake:
        yield fake


@pytest.fixture()
def started():
    """Processes to stop at the end whatever happens: syslog-ngs first, then listeners."""
    senders: list[SyslogNg] = []
    listeners: list[ListenerProcess] = []
    yield senders, listeners
    for sng in senders:
        sng.stop()
    for proc in listeners:
        proc.kill_if_running()


def test_syslog_ng_forwarding_becomes_alerts(tmp_path, hive, started):
    senders, listeners = started
    pki = throwaway_pki(tmp_path / "pki")
    commands = doc_listen_commands()
    plain = next(c for c in commands if any(w.startswith("tcp://") for w in c))
    tls = next(c for c in commands if any(w.startswith("tls://") for w in c))
    listener_files = {
        "/etc/socflow/syslog-cert.pem": str(pki["server-cert"]),
        "/etc/socflow/syslog-key.pem": str(pki["server-key"]),
        "/etc/socflow/syslog-ca.pem": str(pki["ca-cert"]),
    }
    for kind, command in (("plain", plain), ("tls", tls)):  # each its own state dir
        (tmp_path / kind).mkdir()
        env = env_for(tmp_path / kind, hive)
        args = for_test(command, listener_files, tmp_path / kind / "bridge.yml")
        listeners.append(ListenerProcess(args, env))
    ports = {}
    for proc in listeners:
        for url, port in zip(proc.urls, proc.ports):
            ports[url.split("://")[0]] = (proc, port)

    buffer_dir = tmp_path / "disk-buffer"
    buffer_dir.mkdir()
    paths = {**_pki_paths(pki), "/var/lib/syslog-ng": str(buffer_dir)}
    ips = {name: f"45.77.40.{i}" for i, name in enumerate(sorted(SNIPPETS), start=1)}
    for name, snippet in sorted(SNIPPETS.items()):
        _, port = ports[_transport(snippet)]
        sng = SyslogNg(tmp_path / f"syslog-ng-{name}", point_syslog_ng_at(snippet, port, paths))
        senders.append(sng.start())
    # the reliable disk buffer lives where the snippet's dir() says
    assert [f.suffix for f in buffer_dir.iterdir()] == [".rqf"]
    when = dt.datetime.now() - AN_HOUR_AGO
    for sng, name in zip(senders, sorted(SNIPPETS)):
        for k in range(5):
            sng.log(f"Failed password for root from {ips[name]} port {40000 + k} ssh2", when=when)
    time.sleep(0.5)  # the attacks are in before the events that close their windows
    for i, sng in enumerate(senders, start=1):  # one failure each: under every threshold
        sng.log(f"Failed password for deploy from 10.0.0.{i} port 50000 ssh2")
    try:
        wait_for(lambda: len(brute_forcers(hive.alerts)) == len(SNIPPETS), what="one alert per snippet")
    except AssertionError:
        logs = (f"{n}: {s.output()}" for n, s in zip(sorted(SNIPPETS), senders))
        raise AssertionError("\n".join(logs)) from None
    for sng in senders:
        sng.stop()
    assert brute_forcers(hive.alerts) == Counter({ip: 1 for ip in ips.values()})
    for ip in ips.values():  # every message of every attack was counted, once
        (title,) = [a["title"] for a in hive.alerts if ip in a["title"]]
        assert "(5 failed" in title, title
    # the sender's address (syslog-ng on 127.0.0.1) is never who is blamed
    assert not any("127.0.0.1" in json.dumps(a) for a in hive.alerts)

    peers = []
    for proc in listeners:
        code, events, _ = proc.stop()
        assert code == 0
        assert events[-1]["event"] == "stopped"
        peers += events[-1]["peers"]
    by_kind = Counter()
    for p in peers:
        by_kind[p["listener"].split(":")[0]] += p["messages"]
        assert p["errors"] == 0 and p["dropped"] == 0 and p["refused"] == 0, p
    # tcp: syslog() (octet counting) and network() (LF) senders on one port, 6 messages each
    assert by_kind == Counter({"tcp": 12, "udp": 6, "tls": 6}), by_kind
