"""The C twins of the login-line findings (``_native.login_findings``) and of the extractor's
per-line counting loop (``_native.count_findings``) must answer exactly as their Python twins.

login_findings answers the usual sshd/PAM/postfix lines itself and hands every other line to the
Python function, so the property here is plain equality on any line. The lines are built from
the pieces each pattern reads (headers of every syslog variant, the fixed words, usernames that
hold attacker text, addresses of every shape, the tails sshd writes) and then mutated, so that
both the lines C decides and the ones it must give up on are exercised.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import example, given, settings, strategies as st

from socflow.extract import extractor as extractor_module
from socflow.native import NATIVE
from socflow.parse import syslog

pytestmark = pytest.mark.skipif(NATIVE is None, reason="the C extension is not built")
ROOT = Path(__file__).resolve().parents[2]

HEADERS = st.sampled_from([
    "", "Mar 12 07:19:36 web02 sshd[29665]: ", "Mar  2 07:19:36 web02 sshd: ",
    "<38>Mar 12 07:19:36 web02 sshd[1]: ", "2024-03-12T07:19:36.123+01:00 bastion sshd[7]: ",
    "<86>1 2024-03-12T06:25:01.098509Z fw01.example.com sshd 99059 - - ",
    '<86>1 2024-03-12T06:25:01Z h sshd 1 - [x a="b]"] ', "Mar 12 07:19:36 web02 sshd[9]: error: ",
    "Mar 12 06:52:01 web01 sshd[22667]: pam_unix(sshd:auth): ", "sshd[4]: ", "x y z ",
    "Mar 12 07:32:06 mail01 postfix/smtpd[35955]: DBAABB8035: ", "Mar 12 07:19:36 h sshd[1]:",
    "Mar 12 07:19:36 web02 sshd[2]: message repeated 2 times: [ ", "Failed ", "Accepted ",
])
USERS = st.one_of(
    st.sampled_from(["root", "admin", "", "-", "unknown", "(unknown)", "invalid user x", "user",
                     "a b", "x from 9.9.9.10", "x from 9.9.9.10 port 22", " sp", "Failed",
                     "ruser=", "rhost=6.6.6.6", "[preauth]", "é", "a\tb", "a\x1cb", "1.2.3.4"]),
    st.text(alphabet="ab ().:[]=-/fromport0123456789", max_size=14),
)
ADDRESSES = st.sampled_from([
    "87.78.172.136", "10.0.0.1", "2a03:2880:f12f:83:face:b00c:0:25de", "::ffff:45.135.232.11",
    "1.2.3.4.", "1.2.3.4,", "256.1.1.1", "example.com", "", "::1", "fe80::1", "0.0.0.0", "x",
    "1.2.3.4]", "::ffff:1.2.3.4:5",
])
TAILS = st.sampled_from([
    "", " ssh2", " [preauth]", " ssh2 [preauth]", " ssh2]", " ssh2  ", " ssh2x", "]",
    " ssh2: RSA SHA256:OfKnvj3Xz28B3Abzj722I/uLNMvwCYTgNZ23QfeWEVs",
    " ssh2: ED25519-CERT SHA256:OfKnvj3Xz28B3Abzj722I/uLNMvwCYTgNZ23QfeWEV",
    " ssh2: RSA MD5:" + ":".join(["ab"] * 16), " ssh2: RSA MD5:" + ":".join(["AB"] * 16),
    " ssh2: RSA SHA256:OfKnvj3Xz28B3Abzj722I/uLNMvwCYTgNZ23QfeWEVs [preauth]",
    " ssh2: RSA-CERT ID x (serial 1) CA RSA SHA256:OfKnvj3Xz28B3Abzj722I/uLNMvwCYTgNZ23QfeWEVs",
    " from 9.9.9.10 port 1", " port 5", ":11: Bye [preauth]", " \u00a0", "\r",
])
PORTS = st.sampled_from([" port 4753", " port 22", " port x", " port ", "", " port 1a", " port 0"])
METHODS = st.sampled_from(["password", "publickey", "none", "keyboard-interactive",
                           "keyboard-interactive/pam", "hostbased", "gssapi-with-mic", "passwd"])


@st.composite
def login_messages(draw: st.DrawFn) -> str:
    user, addr, port, tail = draw(USERS), draw(ADDRESSES), draw(PORTS), draw(TAILS)
    kind = draw(st.integers(0, 9))
    if kind == 0:
        invalid = draw(st.sampled_from(["", "invalid user "]))
        return f"Failed {draw(METHODS)} for {invalid}{user} from {addr}{port}{tail}"
    if kind == 1:
        return f"{draw(st.sampled_from(['I', 'i', '']))}nvalid user {user} from {addr}{port}{tail}"
    if kind == 2:
        verb = draw(st.sampled_from(["Disconnected from", "Connection closed by", "Received disconnect from"]))
        who = draw(st.sampled_from(["invalid", "authenticating", "valid"]))
        return f"{verb} {who} user {user} {addr}{port}{tail}"
    if kind == 3:
        return f"Accepted {draw(METHODS)} for {user} from {addr}{port}{tail}"
    if kind == 4:
        ruser = draw(USERS)
        lead = draw(st.sampled_from([" logname= uid=0 euid=0 tty=ssh ", " ", "", " x ruser=y "]))
        after = draw(st.sampled_from(["", "  user=" + user, " user=" + user, "   ", " x", " user="]))
        rhosts = draw(st.sampled_from([" rhost=", " rhost=1.1.1.1 rhost="]))
        if draw(st.booleans()):  # the address before the requester: no match
            return f"authentication failure; rhost={addr}{after} ruser={ruser}"
        return f"pam_unix(sshd:auth): authentication failure;{lead}ruser={ruser}{rhosts}{addr}{after}"
    if kind == 5:
        name = draw(st.sampled_from(["mx.example.ru", "unknown", "", "a b", "x[y"]))
        return f"client={name}[{addr}]{draw(st.sampled_from(['', ', sasl_username=x', ']', ' client=a[1.1.1.1]']))}"
    if kind == 6:
        return f"maximum authentication attempts exceeded for {user} from {addr}{port}{tail}"
    if kind == 7:
        return f"FAILED SU (to root) {user} on pts/0"
    if kind == 8:
        return f"   {user} : 3 incorrect password attempts ; TTY=pts/1 ; PWD=/ ; USER=root"
    return user + tail


@st.composite
def login_lines(draw: st.DrawFn) -> bytes:
    text = draw(HEADERS) + draw(login_messages())
    if draw(st.booleans()):  # a second message, or noise, before or after
        other = draw(login_messages() | USERS)
        text = text + " " + other if draw(st.booleans()) else other + " " + text
    raw = text.encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 5)) == 0 and raw:  # a byte changed anywhere, even invalid UTF-8
        at = draw(st.integers(0, len(raw) - 1))
        raw = raw[:at] + bytes([draw(st.integers(0, 255))]) + raw[at + 1:]
    return raw


def test_the_c_twin_is_on_where_the_extension_is_built():
    """A changed pattern turns the twin off (syslog._TWIN_DIGEST): bring _native.c's
    login_match in line with it, then renew the digest."""
    digest = hashlib.sha256(syslog._TWIN_SOURCES).hexdigest()[:16]
    assert digest == syslog._TWIN_DIGEST, "syslog patterns changed: update _native.c login_match"
    assert syslog.line_findings is NATIVE.login_findings


@pytest.fixture(autouse=True)
def _twin_set_up():
    """The twin is set up even when the digest turned it off, so the agreement tests still
    say where C and Python part."""
    _setup(syslog._line_findings_py)


@settings(max_examples=3000, deadline=None)
@given(line=login_lines())
@example(line=b"Mar 12 07:19:36 web02 sshd[29665]: Failed password for x from 9.9.9.10 port 22"
              b" from 61.177.172.10 port 4 ssh2")
@example(line=b"Disconnected from invalid user a b 1.2.3.4 port 5 [preauth]")
@example(line=b"pam_unix(sshd:auth): authentication failure; ruser= rhost=1.2.3.4  user= root ")
def test_c_and_python_login_findings_agree(line: bytes) -> None:
    assert NATIVE.login_findings(line) == syslog._line_findings_py(line)


def test_c_decides_the_usual_lines_itself():
    """The twin is only worth its code if it answers the common lines without Python."""
    calls: list[bytes] = []

    def fallback(line: bytes) -> list:
        calls.append(line)
        return syslog._line_findings_py(line)

    usual = [
        b"Mar 12 07:19:36 web02 sshd[29665]: Failed password for invalid user admin from 87.78.172.136 port 4753 ssh2",
        b"Mar 12 09:32:32 web02 sshd[63648]: Invalid user admin123 from 173.11.123.204 port 61274",
        b"Mar 12 08:18:14 web01 sshd[44637]: Disconnected from invalid user auth22 103.180.158.9 port 15090 [preauth]",
        b"Mar 12 06:52:01 web01 sshd[22667]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=20.52.169.32  user=root",
        b"<86>1 2024-03-12T06:25:01.098509Z fw01 sshd 99059 - - Accepted publickey for ansible from 10.0.82.95 port 30585 ssh2: RSA SHA256:OfKnvj3Xz28B3Abzj722I/uLNMvwCYTgNZ23QfeWEVs",
        b"Mar 12 07:32:06 mail01 postfix/smtpd[35955]: DBAABB8035: client=mx.yandex.ru[77.88.21.249]",
        b"Mar 12 09:09:24 bastion sshd[57583]: PAM 5 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=28.113.137.35  user=root",
    ]
    expected = [syslog._line_findings_py(line) for line in usual]
    try:
        _setup(fallback)
        assert [NATIVE.login_findings(line) for line in usual] == expected
    finally:
        _setup(syslog._line_findings_py)
    assert calls == []
    assert [len(found) for found in expected] == [2, 2, 2, 2, 1, 1, 0]


def _setup(fallback) -> None:
    NATIVE.login_setup(
        syslog._SHAPES, syslog._head_shape, syslog._address, syslog._USERNAME,
        frozenset(syslog._NOT_A_USER), tuple(literal for literal, *_ in syslog._AUTH_PATTERNS),
        tuple({group: context for group, context in groups.items()
               if group == "ip" or result in ("failed", "invalid")}
              for _, _, groups, result, _ in syslog._AUTH_PATTERNS),
        fallback)


def test_agree_on_every_bundled_log_line():
    paths = [p for p in (ROOT / "examples").rglob("*") if p.is_file()]
    paths += [p for p in (ROOT / "tests" / "fixtures").rglob("*.log") if p.is_file()]
    lines = [line.rstrip(b"\n") for path in paths for line in path.read_bytes().split(b"\n")
             if any(t in line for t in syslog._TRIGGERS)]
    assert len(lines) > 100
    for line in lines:
        assert NATIVE.login_findings(line) == syslog._line_findings_py(line), line


FINDINGS = st.lists(st.tuples(st.sampled_from(["ipv4", "username"]), st.sampled_from("abcd"),
                              st.sampled_from(["x", "y"])), max_size=4)


@settings(max_examples=300, deadline=None)
@given(per_line=st.lists(FINDINGS, min_size=1, max_size=12), data=st.data())
def test_c_and_python_counting_loops_agree(per_line, data):
    lines = [str(i).encode() for i in range(len(per_line))]
    indices = sorted(data.draw(st.sets(st.integers(0, len(lines) - 1))))
    counted = data.draw(st.sets(st.tuples(st.sampled_from(["ipv4", "username"]), st.sampled_from("abcd"))))
    start = data.draw(st.dictionaries(st.tuples(st.sampled_from(["ipv4"]), st.sampled_from("ab")),
                                      st.integers(1, 3), max_size=2))

    def findings(line: bytes) -> list:
        return list(per_line[int(line)])

    states = []
    for loop in (NATIVE.count_findings, extractor_module.count_findings_py):
        counts, firsts, lasts = dict(start), {k: 0 for k in start}, {k: 0 for k in start}
        every = loop(indices, lines, findings, set(counted), counts, firsts, lasts)
        states.append((every, counts, firsts, lasts))
    assert states[0] == states[1]
