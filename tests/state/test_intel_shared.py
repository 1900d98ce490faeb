"""Intel cache and quota ledger on both backends (one parametrised suite), and Cortex jobs that
share nothing but ``state_url``: one lookup per indicator, the quota held across all of them.

``state_url`` is ``sqlite:///…`` (one file every process of this host opens) or a real
redis-server on loopback (conftest). The analyzer jobs run as Cortex's docker runner starts them:
each a separate process in its own job folder, with its own HOME and state dir, so nothing but
the state URL is shared.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fakes.cti import FakeVirusTotal
from support.cortexjob import JobResult, assert_cortex_accepts, run_job
from support.redisserver import RedisServer, free_port

from socflow.enrich.base import Deadline
from socflow.enrich.enricher import Enricher
from socflow.enrich.settings import RateLimit, load_settings
from socflow.errors import QuotaError

WORKER = """
import sys, time, json
from socflow.enrich.enricher import Enricher
from socflow.enrich.settings import RateLimit, load_settings
from socflow.enrich.base import Deadline
from socflow.errors import QuotaError
url, start_at, tries, limits = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4])
limits = [RateLimit(limit=n, per_seconds=s) for n, s in limits]
e = Enricher(load_settings({"state_url": url}))
while time.time() < start_at:
    time.sleep(0.001)
got = 0
for _ in range(tries):
    try:
        e.ledger.acquire("Svc", "svc.k:api", limits, Deadline(0.0))
        got += 1
    except QuotaError:
        pass
