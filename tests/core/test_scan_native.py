"""The C per-line loop (socflow.extract._scan) must give exactly what the pure-Python loop gives.

Both run over the same lines; their indicator lists (counts, contexts, first/last seen, samples)
and counters must be equal. The token alphabet is chosen to hit every shortcut the C code takes:
numbers, ISO times, dotted quads (valid, out of range, leading zeros, trailing punctuation),
bare hex digests of every length, names, e-mail and URL pieces, delimiters.
"""

import pytest
from hypothesis import given, settings, strategies as st

from socflow.extract import ExtractConfig, Extractor
from socflow.extract import extractor as extractor_module
from socflow.parse import PARSERS

PIECES = st.sampled_from([
    "1.2.3.4", "185.220.101.4", "8.8.8.8.", "8.8.4.4,", "01.2.3.4", "256.1.1.1", "0.0.0.0",
    "10.0.0.1:22", "1.2.3.4.5", "1.2.3", "1.2.3.45-x.com", "2024-01-02T03:04:05Z", "12:34:56",
    "d41d8cd98f00b204e9800998ecf8427e", "D41D8CD98F00B204E9800998ECF8427E00000000",
    "abcdefabcdefabcdefabcdefabcdefab", "12345678901234567890123456789012",
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "sid=d41d8cd98f00b204e9800998ecf8427e", "evil.example.com", "report.pdf", "x.top",
    "a@b.example.org", "http://1.2.3.4/x", "hxxp://bad[.]example[.]net", "CVE-2024-3400",
    "2001:db8::1", "fe80::1%eth0", "::", "rv:1.9.0.14", "version", "build", "v", "-", "_x_",
    "%2F%2Fevil.com", "word", "Failed", "password", "for", "invalid", "user",
    "Example.COM", "a-.com", "-a.com", "a.-b.com", "x.in-addr.arpa", "www.example.py", "a.b",
    "foo.xn--p1ai", "cve-2024-1234.example.com", "CVE_2021_44228",
    "d41d8cd98f00b204e9800998ecf8427e.example.com", "1.2.3.4:80", "1.2.3.4:", "1.2.3.4:8a",
    "01.2.3.4:80", "256.1.1.1:80", "0.0.0.0:80", "1.2.3.4:80:90", "svc_backup", "x86_64",
    "SHA256:y4ZumDQHcftyvWpluF369qp493OWd2enU5cpvX6ElZ0", "i486-pc-linux-gnu", "example.com.",
    "a" * 64 + ".com", "10.0", "6.1", "1.2.3.4..5", "1.2.3.4...", "11.22.33.44.55.66", "22.",
    "/cart?PHPSESSID=3087de350ce66f731e84fb363b9edacb", "/x?md5=3087de350ce66f731e84fb363b9edacb",
    "/a/3087DE350CE66F731E84FB363B9EDACB/b&SHA1=38ad8f8f95b6c70fb7ed5f3eacc6e78763c9a0e3",
    "k=3087de350ce66f731e84fb363b9edacb&k=3087de350ce66f731e84fb363b9edacb", "=" + "a1" * 16,
    "?;Hash=" + "0f" * 32, "g" + "0f" * 16, "_" + "0f" * 16 + "_", "x/" + "0" * 32,
    "20240312075102.A4C5CF7B45", "a64si467316wrx.12", "1.2.com", "1.2.example", "1.2.3.45-x.com",
    "1.2.3.example.com", "1.2-3.4.5.com", "9x.10.11.12.com", "4a.", "0.0.0.0.in-addr.arpa",
    "rhost=140.34.121.179", "SRC=1.2.3.4", "fw=1.2.3.4", "x_fw=1.2.3.4", "swversion=1.2.3.4",
    "BC:98:9A:30:04:07:D0:06:03:30:E0:4A:40:F8:AD:03", "ab:cd:ef:01:23:45:67:89",
    "Internet.", "alice.", "example.com.", "example.com..", ".com", "a.b.c.d.e.f.g.h.example.com.", "b" * 63 + ".example.org", "ab-12345678901234567890123456789012-cd",
    # issue 12: URL tokens running over ",;()[]", object paths, "_", IPv6 literals, IDN
    "http://x.com/a?C=M;O=A", "http://[2001:db8::1]:8080/x", "http://a.com/(b)", "(http://a.com/b)",
    "http://a.com/x,http://b.com/y", "://", "http://", "https://a.b/,", "window.name", "host.name",
    "trace.id", "dns.google", "top.location.host", "Window.Name", "_dmarc.example.com",
    "x_y.example.com", "check_disk.pl", "IPv6:2001:db8::1", "ip6:2001:db8::5/128", "bücher.de",
    "пример.рф", "a..b@example.com", "...c@example.com",
])
SEPARATORS = st.sampled_from([" ", "  ", "\t", '"', "'", "[", "]", "(", ")", ",", ";", "|", "<", ">",
                              "=", "/", ":", "", "\x00", "`", "{", "}"])
