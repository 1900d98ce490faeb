"""docker/k8s: Redis, the block-list service and the bridge workers, checked structurally
(no cluster here): every secret from a Secret, the workers on the shared Redis, uid 1001."""

from __future__ import annotations

from pathlib import Path

import yaml

from socflow.statestore import parse_state_url

K8S = Path(__file__).resolve().parents[2] / "docker" / "k8s"


def objects() -> dict[tuple[str, str], dict]:
    out = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            out[(doc["kind"], doc["metadata"]["name"])] = doc
    return out


def containers(obj: dict) -> list[dict]:
    return obj["spec"]["template"]["spec"]["containers"]


def test_the_manifests_are_there() -> None:
    assert set(objects()) == {("Service", "socflow-redis"), ("StatefulSet", "socflow-redis"),
                              ("Service", "socflow-blocklist"), ("StatefulSet", "socflow-blocklist"),
                              ("DaemonSet", "socflow-ingest"),
                              ("Service", "socflow-syslog"), ("StatefulSet", "socflow-syslog")}


def test_workers_share_the_redis_service_and_take_secrets_from_secrets() -> None:
    objs = objects()
    (ingest,) = containers(objs[("DaemonSet", "socflow-ingest")])
    env = {e["name"]: e for e in ingest["env"]}
    target = parse_state_url(env["SOCFLOW_STATE_URL"]["value"])
    service = objs[("Service", "socflow-redis")]
    assert target.host == service["metadata"]["name"] and target.port == service["spec"]["ports"][0]["port"]
    for obj in objs.values():
        if obj["kind"] == "Service":
            continue
        for container in containers(obj):
            for var in container.get("env", []):
                if any(word in var["name"] for word in ("PASSWORD", "KEY", "TOKEN")):
                    assert "secretKeyRef" in var.get("valueFrom", {}), var["name"]
    assert ingest["command"][:3] == ["socflow", "ingest", "--follow"]
    state = ingest["command"][ingest["command"].index("--state-dir") + 1]
    assert any(state.startswith(m["mountPath"]) for m in ingest["volumeMounts"])


def test_redis_keeps_what_it_acknowledged_and_never_evicts() -> None:
    (redis,) = containers(objects()[("StatefulSet", "socflow-redis")])
    command = " ".join(redis["args"])
    assert "--appendonly yes" in command and "--maxmemory-policy noeviction" in command
    assert "$REDIS_PASSWORD" in command


def test_socflow_pods_run_as_the_image_user() -> None:
    objs = objects()
    for name in (("StatefulSet", "socflow-blocklist"), ("DaemonSet", "socflow-ingest"),
                 ("StatefulSet", "socflow-syslog")):
        context = objs[name]["spec"]["template"]["spec"]["securityContext"]
        assert context["runAsUser"] == 1001 and context["runAsNonRoot"] is True


def test_syslog_receivers_listen_where_their_service_points() -> None:
    """The syslog StatefulSet's --listen URLs parse, and its Service forwards exactly those
    ports and protocols (UDP and TCP 5514, RELP 2514) to them; state on Redis and a volume."""
    from socflow.read.listen import parse_listen

    objs = objects()
    (syslog,) = containers(objs[("StatefulSet", "socflow-syslog")])
    command = syslog["command"]
    specs = [parse_listen(command[i + 1]) for i, word in enumerate(command) if word == "--listen"]
    want = {(s.port, "UDP" if s.scheme == "udp" else "TCP") for s in specs}
    service = objs[("Service", "socflow-syslog")]
    assert {(p["targetPort"], p["protocol"]) for p in service["spec"]["ports"]} == want
    assert {(p["containerPort"], p["protocol"]) for p in syslog["ports"]} == want
    assert {s.scheme for s in specs} == {"udp", "tcp", "relp"}
    env = {e["name"]: e for e in syslog["env"]}
    assert parse_state_url(env["SOCFLOW_STATE_URL"]["value"]).host == "socflow-redis"
    state = command[command.index("--state-dir") + 1]
    assert any(state.startswith(m["mountPath"]) for m in syslog["volumeMounts"])
