"""TheHive 5 rules the emulator enforces: field limits of ``POST /api/v1/alert`` (spec D.2), error
bodies, labels, and the query API's filter language (spec D.5). Used by ``fakes.thehive``."""

from __future__ import annotations

from typing import Any

DEFAULT_TYPES = {
    "url": False,
    "other": False,
    "user-agent": False,
    "regexp": False,
    "mail-subject": False,
    "registry": False,
    "mail": False,
    "autonomous-system": False,
    "domain": False,
    "ip": False,
    "uri_path": False,
    "filename": False,
    "hash": False,
    "file": True,
    "fqdn": False,
    "hostname": False,
}  # name -> isAttachment
SEVERITY_LABELS = {1: "LOW", 2: "MEDIUM", 3: "HIGH", 4: "CRITICAL"}
TLP_LABELS = {0: "CLEAR", 1: "GREEN", 2: "AMBER", 3: "AMBER+STRICT", 4: "RED"}
PAP_LABELS = {0: "CLEAR", 1: "GREEN", 2: "AMBER", 3: "RED"}
OUTAGE_MODES = {"refused", "500", "503", "slow", "accept_then_die", "drop"}
_MIB = 1_048_576


class ApiError(Exception):
    def __init__(self, status: int, type_: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.body = status, {"type": type_, "message": message, **extra}


# ---------------------------------------------------------------- field rules (spec D.2)
def _string(errors: list, body: dict, name: str, lo: int, hi: int, required: bool = False) -> None:
    if name not in body:
        if required:
            errors.append(
                {
                    "type": "MissingAttributeError",
                    "name": name,
                    "message": f"Attribute {name} is missing",
                }
            )
        return
    value = body[name]
    if not isinstance(value, str) or not lo <= len(value) <= hi:
        errors.append(
            {
                "type": "InvalidFormatAttributeError",
                "name": name,
                "format": f"string({lo}..{hi})",
                "value": str(value)[:64],
            }
        )


def _enum(errors: list, body: dict, name: str, allowed: range) -> None:
    if name in body and (type(body[name]) is not int or body[name] not in allowed):
        errors.append(
            {
                "type": "InvalidFormatAttributeError",
                "name": name,
                "format": f"enum({allowed.start}..{allowed.stop - 1})",
                "value": str(body[name])[:64],
            }
        )


def validate_alert(body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, dict):
        return [{"type": "InvalidFormatAttributeError", "name": "alert", "format": "object"}]
    errors: list[dict[str, Any]] = []
    for name, hi in (("type", 32), ("source", 32), ("sourceRef", 128), ("title", 512)):
        _string(errors, body, name, 1, hi, required=True)
    _string(errors, body, "description", 0, _MIB, required=True)
    _string(errors, body, "externalLink", 1, 4096)
    _string(errors, body, "summary", 0, _MIB)
    _string(errors, body, "status", 1, 64)
    _string(errors, body, "assignee", 1, 128)
    _string(errors, body, "caseTemplate", 1, 128)
    _enum(errors, body, "severity", range(1, 5))
    _enum(errors, body, "tlp", range(5))
    _enum(errors, body, "pap", range(4))
    if "date" in body and type(body["date"]) is not int:
        errors.append({"type": "InvalidFormatAttributeError", "name": "date", "format": "int64"})
    if "flag" in body and not isinstance(body["flag"], bool):
        errors.append({"type": "InvalidFormatAttributeError", "name": "flag", "format": "boolean"})
    _tags(errors, body, "tags")
    cf = body.get("customFields", {})
    if not isinstance(cf, (dict, list)) or (
        isinstance(cf, list) and not all(isinstance(c, dict) and "name" in c for c in cf)
    ):
        errors.append(
            {
                "type": "InvalidFormatAttributeError",
                "name": "customFields",
                "format": "object|array",
            }
        )
    observables = body.get("observables", [])
    if not isinstance(observables, list):
        errors.append(
            {"type": "InvalidFormatAttributeError", "name": "observables", "format": "array"}
        )
    else:
        for i, obs in enumerate(observables):
            errors.extend(validate_observable(obs, f"observables[{i}]"))
    return errors


def _tags(errors: list, body: dict, name: str) -> None:
    tags = body.get(name, [])
    if not isinstance(tags, list) or not all(
        isinstance(t, str) and 1 <= len(t) <= 128 for t in tags
    ):
        errors.append(
            {"type": "InvalidFormatAttributeError", "name": name, "format": "string(1..128)[]"}
        )
    elif len(set(tags)) != len(tags):
        errors.append(
            {"type": "InvalidFormatAttributeError", "name": name, "format": "unique strings"}
        )


def validate_observable(obs: Any, where: str = "observable") -> list[dict[str, Any]]:
    if not isinstance(obs, dict):
        return [{"type": "InvalidFormatAttributeError", "name": where, "format": "object"}]
    errors: list[dict[str, Any]] = []
    _string(errors, obs, "dataType", 1, 64, required=True)
    data = obs.get("data")
    values = data if isinstance(data, list) else [data] if data is not None else []
    if not all(isinstance(v, str) and len(v) <= 4096 for v in values):
        errors.append(
            {
                "type": "InvalidFormatAttributeError",
                "name": f"{where}.data",
                "format": "string(1..4096)",
            }
        )
    _enum(errors, obs, "tlp", range(5))
    _enum(errors, obs, "pap", range(4))
    _tags(errors, obs, "tags")
    for flag in ("ioc", "sighted", "ignoreSimilarity", "isZip"):
        if flag in obs and not isinstance(obs[flag], bool):
            errors.append(
                {
                    "type": "InvalidFormatAttributeError",
                    "name": f"{where}.{flag}",
                    "format": "boolean",
                }
            )
    for e in errors:
        if not e["name"].startswith(where):
            e["name"] = f"{where}.{e['name']}"
    return errors


# ---------------------------------------------------------------- query API (spec D.5)
def _field(doc: dict, name: str) -> Any:
    return doc.get(name)


def matches(doc: dict, flt: Any) -> bool:
    if not isinstance(flt, dict) or not flt:
        return True
    ((op, arg),) = list(flt.items())[:1]
    if op == "_and":
        return all(matches(doc, f) for f in arg)
    if op == "_or":
        return any(matches(doc, f) for f in arg)
    if op == "_not":
        return not matches(doc, arg)
    if op == "_id":
        return doc.get("_id") == arg
    if op in ("_has", "_contains"):
        return _field(doc, arg) not in (None, "", [])
    if op == "_in":
        return _field(doc, arg["_field"]) in arg["_values"]
    if op == "_between":
        v = _field(doc, arg["_field"])
        return v is not None and arg["_from"] <= v < arg["_to"]
    value, wanted = _field(doc, arg.get("_field", "")), arg.get("_value")
    if op in ("_eq", "_is"):
        return wanted in value if isinstance(value, list) else value == wanted
    if op == "_ne":
        return value != wanted
    if value is None:
        return False
    if op in ("_lt", "_gt", "_lte", "_gte"):
        return {
            "_lt": value < wanted,
            "_gt": value > wanted,
            "_lte": value <= wanted,
            "_gte": value >= wanted,
        }[op]
    text, want = str(value).lower(), str(wanted).lower()
    if op == "_startsWith":
        return text.startswith(want)
    if op == "_endsWith":
        return text.endswith(want)
    if op in ("_like", "_match"):
        return want.strip("*") in text
    raise ApiError(400, "BadRequest", f"Invalid filter operator {op}")