TOKEN_BYTES = st.binary(min_size=1, max_size=40)


# Tokens of the characters the C shortcuts look at, to explore their edges.
SHAPED = st.text(alphabet="abcfvxzACEV0123456789.-:_=", min_size=1, max_size=70)
# URL tokens and what may end them: the C tokenizer's run over ",;()[]" must match tokens_of.
URLISH = st.lists(st.sampled_from(["http", "://", "a.com", "1.2.3.4", "/", "(", ")", "[", "]",
                                   ",", ";", "x", "::1", "?C=M", "{", "|", "'", " ", "\t",
                                   "hxxps", "[.]", "window.name", "\x00", "é"]),
                  min_size=1, max_size=14).map("".join)
DIGIT_NAMES = st.lists(st.from_regex(r"[0-9]{1,3}|[0-9][0-9a-z-]{0,4}[0-9a-z]|com|org|[a-z]{1,3}",
                                     fullmatch=True), min_size=1, max_size=6).map(".".join)
# key=address tokens (iptables "SRC=", PAM "rhost=") and version parameters ("fw=", "ver=").
KEY_QUADS = st.tuples(
    st.from_regex(r"[A-Za-z0-9_-]{0,6}(v|ver|version|build|rev|rv|fw|firmware|VER|Fw|host|SRC|cve_)?",
                  fullmatch=True),
    st.sampled_from(["=", "==", ":", "=x"]),
    st.sampled_from(["1.2.3.4", "140.34.121.179", "256.1.1.1", "01.2.3.4", "0.0.0.0", "1.2.3.4.",
                     "1.2.3", "10.0.0.1:22", "1.2.3.4,", "9.9.9.9x", "0" * 32]),
).map("".join)
# Hex pairs joined by colons, around the longest IPv6 text (39 characters), with digest-long runs.
HEX_COLONS = st.lists(st.sampled_from(["ab", "CD", "01", "f", "0123", "", "0" * 32, "a1" * 20]),
                      min_size=2, max_size=24).map(":".join)
QUERYISH = st.lists(st.sampled_from(["?", "&", ";", "/", "=", "md5", "sid", "Hash", "_", "g", "é",
                                     "\x1c", "0f" * 16, "a1" * 20, "9" * 32, "ab" * 32, "cve_",
                                     "CVE-2024-12345"]), min_size=1, max_size=8).map("".join)


@st.composite
def lines(draw):
    parts = draw(st.lists(st.one_of(PIECES, SEPARATORS, SHAPED, URLISH, TOKEN_BYTES.map(
        lambda b: b.decode("latin-1"))), max_size=30))
    return "".join(parts).replace("\n", " ").encode("utf-8", "surrogateescape")


def run(batch, fmt_name, native):
    extractor = Extractor(ExtractConfig(include_private=True, max_samples=3), native=native)
    extractor.feed(list(batch), PARSERS[fmt_name])
    extractor.feed(list(reversed(batch)), PARSERS[fmt_name])  # caches warm, second batch
    return [i.to_dict() for i in extractor.results()], extractor.counters.to_dict()


def test_native_loop_is_built():
    # A fresh checkout built with `pip install -e .` on a machine with a C compiler has it; CI
    # must exercise the C loop, not silently fall back to Python.
    assert extractor_module._native_scan is not None


