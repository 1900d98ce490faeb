"""``socflow catalog``: Cortex catalogs for the socflow image (spec A.1, prior-art §6).

Writes ``analyzers.json`` / ``responders.json`` (image tag = major version), ``-stable`` (full
version) and ``-devel`` (``:devel``) variants, like the official catalogs, plus
``report-templates.zip`` for TheHive. Every entry is the flavor JSON without ``command`` (Cortex
drops entries with one from http catalogs) and with ``dockerImage``; every flavor runs the same
image, which picks the worker from ``config.service``. The flavor folders themselves are left as
they are, so they keep working with the process runner.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import click
from .common import Console
from rich.table import Table

from ... import __version__
from ...errors import ConfigError
from ..cortex.flavors import (
    DEFAULT_IMAGE,
    KINDS,
    Flavor,
    catalog_entry,
    catalog_problems,
    definition_id,
    discover,
)

VARIANTS = {"": __version__.split(".")[0], "-stable": __version__, "-devel": "devel"}


def _check_image(image: str) -> str:
    if not image or any(c.isspace() for c in image) or ":" in image.rsplit("/", 1)[-1]:
        raise click.BadParameter(
            f"{image!r}: give the image repository without a tag (tags come from the variants)",
            param_hint="--image",
        )
    return image


def _valid_flavors(source: Path) -> list[Flavor]:
    if not any((source / kind).is_dir() for kind in KINDS):
        raise ConfigError(f"no analyzers/ or responders/ folder in {source}; pass --source")
    flavors = discover(source)
    broken = [f"{f.path}: {'; '.join(f.problems)}" for f in flavors if f.problems]
    if broken:
        raise ConfigError(f"{len(broken)} invalid flavor(s), no catalog written: " + " | ".join(broken))
    if not flavors:
        raise ConfigError(f"no flavor JSON found under {source}/analyzers/*/ or responders/*/")
    return flavors


def build_catalogs(flavors: list[Flavor], image: str) -> dict[str, list[dict[str, Any]]]:
    """File name → catalog, for every kind and variant."""
    catalogs = {}
    for kind in KINDS:
        definitions = [f.definition for f in flavors if f.kind == kind and f.definition]
        for suffix, tag in VARIANTS.items():
            entries = [catalog_entry(d, f"{image}:{tag}") for d in definitions]
            problems = catalog_problems(entries, remote=True)
            if problems:  # cannot happen for valid flavors; guards future edits of catalog_entry
                raise ConfigError("generated catalog is invalid: " + "; ".join(problems))
            catalogs[f"{kind}{suffix}.json"] = entries
    return catalogs


def write_templates_zip(flavors: list[Flavor], templates: Path, target: Path) -> list[str]:
    """``<Flavor>_<version>/long.html`` for TheHive's analyzer-template import (the only page
    TheHive 4 and 5 render; the folder name is the template's key)."""
    written = []
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for flavor in flavors:
            if flavor.kind != "analyzers" or not flavor.definition:
                continue
            folder = templates / definition_id(flavor.definition)
            for page in sorted(folder.glob("*.html")):
                zf.write(page, f"{folder.name}/{page.name}")
                written.append(f"{folder.name}/{page.name}")
    return written


@click.command("catalog")
@click.option(
    "--output", "-o", required=True,
    type=click.Path(file_okay=False, path_type=Path), help="Folder to write the catalogs into.",
)
@click.option(
    "--image", default=DEFAULT_IMAGE, show_default=True, callback=lambda c, p, v: _check_image(v),
    help="Image repository without tag; a private registry or localhost/ name works too.",
)
@click.option(
    "--source", default=".", show_default=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder holding analyzers/, responders/ and thehive-templates/.",
)
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
def catalog(output: Path, image: str, source: Path, as_json: bool) -> None:
    """Write Cortex catalogs (analyzers.json, responders.json, -stable, -devel) for the image."""
    flavors = _valid_flavors(source)
    catalogs = build_catalogs(flavors, image)
    try:
        output.mkdir(parents=True, exist_ok=True)
        for name, entries in catalogs.items():
            (output / name).write_text(json.dumps(entries, indent=2) + "\n", encoding="utf-8")
        templates = write_templates_zip(
            flavors, source / "thehive-templates", output / "report-templates.zip"
        )
    except OSError as exc:
        raise ConfigError(f"cannot write catalogs to {output}: {exc.strerror}") from None
    summary = {
        "output": str(output),
        "files": sorted([*catalogs, "report-templates.zip"]),
        "images": {suffix or "default": f"{image}:{tag}" for suffix, tag in VARIANTS.items()},
        "analyzers": [f.name for f in flavors if f.kind == "analyzers"],
        "responders": [f.name for f in flavors if f.kind == "responders"],
        "templates": templates,
    }
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    table = Table(title=f"Cortex catalogs in {output}")
    for column in ("flavor", "kind", "service", "image (analyzers.json)"):
        table.add_column(column)
    for f in flavors:
        assert f.definition is not None
        table.add_row(f.name, f.kind[:-1], str(f.definition["config"].get("service")),
                      f"{image}:{VARIANTS['']}")
    console = Console()
    (console if console.is_terminal else Console(width=200)).print(table)  # pipes: no truncation
    click.echo(
        "Add the catalog paths or URLs to analyzer.urls / responder.urls in Cortex's "
        "application.conf, then refresh the analyzers."
    )
