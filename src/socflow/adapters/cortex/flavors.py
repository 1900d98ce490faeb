"""Flavor JSONs as Cortex 4.1 reads them, and the catalogs made from them (spec A.1).

One place knows what Cortex requires of a worker definition, so ``socflow catalog`` refuses to
write a catalog Cortex would silently skip, ``socflow doctor`` can say why a flavor never shows
up, and the deploy tests hold every flavor in the repository to the same rules.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, StrictBool, StrictStr, ValidationError, model_validator

from .registry import WORKERS

KINDS = ("analyzers", "responders")
NAME_PREFIX = "Socflow_"
SHEBANG = "#!/usr/bin/env python3"
DEFAULT_IMAGE = "ghcr.io/socflow/socflow-neurons"
# Config items that hold service credentials: a flavor with one of these calls an external service
# and must also let the admin point it elsewhere (``api_url``: mirrors, proxies, the test fakes).
_CREDENTIAL_ITEM = re.compile(r"(^|_)(api_?key|key|token|apikey)$", re.IGNORECASE)
_SAFE_NAME = re.compile(r"^Socflow_[A-Za-z0-9_]+$")
_VERSION = re.compile(r"^\d+(\.\d+)*$")
_ITEM_TYPES = {"string": str, "text": str, "number": (int, float), "boolean": bool}


class ConfigurationItem(BaseModel):
    """``configurationItems[]``: Cortex rejects the definition when these do not parse."""

    model_config = ConfigDict(extra="allow")
    name: StrictStr
    description: StrictStr
    type: Literal["text", "string", "number", "boolean"]
    multi: StrictBool = False
    required: StrictBool = False
    defaultValue: Any = None

    @model_validator(mode="after")
    def _default_matches_type(self) -> ConfigurationItem:
        if self.defaultValue is None:
            return self
        values = self.defaultValue if self.multi else [self.defaultValue]
        if self.multi and not isinstance(self.defaultValue, list):
            raise ValueError(f"defaultValue of multi item {self.name!r} must be a list")
        expected = _ITEM_TYPES[self.type]
        for value in values:
            if not isinstance(value, expected) or (self.type == "number" and isinstance(value, bool)):
                raise ValueError(f"defaultValue of {self.name!r} does not match type {self.type!r}")
        return self


class WorkerDefinition(BaseModel):
    """The keys ``WorkerDefinition.singleReads`` needs, with the types it expects."""

    model_config = ConfigDict(extra="allow")
    name: StrictStr
    version: StrictStr
    description: StrictStr
    author: StrictStr
    url: StrictStr
    license: StrictStr
    dataTypeList: list[StrictStr] = []
    dockerImage: StrictStr | None = None
    command: StrictStr | None = None
    baseConfig: StrictStr | None = None
    configurationItems: list[ConfigurationItem] = []
    config: dict[str, Any] = {}


@dataclass
class Flavor:
    """One flavor file; ``definition`` is ``None`` when the file is not a JSON object."""

    kind: str  # "analyzers" | "responders"
    path: Path
    definition: dict[str, Any] | None
    problems: list[str] = field(default_factory=list)

    @property
    def root(self) -> Path:
        return self.path.parent.parent

    @property
    def name(self) -> str:
        return str((self.definition or {}).get("name", self.path.stem))


def definition_id(definition: dict[str, Any]) -> str:
    """Cortex's id: ``name_version`` with dots replaced (also the report-template folder name)."""
    return f"{definition['name']}_{definition['version']}".replace(".", "_")


