"""``socflow enrich --state-url`` / ``SOCFLOW_STATE_URL`` as a user runs it, on both backends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fakes.cti import FakeVirusTotal
from support.redisserver import RedisServer

SOCFLOW = str(Path(sys.executable).parent / "socflow")


def enrich(vt: FakeVirusTotal, home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("SOCFLOW_")}
    run_env.update(SOCFLOW_VT_KEY=vt.key, HOME=str(home), SOCFLOW_STATE_DIR=str(home / "state"), **(env or {}))
    return subprocess.run([SOCFLOW, "enrich", "--vt-url", vt.url, "--allow-private-targets", "--json", *args],
                          env=run_env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                          check=False)


def test_two_hosts_share_the_cache_through_state_url(state_url: str, tmp_path: Path) -> None:
    with FakeVirusTotal() as vt:
        vt.set_object("ip_addresses", "45.1.0.1", malicious=5)  # type: ignore[attr-defined]
        first = enrich(vt, tmp_path / "host-a", "45.1.0.1", "--state-url", state_url)
        second = enrich(vt, tmp_path / "host-b", "45.1.0.1", env={"SOCFLOW_STATE_URL": state_url})
        assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
        verdict = json.loads(second.stdout)["results"][0]["verdicts"][0]
        assert verdict["from_cache"] is True and vt.count("/ip_addresses/") == 1


def test_password_comes_from_the_environment_only_and_never_shows(redis_auth: RedisServer, tmp_path: Path) -> None:
    assert redis_auth.password
    with FakeVirusTotal() as vt:
        vt.set_object("ip_addresses", "45.1.0.2")  # type: ignore[attr-defined]
        ok = enrich(vt, tmp_path / "a", "45.1.0.2", "--state-url", redis_auth.url,
                    env={"SOCFLOW_STATE_PASSWORD": redis_auth.password})
        assert ok.returncode == 0, ok.stderr
        bad = enrich(vt, tmp_path / "b", "45.1.0.3", "--state-url", redis_auth.url,
                     env={"SOCFLOW_STATE_PASSWORD": "nope-nope-1"})
        assert bad.returncode != 0 and "authentication failed" in bad.stdout + bad.stderr
        inline = enrich(vt, tmp_path / "c", "45.1.0.3",
                        "--state-url", f"redis://socflow:{redis_auth.password}@127.0.0.1:{redis_auth.port}/0")
        assert inline.returncode != 0 and "must not carry a password" in inline.stderr
        for run in (ok, bad, inline):
            assert redis_auth.password not in run.stdout + run.stderr
            assert "nope-nope-1" not in run.stdout + run.stderr and "Traceback" not in run.stderr


def test_no_cache_ignores_the_state_url_and_a_wrong_or_unreachable_one_is_one_line(tmp_path: Path) -> None:
    from support.redisserver import free_port

    down = f"redis://127.0.0.1:{free_port()}/0"
    with FakeVirusTotal() as vt:
        vt.set_object("ip_addresses", "45.1.0.4", malicious=2)  # type: ignore[attr-defined]
        nocache = enrich(vt, tmp_path / "a", "45.1.0.4", "--no-cache", "--state-url", down)
        assert nocache.returncode == 0, nocache.stderr
        assert json.loads(nocache.stdout)["results"][0]["verdicts"][0]["from_cache"] is False
        wrong = enrich(vt, tmp_path / "b", "45.1.0.4", "--state-url", "memcached://x")
        unreachable = enrich(vt, tmp_path / "c", "45.1.0.4", env={"SOCFLOW_STATE_URL": down})
    assert wrong.returncode == 1 and "unknown scheme 'memcached'" in wrong.stderr
    assert unreachable.returncode == 1 and f"state backend {down} is unreachable" in unreachable.stderr
    for run in (wrong, unreachable):
        assert len(run.stderr.strip().splitlines()) == 1 and "Traceback" not in run.stderr
