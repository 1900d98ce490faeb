"""socflow's optional C extension (``socflow._native``, built by setup.py where a compiler
exists), or None: then the pure-Python twins run, with the same results, slower.
``SOCFLOW_NO_NATIVE=1`` forces the Python twins (to compare, or to rule the extension out)."""

from __future__ import annotations

import os
from types import ModuleType


def _load() -> ModuleType | None:
    if os.environ.get("SOCFLOW_NO_NATIVE", "").strip() not in ("", "0"):
        return None
    try:
        from . import _native
    except ImportError:
        return None
    return _native


NATIVE = _load()
