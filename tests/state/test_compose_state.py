"""The compose stack runs Redis for shared state and the bridge uses it (docs/deploy.md §9)."""

from __future__ import annotations

from pathlib import Path

import yaml

from socflow.statestore import parse_state_url

COMPOSE = Path(__file__).resolve().parents[2] / "docker" / "compose.yml"


def test_compose_has_a_private_persistent_redis_that_the_bridge_uses() -> None:
    services = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]
    redis = services["redis"]
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"  # a restart loses nothing acked
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"  # never drop quota keys
    assert "ports" not in redis  # reachable on the stack's network only
    assert any(v.endswith(":/data") for v in redis["volumes"])
    ingest = services["ingest"]
    target = parse_state_url(ingest["environment"]["SOCFLOW_STATE_URL"])
    assert target.kind == "redis" and target.host == "redis" and target.port == 6379
    assert ingest["depends_on"]["redis"] == {"condition": "service_healthy"}