@settings(max_examples=300, deadline=None)
@given(batch=st.lists(lines(), min_size=1, max_size=25),
       fmt_name=st.sampled_from(["plain", "syslog", "access", "json"]))
def test_native_and_python_loops_agree(batch, fmt_name):
    assert run(batch, fmt_name, native=True) == run(batch, fmt_name, native=False)


@settings(max_examples=400, deadline=None)
@given(tokens=st.lists(SHAPED | PIECES | QUERYISH | DIGIT_NAMES | KEY_QUADS | HEX_COLONS | URLISH,
                      min_size=1, max_size=40))
def test_native_and_python_classify_tokens_alike(tokens):
    batch = [" ".join(tokens).encode()]
    assert run(batch, "plain", native=True) == run(batch, "plain", native=False)


@pytest.mark.parametrize("token", [
    "rhost=140.34.121.179", "SRC=1.2.3.4", "src_ip=8.8.8.8", "a-b=1.2.3.9", "123=1.2.3.4",
    "v=1.2.3.4", "ver=1.2.3.4", "Version=1.2.3.4", "build=1.2.3.4", "rev=1.2.3.4", "rv=1.2.3.4",
    "fw=1.2.3.4", "FIRMWARE=1.2.3.4", "x_fw=1.2.3.4", "x1fw=1.2.3.4", "swversion=1.2.3.4",
    "k=256.1.1.1", "k=01.2.3.4", "k=0.0.0.0", "k=1.2.3.4.", "k=1.2.3.4:22", "=1.2.3.4",
    "cve_2024_1234=1.2.3.4", "k==1.2.3.4", "k.x=1.2.3.4", ("a1" * 16) + "=1.2.3.4",
    "BC:98:9A:30:04:07:D0:06:03:30:E0:4A:40:F8:AD:03", "ab:cd:ef:01:23:45:67:89",
    "ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23", "ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:4",
    "0123:4567:89ab:cdef:0123:4567:89ab:cdef", "0123:4567:89ab:cdef:0123:4567:89ab:cdef:01",
    ("0" * 32) + ":ab:cd:ef:01:23:45:67", "ab:" + ("f" * 40), "2001:db8::1:ab:cd:ef:01:23:45:67:89",
])
def test_native_shortcuts_agree_with_python(token):
    # Each token alone and beside others: the C shortcuts for key=address tokens and long
    # hex-and-colon runs must give what classify_token gives.
    for batch in ([token.encode()], [f"x {token} y".encode()]):
        assert run(batch, "plain", native=True) == run(batch, "plain", native=False), token


def test_agree_on_the_bundled_examples():
    from pathlib import Path

    from socflow.read.sources import ReadStats, read_batches

    logs = sorted((Path(__file__).parents[2] / "examples" / "logs").glob("*"))
    assert logs
    for path in logs:
        batches = list(read_batches(str(path), ReadStats(source=str(path))))
        results = []
        for native in (True, False):
            extractor = Extractor(ExtractConfig(include_private=True), native=native)
            for batch in batches:
                extractor.feed(batch, PARSERS["plain"])
            results.append([i.to_dict() for i in extractor.results()])
        assert results[0] == results[1], path.name
        assert results[0], f"{path.name}: no indicators at all"


def test_token_cache_is_bounded_in_native_loop():
    extractor = Extractor(ExtractConfig(include_private=True))
    lines_ = [f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256} x{i}.y.example.org".encode()
              for i in range(extractor_module._CACHE_LIMIT + 500)]
    extractor.feed(lines_, PARSERS["plain"])
    assert len(extractor._hits) <= extractor_module._CACHE_LIMIT
    assert len(extractor._noise) <= extractor_module._CACHE_LIMIT


# -- the smaller C helpers against their Python twins ------------------------------------------
from socflow import _native  # noqa: E402
from socflow.read.positions import lines_with_python  # noqa: E402

LINE_TEXT = st.lists(st.sampled_from(
    ["Failed ", "client=", "nvalid user", "Fail", "ed ", "x", " ", "\t", "é", "Failed Failed "]
), max_size=12).map("".join)


