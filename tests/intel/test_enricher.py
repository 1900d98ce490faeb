"""The public interface the bridge uses, in-process: build_enricher(EnrichConfig).verdicts(...)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes.cti import FakeAbuseIPDB, FakeOTX, FakeVirusTotal

from socflow.enrich import (
    AbuseIPDBSettings,
    EnrichConfig,
    OTXSettings,
    VirusTotalSettings,
    build_enricher,
)
from socflow.errors import InputError, QuotaError, UnavailableError
from socflow.models import IocType, Level


def config(vt: FakeVirusTotal, abuse: FakeAbuseIPDB, otx: FakeOTX, cache: Path | None, **kw: object) -> EnrichConfig:
    return EnrichConfig(
        virustotal=VirusTotalSettings(api_key=vt.key, api_url=vt.url),
        abuseipdb=AbuseIPDBSettings(api_key=abuse.key, api_url=abuse.url),
        otx=OTXSettings(api_key=otx.key, api_url=otx.url),
        cache_path=cache, allow_private_targets=True, **kw,
    )


def test_verdicts_from_every_provider_then_from_the_cache(vt: FakeVirusTotal, abuse: FakeAbuseIPDB,
                                                         otx: FakeOTX, cache: Path) -> None:
    vt.set_object("ip_addresses", "45.0.0.1", malicious=5)
    abuse.set_ip("45.0.0.1", 30)
    otx.set("45.0.0.1", 0)
    with build_enricher(config(vt, abuse, otx, cache)) as enricher:
        first = enricher.verdicts(IocType.IPV4, "45.0.0.1")
        assert [(v.service, v.level) for v in first] == [
            ("VirusTotal", Level.MALICIOUS), ("AbuseIPDB", Level.SUSPICIOUS), ("OTX", Level.SAFE)]
        assert not any(v.from_cache for v in first)
    with build_enricher(config(vt, abuse, otx, cache)) as enricher:  # a new process would do this
        again = enricher.verdicts(IocType.IPV4, "45.0.0.1")
        assert all(v.from_cache for v in again)
        usage = enricher.usage()
    assert [v.level for v in again] == [v.level for v in first]
    assert usage["virustotal"]["calls"] == 0 and usage["virustotal"]["cache_hits"] == 1
    assert vt.count() == abuse.count() == otx.count() == 1


def test_only_providers_that_support_the_type_are_asked(vt: FakeVirusTotal, abuse: FakeAbuseIPDB,
                                                        otx: FakeOTX) -> None:
    with build_enricher(config(vt, abuse, otx, None)) as enricher:
        services = [v.service for v in enricher.verdicts(IocType.SHA256, "a" * 64)]
        assert services == ["VirusTotal", "OTX"]
        with pytest.raises(InputError, match="AbuseIPDB cannot look up domain"):
            enricher.lookup("abuseipdb", IocType.DOMAIN, "example.com")
        with pytest.raises(InputError, match="not a valid ipv4"):
            enricher.lookup("virustotal", IocType.IPV4, "300.1.1.1")


def test_try_verdicts_keeps_the_others_when_one_fails(vt: FakeVirusTotal, abuse: FakeAbuseIPDB,
                                                      otx: FakeOTX) -> None:
    abuse.set_ip("45.0.0.1", 90)
    vt.inject("html", times=None, status=503)
    with build_enricher(config(vt, abuse, otx, None, budget_seconds=5)) as enricher:
        results = enricher.try_verdicts(IocType.IPV4, "45.0.0.1")
        with pytest.raises(UnavailableError):
            enricher.verdicts(IocType.IPV4, "45.0.0.1")
    assert isinstance(results[0], UnavailableError)
    assert results[1].level is Level.MALICIOUS  # type: ignore[union-attr]


def test_quota_error_carries_the_reset_time(vt: FakeVirusTotal, abuse: FakeAbuseIPDB, otx: FakeOTX) -> None:
    vt.inject("status", status=429, headers={"Retry-After": "600"}, body={"error": {"code": "QuotaExceededError"}})
    with build_enricher(config(vt, abuse, otx, None, budget_seconds=5)) as enricher, \
            pytest.raises(QuotaError) as err:
        enricher.lookup("virustotal", IocType.IPV4, "45.0.0.1")
    assert err.value.resets_at is not None and err.value.service == "VirusTotal"


def test_a_locked_cache_file_is_a_clean_unavailable_error(vt: FakeVirusTotal, abuse: FakeAbuseIPDB,
                                                          otx: FakeOTX, cache: Path) -> None:
    import sqlite3

    vt.set_object("ip_addresses", "45.0.0.1", malicious=1)
    with build_enricher(config(vt, abuse, otx, cache, budget_seconds=1)) as enricher:
        holder = sqlite3.connect(cache, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")  # another process stuck inside a write
        try:
            with pytest.raises(UnavailableError, match="shared (cache|quota) file is unusable"):
                enricher.lookup("virustotal", IocType.IPV4, "45.0.0.1")
        finally:
            holder.execute("ROLLBACK")
            holder.close()
    assert vt.count() == 0
