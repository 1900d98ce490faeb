"""Hostile and broken input: a result (or a one-line error) within a time budget, memory bounded.

The big inputs are generated here into tmp_path (never committed); each one is analysed in a
child process that reports its CPU time and peak RSS.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socflow.errors import InputError
from socflow.mail import analyze_bytes

CHILD = r"""
import json, resource, sys, time


def peak_mb():
    # VmHWM belongs to this program's memory map; ru_maxrss would also count the parent's pages
    # at exec time (Linux keeps the fork's high-water mark across execve).
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


from socflow.mail import analyze_bytes
from socflow.errors import InputError
data = open(sys.argv[1], "rb").read()
start = time.process_time()
try:
    r = analyze_bytes(data, sys.argv[1])
    out = {"verdict": r.verdict, "codes": sorted({f.code for f in r.findings}),
           "attachments": [[a.filename, a.size, a.sha256, a.notes] for a in r.attachments]}
except InputError as exc:
    out = {"error": str(exc)}
out["cpu"] = time.process_time() - start
out["rss_mb"] = peak_mb()
print(json.dumps(out))
"""

HEAD = b"From: a@fabrikam.com\nTo: b@contoso.com\nSubject: test\nMIME-Version: 1.0\n"


def analyse_in_child(path) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    return json.loads(proc.stdout)


def test_truncated_mime():
    cases = [
        HEAD + b'Content-Type: multipart/mixed; boundary="B"\n\n--B\nContent-Type: text/html\n'
               b"Content-Transfer-Encoding: base64\n\nPGEgaHJlZj0iaHR0cHM6Ly9kb2NzLXNoYXJlLm9ubGluZS8iPg",
        HEAD + b'Content-Type: multipart/mixed; boundary="B"\n\n--B\nContent-Type: text/pla',
        b"From: a@fabrikam.com\nSubject: cut in the hea",
        HEAD + b'Content-Type: multipart/alternative; boundary=""\n\n--\n--\n',
    ]
    for data in cases:
        report = analyze_bytes(data)
        assert report.verdict in ("safe", "suspicious", "malicious")


def test_ten_thousand_parts(tmp_path):
    parts = b"".join(b"--B\nContent-Type: text/plain\n\nhello %d\n" % i for i in range(10_000))
    path = tmp_path / "parts.eml"
    path.write_bytes(HEAD + b'Content-Type: multipart/mixed; boundary="B"\n\n' + parts + b"--B--\n")
    out = analyse_in_child(path)
    assert "message.truncated" in out["codes"]
    assert out["cpu"] < 20 and out["rss_mb"] < 250


@pytest.mark.parametrize("depth", [50, 5000])
def test_deeply_nested_multiparts(tmp_path, depth):
    data = HEAD + b'Content-Type: multipart/mixed; boundary="b0"\n\n'
    data += b"".join(b'--b%d\nContent-Type: multipart/mixed; boundary="b%d"\n\n' % (i - 1, i)
                     for i in range(1, depth))
    data += b"--b%d\nContent-Type: text/plain\n\nx\n" % (depth - 1)
    data += b"".join(b"--b%d--\n" % i for i in reversed(range(depth)))
    path = tmp_path / "nested.eml"
    path.write_bytes(data)
    out = analyse_in_child(path)
    assert "message.truncated" in out["codes"]
    assert out["cpu"] < 20 and out["rss_mb"] < 250


def test_zip_bomb(tmp_path):
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("zeros.bin", "w", force_zip64=True) as member:
            block = b"\0" * (1 << 20)
            for _ in range(1024):  # 1 GiB uncompressed, ~1 MB compressed
                member.write(block)
    outer = tmp_path / "outer.zip"
    with zipfile.ZipFile(outer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(bomb, "inner.zip")
        zf.write(bomb, "big.zip")
    data = (HEAD + b'Content-Type: multipart/mixed; boundary="B"\n\n--B\n'
            b'Content-Type: application/zip; name="outer.zip"\nContent-Transfer-Encoding: base64\n\n'
            + base64.encodebytes(outer.read_bytes()) + b"--B--\n")
    path = tmp_path / "bomb.eml"
    path.write_bytes(data)
    out = analyse_in_child(path)
    assert "attachment.archive_nested" in out["codes"]
    assert out["cpu"] < 20 and out["rss_mb"] < 250, out
    assert out["attachments"][0][1] == outer.stat().st_size
    notes = out["attachments"][0][3]
    assert any("inner.zip" in n and "zip bomb shape" in n for n in notes), notes


def test_zip_bomb_inside_an_archive_is_listed_not_inflated(tmp_path):
    # A nested archive that compresses normally is opened (within the cap); the bomb inside it
    # is only listed from its directory.
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("zeros.bin", "w", force_zip64=True) as member:
            for _ in range(512):
                member.write(b"\0" * (1 << 20))
    outer = tmp_path / "outer.zip"
    with zipfile.ZipFile(outer, "w", zipfile.ZIP_STORED) as zf:
        zf.write(bomb, "inner.zip")
    data = (HEAD + b'Content-Type: multipart/mixed; boundary="B"\n\n--B\n'
            b'Content-Type: application/zip; name="outer.zip"\nContent-Transfer-Encoding: base64\n\n'
            + base64.encodebytes(outer.read_bytes()) + b"--B--\n")
    path = tmp_path / "bomb2.eml"
    path.write_bytes(data)
    out = analyse_in_child(path)
    notes = out["attachments"][0][3]
    assert any(n.startswith("inner.zip: declares 536870912 bytes") for n in notes), notes
    assert out["cpu"] < 20 and out["rss_mb"] < 250, out


def test_fifty_megabyte_attachment(tmp_path):
    path = tmp_path / "big.eml"
    chunk = os.urandom(3 * 349_525)  # a multiple of 3: base64 without padding in between
    with path.open("wb") as fh:
        fh.write(HEAD + b'Content-Type: multipart/mixed; boundary="B"\n\n--B\nContent-Type: text/plain\n\n'
                 b"see attached\n--B\nContent-Type: application/octet-stream; name=\"a.bin\"\n"
                 b"Content-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=\"a.bin\"\n\n")
        for _ in range(50):
            fh.write(base64.encodebytes(chunk))
        fh.write(b"--B--\n")
    import hashlib

    expected = hashlib.sha256(chunk * 50).hexdigest()
    out = analyse_in_child(path)
    assert out["attachments"][0][1] == len(chunk) * 50
    assert out["attachments"][0][2] == expected
    size_mb = path.stat().st_size / 2**20
    # Memory: the message itself plus a bounded amount (the scan cap), not a multiple of it.
    assert out["rss_mb"] < size_mb + 150, out
    assert out["cpu"] < 30


@pytest.mark.parametrize("data", [
    HEAD + b"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n!!!not base64***\n",
    HEAD + b"Content-Type: text/plain; charset=x-no-such-charset\n\n\xff\xfe\xfd\n",
    HEAD + b"Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n=ZZ=\n=4\n",
    b"From: =?utf-8?B?////?= <a@b.c>\nSubject: =?bogus?Q?x?= =?utf-8?Q?=FF=FE?=\n\nx\n",
    b"From: \xff\xfe\xfd <a@fabrikam.com>\nSubject: \x00\x01\n\nbody\x00\n",
    b"this is not an e-mail at all, just one line",
    b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
    b"Header without colon\nFrom a@b.c\n\nbody\n",
    b"Received: " + b"(" * 5000 + b"\nAuthentication-Results: " + b"(" * 5000 + b"spf=pass\n\nx\n",
    b"Message-ID: < [an10]. x@y.com>\nReply-To: .CoinBase-team <a@b.c>\nTo: Undisclosed recipients:;a\n\nx\n",
    HEAD + b'Content-Type: multipart/mixed; boundary="B"\n\n--B\nContent-Type: message/rfc822\n\n'
           b"not really a message\n--B--\n",
])
def test_invalid_encodings_and_garbage_give_a_result(data):
    report = analyze_bytes(data)
    assert report.verdict in ("safe", "suspicious", "malicious")
    json.dumps(report.to_dict())  # JSON-ready whatever came in


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4000))
def test_random_bytes_never_raise_anything_but_input_error(data):
    try:
        report = analyze_bytes(data)
    except InputError:
        return
    json.dumps(report.to_dict())


_header_name = st.sampled_from(["From", "To", "Reply-To", "Return-Path", "Sender", "Subject",
                                "Received", "Authentication-Results", "DKIM-Signature",
                                "Content-Type", "Content-Transfer-Encoding", "Message-ID",
                                "ARC-Authentication-Results", "Received-SPF"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_header_name, st.text(max_size=200)), max_size=12),
       st.text(max_size=2000))
def test_random_headers_and_bodies_give_a_result(headers, body):
    raw = "".join(f"{n}: {v.replace(chr(10), ' ').replace(chr(13), ' ')}\n" for n, v in headers)
    data = (raw + "\n" + body).encode("utf-8", "surrogatepass")
    report = analyze_bytes(data)
    json.dumps(report.to_dict())
