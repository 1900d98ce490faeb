"""The ingestion core on hostile input: any bytes give valid alerts or none, never an exception."""

from __future__ import annotations

from fakes.thehive import validate_alert
from hypothesis import given, settings
from hypothesis import strategies as st

from socflow.adapters.thehive import bridge
from socflow.adapters.thehive.config import BridgeConfig
from socflow.emit.outbox import Outbox

PIECES = [
    b"Failed password for root from 45.1.2.3 port 22 ssh2",
    b"Invalid user \xff\xfe from 45.1.2.3",
    b'45.1.2.3 - - [10/Mar/2026:08:00:01 +0000] "GET /a?id=1%27%20UNION%20SELECT%201-- HTTP/1.1" 200 1 "-" "sqlmap"',
    b'45.9.9.9 - - [10/Mar/2026:08:00:01 +0000] "GET /../../../../etc/passwd HTTP/1.1" 404 1 "-" "-"',
    b"2026-03-10T08:00:00+00:00 web1 sshd[1]: Failed password for invalid user x from 2001:db8::1 port 1",
    b"Mar 10 08:00:01 h sshd[1]: Failed password for \x00 from 10.0.0.1 port 1 ssh2",
    b"visit http://login.example.xyz/\xc3\x28 now",
    b'{"src_ip": "45.1.2.3", "msg": "Failed password", "user": [1, 2]}',
    b"\r",
    b"",
]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(st.sampled_from(PIECES), st.binary(max_size=200)),
        min_size=1,
        max_size=80,
    ),
    st.sampled_from([b"\n", b"\r\n"]),
)
def test_any_log_gives_valid_alerts_or_none(tmp_path_factory, lines, newline):
    log = tmp_path_factory.mktemp("fuzz") / "x.log"
    log.write_bytes(newline.join(lines) + newline)
    with Outbox(":memory:") as outbox:
        ingestor = bridge.build_ingestor(BridgeConfig(), outbox)
        report = ingestor.run_files([str(log)])
        stored = list(outbox.iter_payloads())
    assert report.sources[0].lines >= len(lines)
    assert len(stored) == report.new_alerts
    for alert in stored:
        assert validate_alert(alert) == [], alert
