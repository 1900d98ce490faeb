from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from blocklist.service import Service, start_service

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PARAMETERS = {"organisation": "soc", "user": "analyst@soc.example-corp.com"}


def fixture(name: str) -> dict[str, Any]:
    """A TheHive 5 object as TheHive sends it to a responder (fresh copy each time)."""
    return copy.deepcopy(json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8")))


@pytest.fixture
def blocklist_service(tmp_path: Path) -> Iterator[Service]:
    svc = start_service(tmp_path / "bl.sqlite3", "--allow", "good.example-corp.com")
    yield svc
    svc.stop()
