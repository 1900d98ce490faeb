"""socflow.export: a case's indicators as a MISP event (pymisp objects) and a STIX 2.1 bundle
(stix2), mapped as ``thehive-cortex-response.md`` R7 describes; hostile values never break them."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
import stix2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymisp import MISPEvent

from socflow.errors import InputError
from socflow.export import Indicator, from_thehive, misp_event, misp_type, pattern, refusal, stix_bundle
from socflow.export.indicators import CaseIndicators
from socflow.export.stix import TLP2_IDS

CASE = {"_id": "~4096", "_type": "Case", "number": 42, "title": "Invoice phishing", "tlp": 2,
        "severity": 3, "tags": ["phishing", "tlp:amber"]}
OBSERVABLES = [
    {"dataType": "ip", "data": "193.32.162.157", "ioc": True, "tlp": 2, "tags": ['misp.type="ip-src"', "ssh"],
     "message": "originating address"},
    {"dataType": "ip", "data": "2001:db8::7", "ioc": False},
    {"dataType": "domain", "data": "evil.example", "ioc": True, "tlp": 3},
    {"dataType": "fqdn", "data": "login.evil.example", "ioc": True},
    {"dataType": "url", "data": "http://evil.example/it's\\here", "ioc": True},
    {"dataType": "mail", "data": "boss@evil.example", "ioc": True},
    {"dataType": "mail", "data": "victim@corp.example", "tags": ['misp.type="email-dst"']},
    {"dataType": "mail-subject", "data": "Invoice 'overdue'", "ioc": False},
    {"dataType": "hash", "data": "d41d8cd98f00b204e9800998ecf8427e", "ioc": True},
    {"dataType": "hash", "data": "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
    {"dataType": "hash", "data": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "ioc": True},
    {"dataType": "filename", "data": "invoice.pdf.exe", "ioc": True},
    {"dataType": "file", "attachment": {"name": "mail.eml"}},
    {"dataType": "hash", "data": "not-a-hash"},
    {"dataType": "user-agent", "data": "Mozilla/5.0 (evil)"},
]


@pytest.fixture()
def case() -> CaseIndicators:
    return from_thehive(CASE, OBSERVABLES)


def _attrs(doc):
    return {(a["type"], a["value"]): a for a in doc["Event"]["Attribute"]}


def test_misp_event_maps_types_to_ids_tlp_and_tags(case):
    export = misp_event(case)
    doc = json.loads(export.to_json())
    ev = doc["Event"]
    assert ev["info"] == "Invoice phishing (TheHive case #42)"
    assert (ev["distribution"], ev["threat_level_id"], ev["analysis"], ev["published"]) == ("0", "1", "0", False)
    assert [t["name"] for t in ev["Tag"]] == ["tlp:amber", "phishing"]  # case TLP, then case tags
    attrs = _attrs(doc)
    assert set(attrs) == {
        ("ip-src", "193.32.162.157"), ("ip-dst", "2001:db8::7"), ("domain", "evil.example"),
        ("hostname", "login.evil.example"), ("url", "http://evil.example/it's\\here"),
        ("email-src", "boss@evil.example"), ("email-dst", "victim@corp.example"),
        ("email-subject", "Invoice 'overdue'"), ("md5", "d41d8cd98f00b204e9800998ecf8427e"),
        ("sha1", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
        ("sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("filename", "invoice.pdf.exe"), ("user-agent", "Mozilla/5.0 (evil)")}
    ip = attrs[("ip-src", "193.32.162.157")]
    assert ip["to_ids"] is True and ip["comment"] == "originating address"
    assert ip["category"] == "Network activity" and [t["name"] for t in ip["Tag"]] == ["ssh"]
    assert attrs[("ip-dst", "2001:db8::7")]["to_ids"] is False  # to_ids is the IOC flag, not the default
    assert [t["name"] for t in attrs[("domain", "evil.example")]["Tag"]] == ["tlp:amber+strict"]
    assert attrs[("md5", "d41d8cd98f00b204e9800998ecf8427e")]["category"] == "Payload delivery"
    reasons = {(getattr(i, "value", i)): why for i, why in export.skipped}
    assert reasons["not-a-hash"] == "not an MD5/SHA-1/SHA-2 hex digest"
    assert reasons["file"].startswith("no text value")
    loaded = MISPEvent()
    loaded.load(doc)  # pymisp reads back what we wrote
    assert len(loaded.attributes) == 13


def test_misp_options_distribution_only_ioc_case_tags_and_tlp_red(case):
    doc = misp_event(case, distribution=3, only_ioc=True, case_tags=False).document()
    assert doc["Event"]["distribution"] == "3" and [t["name"] for t in doc["Event"]["Tag"]] == ["tlp:amber"]
    assert all(a["to_ids"] for a in doc["Event"]["Attribute"]) and len(doc["Event"]["Attribute"]) == 8
    red = from_thehive(dict(CASE, tlp=4, severity=1), OBSERVABLES[:1])
    ev = misp_event(red).document()["Event"]
    assert [t["name"] for t in ev["Tag"]][0] == "tlp:red" and ev["threat_level_id"] == "3"
    assert [t["name"] for t in ev["Attribute"][0]["Tag"]] == ["ssh", "tlp:amber"]  # its own TLP kept
    for bad in (4, -1, "0", True):
        with pytest.raises(InputError, match="distribution"):
            misp_event(case, distribution=bad)


def test_duplicates_are_exported_once():
    dup = from_thehive(CASE, [{"dataType": "domain", "data": "evil.example"}] * 2)
    export = misp_event(dup)
    assert len(export.exported) == 1 and export.skipped[0][1] == "duplicate"
    assert len(stix_bundle(dup).exported) == 1


def test_stix_bundle_patterns_markings_and_identity(case):
    now = datetime(2026, 12, 7, tzinfo=timezone.utc)
    export = stix_bundle(case, now=now, identity_name="ACME SOC")
    doc = json.loads(export.to_json())
    assert doc["type"] == "bundle" and "spec_version" not in doc  # none on 2.1 bundles
    by_type: dict[str, list] = {}
    for obj in doc["objects"]:
        by_type.setdefault(obj["type"], []).append(obj)
    (identity,) = by_type["identity"]
    assert identity["name"] == "ACME SOC"
    patterns = {o["pattern"]: o for o in by_type["indicator"]}
    assert set(patterns) == {
        "[ipv4-addr:value = '193.32.162.157']", "[ipv6-addr:value = '2001:db8::7']",
        "[domain-name:value = 'evil.example']", "[domain-name:value = 'login.evil.example']",
        "[url:value = 'http://evil.example/it\\'s\\\\here']", "[email-addr:value = 'boss@evil.example']",
        "[email-addr:value = 'victim@corp.example']", "[email-message:subject = 'Invoice \\'overdue\\'']",
        "[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']",
        "[file:hashes.'SHA-1' = 'da39a3ee5e6b4b0d3255bfef95601890afd80709']",
        "[file:hashes.'SHA-256' = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855']",
        "[file:name = 'invoice.pdf.exe']"}
    ip = patterns["[ipv4-addr:value = '193.32.162.157']"]
    assert ip["indicator_types"] == ["malicious-activity"] and ip["description"] == "originating address"
    assert ip["created_by_ref"] == identity["id"] and ip["valid_from"] == "2026-12-07T00:00:00Z"
    assert patterns["[ipv6-addr:value = '2001:db8::7']"]["indicator_types"] == ["unknown"]
    assert patterns["[domain-name:value = 'evil.example']"]["object_marking_refs"] == [TLP2_IDS["amber+strict"]]
    assert ip["object_marking_refs"] == [TLP2_IDS["amber"]]
    markings = {m["id"]: m for m in by_type["marking-definition"]}
    assert set(markings) == {TLP2_IDS["amber"], TLP2_IDS["amber+strict"]}  # the ones used, defined
    strict = markings[TLP2_IDS["amber+strict"]]
    assert strict["name"] == "TLP:AMBER+STRICT" and strict["extensions"][
        "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"]["tlp_2_0"] == "amber+strict"
    skipped = {getattr(i, "data_type", i): why for i, why in export.skipped}
    assert skipped["user-agent"] == "no STIX pattern for dataType 'user-agent'"
    parsed = stix2.parse(export.to_json(), allow_custom=False)  # stix2 reads the bundle back
    assert len(parsed.objects) == len(doc["objects"])


def test_stix_only_ioc_and_sha384_refused():
    case = from_thehive(CASE, [{"dataType": "hash", "data": "a" * 96, "ioc": True},
                               {"dataType": "domain", "data": "ok.example", "ioc": False}])
    export = stix_bundle(case, only_ioc=True)
    assert export.exported == [] and {why for _, why in export.skipped} == {
        "no STIX pattern for dataType 'hash'", "not flagged as IOC"}
    assert misp_event(case).document()["Event"]["Attribute"][0]["type"] == "sha384"


@pytest.mark.parametrize("kind,value,why", [
    ("ip", "999.1.1.1", "not an IP address or network"),
    ("ip", "1.2.3.4 5", "not an IP address or network"),
    ("other", " \t ", "empty value"),
    ("domain", "evil.example/x", "not a domain name"),
    ("domain", "localhost", "not a domain name"),
    ("mail", "nobody", "not an e-mail address"),
    ("url", "http://a b", "contains spaces"),
    ("autonomous-system", "AS12x", "not an AS number"),
    ("other", "", "empty value"),
    ("other", "a\x1bb", "value holds control characters or invalid Unicode"),
    ("other", "\ud800", "value holds control characters or invalid Unicode"),
    ("url", "http://x/" + "a" * 4096, "value longer than 4096 characters"),
])
def test_values_that_fit_no_rule_are_refused_with_their_reason(kind, value, why):
    case = from_thehive(CASE, [{"dataType": kind, "data": value, "ioc": True}])
    for export in (misp_event(case), stix_bundle(case)):
        assert export.exported == [] and export.skipped[0][1] == why


def test_reading_thehive_json_is_defensive():
    case = from_thehive({"title": "t\x00x", "tlp": 9, "severity": "high", "tags": ["ok", 3, "", "x" * 300]},
                        [None, {"data": "x"}, {"dataType": "ip", "data": "1.2.3.4", "tlp": "red",
                                               "tags": "nope", "ioc": "yes"}])
    assert case.title == "tx" and (case.tlp, case.severity, case.tags) == (2, 2, ("ok",))
    assert case.refused == (("observable", "not a JSON object"), ("observable", "no dataType"))
    (ind,) = case.indicators
    assert (ind.tlp, ind.tags, ind.ioc) == (2, (), False)
    with pytest.raises(InputError):
        from_thehive(["not", "a", "case"], [])  # type: ignore[arg-type]
    assert pattern(Indicator("ip", "10.0.0.0/8")) == "[ipv4-addr:value = '10.0.0.0/8']"


# ---------------------------------------------------------------- hostile values (property tests)
KINDS = ["ip", "domain", "fqdn", "hostname", "url", "mail", "mail-subject", "hash", "filename",
         "user-agent", "uri_path", "registry", "autonomous-system", "other", "unknown-type"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(KINDS), value=st.text(max_size=300), message=st.text(max_size=100),
       tags=st.lists(st.text(max_size=40), max_size=4), tlp=st.integers(-2, 6), ioc=st.booleans())
def test_any_observable_value_gives_valid_output_or_a_clean_refusal(kind, value, message, tags, tlp, ioc):
    case = from_thehive(dict(CASE, title=value or "t"), [
        {"dataType": kind, "data": value, "message": message, "tags": tags, "tlp": tlp, "ioc": ioc}])
    ind = case.indicators[0]
    fits = refusal(ind) is None
    misp = misp_event(case)
    doc = json.loads(misp.to_json())  # valid JSON, whatever the value held
    assert bool(misp.exported) == (fits and misp_type(ind) is not None)  # refused only for a reason
    assert len(misp.exported) + len(misp.skipped) == 1
    if misp.exported:
        (attr,) = doc["Event"]["Attribute"]
        assert attr["value"] == value.strip() and attr["to_ids"] is ioc  # verbatim (trimmed), as data
    else:
        assert isinstance(misp.skipped[0][1], str) and misp.skipped[0][1]
    stix = stix_bundle(case)
    text = stix.to_json()
    parsed = stix2.parse(text)
    indicators = [o for o in parsed.objects if o.type == "indicator"]
    assert len(indicators) == len(stix.exported) <= 1
    assert bool(indicators) == (fits and pattern(ind) is not None)  # quoting never makes stix2 refuse
    if indicators:
        assert indicators[0].pattern == pattern(case.indicators[0])
        assert json.loads(text)["objects"][-1]["name"] == f"{kind}: {value.strip()}"[:512]


@pytest.mark.parametrize(("title", "number", "info"), [
    (" \t\n ", None, "case"),
    ("   ", 5, "TheHive case #5"),
    ("  Phish  ", 5, "Phish (TheHive case #5)"),
])
def test_a_blank_title_never_gives_a_blank_event_info(title, number, info):
    # MISP answers 403 to an event whose info is blank once pymisp has stripped it
    raw = {"_id": "~9", "title": title, **({"number": number} if number else {})}
    ev = misp_event(from_thehive(raw, [{"dataType": "ip", "data": "193.32.162.157", "ioc": True}]))
    assert json.loads(ev.to_json())["Event"]["info"] == info
