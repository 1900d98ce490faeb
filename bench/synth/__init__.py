"""Synthetic but realistic log lines, each with the indicators a human expects in it.

Used twice: ``bench/make_eval.py`` writes the labelled evaluation set in ``tests/eval/`` once
(small hand-written pools, uniform picks, plus hand-written trap lines), and ``bench/extract.py``
streams a large speed corpus (big pools with Zipf-like reuse, timestamps advancing).
"""

from .core import FORMATS, Synth, generate

__all__ = ["FORMATS", "Synth", "generate"]
