"""``state_url``: what each spelling means, what is refused, and that no password is ever shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from socflow.errors import AuthError, ConfigError, UnavailableError
from socflow.statestore import connect, parse_state_url, resolve, translate


def test_sqlite_url_gives_the_file() -> None:
    target = parse_state_url("sqlite:////var/lib/socflow/state.sqlite")
    assert target.kind == "sqlite" and target.path == Path("/var/lib/socflow/state.sqlite")
    assert not target.shared


def test_sqlite_url_expands_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert parse_state_url("sqlite:///~/s.sqlite").path == tmp_path / "s.sqlite"


def test_redis_url_parts() -> None:
    target = parse_state_url("redis://socflow@redis.internal:6380/3")
    assert (target.kind, target.host, target.port, target.db, target.username, target.tls) == (
        "redis", "redis.internal", 6380, 3, "socflow", False)
    assert target.shared
    assert target.url == "redis://socflow@redis.internal:6380/3"


def test_rediss_is_tls_and_keeps_its_ca_option() -> None:
    target = parse_state_url("rediss://r:6379/0?ssl_ca_certs=/etc/ca.pem")
    assert target.tls and dict(target.options) == {"ssl_ca_certs": "/etc/ca.pem"}


@pytest.mark.parametrize("url", ["redis://:hunter2-pw@r:6379/0", "rediss://user:hunter2-pw@r/0"])
def test_a_password_inside_the_url_is_refused_without_echoing_it(url: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_state_url(url)
    assert "hunter2-pw" not in str(err.value)
    assert "SOCFLOW_STATE_PASSWORD" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(("url", "words"), [
    ("memcached://x", "unknown scheme"),
    ("sqlite://relative.sqlite", "sqlite:///path"),
    ("redis:///0", "no host"),
    ("redis://r/abc", "integer"),
    ("redis://r/0?evil=1", "unknown option"),
    ("redis://r/0?ssl_ca_certs=/x", "rediss://"),
    ("redis://r:99999/0", "not a valid"),
])
def test_wrong_urls_get_one_line_naming_the_problem(url: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words) as err:
        parse_state_url(url)
    assert "\n" not in str(err.value)


def test_resolve_order_flag_then_env_then_default(tmp_path: Path) -> None:
    env = {"SOCFLOW_STATE_URL": "redis://envhost:6379/0", "SOCFLOW_STATE_PASSWORD": "envpw1"}
    target, pw = resolve("redis://flaghost/1", "flagpw", environ=env)
    assert target is not None and target.host == "flaghost" and pw == "flagpw"
    target, pw = resolve(None, None, environ=env)
    assert target is not None and target.host == "envhost" and pw == "envpw1"
    target, pw = resolve(None, None, default_path=tmp_path / "x.sqlite", environ={})
    assert target is not None and target.kind == "sqlite" and target.path == tmp_path / "x.sqlite"
    assert resolve(None, None, environ={}) == (None, None)


def test_unreachable_redis_is_a_quick_clear_error(tmp_path: Path) -> None:
    from support.redisserver import free_port

    target = parse_state_url(f"redis://127.0.0.1:{free_port()}/0")
    client = connect(target, "a-password-9931")
    with pytest.raises(Exception) as err:
        client.ping()
    problem = translate(target, err.value)
    assert isinstance(problem, UnavailableError)
    assert str(problem).startswith(f"state backend {target.url} is unreachable")
    assert "a-password-9931" not in str(problem)


def test_wrong_password_is_an_auth_error(redis_auth) -> None:  # type: ignore[no-untyped-def]
    target = parse_state_url(redis_auth.url)
    with pytest.raises(Exception) as err:
        connect(target, "not-the-password-77").ping()
    problem = translate(target, err.value)
    assert isinstance(problem, AuthError) and "authentication failed" in str(problem)
    assert "not-the-password-77" not in str(problem) and redis_auth.password not in str(problem)
    assert connect(target, redis_auth.password).ping() is True


def test_socket_timeout_bounds_each_command_and_defaults_to_five_seconds() -> None:
    """A server that accepts the connection and never answers: ``?socket_timeout=0.3`` turns
    that into a clear error within about a second (the retries included); absent, it is 5 s."""
    import socket
    import time

    default = connect(parse_state_url("redis://127.0.0.1:6379/0"), None)
    assert default.connection_pool.connection_kwargs["socket_timeout"] == 5.0
    with socket.socket() as mute:
        mute.bind(("127.0.0.1", 0))
        mute.listen(8)  # the kernel completes the handshake; nobody ever reads or answers
        target = parse_state_url(f"redis://127.0.0.1:{mute.getsockname()[1]}/0?socket_timeout=0.3")
        start = time.monotonic()
        with pytest.raises(Exception) as err:
            connect(target, "a-password-4410").ping()
        elapsed = time.monotonic() - start
    problem = translate(target, err.value)
    assert isinstance(problem, UnavailableError) and str(problem).startswith(f"state backend {target.url}")
    assert 0.3 <= elapsed < 3.0 and "a-password-4410" not in str(problem)
    with pytest.raises(ConfigError, match="socket_timeout must be a number"):
        connect(parse_state_url("redis://127.0.0.1:6379/0?socket_timeout=soon"), None)


def test_client_certificate_options_reach_a_redis_that_demands_one(tmp_path: Path) -> None:
    """``ssl_certfile``/``ssl_keyfile`` (docs/deploy.md §9): with them a Redis that requires a
    client certificate answers; without them the refusal is a one-line error naming the URL."""
    from support.redisserver import RedisServer, make_client_cert

    with RedisServer(tmp_path / "redis", tls=True, client_certs=True) as server:
        cert, key = make_client_cert(tmp_path / "redis" / "tls")
        bare = parse_state_url(server.url)
        with pytest.raises(Exception) as err:
            connect(bare, None).ping()
        problem = translate(bare, err.value)
        assert isinstance(problem, UnavailableError) and str(problem).startswith(f"state backend {bare.url}")
        assert "\n" not in str(problem)
        target = parse_state_url(f"{server.url}&ssl_certfile={cert}&ssl_keyfile={key}")
        assert dict(target.options)["ssl_certfile"] == str(cert)
        assert connect(target, None).ping() is True
