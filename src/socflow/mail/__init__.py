"""Mail stage: one e-mail message → typed findings (authentication, origin, identity, content,
attachments) → a verdict weighed by a YAML policy. Pure; indicators go through the core extractor
like log lines do. Entry points: :func:`analyze_bytes`, :func:`load_policy`, :func:`iter_messages`.

Exports load on first use so importing the package costs nothing until a message is analysed.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {
    "analyze_bytes": ".analyze", "default_policy": ".analyze", "load_policy": ".policy",
    "MailPolicy": ".policy", "MailReport": ".model", "Finding": ".model",
    "iter_messages": ".sources", "MessageSource": ".sources",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_LAZY)
