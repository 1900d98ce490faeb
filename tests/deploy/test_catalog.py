"""``socflow catalog``: the Cortex catalogs of spec A.1, run as the command an admin types."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from deploy.jobs import REPO, flavor_paths
from socflow import __version__
from socflow.adapters.cortex.flavors import catalog_problems, definition_id

SOCFLOW = Path(sys.executable).parent / "socflow"
IMAGE = "registry.example.org/soc/socflow-neurons"
TAGS = {"": __version__.split(".")[0], "-stable": __version__, "-devel": "devel"}


def socflow(*args: str | Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SOCFLOW), *map(str, args)], capture_output=True, text=True,
                          timeout=60, cwd=cwd, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("catalogs")
    proc = socflow("catalog", "--output", out, "--image", IMAGE, "--json")
    assert proc.returncode == 0, proc.stderr
    return out, json.loads(proc.stdout)


def test_all_six_catalogs_and_the_templates_zip_are_written(written: tuple[Path, dict]) -> None:
    out, summary = written
    names = {f"{kind}{suffix}.json" for kind in ("analyzers", "responders") for suffix in TAGS}
    assert set(summary["files"]) == names | {"report-templates.zip"}
    assert {p.name for p in out.iterdir()} == names | {"report-templates.zip"}


@pytest.mark.parametrize("kind", ["analyzers", "responders"])
@pytest.mark.parametrize("suffix", list(TAGS))
def test_catalog_holds_every_flavor_without_command_and_with_the_image(
    written: tuple[Path, dict], kind: str, suffix: str
) -> None:
    out, _ = written
    catalog = json.loads((out / f"{kind}{suffix}.json").read_text(encoding="utf-8"))
    assert isinstance(catalog, list)
    sources = {json.loads(p.read_text())["name"]: json.loads(p.read_text())
               for p in flavor_paths() if p.parent.parent.name == kind}
    assert sorted(e["name"] for e in catalog) == sorted(sources)
    for entry in catalog:
        assert "command" not in entry, "Cortex drops http catalog entries that have a command"
        assert entry["dockerImage"] == f"{IMAGE}:{TAGS[suffix]}"
        source = dict(sources[entry["name"]])
        source.pop("command")
        source.pop("dockerImage", None)
        assert {k: v for k, v in entry.items() if k != "dockerImage"} == source
    assert catalog_problems(catalog, remote=True) == []


def test_templates_zip_holds_each_analyzer_template_folder(written: tuple[Path, dict]) -> None:
    out, summary = written
    with zipfile.ZipFile(out / "report-templates.zip") as zf:
        names = set(zf.namelist())
    assert names == set(summary["templates"])
    for path in flavor_paths():
        flavor = json.loads(path.read_text())
        folder = REPO / "thehive-templates" / definition_id(flavor)
        for page in folder.glob("*.html"):
            assert f"{folder.name}/{page.name}" in names


def test_plain_output_names_each_flavor(tmp_path: Path) -> None:
    proc = socflow("catalog", "-o", tmp_path / "c")
    assert proc.returncode == 0, proc.stderr
    for path in flavor_paths():
        assert json.loads(path.read_text())["name"] in proc.stdout
    assert "analyzer.urls" in proc.stdout


def test_an_image_with_a_tag_is_a_usage_error(tmp_path: Path) -> None:
    proc = socflow("catalog", "-o", tmp_path, "--image", "ghcr.io/x/y:1.0")
    assert proc.returncode == 2
    assert "without a tag" in proc.stderr


def test_invalid_flavor_stops_the_catalog_with_one_line(tmp_path: Path) -> None:
    source = tmp_path / "src"
    shutil.copytree(REPO / "analyzers", source / "analyzers")
    bad = source / "analyzers" / "Bad" / "Socflow_Bad.json"
    bad.parent.mkdir()
    bad.write_text('{"name": "Socflow_Bad", "version": "1.0"}', encoding="utf-8")
    proc = socflow("catalog", "-o", tmp_path / "out", "--source", source)
    assert proc.returncode == 1
    assert proc.stderr.startswith("socflow: error: 1 invalid flavor(s), no catalog written")
    assert "Socflow_Bad.json" in proc.stderr and "description: Field required" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_folder_without_neurons_is_a_clear_error(tmp_path: Path) -> None:
    proc = socflow("catalog", "-o", tmp_path / "out", "--source", tmp_path)
    assert proc.returncode == 1
    assert "no analyzers/ or responders/ folder" in proc.stderr
