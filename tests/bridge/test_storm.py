"""An alert storm is capped: past ``max_alerts_per_rule`` alerts of a rule in a run, detections are
folded into one summary alert per rule and window that says how many it holds (issue 11, item 8)."""

from __future__ import annotations

import json

from bridge.test_cli import env, run  # noqa: F401 - the fixture is used by name
from socflow.adapters.thehive import bridge
from socflow.adapters.thehive.config import BridgeConfig
from socflow.emit.storm import TAG_STORM

ATTACKERS = 40


def _log(tmp_path):
    # 40 scanners, each one SQL injection request, in two hours (two windows of web-sqli)
    lines = [
        f'91.20.{i}.9 - - [10/Mar/2026:0{i % 2}:{i:02d}:00 +0000] "GET /?id=1%27%20OR%201=1-- HTTP/1.1" '
        f'200 5 "-" "x"'
        for i in range(ATTACKERS)
    ]
    path = tmp_path / "access.log"
    path.write_text("\n".join(lines) + "\n")
    return path


def _ingest(config, path):
    got = []
    with bridge.open_outbox(config, memory=True) as outbox:
        ingestor = bridge.build_ingestor(config, outbox, on_alert=lambda a, new: got.append(a))
        report = ingestor.run_files([str(path)])
    return got, report


def test_storm_is_folded_counted_and_nothing_is_lost(tmp_path):
    path = _log(tmp_path)
    config = BridgeConfig(max_alerts_per_rule=5)
    alerts, report = _ingest(config, path)
    single = [a for a in alerts if TAG_STORM not in a["tags"]]
    summaries = [a for a in alerts if TAG_STORM in a["tags"]]
    assert len(single) == 5 and len(summaries) == 2  # one per window
    assert report.folded_by_rule == {"web-sqli": ATTACKERS - 5}
    folded = sum(int(a["title"].split(": ")[1].split(" ")[0]) for a in summaries)
    assert folded == ATTACKERS - 5
    ips = {o["data"] for a in alerts for o in a["observables"] if o["dataType"] == "ip"}
    assert ips == {f"91.20.{i}.9" for i in range(ATTACKERS)}  # every client is in some alert
    assert all("more than 5 alerts of this rule" in a["title"] for a in summaries)
    assert all(len(a["sourceRef"]) <= 128 for a in alerts)
    again, _ = _ingest(config, path)  # the same input gives the same references (exactly once)
    assert [a["sourceRef"] for a in again] == [a["sourceRef"] for a in alerts]


def test_no_cap_and_a_cap_not_reached_change_nothing(tmp_path):
    path = _log(tmp_path)
    uncapped, report = _ingest(BridgeConfig(max_alerts_per_rule=None), path)
    assert len(uncapped) == ATTACKERS and not report.folded_by_rule
    default, _ = _ingest(BridgeConfig(), path)
    assert default == uncapped


def test_storm_cap_from_the_config_file_through_the_command(env, tmp_path):  # noqa: F811
    path = _log(tmp_path)
    cfg = tmp_path / "cfg.yml"
    cfg.write_text("max_alerts_per_rule: 3\n")
    out = run("ingest", "--json", "--config", str(cfg), str(path), env=env)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["folded_by_rule"] == {"web-sqli": ATTACKERS - 3}
    assert summary["alerts_by_rule"] == {"web-sqli": 3 + 2}
    table = run("ingest", "--no-progress", "--config", str(cfg), str(path),
                env=dict(env, SOCFLOW_STATE_DIR=str(tmp_path / "other"), COLUMNS="200"))
    assert "storm" in table.stdout and str(ATTACKERS - 3) in table.stdout


def test_a_detection_alone_in_its_window_is_never_folded(tmp_path):
    # one SQL injection an hour: past the cap each window still holds a single detection
    lines = [
        f'91.20.{i}.9 - - [{10 + i // 24:02d}/Mar/2026:{i % 24:02d}:00:00 +0000] "GET /?id=1%27%20OR%201=1-- '
        f'HTTP/1.1" 200 5 "-" "x"'
        for i in range(30)
    ]
    path = tmp_path / "access.log"
    path.write_text("\n".join(lines) + "\n")
    alerts, report = _ingest(BridgeConfig(max_alerts_per_rule=3), path)
    assert len(alerts) == 30 and not report.folded_by_rule
    assert not any(TAG_STORM in a["tags"] for a in alerts)
