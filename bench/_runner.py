"""One measurement in its own process (so peak RSS belongs to one tool). Prints one JSON object.

    python bench/_runner.py run TOOL PATH...        in-process tool over files, line by line
    python bench/_runner.py measure -- CMD...       an external command; RSS from RUSAGE_CHILDREN
    python bench/_runner.py adversarial MAXLINE PATH...   socflow on each single-line file, timed

Peer tools import only what they need, so this file also runs under the peers' venv.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator


def _lines(paths: list[str]) -> Iterator[str]:
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as fh:
            yield from fh


def socflow_api(paths: list[str]) -> int:
    from socflow.extract.config import ExtractConfig
    from socflow.pipeline import extract_paths

    return len(extract_paths(paths, ExtractConfig(include_private=True)).iocs)


def cortexutils_lines(paths: list[str]) -> int:
    """cortexutils' Extractor.check_iterable called on each line. (Handing it a list of many lines
    is far slower: its de-duplication is quadratic, 1.4 s for a list of 3,000 lines.)"""
    from cortexutils.extractor import Extractor

    extractor, found = Extractor(), set()
    for line in _lines(paths):
        found |= {(a["dataType"], a["data"]) for a in extractor.check_iterable(line.rstrip("\n"))}
    return len(found)


def iocextract_lines(paths: list[str]) -> int:
    import iocextract

    found: set[str] = set()
    for line in _lines(paths):
        found.update(iocextract.extract_iocs(line, refang=True))
    return len(found)


def iocsearcher_lines(paths: list[str]) -> int:
    from iocsearcher.searcher import Searcher

    searcher, found = Searcher(), set()
    for line in _lines(paths):
        found |= {(i.name, i.value) for i in searcher.search_data(line)}
    return len(found)


REPEATS = 3
TOOLS = {"socflow-api": socflow_api, "cortexutils": cortexutils_lines,
         "iocextract": iocextract_lines, "iocsearcher": iocsearcher_lines}


def _size(paths: list[str]) -> int:
    import os

    return sum(os.path.getsize(p) for p in paths)


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def run(tool: str, paths: list[str]) -> dict[str, object]:
    """Wall and CPU seconds: on a shared machine CPU time is the figure that does not depend on
    what else is running (both are reported)."""
    start, cpu_start = time.perf_counter(), _cpu(resource.RUSAGE_SELF)
    count = TOOLS[tool](paths)
    seconds, cpu = time.perf_counter() - start, _cpu(resource.RUSAGE_SELF) - cpu_start
    return {"tool": tool, "bytes": _size(paths), "seconds": seconds, "cpu_seconds": cpu,
            "iocs": count, "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}


def measure(cmd: list[str]) -> dict[str, object]:
    """Output goes to a pipe that is drained and counted, not to /dev/null: GNU grep stops at the
    first match when it sees its output is /dev/null, which would fake the ceiling."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err)
        assert proc.stdout is not None
        out_bytes = 0
        while chunk := proc.stdout.read(1 << 16):
            out_bytes += len(chunk)
        returncode = proc.wait()
        seconds = time.perf_counter() - start
        err.seek(0)
        stderr = err.read().decode(errors="replace")[-500:]
    return {"cmd": cmd[:3], "seconds": seconds, "cpu_seconds": _cpu(resource.RUSAGE_CHILDREN),
            "returncode": returncode, "stderr": stderr, "output_bytes": out_bytes,
            "peak_rss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}


def adversarial(max_line: int, paths: list[str]) -> list[dict[str, object]]:
    from socflow.extract.config import ExtractConfig
    from socflow.pipeline import extract_paths

    config = ExtractConfig(include_private=True, max_line_bytes=max_line)
    extract_paths(paths[:1], config)  # warm caches and imports once
    out = []
    for path in paths:
        seconds = cpu = float("inf")
        for _ in range(REPEATS):  # the best of a few runs: the machine may be shared
            start, cpu_start = time.perf_counter(), time.process_time()
            result = extract_paths([path], config)
            seconds = min(seconds, time.perf_counter() - start)
            cpu = min(cpu, time.process_time() - cpu_start)
        truncated = sum(s.truncated for s in result.stats)
        out.append({"path": path, "bytes": _size([path]), "seconds": seconds, "cpu_seconds": cpu,
                    "truncated": truncated, "iocs": len(result.iocs)})
    return out


def main(argv: list[str]) -> None:
    mode, rest = argv[0], argv[1:]
    if mode == "run":
        result: object = run(rest[0], rest[1:])
    elif mode == "measure":
        result = measure(rest[1:] if rest[:1] == ["--"] else rest)
    elif mode == "adversarial":
        result = adversarial(int(rest[0]), rest[1:])
    else:
        raise SystemExit(f"_runner: unknown mode {mode!r}")
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
