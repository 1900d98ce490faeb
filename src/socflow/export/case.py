"""One call for the playbook's ``export`` step and the CLI: a case → a MISP or STIX document,
written to a file, or handed to a ``push`` callable (an adapter sending it to MISP)."""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError, InputError
from .indicators import from_thehive
from .misp import MispExport, misp_event
from .stix import StixExport, stix_bundle

MAX_REASONS = 20


def write_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file in the same folder + rename."""
    target = Path(path)
    if target.is_dir():
        raise InputError(f"{target} is a directory")
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"folder {folder} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text if text.endswith("\n") else text + "\n")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def build(
    case: Mapping[str, Any],
    observables: Iterable[Mapping[str, Any]],
    *,
    fmt: str,
    ioc_only: bool = True,
    distribution: int = 0,
    case_tags: bool = True,
    identity: str = "socflow",
    instance: str | None = None,
) -> MispExport | StixExport:
    """``instance``: the base URL of the TheHive the case came from (with its ``_id``, what gives
    the MISP event a stable UUID, so pushing it again updates the event)."""
    indicators = from_thehive(case, observables, instance=instance)
    if fmt == "misp":
        return misp_event(indicators, distribution=distribution, only_ioc=ioc_only, case_tags=case_tags)
    if fmt == "stix":
        return stix_bundle(indicators, only_ioc=ioc_only, identity_name=identity)
    raise InputError(f"unknown export format {fmt!r} (misp or stix)")


def summary(export: MispExport | StixExport) -> dict[str, Any]:
    reasons = Counter(why for _, why in export.skipped)
    out = {
        "exported": len(export.exported),
        "skipped": len(export.skipped),
        "skipped_reasons": dict(reasons.most_common(MAX_REASONS)),
    }
    if isinstance(export, MispExport):  # does pushing (importing) it again update one event?
        out["idempotent"] = export.idempotent
    return out


def export_case(
    case: Mapping[str, Any],
    observables: Iterable[Mapping[str, Any]],
    *,
    fmt: str = "misp",
    output: str | None = None,
    ioc_only: bool = True,
    push: Callable[[MispExport], Mapping[str, Any]] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Export and deliver: ``output`` → the document written there; else ``push`` (MISP only).
    ``options``: those of :func:`build` (``instance``: the TheHive the case came from).

    Returns what a journal keeps: format, where it went, counts and the refusal reasons, for MISP
    whether the event's UUID comes from the case (``idempotent``: a second push updates it).
    """
    export = build(case, observables, fmt=fmt, ioc_only=ioc_only, **options)
    result: dict[str, Any] = {"format": fmt, **summary(export)}
    if output:
        result["output"] = str(write_atomic(output, export.to_json()))
        return result
    if fmt != "misp" or push is None:
        raise ConfigError(
            "nowhere to export to: give an output file"
            + ("" if fmt != "misp" else " or configure a MISP server (SOCFLOW_MISP_URL, SOCFLOW_MISP_KEY)")
        )
    result["misp"] = dict(push(export))  # type: ignore[arg-type]
    return result
