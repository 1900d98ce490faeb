"""Build (and cache) the speed corpus, its slices, and the adversarial single-line inputs.

The corpus is one file per log format in a directory under ``bench/out/`` (git-ignored), mixed by
byte share. Values come from large pools with Zipf-like reuse (a few scanners and domains
dominate, a long tail appears once), request paths carry unique ids, timestamps advance.
"""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synth import FORMATS, Synth, generate  # noqa: E402
from synth.core import bench_pools  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
NOTES = ROOT / "tests" / "eval" / "logs" / "incident_notes.txt"
SHARE = {"apache_combined": 0.22, "nginx_combined": 0.10, "apache_common": 0.05,
         "nginx_json": 0.12, "auth": 0.12, "syslog3164": 0.12, "syslog5424": 0.08, "eve": 0.16,
         "plain": 0.03}
VERSION = 1  # bump when the generator changes so cached corpora are rebuilt
MB = 1 << 20


def _write_format(path: Path, fmt: str, target: int, seed: int) -> None:
    if fmt == "plain":
        notes = NOTES.read_text(encoding="utf-8")
        with open(path, "w", encoding="utf-8") as fh:
            written = 0
            while written < target:
                written += fh.write(notes)
        return
    rng = random.Random(seed)
    synth = Synth(seed, bench_pools(rng), zipf=1.1, mean_gap_s=0.05)
    lines = generate(fmt, synth, trap_every=97)
    written = 0
    with open(path, "w", encoding="utf-8") as fh:
        while written < target:
            chunk = "\n".join(next(lines)[0] for _ in range(200)) + "\n"
            written += len(chunk.encode("utf-8"))
            fh.write(chunk)


def build_corpus(size_mb: float, seed: int = 7) -> Path:
    """A directory of ~``size_mb`` MiB of logs, one file per format; reused when already built."""
    out = OUT / f"corpus-{size_mb:g}mb-v{VERSION}"
    marker = out / ".complete"
    if marker.exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    for index, (fmt, share) in enumerate(SHARE.items()):
        filename = "notes.txt" if fmt == "plain" else FORMATS[fmt][0]
        _write_format(out / filename, fmt, int(size_mb * MB * share), seed + index)
    marker.write_text(json.dumps({"size_mb": size_mb, "seed": seed}))
    return out


def corpus_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith("."))


def total_bytes(paths: list[Path]) -> int:
    return sum(p.stat().st_size for p in paths)


def build_slice(corpus: Path, size_mb: float) -> Path:
    """The first ``size_mb`` MiB of ``corpus``, each file cut in proportion at a line boundary."""
    out = corpus.parent / f"{corpus.name}-slice{size_mb:g}mb"
    marker = out / ".complete"
    if marker.exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    files = corpus_files(corpus)
    ratio = min(1.0, size_mb * MB / total_bytes(files))
    for path in files:
        keep = int(path.stat().st_size * ratio)
        with open(path, "rb") as src:
            data = src.read(keep)
        cut = data.rfind(b"\n") + 1
        (out / path.name).write_bytes(data[:cut])
    marker.write_text("ok")
    return out


ADVERSARIAL = {  # name -> repeating unit of a single huge line
    "a. repeated": b"a.",
    "1. repeated": b"1.",
    "hex run": b"0123456789abcdef",
    "@ run": b"@",
    "distinct addresses": None,  # many different indicators on one line (see _distinct_addresses)
    # One token of many addresses or URLs: each address looks back for a version word or a
    # product name, each URL runs to the end of the token (bounded since 2026-12-05).
    "address: run": b"1.1.1.1:",
    "product/address run": b"a/1.1.1.1/",
    "nested URLs": b"http://",
    # Issue 12: a URL's token runs over ",;()[]" and its end is found bracket by bracket; a
    # decoded URL is compared with the URLs written out before it is reported.
    "URL brackets run": b"http://a.example.com/(x);[y],",
    "encoded URL run": b"http://a.example.com/%20",
}


def _distinct_addresses(size: int) -> bytes:
    """Public IPv4 addresses, all different, space-separated: per-indicator work on one huge line
    (samples, timestamps) must not multiply with the line's length."""
    parts, total, n = [], 0, 0
    while total < size:
        n += 1
        part = f"{11 + n // 65536 % 200}.{n // 256 % 256}.{n % 256}.{7 + n % 200}".encode()
        parts.append(part)
        total += len(part) + 1
    return b" ".join(parts)[:size]


def build_adversarial(sizes_kb: list[int]) -> list[tuple[str, int, Path]]:
    """(pattern, size in KiB, file) for every pattern and size: one line, no newline inside."""
    out_dir = OUT / "adversarial"
    out_dir.mkdir(parents=True, exist_ok=True)
    items = []
    for name, unit in ADVERSARIAL.items():
        for kb in sizes_kb:
            stem = re.sub(r"[^A-Za-z0-9.]+", "_", name.replace("@", "at"))
            path = out_dir / f"{stem}-{kb}k.txt"
            if not path.exists() or path.stat().st_size != kb * 1024 + 1:
                body = (_distinct_addresses(kb * 1024) if unit is None
                        else (unit * (kb * 1024 // len(unit) + 1))[: kb * 1024])
                path.write_bytes(body + b"\n")
            items.append((name, kb, path))
    return items
