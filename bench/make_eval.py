#!/usr/bin/env python3
"""Write the machine-framed part of the labelled evaluation set into ``tests/eval/``.

Every line comes from a hand-written template in ``bench/synth/`` whose indicators were labelled by
hand when the template was written (``bench/synth/labels.py`` encodes the policy of
``tests/eval/README.md``); hand-written trap lines are mixed in. The output is committed: the
accuracy test reads the files, never this script, so changing a template cannot silently move the
yardstick. The plain-text notes (``incident_notes.txt``) are written and labelled entirely by hand.

    .venv/bin/python bench/make_eval.py            # rewrite tests/eval/logs + labels
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synth import FORMATS, Synth, generate  # noqa: E402
from synth.core import eval_pools  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
LINES = {"apache_combined": 320, "nginx_combined": 260, "apache_common": 220, "nginx_json": 220,
         "auth": 330, "syslog3164": 320, "syslog5424": 260, "eve": 320}
TRAP_EVERY = 23


def write_labels(path: Path, labels: set[tuple[str, str]]) -> None:
    rows = sorted(f"{kind}\t{value}" for kind, value in labels)
    path.write_text("".join(row + "\n" for row in rows), encoding="utf-8")


def build(out: Path, seed: int) -> None:
    (out / "logs").mkdir(parents=True, exist_ok=True)
    (out / "labels").mkdir(parents=True, exist_ok=True)
    for index, (fmt, count) in enumerate(LINES.items()):
        filename = FORMATS[fmt][0]
        synth = Synth(seed + index, eval_pools(random.Random(seed + index)))
        lines, labels = [], set()
        for line, line_labels in itertools.islice(generate(fmt, synth, TRAP_EVERY), count):
            lines.append(line)
            labels |= line_labels
        (out / "logs" / filename).write_text("\n".join(lines) + "\n", encoding="utf-8")
        write_labels(out / "labels" / f"{filename}.labels", labels)
        print(f"{filename}: {len(lines)} lines, {len(labels)} labelled indicators")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "eval")
    parser.add_argument("--seed", type=int, default=20240312)
    args = parser.parse_args()
    build(args.out, args.seed)


if __name__ == "__main__":
    main()
