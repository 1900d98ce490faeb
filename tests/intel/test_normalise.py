"""Pure verdict rules: properties over any engine counts, scores and pulse counts, and garbage."""

from __future__ import annotations

from typing import Any

from fakes.cti import fixture
from hypothesis import given, settings
from hypothesis import strategies as st

from socflow.enrich import abuseipdb, otx, virustotal
from socflow.enrich.base import envelope
from socflow.enrich.config import AbuseIPDBSettings, OTXSettings, VirusTotalSettings
from socflow.models import IocType, Level

counts = st.integers(min_value=0, max_value=120)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def vt_raw(stats: dict[str, int]) -> dict[str, Any]:
    body = fixture("virustotal", "ip_address.json")
    body["data"]["attributes"]["last_analysis_stats"] = stats
    return envelope("VirusTotal", IocType.IPV4, "11.0.0.1", body)


@settings(max_examples=300)
@given(harmless=counts, malicious=counts, suspicious=counts, undetected=counts, timeout=counts,
       threshold=st.integers(1, 10))
def test_virustotal_levels(harmless: int, malicious: int, suspicious: int, undetected: int,
                           timeout: int, threshold: int) -> None:
    stats = {"harmless": harmless, "malicious": malicious, "suspicious": suspicious,
             "undetected": undetected, "timeout": timeout}
    verdict = virustotal.normalise(vt_raw(stats), VirusTotalSettings(malicious_threshold=threshold))
    engines = harmless + malicious + suspicious + undetected
    if engines == 0:
        expected = Level.INFO
    elif malicious >= threshold:
        expected = Level.MALICIOUS
    elif malicious or suspicious:
        expected = Level.SUSPICIOUS
    else:
        expected = Level.SAFE
    assert verdict.level is expected
    value = virustotal.taxonomies(verdict)[0].value
    assert value == f"{malicious}/{engines}"  # timeouts are not engines with an opinion


def test_virustotal_fixture_and_not_found() -> None:
    verdict = virustotal.normalise(envelope("VirusTotal", IocType.IPV4, "203.0.113.45",
                                            fixture("virustotal", "ip_address.json")))
    assert (verdict.level, verdict.score) == (Level.MALICIOUS, 6.0)
    assert virustotal.taxonomies(verdict)[0].value == "6/94"
    missing = virustotal.normalise(envelope("VirusTotal", IocType.SHA256, "0" * 64, None, found=False))
    assert missing.level is Level.INFO and virustotal.taxonomies(missing)[0].value == "not found"


@settings(max_examples=200)
@given(a=st.integers(0, 100), b=st.integers(0, 100), sus=st.integers(1, 100), mal=st.integers(1, 100))
def test_abuseipdb_level_never_drops_when_the_score_rises(a: int, b: int, sus: int, mal: int) -> None:
    sus, mal = min(sus, mal), max(sus, mal)
    cfg = AbuseIPDBSettings(suspicious_threshold=sus, malicious_threshold=mal)

    def level(score: int) -> Level:
        raw = envelope("AbuseIPDB", IocType.IPV4, "45.0.0.1", {"data": {"abuseConfidenceScore": score}},
                       kind="check")
        return abuseipdb.normalise(raw, cfg).level

    low, high = sorted((a, b))
    assert level(low).rank <= level(high).rank
    assert (level(high) is Level.MALICIOUS) == (high >= mal)


@settings(max_examples=200)
@given(a=st.integers(0, 500), b=st.integers(0, 500), threshold=st.integers(1, 20))
def test_otx_level_never_drops_with_more_pulses(a: int, b: int, threshold: int) -> None:
    def level(pulses: int) -> Level:
        body = {"indicator": "x", "pulse_info": {"count": pulses, "pulses": []}, "validation": []}
        return otx.normalise(envelope("OTX", IocType.DOMAIN, "x.example", body),
                             OTXSettings(malicious_pulses=threshold)).level

    low, high = sorted((a, b))
    assert level(low).rank <= level(high).rank
    assert level(0) is Level.SAFE


def test_otx_whitelisted_fixture_is_safe() -> None:
    raw = envelope("OTX", IocType.IPV4, "198.51.100.7", fixture("otx", "ipv4_general_no_pulses.json"))
    verdict = otx.normalise(raw)
    assert verdict.level is Level.SAFE and "Whitelisted IP" in verdict.summary


@settings(max_examples=300)
@given(body=json_values, found=st.booleans())
def test_no_answer_shape_crashes_a_normaliser(body: Any, found: bool) -> None:
    """Valid JSON with missing, null or mistyped fields still gives a verdict (fact sheet §4.6)."""
    for module, title, kind in ((virustotal, "VirusTotal", None), (abuseipdb, "AbuseIPDB", "check"),
                                (abuseipdb, "AbuseIPDB", "block"), (otx, "OTX", None)):
        raw = envelope(title, IocType.IPV4, "45.0.0.1", body, found=found, kind=kind)
        verdict = module.normalise(raw)
        assert isinstance(verdict.level, Level)
        module.taxonomies(verdict)
        if found:
            module.details(raw)
