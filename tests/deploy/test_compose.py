"""``docker/compose.yml`` checked structurally (``docker compose config`` is not available here):
pinned versions, healthchecks, the job-folder sharing Cortex's docker runner needs, and the
socflow services wired to the image the catalogs name."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from deploy.jobs import REPO
from socflow import __version__
from socflow.adapters.cortex.flavors import DEFAULT_IMAGE

COMPOSE = REPO / "docker" / "compose.yml"
PINNED = {  # StrangeBeeCorp/docker versions.env (prior-art-ecosystem.md snapshot table)
    "cassandra": "cassandra:4.1.12",
    "elasticsearch": "elasticsearch:8.19.20",
    "thehive": "strangebee/thehive:5.7.5",
    "cortex": "thehiveproject/cortex:4.1.0",
}
SOCFLOW_IMAGE = f"localhost/{DEFAULT_IMAGE.rsplit('/', 1)[1]}:{__version__.split('.')[0]}"
VAR = re.compile(r"\$\{(\w+)(?::?[-?][^}]*)?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def expand(value: str) -> str:
    """Compose interpolation with the defaults written in the file (``${X:-default}``)."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)


def test_backends_are_pinned_to_strangebee_versions(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, image in PINNED.items():
        assert services[name]["image"] == image


def test_every_long_running_service_has_a_healthcheck(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if "build" in service.get("profiles", []):
            continue
        check = service.get("healthcheck")
        assert check and check["test"][0] in {"CMD", "CMD-SHELL"}, name
        assert {"interval", "timeout", "retries"} <= set(check), name


def test_dependencies_wait_for_healthy_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        for dep, rule in (service.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            assert rule == {"condition": "service_healthy"}, (name, dep)
            assert "healthcheck" in services[dep]
    assert set(services["thehive"]["depends_on"]) == {"cassandra", "elasticsearch", "cortex"}
    assert set(services["cortex"]["depends_on"]) == {"elasticsearch"}


def test_cortex_shares_the_job_folder_at_the_same_path_and_the_docker_socket(compose: dict[str, Any]) -> None:
    cortex = compose["services"]["cortex"]
    env = {k: expand(str(v)) for k, v in cortex["environment"].items()}
    mounts = [expand(v).split(":") for v in cortex["volumes"]]
    assert ["/var/run/docker.sock", "/var/run/docker.sock"] in mounts
    assert env["job_directory"] == env["docker_job_directory"]
    assert [env["job_directory"], env["job_directory"]] in mounts, "same path inside and outside"
    catalog = next(m for m in mounts if m[1] == "/opt/socflow/catalog")
    assert (COMPOSE.parent / catalog[0]).resolve() == REPO / "docker" / "catalog"
    assert env["analyzer_urls"] == "/opt/socflow/catalog/analyzers.json"
    assert env["responder_urls"] == "/opt/socflow/catalog/responders.json"
    conf = next(m for m in mounts if m[1] == "/etc/cortex/application.conf")
    text = (COMPOSE.parent / conf[0]).read_text(encoding="utf-8")
    assert re.search(r"^docker\.autoUpdate\s*=\s*false", text, re.M), "local image: never pull"
    network = re.search(r'^docker\.container\.networkMode\s*=\s*"([^"]+)"', text, re.M)
    assert network and network.group(1) == compose["networks"]["default"]["name"]


def test_socflow_services_run_the_catalog_image(compose: dict[str, Any]) -> None:
    services = compose["services"]
    build = services["neurons"]
    assert build["image"] == SOCFLOW_IMAGE and build["profiles"] == ["build"]
    assert (COMPOSE.parent / build["build"]["context"] / build["build"]["dockerfile"]).resolve() == (
        REPO / "docker" / "Dockerfile"
    )
    blocklist, ingest = services["blocklist"], services["ingest"]
    assert blocklist["image"] == ingest["image"] == SOCFLOW_IMAGE
    assert blocklist["entrypoint"][:3] == ["socflow", "blocklist", "serve"]
    assert blocklist["entrypoint"][blocklist["entrypoint"].index("--host") + 1] == "0.0.0.0"
    port = blocklist["entrypoint"][blocklist["entrypoint"].index("--port") + 1]
    assert f"{port}:{port}" in blocklist["ports"] and f":{port}/healthz" in blocklist["healthcheck"]["test"][-1]
    assert ingest["entrypoint"][:3] == ["socflow", "ingest", "--follow"]
    log_mount = next(expand(v) for v in ingest["volumes"] if v.endswith(":ro"))
    assert log_mount.split(":")[1] == ingest["entrypoint"][-1], "ingest follows the mounted log folder"
    assert ingest["environment"]["SOCFLOW_THEHIVE_URL"] == "http://thehive:9000"
    for service in (blocklist, ingest):
        state = service["entrypoint"][service["entrypoint"].index("--state-dir") + 1]
        assert any(state.startswith(expand(v).split(":")[1]) for v in service["volumes"]), "state on a volume"


def test_secrets_come_from_the_environment_and_are_documented(compose: dict[str, Any]) -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    example = (REPO / "docker" / "env.example").read_text(encoding="utf-8")
    for name in set(VAR.findall(text)):
        assert re.search(rf"^{name}=", example, re.M), f"{name} missing from docker/env.example"
    for service in compose["services"].values():
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"KEY|TOKEN|SECRET|PASSWORD", key):
                assert VAR.fullmatch(str(value)), f"{key} must come from docker/.env"
    # Compose interpolates every service on every command: only what an admin knows before the
    # first start may be required; API keys created inside Cortex/TheHive later must not be.
    required = set(re.findall(r"\$\{(\w+):\?", text))
    assert required == {"THEHIVE_SECRET", "CORTEX_SECRET", "SOCFLOW_BLOCKLIST_TOKEN"}


def test_named_volumes_are_declared(compose: dict[str, Any]) -> None:
    declared = set(compose["volumes"])
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith(("/", ".", "$")):
                assert source in declared, source


def test_blocklist_answers_at_the_block_responders_default_url(compose: dict[str, Any]) -> None:
    import json

    from deploy.jobs import flavor_paths

    aliases = {"blocklist", *compose["services"]["blocklist"]["networks"]["default"]["aliases"]}
    port = compose["services"]["blocklist"]["ports"][0].split(":")[-1]
    for path in flavor_paths():
        flavor = json.loads(path.read_text(encoding="utf-8"))
        if flavor["config"]["service"] in {"Block", "Unblock"}:
            url = next(i["defaultValue"] for i in flavor["configurationItems"] if i["name"] == "api_url")
            assert re.fullmatch(rf"http://({'|'.join(aliases)}):{port}", url), url
