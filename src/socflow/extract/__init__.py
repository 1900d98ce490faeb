"""Extract stage: find, validate and aggregate indicators of compromise.

The package exports are loaded on first use (PEP 562), so ``socflow.extract.validate`` can be
imported for IP classes without the extractor, the parsers and pydantic: analyzer cold start.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ..models import IocType

if TYPE_CHECKING:
    from .config import ExtractConfig
    from .extractor import ExtractCounters, Extractor

_LAZY = {"ExtractConfig": ".config", "ExtractCounters": ".extractor", "Extractor": ".extractor"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def find_iocs(text: str) -> list[tuple[IocType, str]]:
    """Indicators in a short text (one event field, a pasted value), refanged and validated.

    Hashes inside query-string parameters (session ids) are left out; private addresses are kept
    (callers decide with :func:`socflow.extract.validate.classify_ip`).
    """
    from .refang import refang_str
    from .tokens import classify_text, text_tokens

    text = refang_str(text)
    found: dict[tuple[IocType, str], None] = {}
    for piece in text_tokens(text):  # the extractor's tokens: a URL keeps its ",;()[]"
        for kind, value, qualifier in classify_text(piece):
            if not qualifier:
                found[(kind, value)] = None
    return list(found)


__all__ = ["ExtractConfig", "ExtractCounters", "Extractor", "find_iocs"]
