"""The playbook ``export`` step to MISP, resumed after a crash between the push and the journal's
commit: the engine with the real services (thehive4py against the TheHive emulator, PyMISP
against the MISP fake) and a real SQLite journal. The resumed step pushes again; MISP already
holds the case's event (its UUID comes from the TheHive and the case id), so it is updated, not
added a second time."""

from __future__ import annotations

from typing import Any

import pytest
from fakes.misp import FakeMisp
from fakes.thehive import FakeTheHive

from socflow.adapters.playbook.services import MispSettings, TheHiveCortex
from socflow.adapters.thehive.sender import TheHiveSettings
from socflow.markdown import escape
from socflow.playbook.engine import Engine, run_id_for
from socflow.playbook.journal import SqliteJournal
from socflow.playbook.model import load_playbook

PLAYBOOK = """
name: share-case
trigger: {event: case}
steps:
  - {id: share, kind: export, format: misp, ioc_only: false}
  - {id: note, kind: record, task: Reporting}
"""


class CrashAfterPush(TheHiveCortex):
    """The process "dies" once the first push landed, before the engine journals its outcome."""

    crashes = 1

    def export(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        out = super().export(*args, **kwargs)
        if self.crashes:
            self.crashes -= 1
            raise KeyboardInterrupt("killed after the push")
        return out


def test_a_resumed_export_step_updates_the_event_it_pushed_before_the_crash(tmp_path, monkeypatch):
    with FakeTheHive() as hive, FakeMisp() as misp:
        monkeypatch.setenv("SOCFLOW_MISP_KEY", misp.api_key)
        services = CrashAfterPush(TheHiveSettings(url=hive.url, api_key=hive.api_key), None,
                                  MispSettings(url=misp.url, allow_private=True))
        case = services.hive.case.create({"title": "SSH brute force", "description": "d"})
        services.hive.case.create_observable(case["_id"], {"dataType": "ip", "data": "193.32.162.157"})
        journal = SqliteJournal(tmp_path / "playbooks.sqlite")
        try:
            playbook = load_playbook(PLAYBOOK, "share.yml")
            with pytest.raises(KeyboardInterrupt):
                Engine(playbook, services, journal, sleep=lambda s: None).run("case", case["_id"])
            (first,) = misp.events.values()
            run_id = run_id_for("share-case", "case", case["_id"])
            journal.finish_run(run_id, "failed", "killed")  # what the dead process leaves: not done
            result = Engine(playbook, services, journal, sleep=lambda s: None).run("case", case["_id"])
            assert result.status == "done"
            (step,) = [s for s in journal.steps(run_id) if s.key == "share/export"]
            log = next(iter(hive.orgs[hive.org].logs.values()))["message"]
        finally:
            journal.close()
        assert len(misp.events) == 1 and [a["value"] for a in first["Attribute"]] == ["193.32.162.157"]
        assert step.status == "done" and step.outcome["misp_event"] == first["id"]
        assert step.outcome["updated"] is True and step.outcome["idempotent"] is True
        assert escape(f"{misp.url}/events/view/{first['id']} (updated)") in log  # the task log says so
        edits = [p for m, p, _, _ in misp.requests if m == "POST" and p.startswith("/events/")]
        assert edits == ["/events/add", f"/events/edit/{first['uuid']}"]
