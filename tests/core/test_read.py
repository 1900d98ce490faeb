import bz2
import gzip
import io
import subprocess
import sys

import pytest
from hypothesis import given, settings, strategies as st

from socflow.errors import InputError
from socflow.read import ReadStats, expand_paths, read_batches
from socflow.read.sources import _split_blocks


def lines_of(path, **kw):
    stats = ReadStats(source=str(path))
    out = [line for batch in read_batches(str(path), stats, **kw) for line in batch]
    return out, stats


def test_plain_gzip_and_bzip2_give_the_same_lines(tmp_path):
    data = b"one\ntwo 1.2.3.4\nthree\n"
    (tmp_path / "a.log").write_bytes(data)
    (tmp_path / "b.log.gz").write_bytes(gzip.compress(data))
    (tmp_path / "c.bz2").write_bytes(bz2.compress(data))
    (tmp_path / "renamed.txt").write_bytes(gzip.compress(data))  # magic bytes, not the name
    for name, compression in [("a.log", ""), ("b.log.gz", "gzip"), ("c.bz2", "bzip2"),
                              ("renamed.txt", "gzip")]:
        lines, stats = lines_of(tmp_path / name)
        assert lines == [b"one", b"two 1.2.3.4", b"three"], name
        assert stats.lines == 3 and stats.compression == compression


def test_text_that_starts_like_a_compressed_stream_is_read_as_text(tmp_path):
    # "BZh" or a 0x1f 0x8b pair opens some plain logs; only a whole stream header means bzip2/gzip.
    for head in (b"BZh", b"BZh9 started", b"BZh91AY&SX", b"\x1f\x8b plain"):
        (tmp_path / "a.log").write_bytes(head + b" 1.2.3.4\nnext\n")
        lines, stats = lines_of(tmp_path / "a.log")
        assert lines == [head + b" 1.2.3.4", b"next"] and stats.compression == "", head
        assert not stats.errors
    (tmp_path / "empty.bz2").write_bytes(bz2.compress(b""))
    lines, stats = lines_of(tmp_path / "empty.bz2")
    assert lines == [] and stats.compression == "bzip2" and not stats.errors
    for level in (1, 9):
        (tmp_path / "c.bz2").write_bytes(bz2.compress(b"x\n", compresslevel=level))
        assert lines_of(tmp_path / "c.bz2")[0] == [b"x"]


def test_last_line_without_newline_is_kept(tmp_path):
    (tmp_path / "a").write_bytes(b"x\ny")
    assert lines_of(tmp_path / "a")[0] == [b"x", b"y"]


def test_overlong_lines_are_truncated_and_counted_across_blocks(tmp_path):
    (tmp_path / "a").write_bytes(b"short\n" + b"A" * 5000 + b"\nafter\n")
    lines, stats = lines_of(tmp_path / "a", max_line_bytes=1000, block_bytes=300)
    assert lines == [b"short", b"A" * 1000, b"after"]
    assert stats.truncated == 1 and stats.lines == 3


def test_invalid_utf8_is_counted_not_fatal(tmp_path):
    (tmp_path / "a").write_bytes(b"ok\n\xff\xfe bad 8.8.8.8\n\xc3\xa9t\xc3\xa9\n")
    lines, stats = lines_of(tmp_path / "a")
    assert len(lines) == 3 and stats.invalid_utf8 == 1


def test_corrupt_gzip_keeps_what_was_read_and_reports(tmp_path):
    import random

    rnd = random.Random(1)
    blob = gzip.compress(b"".join(b"%d %x\n" % (i, rnd.getrandbits(64)) for i in range(100000)))
    (tmp_path / "bad.gz").write_bytes(blob[: len(blob) // 2])
    lines, stats = lines_of(tmp_path / "bad.gz")
    assert stats.errors and "bad.gz" in stats.errors[0]
    assert len(lines) > 0


def test_expand_paths_dirs_globs_and_errors(tmp_path):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    for name in ("d/a.log", "d/sub/b.log", "d/.hidden", "c.log"):
        (tmp_path / name).write_text("x\n")
    found = expand_paths([str(tmp_path / "d"), str(tmp_path / "*.log"), "-"])
    assert found == [str(tmp_path / "d/a.log"), str(tmp_path / "d/sub/b.log"),
                     str(tmp_path / "c.log"), "-"]
    with pytest.raises(InputError, match="no such file"):
        expand_paths([str(tmp_path / "missing.log")])
    with pytest.raises(InputError, match="no file matches"):
        expand_paths([str(tmp_path / "*.nothing")])


def test_stdin_is_read(tmp_path):
    code = ("from socflow.read import ReadStats, read_batches\n"
            "s = ReadStats('-')\n"
            "print(sum(len(b) for b in read_batches('-', s)), s.compression)")
    out = subprocess.run([sys.executable, "-c", code], input=gzip.compress(b"a\nb\nc\n"),
                         capture_output=True, check=True)
    assert out.stdout.split() == [b"3", b"gzip"]


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=3000), block=st.integers(1, 64), cap=st.integers(1, 200))
def test_block_splitting_matches_splitlines_semantics(data, block, cap):
    stats = ReadStats("x")
    got = [l for b in _split_blocks(io.BytesIO(data), stats, cap, block) for l in b]
    expected = data.split(b"\n")
    if expected and expected[-1] == b"":
        expected.pop()
    assert got == [l[:cap] for l in expected]
    assert stats.truncated == sum(1 for l in expected if len(l) > cap)
    assert stats.bytes == len(data)
    # invalid UTF-8 counted per (cut) line, also when a line or a character spans blocks
    assert stats.invalid_utf8 == sum(1 for l in expected if not _utf8(l[:cap]))


def _utf8(line: bytes) -> bool:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def test_invalid_utf8_in_a_line_that_spans_blocks_is_counted():
    # The bad byte arrives in the carry of one block; the next block is pure ASCII.
    data = b"ok\nbad \xff tail that is long enough\nnext\n"
    stats = ReadStats("x")
    got = [l for b in _split_blocks(io.BytesIO(data), stats, 1000, 8) for l in b]
    assert len(got) == 3 and stats.invalid_utf8 == 1
