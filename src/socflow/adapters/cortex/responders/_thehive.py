"""Reading the TheHive object Cortex hands a responder as ``data`` (spec A.5, B.3, D.6).

TheHive 5 sends the entity in its v0 JSON shape: ``_id``/``id``, ``_type`` (``case``,
``case_artifact``, ``alert``), ``tags``, ``title``… An alert carries its observables under
``artifacts`` (the TheHive 4/5 v0 name); ``observables`` is accepted too. Nothing here trusts the
shape: missing keys give empty values, wrong types are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from ....errors import InputError

KINDS = {"thehive:case": "case", "thehive:case_artifact": "observable", "thehive:alert": "alert"}


@dataclass(frozen=True, slots=True)
class Observable:
    data_type: str
    data: str
    id: str | None
    tags: tuple[str, ...] = ()


def entity(data: Any, data_type: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise InputError(
            f"{data_type} job data must be the TheHive object (JSON object), got "
            f"{type(data).__name__}"
        )
    return data


def entity_id(obj: dict[str, Any]) -> str | None:
    value = obj.get("_id") or obj.get("id")
    return str(value) if value else None


def tags(obj: dict[str, Any]) -> list[str]:
    raw = obj.get("tags")
    return [t for t in raw if isinstance(t, str)] if isinstance(raw, list) else []


def _observable(raw: Any) -> Observable | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("data"), str):
        return None
    return Observable(str(raw.get("dataType", "")), raw["data"], entity_id(raw), tuple(tags(raw)))


def observables(obj: dict[str, Any], data_type: str) -> list[Observable]:
    """The observable itself (``case_artifact``) or every observable of an alert."""
    if data_type == "thehive:case_artifact":
        found = _observable(obj)
        if found is None:
            raise InputError(
                "the observable has no string 'data' (file observables cannot be blocked)"
            )
        return [found]
    raw = obj.get("artifacts")
    if not isinstance(raw, list):
        raw = obj.get("observables") if isinstance(obj.get("observables"), list) else []
    return [o for o in (_observable(r) for r in raw) if o is not None]


def references(obj: dict[str, Any], data_type: str) -> dict[str, str | None]:
    """case/alert/observable ids to store with a block, as far as the object tells them."""
    refs: dict[str, str | None] = {"case_ref": None, "alert_ref": None, "observable_ref": None}
    if data_type == "thehive:alert":
        refs["alert_ref"] = entity_id(obj)
        refs["case_ref"] = str(obj["caseId"]) if obj.get("caseId") else None
    elif data_type == "thehive:case":
        refs["case_ref"] = entity_id(obj)
    elif data_type == "thehive:case_artifact":
        refs["observable_ref"] = entity_id(obj)
        case = obj.get("case") if isinstance(obj.get("case"), dict) else {}
        parent = case.get("_id") or obj.get("caseId") or obj.get("_parent")
        refs["case_ref"] = str(parent) if parent else None
    return refs


def link(base_url: str | None, obj: dict[str, Any], data_type: str) -> str | None:
    """A TheHive 5 UI link to the object, when the base URL is configured."""
    oid = quote(entity_id(obj) or "", safe="~")
    if not base_url or not oid or not base_url.startswith(("https://", "http://")):
        return None
    base = base_url.rstrip("/")
    if data_type == "thehive:alert":
        return f"{base}/alerts/{oid}/details"
    if data_type == "thehive:case":
        return f"{base}/cases/{oid}/details"
    case = references(obj, data_type)["case_ref"]
    return f"{base}/cases/{quote(case, safe='~')}/observables/{oid}" if case else None