def _pydantic_problems(exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "definition"
        out.append(f"{where}: {err['msg']}")
    return out


def definition_problems(definition: Any) -> list[str]:
    """What Cortex and socflow's conventions would object to, independent of any file."""
    if not isinstance(definition, dict):
        return [f"must be a JSON object, not {type(definition).__name__}"]
    try:
        WorkerDefinition.model_validate(definition)
    except ValidationError as exc:
        return _pydantic_problems(exc)
    problems = []
    name, version = definition["name"], definition["version"]
    if not _SAFE_NAME.match(name):
        problems.append(f"name {name!r} must start with {NAME_PREFIX!r} and use only letters, digits, _")
    if not _VERSION.match(version):
        problems.append(f"version {version!r} must look like 1.0")
    if not definition.get("command") and not definition.get("dockerImage"):
        problems.append("has neither command (process runner) nor dockerImage (docker/k8s runners)")
    service = definition.get("config", {}).get("service")
    if service not in WORKERS:
        problems.append(
            f"config.service {service!r} is not a known worker (known: {', '.join(sorted(WORKERS))})"
        )
    problems += _api_url_problems(definition.get("configurationItems", []))
    return problems


def _api_url_problems(items: list[dict[str, Any]]) -> list[str]:
    names = {item["name"]: item for item in items}
    if "api_url" in names:
        default = names["api_url"].get("defaultValue")
        if not (isinstance(default, str) and default.startswith(("https://", "http://"))):
            return ["configuration item api_url needs an http(s) URL as defaultValue"]
        return []
    if any(_CREDENTIAL_ITEM.search(n) for n in names):
        return ["calls an external service (has an API key item) but has no api_url item"]
    return []


def command_problems(command: str, root: Path) -> list[str]:
    """The process runner executes ``root/command`` directly: it must exist, be inside the root,
    be executable and start with the shebang."""
    target = (root / command).resolve()
    if Path(command).is_absolute() or not target.is_relative_to(root.resolve()):
        return [f"command {command!r} must be a path inside {root}"]
    if not target.is_file():
        return [f"command {command!r} does not exist under {root}"]
    problems = []
    if not os.access(target, os.X_OK):
        problems.append(f"{target} is not executable: chmod +x {target}")
    with target.open("rb") as fh:
        first = fh.readline().rstrip(b"\r\n")
    if first != SHEBANG.encode():
        problems.append(f"{target} must start with {SHEBANG!r}, found {first[:60]!r}")
    return problems


def template_problems(definition: dict[str, Any], templates_root: Path) -> list[str]:
    """TheHive 4 and 5 render only ``long.html``; their short report is drawn from the taxonomies
    (``summary.taxonomies``), and a zip import drops ``short.html`` when ``long.html`` exists. So a
    flavor ships exactly one template: a ``short.html`` would be dead weight nobody renders or tests."""
    folder = templates_root / definition_id(definition)
    long = folder / "long.html"
    problems = []
    if not long.is_file() or long.stat().st_size == 0:
        problems.append(f"report template {long} is missing or empty")
    if (folder / "short.html").exists():
        problems.append(f"{folder / 'short.html'} is never rendered by TheHive 4/5: delete it")
    return problems


def load_flavor(path: Path, kind: str) -> Flavor:
    try:
        definition = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        return Flavor(kind, path, None, [f"not readable JSON: {exc}"])
    flavor = Flavor(kind, path, definition if isinstance(definition, dict) else None)
    flavor.problems = definition_problems(definition)
    if flavor.definition and isinstance(flavor.definition.get("command"), str):
        flavor.problems += command_problems(flavor.definition["command"], flavor.root)
    if kind == "responders" and flavor.definition:
        bad = [t for t in flavor.definition.get("dataTypeList", []) if not str(t).startswith("thehive:")]
        if bad:
            flavor.problems.append(f"responder dataTypeList entries must be thehive:<type>, got {bad}")
    return flavor


def discover(source: Path) -> list[Flavor]:
    """Every ``<source>/{analyzers,responders}/*/*.json``, the layout Cortex scans (one level)."""
    return [
        load_flavor(path, kind)
        for kind in KINDS
        for path in sorted((source / kind).glob("*/*.json"))
    ]


def catalog_entry(definition: dict[str, Any], image: str) -> dict[str, Any]:
    """A remote-catalog entry: Cortex drops entries with a ``command`` from http catalogs."""
    entry = {k: v for k, v in definition.items() if k != "command"}
    entry["dockerImage"] = image
    return entry


def catalog_problems(catalog: Any, *, remote: bool = False) -> list[str]:
    """Problems of a catalog as Cortex reads one (object or array; docker-only when remote)."""
    entries = catalog if isinstance(catalog, list) else [catalog]
    problems = []
    for index, entry in enumerate(entries):
        label = entry.get("name", f"entry {index}") if isinstance(entry, dict) else f"entry {index}"
        found = definition_problems(entry)
        if isinstance(entry, dict) and entry.get("command") and not entry.get("dockerImage"):
            found.append("has no dockerImage")
        if remote and isinstance(entry, dict) and entry.get("command"):
            found.append("has a command: Cortex drops such entries from http catalogs")
        problems += [f"{label}: {p}" for p in found]
    return problems
