"""What MISP warning-list tagging costs extraction (issue 12 §6): the post-pass over distinct indicators.

Usage: ``.venv/bin/python bench/warninglists.py [--size-mb 50]``

Extracts the bench corpus (``bench/corpus.py``, the one ``bench/extract.py`` measures) once, in
this process, then tags its distinct indicators with the default lists: once with a cold cache
(every list compiled from pymispwarninglists' JSON), once with the compiled lists cached (what
every later run pays). CPU seconds (``time.process_time``); MB per CPU-second of extraction
alone and of extraction plus tagging. Results go to stdout and ``bench/out/warninglists.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import corpus  # noqa: E402

from socflow.pipeline import extract_paths  # noqa: E402
from socflow.warninglists import WarningLists, WarningListSettings, annotate  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=50)
    args = parser.parse_args()
    files = corpus.corpus_files(corpus.build_corpus(args.size_mb))
    size = corpus.total_bytes(files)
    start = time.process_time()
    result = extract_paths([str(f) for f in files])
    extract_cpu = time.process_time() - start
    names = WarningListSettings().names()
    runs = {}
    with tempfile.TemporaryDirectory() as cache:
        for label in ("cold_cache", "warm_cache"):
            lists = WarningLists(names, cache=Path(cache))
            start = time.process_time()
            listed = annotate(result.iocs, lists)
            runs[label] = {"cpu_s": round(time.process_time() - start, 3), "listed": listed,
                           "compiled": len(lists.compiled)}
    mb = size / (1 << 20)
    out = {
        "corpus_mb": round(mb, 1),
        "distinct_indicators": len(result.iocs),
        "extract_cpu_s": round(extract_cpu, 3),
        "extract_mb_per_cpu_s": round(mb / extract_cpu, 1),
        "tagging": runs,
        "extract_and_tag_mb_per_cpu_s": round(mb / (extract_cpu + runs["warm_cache"]["cpu_s"]), 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    (ROOT / "bench" / "out").mkdir(parents=True, exist_ok=True)
    (ROOT / "bench" / "out" / "warninglists.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