@settings(max_examples=300, deadline=None)
@given(lines_=st.lists(LINE_TEXT.map(str.encode), max_size=30),
       needles=st.lists(st.sampled_from([b"Failed ", b"client=", b"nvalid user", b"x", b"d c"]),
                        min_size=1, max_size=4).map(tuple))
def test_lines_with_agrees_with_python(lines_, needles):
    blob = b"\n".join(lines_)
    assert _native.lines_with(blob, needles) == lines_with_python(lines_, blob, needles)


VERSION_CONTEXT = st.lists(st.sampled_from(
    ["version", "Version", "VERSION", "swVersion", "ver", "v", "V", "fw", "FW", "build", "Build",
     "release", "firmware", "firmware_v2", "server", "resolver", "via", "rev", "is", "was", "IS",
     " ", "  ", "\t", "=", ":", '"', "'", "-", "_", "x", "1", ".", "from", "a"]
), max_size=10).map("".join)


@settings(max_examples=600, deadline=None)
@given(before=VERSION_CONTEXT, token=st.sampled_from(["1.2.3.4", "10.0.0.1", "v1.2.3.4"]),
       after=st.sampled_from(["", " x", " 1.2.3.4"]))
def test_version_word_check_agrees_with_regex(before, token, after):
    line = f"{before}{token}{after}".encode()
    assert _native.after_version_word(line, token.encode()) == \
        extractor_module._after_version_word(line, token.encode())


@pytest.mark.parametrize("line, expected", [
    (b"firmware version 4.12.0.3 installed", True),
    (b'swVersion="4.12.0.3"', True),
    (b"build is 7.1.2.15", True),
    (b"fw 1.0.0.2", True),
    (b"server 1.0.0.2", False),
    (b"resolver 1.0.0.2", False),
    (b"via 1.0.0.2", False),
    (b"1.0.0.2 first", False),
])
def test_version_word_examples(line, expected):
    token = line.split(b'"')[1] if b'"' in line else next(
        t for t in line.split() if t[:1].isdigit())
    assert _native.after_version_word(line, token) is expected
    assert extractor_module._after_version_word(line, token) is expected


# Marker pieces, their near misses and their case variants, so every branch of the C matcher
# meets text that matches and text that almost does.
MARKER_TEXT = st.lists(st.sampled_from(
    ["[", "(", "{", "]", ")", "}", " ", ".", "dot", "DOT", "Dot", "do", ":", "@", "at", "AT", "aT",
     "/", "x", "X", "xx", "XX", "xX", "p", "P", "f", "fx", "\\", "[tt]", "[t", "tt]", "h", "\n",
     "é", "\x00", "a", "1",
     # issue 12: any case
     "F", "fX", "Fx", "xP", "Xx", "DoT", "dOt", "At", "[TT]", "[Tt]", "(:)", "[//]", "[://]"]
), max_size=25).map("".join)


@settings(max_examples=600, deadline=None)
@given(text=MARKER_TEXT)
def test_marker_lines_agree_with_regex(text):
    from socflow.extract.refang import marker_lines_python

    blob = text.encode()
    assert _native.marker_lines(blob) == marker_lines_python(blob.split(b"\n"), blob)


@settings(max_examples=300, deadline=None)
@given(blob=st.binary(max_size=200))
def test_marker_lines_agree_with_regex_on_any_bytes(blob):
    from socflow.extract.refang import marker_lines_python

    assert _native.marker_lines(blob) == marker_lines_python(blob.split(b"\n"), blob)


@settings(max_examples=300, deadline=None)
@given(text=MARKER_TEXT)
def test_refang_skipping_rules_changes_nothing(text):
    # refang() skips a rule when none of its literals is in the text; applying every rule, as
    # before, must give the same result.
    from socflow.extract.refang import _RULES, refang

    line = text.replace("\n", " ").encode()
    every_rule = line
    for _, rx, repl in _RULES:
        every_rule = rx.sub(repl, every_rule)
    assert refang(line) == every_rule
