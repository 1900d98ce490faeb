"""Outbox + Deliverer + the thehive4py sender against the emulator: every answer has its fate."""

from __future__ import annotations

import time

import pytest
from fakes.thehive import FakeTheHive

from socflow.adapters.thehive.sender import TheHiveSender, TheHiveSettings
from socflow.emit.delivery import Deliverer
from socflow.emit.outbox import Outbox
from socflow.errors import AuthError, ConfigError
from socflow.read.follow import Checkpoint


def _alert(ref: str, **extra):
    return {
        "type": "socflow",
        "source": "socflow",
        "sourceRef": ref,
        "title": f"t {ref}",
        "description": "d",
        "severity": 2,
        **extra,
    }


@pytest.fixture()
def hive():
    with FakeTheHive() as h:
        yield h


@pytest.fixture()
def outbox(tmp_path):
    with Outbox(tmp_path / "outbox.sqlite") as box:
        yield box


def _sender(hive, **kw) -> TheHiveSender:
    return TheHiveSender(TheHiveSettings(url=hive.url, api_key=hive.api_key, retries=0, **kw))


def test_outbox_file_is_private(tmp_path):
    with Outbox(tmp_path / "state" / "outbox.sqlite") as box:
        assert oct(box.path.stat().st_mode & 0o777) == "0o600"
        assert oct(box.path.parent.stat().st_mode & 0o777) == "0o700"


def test_commit_is_atomic_and_deduplicates(outbox):
    cp = Checkpoint("/x", 1, 2, 300, "3:abc")
    assert outbox.commit(
        [_alert("a"), _alert("b")], ["r", "r"], checkpoints=[cp], groups={"g": "{}"}, watermark=5.0
    ) == {"a", "b"}
    assert outbox.commit([_alert("a")], ["r"]) == set()  # same sourceRef: stored once
    assert outbox.checkpoint("/x") == cp and outbox.engine_state() == (["{}"], 5.0)
    with pytest.raises(KeyError):  # a broken alert aborts the whole batch: no checkpoint moves
        outbox.commit(
            [_alert("c"), {"sourceRef": "d"}],
            ["r", "r"],
            checkpoints=[Checkpoint("/x", 1, 2, 999, "")],
        )
    assert outbox.checkpoint("/x").offset == 300 and outbox.counts()["pending"] == 2


def test_delivered_and_duplicate(hive, outbox):
    outbox.commit([_alert("a"), _alert("b")], ["r", "r"])
    hive.outage("accept_then_die", count=1)  # TheHive stores "a" but the answer is lost
    deliverer = Deliverer(outbox, _sender(hive), backoff_base=0.01, parallel=1)
    first = deliverer.run_once()
    assert first.unavailable and outbox.counts()["pending"] == 2
    report = deliverer.run_until(time.time() + 5)
    assert (report.delivered, report.duplicates) == (2, 1)
    assert sorted(a["sourceRef"] for a in hive.alerts) == ["a", "b"]
    a = outbox.get("a")
    assert a.state == "delivered" and a.last_error == "already in TheHive (duplicate answer)"
    assert outbox.get("b").thehive_id == hive.alerts[1]["_id"]


def test_parallel_delivery_sends_each_alert_once(hive, outbox):
    outbox.commit([_alert(str(i)) for i in range(40)], ["r"] * 40)
    hive.outage("slow", delay=0.05)  # 40 sequential answers would take 2 s
    start = time.monotonic()
    report = Deliverer(outbox, _sender(hive), parallel=8).run_until(time.time() + 10)
    assert report.delivered == 40 and time.monotonic() - start < 1.5
    assert sorted(int(a["sourceRef"]) for a in hive.alerts) == list(range(40))


def test_observable_count_mismatch_is_noted(hive, outbox):
    blank = {"dataType": "other", "data": "   "}  # TheHive skips blank values without an error
    outbox.commit([_alert("a", observables=[{"dataType": "ip", "data": "45.1.1.1"}, blank])], ["r"])
    Deliverer(outbox, _sender(hive)).run_once()
    delivered = outbox.get("a")
    assert (
        delivered.state == "delivered" and delivered.last_error == "TheHive kept 1 of 2 observables"
    )


def test_permanent_refusal_is_dead_lettered_with_the_reason(hive, outbox):
    outbox.commit([_alert("bad", severity=9), _alert("ok")], ["r", "r"])
    report = Deliverer(outbox, _sender(hive)).run_once()
    assert (report.delivered, report.dead) == (1, 1)
    dead = outbox.get("bad")
    assert dead.state == "dead" and "400 AttributeCheckingError" in dead.last_error
    assert outbox.requeue() == 1 and outbox.get("bad").state == "pending"


def test_unknown_observable_type_is_dead_lettered(hive, outbox):
    outbox.commit([_alert("x", observables=[{"dataType": "nosuch", "data": "v"}])], ["r"])
    Deliverer(outbox, _sender(hive)).run_once()
    assert "404 NotFoundError" in outbox.get("x").last_error