e.close()
print(got)
"""


def admitted(url: str, processes: int, tries: int, limits: list[tuple[int, float]]) -> int:
    """Calls admitted by ``processes`` separate Python processes released at the same instant."""
    start_at = time.time() + 1.5  # every process imported and connected by then
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, url, repr(start_at), str(tries), json.dumps(limits)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(processes)
    ]
    total = 0
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        total += int(out.strip())
    return total


def test_per_minute_limit_holds_across_processes(state_url: str) -> None:
    assert admitted(state_url, 6, 5, [(3, 60.0), (500, 86400.0)]) == 3


def test_per_day_limit_holds_across_processes_together_with_the_minute(state_url: str) -> None:
    assert admitted(state_url, 6, 5, [(50, 60.0), (4, 86400.0)]) == 4


def test_quota_error_names_the_limit_and_reset(state_url: str) -> None:
    enricher = Enricher(load_settings({"state_url": state_url}))
    limits = [RateLimit(limit=1, per_seconds=60.0), RateLimit(limit=5, per_seconds=86400.0)]
    enricher.ledger.acquire("Svc", "b", limits, Deadline(0.0))
    with pytest.raises(QuotaError) as err:
        enricher.ledger.acquire("Svc", "b", limits, Deadline(0.0))
    assert str(err.value).startswith("Svc: quota exhausted, resets at ")
    assert "1 calls per 60 s" in str(err.value)
    assert err.value.resets_at is not None and 55 < err.value.resets_at - time.time() < 61
    assert enricher.ledger.used("b", 60.0) == 1
    enricher.close()


def test_a_block_from_the_service_is_shared(state_url: str) -> None:
    one = Enricher(load_settings({"state_url": state_url}))
    two = Enricher(load_settings({"state_url": state_url}))
    one.ledger.block("b", time.time() + 120, "Quota exceeded")
    assert two.ledger.blocked_until("b") > time.time() + 100
    with pytest.raises(QuotaError, match="the service said: Quota exceeded"):
        two.ledger.acquire("Svc", "b", [RateLimit(limit=10, per_seconds=60.0)], Deadline(1.0))
    one.close()
    two.close()


def test_cache_round_trip_and_ttl(state_url: str) -> None:
    enricher = Enricher(load_settings({"state_url": state_url}))
    cache = enricher.cache
    cache.put("VT https://a/api/v3", "ipv4", "1.2.3.4", {"found": True, "n": 1}, "safe", 60)
    cache.put("VT https://a/api/v3", "ipv4", "5.6.7.8", {"found": True}, "safe", 0.3)
    assert cache.get("VT https://a/api/v3", "ipv4", "1.2.3.4") == {"found": True, "n": 1}
    # the key holds the service URL and the settings that change an answer (kind + scope)
    assert cache.get("VT https://b/api/v3", "ipv4", "1.2.3.4") is None
    assert cache.get("VT https://a/api/v3", "ipv4+relationships", "1.2.3.4") is None
    time.sleep(0.5)
    assert cache.get("VT https://a/api/v3", "ipv4", "5.6.7.8") is None
    enricher.close()


def test_redis_quota_script_is_idempotent_when_redis_py_resends_it(redis_server: RedisServer) -> None:
    """redis-py re-sends a command whose reply was lost: the same call id is recorded once."""
    from socflow.statestore import _TAKE, connect, parse_state_url, quota_keys

    target = parse_state_url(redis_server.url)
    client = connect(target, None)
    script = client.register_script(_TAKE)
    args = ["call-1", 0.25, 2, 60.0]
    for _ in range(3):  # the original and two "retries"
        wait, _why, _now = script(keys=list(quota_keys("b")), args=args)
        assert float(wait) == 0
    assert client.zcard(quota_keys("b")[0]) == 1
    assert 0 < client.pttl(quota_keys("b")[0]) <= 61_250  # window + guard + 1 s: never outlives it


# ------------------------------------------------------------------ Cortex jobs sharing only Redis
def shared_job(vt: FakeVirusTotal, tmp_path: Path, n: int, value: str, url: str,
               password: str | None = None, **config: Any) -> JobResult:
    """One job as the docker runner starts it: its own job folder, HOME and state dir."""
    home = tmp_path / f"home-{n}"
    home.mkdir()
    cfg: dict[str, Any] = {"key": vt.key, "api_url": vt.url, "allow_private_targets": True,
                           "state_url": url, "quota_per_minute": 4, "time_budget": 4, **config}
    if password:
        cfg["state_password"] = password
    env = {"HOME": str(home), "SOCFLOW_STATE_DIR": str(home / "state"), "XDG_STATE_HOME": str(home)}
    env.pop("SOCFLOW_STATE_URL", None)
    result = run_job("Socflow_VirusTotal_GetReport", data=value, data_type="ip", config=cfg, env=env,
                     base_dir=tmp_path, timeout=60)
    assert result.output_written, result.stdout + result.stderr
    assert_cortex_accepts(result.output)
    assert "Traceback" not in result.stdout + result.stderr
    return result


def test_jobs_sharing_only_state_url_spend_one_lookup_per_indicator(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    with FakeVirusTotal(per_minute=4) as vt:
        ips = ["11.9.0.1", "11.9.0.2"]
        for ip in ips:
            vt.set_object("ip_addresses", ip, malicious=4)  # type: ignore[attr-defined]
        jobs = [(n, ips[n % 2]) for n in range(8)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(lambda j: shared_job(vt, tmp_path, j[0], j[1], redis_server.url), jobs))
        assert all(r.output["success"] for r in results), [r.output for r in results]
        assert vt.count("/ip_addresses/") == 2  # one lookup per indicator across all eight jobs
        assert sum(1 for r in results if r.output["full"]["from_cache"]) == 6
        assert {r.output["full"]["level"] for r in results} == {"malicious"}
        # nothing was shared through the file system: every job's own state dir has no cache
        assert not list(tmp_path.glob("home-*/state/*.sqlite"))


def test_jobs_sharing_only_state_url_hold_the_quota(redis_server: RedisServer, tmp_path: Path) -> None:
    with FakeVirusTotal(per_minute=4) as vt:
        ips = [f"11.8.0.{i}" for i in range(7)]
        for ip in ips:
            vt.set_object("ip_addresses", ip)  # type: ignore[attr-defined]
        with ThreadPoolExecutor(max_workers=7) as pool:
            results = list(pool.map(lambda j: shared_job(vt, tmp_path, j[0], j[1], redis_server.url,
                                                           time_budget=2), enumerate(ips)))
        ok = [r for r in results if r.output["success"]]
        refused = [r.output["errorMessage"] for r in results if not r.output["success"]]
        assert vt.quota.refused == 0  # type: ignore[attr-defined]  # never a 429 from the service
        assert vt.count("/ip_addresses/") == len(ok) == 4
        assert len(refused) == 3 and all("4 calls per 60 s" in m for m in refused), refused


def test_without_shared_state_each_container_spends_its_own_quota(tmp_path: Path) -> None:
    """The problem the issue describes, as a contrast: per-job SQLite state shares nothing."""
    with FakeVirusTotal(per_minute=100) as vt:
        vt.set_object("ip_addresses", "11.7.0.1")  # type: ignore[attr-defined]
        for n in range(3):
            result = shared_job(vt, tmp_path, n, "11.7.0.1", f"sqlite://{tmp_path}/home-{n}/state/c.sqlite")
            assert result.output["success"] and not result.output["full"]["from_cache"]
        assert vt.count("/ip_addresses/") == 3


def test_tls_and_password_work_and_the_password_is_never_shown(
    redis_tls: RedisServer, tmp_path: Path
) -> None:
    assert redis_tls.password
    with FakeVirusTotal() as vt:
        vt.set_object("ip_addresses", "11.6.0.1")  # type: ignore[attr-defined]
        first = shared_job(vt, tmp_path, 0, "11.6.0.1", redis_tls.url, redis_tls.password)
        second = shared_job(vt, tmp_path, 1, "11.6.0.1", redis_tls.url, redis_tls.password)
        assert first.output["success"] and second.output["success"], first.output
        assert second.output["full"]["from_cache"] and vt.count("/ip_addresses/") == 1
        wrong = shared_job(vt, tmp_path, 2, "11.6.0.2", redis_tls.url, "wrong-password-0")
        assert not wrong.output["success"]
        assert "authentication failed" in wrong.output["errorMessage"]
        for result in (first, second, wrong):
            text = json.dumps(result.output) + result.stdout + result.stderr
            assert redis_tls.password not in text and "wrong-password-0" not in text
            assert result.output.get("input", {}).get("config", {}).get("state_password") in (None, "REMOVED")


def test_password_in_the_url_fails_the_job_without_showing_it(tmp_path: Path) -> None:
    with FakeVirusTotal() as vt:
        result = shared_job(vt, tmp_path, 0, "11.5.0.1", "redis://:pw-in-url-5521@127.0.0.1:6379/0")
        assert not result.output["success"]
        assert "must not carry a password" in result.output["errorMessage"]
        assert vt.count() == 0
        assert "pw-in-url-5521" not in json.dumps(result.output) + result.stdout + result.stderr


def test_redis_down_fails_the_job_fast_with_one_line(tmp_path: Path) -> None:
    with FakeVirusTotal() as vt:
        started = time.monotonic()
        result = shared_job(vt, tmp_path, 0, "11.4.0.1", f"redis://127.0.0.1:{free_port()}/0")
        assert time.monotonic() - started < 10
        message = result.output["errorMessage"]
        assert not result.output["success"] and "\n" not in message
        assert message.startswith("state backend redis://127.0.0.1:") and "is unreachable" in message
        assert vt.count() == 0  # no call without the shared quota


def test_state_url_from_the_environment(redis_server: RedisServer, tmp_path: Path) -> None:
    """An image can set SOCFLOW_STATE_URL for every job (the flavor item left empty)."""
    with FakeVirusTotal() as vt:
        vt.set_object("ip_addresses", "11.3.0.1")  # type: ignore[attr-defined]
        for n in range(2):
            home = tmp_path / f"env-home-{n}"
            home.mkdir()
            result = run_job("Socflow_VirusTotal_GetReport", data="11.3.0.1", data_type="ip",
                             config={"key": vt.key, "api_url": vt.url, "allow_private_targets": True},
                             env={"HOME": str(home), "SOCFLOW_STATE_DIR": str(home / "s"),
                                  "SOCFLOW_STATE_URL": redis_server.url}, base_dir=tmp_path)
            assert result.output["success"], result.output
        assert vt.count("/ip_addresses/") == 1
        assert not (tmp_path / "env-home-0" / "s").exists()  # no per-job SQLite state was made


def test_state_fallback_runs_without_cache_on_a_quarter_of_the_quota() -> None:
    from socflow.enrich.enricher import ConservativeLedger

    down = f"redis://127.0.0.1:{free_port()}/0"
    enricher = Enricher(load_settings({"state_url": down, "state_fallback": True}))
    assert isinstance(enricher.ledger, ConservativeLedger)
    assert enricher.state_fallback and "is unreachable" in enricher.state_fallback
    limits = [RateLimit(limit=4, per_seconds=60.0), RateLimit(limit=500, per_seconds=86400.0)]
    enricher.ledger.acquire("Svc", "b", limits, Deadline(0.0))
    with pytest.raises(QuotaError, match="1 calls per 60 s"):  # 4 per minute counts as 1 here
        enricher.ledger.acquire("Svc", "b", limits, Deadline(0.0))
    enricher.close()


def test_state_fallback_job_reports_it_and_a_reachable_redis_is_used(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    with FakeVirusTotal() as vt:
        vt.set_object("ip_addresses", "11.2.0.1")  # type: ignore[attr-defined]
        down = shared_job(vt, tmp_path, 0, "11.2.0.1", f"redis://127.0.0.1:{free_port()}/0",
                          state_fallback=True)
        assert down.output["success"], down.output
        assert "is unreachable" in down.output["full"]["state_fallback"]
        up = shared_job(vt, tmp_path, 1, "11.2.0.1", redis_server.url, state_fallback=True)
        assert up.output["success"] and "state_fallback" not in up.output["full"]
        assert vt.count("/ip_addresses/") == 2  # the fallback job shared nothing


@pytest.mark.parametrize(("config", "words"), [
    ({"state_url": 6379}, "state_url must be a string"),
    ({"state_password": 12345}, "state_password must be a string"),
    ({"state_fallback": "sometimes"}, "state_fallback"),
])
def test_wrong_state_items_fail_the_job_in_one_line(tmp_path: Path, config: dict, words: str) -> None:
    """The flavors' state_url, state_password and state_fallback items given a wrong type."""
    with FakeVirusTotal() as vt:
        url = config.pop("state_url", f"redis://127.0.0.1:{free_port()}/0")
        result = shared_job(vt, tmp_path, 0, "11.6.0.1", url, **config)
        message = result.output["errorMessage"]
        assert not result.output["success"] and words in message and "\n" not in message
        assert vt.count() == 0
        # a password given as a number is a secret too: never echoed with the job's input
        assert "12345" not in json.dumps(result.output) + result.stdout + result.stderr


