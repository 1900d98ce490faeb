from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .service import Service, start_service

ALLOW = ("--allow", "8.8.8.8", "--allow", "good.example-corp.com")


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    svc = start_service(tmp_path / "bl.sqlite3", *ALLOW)
    yield svc
    svc.stop()


@pytest.fixture(scope="module")
def readonly_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One process for tests that must leave the store empty (auth failures, refusals)."""
    svc = start_service(tmp_path_factory.mktemp("bl") / "bl.sqlite3", *ALLOW)
    yield svc
    svc.stop()
