from datetime import datetime, timezone

from hypothesis import given, settings, strategies as st

from socflow.parse import PARSERS, detect_format

ACCESS = ('203.0.113.7 - alice [10/Oct/2026:13:55:36 +0200] "GET /a.php?x=1 HTTP/1.1" 404 512 '
          '"https://ref.example.org/" "Mozilla/5.0 (X11; rv:109.0)"')
COMMON = '8.8.8.8 - - [10/Oct/2026:13:55:36 +0000] "POST /login HTTP/1.0" 200 -'
BSD = "Oct  3 04:05:06 web01 sshd[811]: Failed password for invalid user pi from 61.177.172.10 port 4 ssh2"
ISO = "2026-10-10T16:00:00.123+02:00 fw01 kernel: DROP IN=eth0 SRC=8.8.8.8"
RFC5424 = '<38>1 2026-10-10T16:00:00.000Z fw01 sshd 8110 ID47 [ex@1 a="b"] Invalid user pi from 61.177.172.1 port 5'
EVE = ('{"timestamp":"2026-10-10T15:21:09.000123+0000","event_type":"alert","src_ip":"10.0.4.12",'
       '"dest_ip":"194.26.29.113","alert":{"signature":"ET X"},"http":{"hostname":"c2.badcdn.xyz",'
       '"url":"/gate.php","http_user_agent":"UA","status":200,"http_method":"POST"}}')
NGINX_JSON = ('{"time_iso8601":"2026-10-10T10:00:00+00:00","remote_addr":"8.8.8.8",'
              '"request":"GET /x HTTP/1.1","status":"403","http_referer":"-","http_user_agent":"curl/8"}')


def test_access_combined_and_common():
    e = PARSERS["access"].parse(ACCESS)
    assert (e.client_ip, e.user, e.method, e.url, e.status) == ("203.0.113.7", "alice", "GET", "/a.php?x=1", 404)
    assert e.referer == "https://ref.example.org/" and e.user_agent.startswith("Mozilla")
    assert e.timestamp == datetime(2026, 10, 10, 11, 55, 36, tzinfo=timezone.utc)
    c = PARSERS["access"].parse(COMMON)
    assert (c.method, c.url, c.status, c.referer) == ("POST", "/login", 200, "")


def test_syslog_variants_and_auth_fields():
    e = PARSERS["syslog"].parse(BSD)
    assert (e.host, e.program, e.client_ip, e.user) == ("web01", "sshd", "61.177.172.10", "pi")
    assert e.fields["auth"] == "failed" and e.timestamp.month == 10
    i = PARSERS["syslog"].parse(ISO)
    assert (i.host, i.program) == ("fw01", "kernel") and i.timestamp.utcoffset().seconds == 7200
    r = PARSERS["syslog"].parse(RFC5424)
    assert (r.host, r.program, r.client_ip, r.fields["auth"]) == ("fw01", "sshd", "61.177.172.1", "invalid")


def test_json_lines():
    e = PARSERS["json"].parse(EVE)
    assert (e.client_ip, e.host, e.url, e.status, e.method) == ("10.0.4.12", "c2.badcdn.xyz", "/gate.php", 200, "POST")
    assert e.message == "ET X" and e.timestamp.year == 2026
    n = PARSERS["json"].parse(NGINX_JSON)
    assert (n.client_ip, n.method, n.url, n.status) == ("8.8.8.8", "GET", "/x", 403)


def test_detection_per_file():
    assert detect_format([ACCESS, COMMON]) == "access"
    assert detect_format([BSD, ISO, RFC5424]) == "syslog"
    assert detect_format([EVE, NGINX_JSON, ""]) == "json"
    assert detect_format(["just some notes", "about 8.8.8.8"]) == "plain"
    assert detect_format([]) == "plain"
    assert detect_format([ACCESS, "junk", "junk", "junk"]) == "plain"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_every_parser_accepts_any_text(line):
    for fmt in PARSERS.values():
        event = fmt.parse(line)
        assert event.raw == line and event.fmt == fmt.name
        fmt.timestamp(line)
        fmt.findings(line.encode("utf-8", "replace"))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(
    st.sampled_from(["status", "timestamp", "remote_addr", "request", "src_ip", "http", "time",
                     "http_user_agent", "event_type"]),
    st.one_of(st.text(max_size=20), st.integers(), st.floats(allow_nan=True), st.none(),
              st.dictionaries(st.sampled_from(["status", "url", "hostname"]), st.text(max_size=8))),
))
def test_json_parser_accepts_any_values_in_known_fields(doc):
    import json

    line = json.dumps(doc)
    event = PARSERS["json"].parse(line)
    assert event.raw == line
    assert event.status is None or isinstance(event.status, int)
