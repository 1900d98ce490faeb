"""The configured quota holds across parallel analyzer processes sharing one cache file."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fakes.cti import FakeVirusTotal

from .conftest import job


def test_eight_parallel_jobs_never_exceed_the_quota(cache: Path) -> None:
    with FakeVirusTotal(per_minute=4) as vt:
        ips = [f"11.0.1.{i}" for i in range(8)]
        for ip in ips:
            vt.set_object("ip_addresses", ip, malicious=1)  # type: ignore[attr-defined]

        def one(ip: str):
            return job("Socflow_VirusTotal_GetReport", vt, cache, ip, quota_per_minute=4, time_budget=3)

        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(one, ips))
        ok = [r for r in results if r.output["success"]]
        refused = [r.output["errorMessage"] for r in results if not r.output["success"]]
        assert vt.quota.refused == 0  # type: ignore[attr-defined]  # the service never had to say 429
        assert vt.count() == len(ok) == 4
        assert len(refused) == 4
        assert all(m.startswith("VirusTotal: quota exhausted, resets at ") for m in refused), refused
        assert all("4 calls per 60 s" in m for m in refused)


def test_quota_summary_is_in_the_report(vt: FakeVirusTotal, cache: Path) -> None:
    vt.set_object("ip_addresses", "11.0.0.1")
    result = job("Socflow_VirusTotal_GetReport", vt, cache, "11.0.0.1")
    usage = result.output["full"]["usage"]
    assert usage["calls"] == 1 and usage["cache_hits"] == 0
    minute = next(q for q in usage["quota"] if q["per_seconds"] == 60)
    assert minute == {"bucket": "api", "limit": 4, "per_seconds": 60.0, "per": "minute", "used": 1,
                      "remaining": 3}
    assert json.dumps(result.output)  # serialisable as Cortex needs
