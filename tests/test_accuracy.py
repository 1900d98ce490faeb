"""Extraction accuracy on the hand-labelled evaluation set (tests/eval), against the targets of issues 2 and 12 (bench/evaluate.py TARGETS).

The labels are checked for consistency first (every labelled value is really in its log, values are
normalised, every log format socflow reads is represented), then socflow's precision / recall / F1
per type is computed by ``bench/evaluate.py`` and compared with the targets. On failure the message
lists the misses with their lines (``.venv/bin/python bench/evaluate.py -v`` shows them all).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import idna
import pytest

from socflow.parse import PARSERS

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("bench_evaluate", ROOT / "bench" / "evaluate.py")
assert _spec and _spec.loader
evaluate = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = evaluate  # dataclasses look their module up
_spec.loader.exec_module(evaluate)

EVAL_FILES = evaluate.eval_files(evaluate.EVAL_DIR)


@pytest.fixture(scope="module")
def report():
    return evaluate.evaluate("socflow")


@pytest.mark.parametrize("log,labels", EVAL_FILES, ids=[log.name for log, _ in EVAL_FILES])
def test_every_label_is_in_its_log_and_normalised(log: Path, labels: Path) -> None:
    text = log.read_text(encoding="utf-8")
    human = "\n".join(evaluate.human_text(line) for line in text.splitlines())
    rows = [r.split("\t", 1) for r in labels.read_text(encoding="utf-8").splitlines() if r]
    assert rows, f"{labels.name} is empty"
    for kind, value in rows:
        assert kind in evaluate.TYPES
        assert value == evaluate.normalise(kind, value), f"{kind} {value!r} is not normalised"
        present = value.lower() in text.lower() or value.lower() in human
        if kind == "ipv6":  # written in any valid form: 2001:0db8:0001:0000:…
            present = present or any(value in evaluate.ipv6_forms(x) for x in text.splitlines())
        if kind == "cve":  # Emerging Threats metadata writes CVE_2024_21887
            present = present or value.replace("-", "_") in text
        if kind == "domain" and "xn--" in value:  # the A-label of a Unicode name in the text
            present = present or idna.decode(value) in text.lower()
        assert present, f"{labels.name}: {kind} {value!r} does not occur in {log.name}"


def test_eval_set_covers_every_log_format() -> None:
    from socflow.extract.config import ExtractConfig
    from socflow.pipeline import extract_paths

    seen = set()
    for log, _ in EVAL_FILES:
        seen |= {s.format for s in extract_paths([str(log)], ExtractConfig()).stats}
    assert seen == set(PARSERS), f"formats without an eval log: {set(PARSERS) - seen}"
    assert sum(len(log.read_text().splitlines()) for log, _ in EVAL_FILES) >= 2000


def test_scorer_counts_misses() -> None:
    """The yardstick itself: a perfect, an empty and a noisy prediction score as they should."""
    score = evaluate.Score(tp=8, fp=2, fn=0)
    assert (score.precision, score.recall) == (0.8, 1.0)
    assert round(score.f1, 4) == 0.8889
    assert evaluate.Score(tp=0, fp=0, fn=5).recall == 0.0
    assert evaluate.normalise("ipv6", "FE80::1%eth0") == "fe80::1"
    url = "HTTP://WWW.Example.com/A?b=C"
    assert evaluate.normalise("url", url) == "http://www.example.com/A?b=C"


def test_url_matching_is_exact(tmp_path: Path) -> None:
    """A URL cut at "," or ";" is a miss twice over (false positive and false negative): the
    scorer is exact, not lenient to prefixes."""
    (tmp_path / "logs").mkdir()
    (tmp_path / "labels").mkdir()
    (tmp_path / "logs" / "x.log").write_text("see https://example.com/a?C=M;O=A now\n")
    (tmp_path / "labels" / "x.log.labels").write_text(
        "url\thttps://example.com/a?C=M;O=A\ndomain\texample.com\n")
    report = evaluate.evaluate("socflow", tmp_path)
    assert (report.by_type["url"].tp, report.by_type["url"].fp) == (1, 0)
    (tmp_path / "labels" / "x.log.labels").write_text(
        "url\thttps://example.com/a?C=M\ndomain\texample.com\n")
    score = evaluate.evaluate("socflow", tmp_path).by_type["url"]
    assert (score.tp, score.fp, score.fn) == (0, 1, 1)


@pytest.mark.parametrize("kind", sorted(evaluate.TARGETS))
def test_accuracy_target(report, kind: str) -> None:
    metric, floor = evaluate.TARGETS[kind]
    score = report.by_type[kind]
    assert score.tp + score.fn > 0, f"no {kind} labelled"
    got = getattr(score, metric)
    misses = [f"{m['miss']} {m['value']}  [{m['file']}] {m['line'][:160]}"
              for m in report.misses if m["type"] == kind]
    assert got >= floor, (f"{kind} {metric} {got:.4f} < {floor} "
                          f"(P {score.precision:.3f} R {score.recall:.3f}); misses:\n"
                          + "\n".join(misses[:25]))
