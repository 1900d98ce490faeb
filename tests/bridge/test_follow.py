"""Reading from checkpoints and following files across rotation and truncation."""

from __future__ import annotations

import gzip
import io
import os

from hypothesis import given, settings
from hypothesis import strategies as st

from socflow.read.follow import Follower, checkpoint_for, read_from, source_key, split_lines
from socflow.read.sources import ReadStats


def _read(path, checkpoint=None):
    stats = ReadStats(source=str(path))
    chunks = list(read_from(str(path), checkpoint, stats, block=64))
    return b"".join(c.data for c in chunks), chunks, stats


def test_resume_from_checkpoint(tmp_path):
    log = tmp_path / "a.log"
    log.write_bytes(b"one\ntwo\n")
    data, chunks, _ = _read(log)
    assert data == b"one\ntwo\n"
    cp = checkpoint_for(str(log), chunks[-1].offset)
    with open(log, "ab") as fh:
        fh.write(b"three\nfour")  # unterminated last line: read at end of a one-shot run
    assert _read(log, cp)[0] == b"three\nfour\n"


def test_rotated_or_truncated_or_replaced_file_is_read_again(tmp_path):
    log = tmp_path / "a.log"
    log.write_bytes(b"x" * 300 + b"\n")
    cp = checkpoint_for(str(log), 301)
    os.rename(log, tmp_path / "a.log.1")
    log.write_bytes(b"fresh\n")  # new inode
    assert _read(log, cp)[0] == b"fresh\n"
    cp = checkpoint_for(str(log), 6)
    log.write_bytes(
        b"new\n"
    )  # truncated in place: same inode, smaller than the offset... and new head
    assert _read(log, cp)[0] == b"new\n"
    cp = checkpoint_for(str(log), 4)
    with open(log, "r+b") as fh:
        fh.write(b"NEW\nmore\n")  # rewritten in place, same inode, bigger: the head differs
    assert _read(log, cp)[0] == b"NEW\nmore\n"


def test_gzip_resume_counts_decompressed_bytes(tmp_path):
    gz = tmp_path / "a.log.gz"
    gz.write_bytes(gzip.compress(b"l1\nl2\nl3\n"))
    _, _, stats = _read(gz)
    assert stats.compression == "gzip"
    cp = checkpoint_for(str(gz), 3)
    assert _read(gz, cp)[0] == b"l2\nl3\n"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=30),
    st.integers(min_value=1, max_value=17),
    st.integers(min_value=8, max_value=64),
)
def test_split_lines_keeps_every_line_and_caps_long_ones(lines, block, cap):
    data = b"".join(line + b"\n" for line in lines)
    chunks = list(split_lines(io.BytesIO(data), 0, block=block, max_line_bytes=cap))
    got = b"".join(c.data for c in chunks).split(b"\n")[:-1] if chunks else []
    assert got == [line[:cap] for line in lines]
    assert (chunks[-1].offset if chunks else 0) == len(data)
    assert sum(c.truncated for c in chunks) == sum(1 for line in lines if len(line) > cap)


def _poll(follower):
    return b"".join(c.data for _, c in follower.poll())


def test_follow_appends_rotation_and_truncation(tmp_path):
    log = tmp_path / "app.log"
    log.write_bytes(b"a\n")
    follower = Follower([str(log)], {})
    assert _poll(follower) == b"a\n"
    with open(log, "ab") as fh:
        fh.write(b"b\npartial")
    assert _poll(follower) == b"b\n"  # the unterminated line waits for its newline
    with open(log, "ab") as fh:
        fh.write(b" line\n")
    assert _poll(follower) == b"partial line\n"
    with open(log, "ab") as fh:
        fh.write(b"last words of the old file\n")
    os.rename(log, tmp_path / "app.log.1")  # logrotate: rename, then a new file
    log.write_bytes(b"first of the new\n")
    chunks = list(follower.poll())
    assert b"".join(c.data for _, c in chunks) == b"last words of the old file\nfirst of the new\n"
    marker = next(i for i, (_, c) in enumerate(chunks) if c.rotated)  # between old and new lines
    assert b"old file" in chunks[marker - 1][1].data and b"new" in chunks[marker + 1][1].data
    assert follower.rotations == 1
    with open(log, "r+b") as fh:  # copytruncate
        fh.truncate(0)
    with open(log, "ab") as fh:
        fh.write(b"after truncation\n")
    assert _poll(follower) == b"after truncation\n" and follower.truncations == 1
    cp = follower.checkpoint(str(log))
    follower.close()
    resumed = Follower([str(log)], {source_key(str(log)): cp})
    with open(log, "ab") as fh:
        fh.write(b"while we were away\n")
    assert _poll(resumed) == b"while we were away\n"
    resumed.close()


def test_follow_waits_for_a_missing_file(tmp_path):
    log = tmp_path / "later.log"
    follower = Follower([str(log)], {})
    assert _poll(follower) == b""
    log.write_bytes(b"hello\n")
    assert _poll(follower) == b"hello\n"
    follower.close()


def test_checkpoint_describes_the_file_actually_read_even_if_rotated_meanwhile(tmp_path):
    from socflow.read.follow import FileReader

    log = tmp_path / "a.log"
    log.write_bytes(b"old 1\nold 2\n")
    reader = FileReader(str(log), None, ReadStats(source=str(log)))
    old_inode = os.stat(log).st_ino
    os.rename(log, tmp_path / "a.log.1")
    log.write_bytes(b"new\n")
    chunks = list(reader)
    cp = reader.checkpoint(chunks[-1].offset)
    assert b"".join(c.data for c in chunks) == b"old 1\nold 2\n" and cp.inode == old_inode
    assert _read(log, cp)[0] == b"new\n"  # the new file is not skipped by the old offset
