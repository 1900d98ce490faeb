"""Extract stage: find, validate and aggregate indicators of compromise."""

from __future__ import annotations

from ..models import IocType
from .config import ExtractConfig
from .extractor import ExtractCounters, Extractor
from .refang import refang_str
from .tokens import DELIMITERS, classify_text


def find_iocs(text: str) -> list[tuple[IocType, str]]:
    """Indicators in a short text (one event field, a pasted value), refanged and validated.

    Hashes inside query-string parameters (session ids) are left out; private addresses are kept
    (callers decide with :func:`socflow.extract.validate.classify_ip`).
    """
    text = refang_str(text)
    found: dict[tuple[IocType, str], None] = {}
    for piece in text.translate(str.maketrans(DELIMITERS.decode("latin-1"),
                                              " " * len(DELIMITERS))).split():
        for kind, value, qualifier in classify_text(piece):
            if not qualifier:
                found[(kind, value)] = None
    return list(found)


__all__ = ["ExtractConfig", "ExtractCounters", "Extractor", "find_iocs"]