def test_down_means_back_off_for_everything(hive, outbox):
    outbox.commit([_alert(str(i)) for i in range(5)], ["r"] * 5)
    hive.outage("refused")
    deliverer = Deliverer(outbox, _sender(hive), backoff_base=0.2)
    report = deliverer.run_once()
    assert "unreachable" in report.unavailable and report.delivered == 0
    assert outbox.due() == []  # nobody is due during the back-off
    second = deliverer.run_until(time.time() + 0.5)
    assert second.delivered == 0 and deliverer.down_streak >= 2
    hive.recover()
    assert deliverer.run_until(time.time() + 10).delivered == 5


@pytest.mark.parametrize("mode", ["503", "drop"])
def test_transient_answers(hive, outbox, mode):
    outbox.commit([_alert("a")], ["r"])
    hive.outage(mode, count=1)
    deliverer = Deliverer(outbox, _sender(hive), backoff_base=0.05)
    assert deliverer.run_once().unavailable
    assert deliverer.run_until(time.time() + 5).delivered == 1


def test_answered_500_is_retried_then_dead(hive, outbox):
    outbox.commit([_alert("a")], ["r"])
    hive.outage("500")
    deliverer = Deliverer(outbox, _sender(hive), backoff_base=0.0, max_attempts=3)
    for _ in range(3):
        deliverer.run_once()
    assert outbox.get("a").state == "dead" and "500" in outbox.get("a").last_error


def test_slow_thehive_hits_the_timeout(hive, outbox):
    outbox.commit([_alert("a")], ["r"])
    hive.outage("slow", count=1, delay=1.5)
    start = time.monotonic()
    report = Deliverer(outbox, _sender(hive, timeout=0.3)).run_once()
    assert time.monotonic() - start < 1.4 and "unreachable" in report.unavailable


def test_wrong_key_and_wrong_organisation_stop_delivery(hive, outbox):
    outbox.commit([_alert("a")], ["r"])
    bad = TheHiveSender(TheHiveSettings(url=hive.url, api_key="wrong-key-123", retries=0))
    with pytest.raises(AuthError) as err:
        Deliverer(outbox, bad).run_once()
    assert "401" in str(err.value) and "wrong-key-123" not in str(err.value)
    with pytest.raises(AuthError, match="403"):
        Deliverer(outbox, _sender(hive, organisation="admin")).run_once()
    assert outbox.get("a").state == "pending"


def test_organisation_header_is_sent(hive, outbox):
    outbox.commit([_alert("a")], ["r"])
    Deliverer(outbox, _sender(hive, organisation="share-org")).run_once()
    assert hive.alerts[0]["organisation"] == "share-org"


def test_tls_verification_is_on_and_failures_are_config_errors(tmp_path, outbox):
    import ssl
    import subprocess
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            key,
            "-out",
            cert,
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    server = HTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        outbox.commit([_alert("a")], ["r"])
        sender = TheHiveSender(
            TheHiveSettings(
                url=f"https://127.0.0.1:{server.server_port}",
                api_key="k" * 10,
                retries=0,
                timeout=5,
            )
        )
        with pytest.raises(ConfigError, match="TLS verification failed.*ca_bundle"):
            Deliverer(outbox, sender).run_once()
        assert sender.api.session.verify is True
        with_ca = TheHiveSender(
            TheHiveSettings(
                url=f"https://127.0.0.1:{server.server_port}",
                api_key="k" * 10,
                retries=0,
                timeout=5,
                ca_bundle=str(cert),
            )
        )
        assert with_ca.api.session.verify == str(cert)
        report = Deliverer(outbox, with_ca).run_once()  # TLS now passes; this server answers 501
        assert "TLS" not in "".join(report.errors) and outbox.get("a").state != "delivered"
    finally:
        server.shutdown()


def test_sender_needs_url_and_key():
    with pytest.raises(ConfigError, match="no TheHive URL"):
        TheHiveSender(TheHiveSettings(api_key="x"))
    with pytest.raises(ConfigError, match="no TheHive API key"):
        TheHiveSender(TheHiveSettings(url="http://127.0.0.1:1"))
    with pytest.raises(ValueError, match="must start with http"):
        TheHiveSettings(url="thehive.local:9000")


def test_an_alert_whose_file_is_gone_is_dead_lettered_not_sent_without_it(hive, outbox, tmp_path):
    """An alert with a file observable (the mail intake's reported message) goes as multipart
    with its file; once the file is gone the alert cannot be what it says: dead, with the path."""
    from socflow.emit.delivery import FILES

    eml = tmp_path / "reported.eml"
    eml.write_bytes(b"From: a@example.org\nSubject: s\n\nhi\n")
    obs = [{"dataType": "file", "attachment": "eml"}]
    gone = str(tmp_path / "gone.eml")
    outbox.commit([_alert("gone", observables=obs, **{FILES: {"eml": gone}}),
                   _alert("here", observables=obs, **{FILES: {"eml": str(eml)}})], ["r", "r"])
    report = Deliverer(outbox, _sender(hive)).run_once()
    assert (report.delivered, report.dead) == (1, 1)
    assert outbox.get("gone").last_error == f"the alert's file {gone} is gone; it cannot be sent"
    assert [a["sourceRef"] for a in hive.alerts] == ["here"]
    (sent,) = hive.observables_of(hive.alerts[0]["_id"])  # the file went with it, as bytes
    assert sent["attachment"]["name"] == "reported.eml"
    assert sent["attachment"]["size"] == eml.stat().st_size
