"""Every configuration item of the intel flavors, at its documented default, null and absent.

Cortex hands a job the items the admin saved: the flavor's ``defaultValue`` when they accepted
it, ``null`` when they cleared it, nothing at all for items added after they last saved. All
three must mean the same thing — the documented default — and none may crash. In-process, the
settings each variant produces are compared (the real cortexutils reads a real job folder); as a
process, the job must run with every optional item null.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from fakes.cti import FakeAbuseIPDB, FakeOTX, FakeService, FakeVirusTotal

from socflow.adapters.cortex.analyzers._intel import default_cache
from socflow.adapters.cortex.registry import load_worker

from .conftest import job

ROOT = Path(__file__).resolve().parents[2] / "analyzers"
FLAVORS = {
    "Socflow_VirusTotal_GetReport": ("VirusTotal", FakeVirusTotal, "ip", "45.0.0.1"),
    "Socflow_VirusTotal_Scan": ("VirusTotal", FakeVirusTotal, "url", "http://45.0.0.1/x"),
    "Socflow_AbuseIPDB_Check": ("AbuseIPDB", FakeAbuseIPDB, "ip", "45.0.0.1"),
    "Socflow_AbuseIPDB_CheckBlock": ("AbuseIPDB", FakeAbuseIPDB, "ip", "45.0.0.1"),
    "Socflow_OTX_Query": ("OTX", FakeOTX, "ip", "45.0.0.1"),
}
# Items the fake must override in every variant (where it listens, its key, a private cache).
PINNED = ("key", "api_url", "allow_private_targets", "cache_path")


def flavor(name: str) -> dict[str, Any]:
    folder = FLAVORS[name][0]
    return json.loads((ROOT / folder / f"{name}.json").read_text(encoding="utf-8"))


def optional_items(name: str) -> list[dict[str, Any]]:
    return [i for i in flavor(name)["configurationItems"] if not i.get("required")]


def settings_for(name: str, tmp_path: Path, config: dict[str, Any]) -> Any:
    """The EnrichConfig the flavor's analyzer builds from this job config (a real job folder)."""
    folder = tmp_path / f"job-{len(list(tmp_path.iterdir()))}"
    (folder / "input").mkdir(parents=True)
    job_input = {"data": FLAVORS[name][3], "dataType": FLAVORS[name][2], "tlp": 2, "pap": 2,
                 "config": {"service": flavor(name)["config"]["service"], **config}}
    (folder / "input" / "input.json").write_text(json.dumps(job_input), encoding="utf-8")
    worker = load_worker(job_input["config"]["service"])(str(folder))
    settings = worker.enrich_config()
    return msgspec.to_builtins(settings, enc_hook=lambda v: v.get_secret_value() if hasattr(v, "get_secret_value") else str(v))


@pytest.mark.parametrize("name", FLAVORS)
def test_documented_defaults_null_and_absent_mean_the_same(name: str, tmp_path: Path) -> None:
    pinned = {"key": "k" * 64, "api_url": "https://intel.example.net/api"}
    items = [i for i in optional_items(name) if i["name"] not in PINNED]
    assert items, "the flavor has optional items"
    missing = [i["name"] for i in items if "defaultValue" not in i]
    assert not missing, f"optional items without a documented default: {missing}"
    documented = settings_for(name, tmp_path, {**pinned, **{i["name"]: i["defaultValue"] for i in items}})
    null = settings_for(name, tmp_path, {**pinned, **{i["name"]: None for i in items}})
    absent = settings_for(name, tmp_path, pinned)
    assert documented == null == absent
    # one at a time too: each item alone at its default changes nothing either
    for item in items:
        alone = settings_for(name, tmp_path, {**pinned, item["name"]: item["defaultValue"]})
        assert alone == absent, item["name"]


@pytest.mark.parametrize("name", FLAVORS)
def test_the_documented_cache_and_target_defaults_are_the_code_defaults(name: str, tmp_path: Path) -> None:
    items = {i["name"]: i for i in flavor(name)["configurationItems"]}
    assert items["allow_private_targets"]["defaultValue"] is False
    absent = settings_for(name, tmp_path, {"key": "k" * 64})
    assert absent["allow_private_targets"] is False
    # the cache has no fixed default: it is per user, <state dir>/intel-cache.sqlite (issue 11 §7)
    assert "defaultValue" not in items["cache_path"]
    assert "<state dir>/intel-cache.sqlite" in items["cache_path"]["description"]
    assert absent["cache_path"] == default_cache()
    provider = next(v for k, v in absent.items() if k in ("virustotal", "abuseipdb", "otx") and v)
    assert provider["api_url"] == items["api_url"]["defaultValue"]


def _prepare(fake: FakeService, name: str) -> None:
    if isinstance(fake, FakeVirusTotal):
        fake.set_object("ip_addresses", "45.0.0.1", malicious=5)
        fake.set_object("urls", "x", url="http://45.0.0.1/x", malicious=5)
    elif isinstance(fake, FakeAbuseIPDB):
        fake.set_ip("45.0.0.1", 90)
    else:
        fake.set("45.0.0.1", 4)  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", FLAVORS)
def test_the_job_runs_with_every_optional_item_null(name: str, tmp_path: Path) -> None:
    _, fake_cls, data_type, value = FLAVORS[name]
    nulls = {i["name"]: None for i in optional_items(name) if i["name"] not in PINNED}
    extra = {"poll_interval": 0.2} if name.endswith("_Scan") else {}
    with fake_cls(polls_to_complete=1) if fake_cls is FakeVirusTotal else fake_cls() as fake:  # type: ignore[call-arg]
        _prepare(fake, name)
        result = job(name, fake, tmp_path / "c.sqlite", value, data_type, tlp=1, pap=1, **{**nulls, **extra})
    assert result.output["success"] is True, result.output
    assert result.output["full"]["level"] == "malicious"
