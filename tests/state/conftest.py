"""Real redis-server instances for the state tests, and the two backends as one parameter."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.redisserver import RedisServer

if shutil.which("redis-server") is None:  # make test installs it (tests/system-packages.txt)
    pytest.fail("redis-server is missing: apt-get install redis-server (make system-deps)", pytrace=False)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    with RedisServer(tmp_path / "redis") as server:
        yield server


@pytest.fixture
def redis_aof(tmp_path: Path) -> Iterator[RedisServer]:
    with RedisServer(tmp_path / "redis-aof", appendonly=True) as server:
        yield server


@pytest.fixture
def redis_auth(tmp_path: Path) -> Iterator[RedisServer]:
    with RedisServer(tmp_path / "redis-auth", password="s3cret-state-pw-4471", acl_user="socflow") as server:
        yield server


@pytest.fixture
def redis_tls(tmp_path: Path) -> Iterator[RedisServer]:
    with RedisServer(tmp_path / "redis-tls", tls=True, password="tls-state-pw-9025") as server:
        yield server


@pytest.fixture(params=["sqlite", "redis"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The same suite on both backends: a SQLite file all processes of this host share, or Redis."""
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path / 'shared' / 'state.sqlite'}"
        return
    with RedisServer(tmp_path / "redis") as server:
        yield server.url