def test_state_password_item_then_environment_then_absent(redis_auth: RedisServer, tmp_path: Path) -> None:
    """docs/deploy.md §9: the state_password item, else $SOCFLOW_STATE_PASSWORD; the item wins
    over the environment; with neither the job fails naming the authentication, showing nothing."""
    assert redis_auth.password
    with FakeVirusTotal() as vt:
        vt.set_object("ip_addresses", "11.7.0.1")  # type: ignore[attr-defined]

        def job(n: int, env: dict[str, str], **config: Any) -> JobResult:
            home = tmp_path / f"pw-home-{n}"
            home.mkdir()
            return run_job("Socflow_VirusTotal_GetReport", data="11.7.0.1", data_type="ip",
                           config={"key": vt.key, "api_url": vt.url, "allow_private_targets": True,
                                   "state_url": redis_auth.url, **config},
                           env={"HOME": str(home), "SOCFLOW_STATE_DIR": str(home / "s"), **env},
                           base_dir=tmp_path, timeout=60)

        from_env = job(0, {"SOCFLOW_STATE_PASSWORD": redis_auth.password})
        item_wins = job(1, {"SOCFLOW_STATE_PASSWORD": "env-wrong-7781"}, state_password=redis_auth.password)
        absent = job(2, {})
    assert from_env.output["success"] and item_wins.output["success"], (from_env.output, item_wins.output)
    assert item_wins.output["full"]["from_cache"] is True  # the same Redis the first job filled
    assert not absent.output["success"] and "authentication failed" in absent.output["errorMessage"]
    for result in (from_env, item_wins, absent):
        text = json.dumps(result.output) + result.stdout + result.stderr
        assert redis_auth.password not in text and "env-wrong-7781" not in text
