"""Block policy: every refusal rule by example, and invariants by property."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from socflow.errors import ConfigError
from socflow.extract.validate import classify_ip
from socflow.models import IpClass
from socflow.policy import BlockPolicy, EntryType, Refusal, normalise
from socflow.policy.block import MalformedValue

POLICY = BlockPolicy(allowlist=["8.8.8.8", "2001:4860:4860::8888", "google.com", "*.corp-example.net"])


@pytest.mark.parametrize(
    ("value", "type_hint", "refusal"),
    [
        ("10.1.2.3", None, Refusal.PRIVATE),
        ("192.168.0.0/24", None, Refusal.PRIVATE),
        ("fd00::1", None, Refusal.PRIVATE),
        ("127.0.0.1", "ip", Refusal.LOOPBACK),
        ("::1", "ip", Refusal.LOOPBACK),
        ("169.254.10.10", None, Refusal.LINK_LOCAL),
        ("fe80::1", None, Refusal.LINK_LOCAL),
        ("100.64.1.1", None, Refusal.CGNAT),
        ("224.0.0.5", None, Refusal.MULTICAST),
        ("192.0.2.7", None, Refusal.DOCUMENTATION),
        ("2001:db8::5", None, Refusal.DOCUMENTATION),
        ("240.0.0.1", None, Refusal.RESERVED),
        ("0.0.0.0", None, Refusal.RESERVED),
        ("1.0.0.0/16", None, Refusal.TOO_WIDE),
        ("2a00:1450::/32", None, Refusal.TOO_WIDE),
        ("8.8.8.8", None, Refusal.ALLOWLISTED),
        ("8.8.8.0/24", None, Refusal.ALLOWLISTED),
        ("2001:4860:4860::8888", None, Refusal.ALLOWLISTED),
        ("google.com", "domain", Refusal.ALLOWLISTED),
        ("mail.google.com", "fqdn", Refusal.ALLOWLISTED),
        ("corp-example.net", "domain", Refusal.ALLOWLISTED),  # would cover an allowlisted name
        ("https://docs.google.com/x", "url", Refusal.ALLOWLISTED),
        ("http://8.8.8.8/dns", "url", Refusal.ALLOWLISTED),
        ("http://10.0.0.5/admin", "url", Refusal.PRIVATE),
        ("co.uk", "domain", Refusal.PUBLIC_SUFFIX),
        ("github.io", "domain", Refusal.PUBLIC_SUFFIX),
        ("www.example.com", "domain", Refusal.DOCUMENTATION),
        ("printer.local", "domain", Refusal.RESERVED),
        ("evil.test", "fqdn", Refusal.RESERVED),
        ("999.1.1.1", "ip", Refusal.MALFORMED),
        ("evil", "domain", Refusal.MALFORMED),
        ("evil.notatld", "domain", Refusal.MALFORMED),
        ("1.2.3.4\n5.6.7.8", None, Refusal.MALFORMED),
        ("ev il.com", "domain", Refusal.MALFORMED),
        ("ftp://evil.com/x", "url", Refusal.MALFORMED),
        ("http:///nohost", "url", Refusal.MALFORMED),
        ("*.evil.com", "domain", Refusal.MALFORMED),
        ("fe80::1%eth0", "ip", Refusal.MALFORMED),
        ("a@b.com", "mail", Refusal.MALFORMED),
        ("", None, Refusal.MALFORMED),
    ],
)
def test_refusals(value: str, type_hint: str | None, refusal: Refusal) -> None:
    decision = POLICY.check(value, type_hint)
    assert decision.refusal is refusal, decision
    assert decision.reason and "\n" not in decision.reason


@pytest.mark.parametrize(
    ("value", "type_hint", "kind", "normalised"),
    [
        ("1.2.3.4", None, EntryType.IP, "1.2.3.4"),
        (" 1.2.3[.]4 ", "ip", EntryType.IP, "1.2.3.4"),
        ("1.2.3.4/32", None, EntryType.IP, "1.2.3.4"),
        ("1.2.3.77/24", None, EntryType.IP, "1.2.3.0/24"),
        ("::ffff:1.2.3.4", None, EntryType.IP, "1.2.3.4"),
        ("2A00:1450:0000::0001", None, EntryType.IP, "2a00:1450::1"),
        ("Evil.CO.uk.", "fqdn", EntryType.DOMAIN, "evil.co.uk"),
        ("bücher.de", "domain", EntryType.DOMAIN, "xn--bcher-kva.de"),
        ("hxxps://Evil.COM:443/a?b=1#frag", None, EntryType.URL, "https://evil.com/a?b=1"),
        ("http://user:secret@evil.com:8080", "url", EntryType.URL, "http://evil.com:8080/"),
        ("http://[2A00:1450::1]/x", "url", EntryType.URL, "http://[2a00:1450::1]/x"),
    ],
)
def test_accepted_and_normalised(value: str, type_hint: str | None, kind: EntryType, normalised: str) -> None:
    decision = POLICY.check(value, type_hint)
    assert decision.allowed, decision
    assert (decision.type, decision.value) == (kind, normalised)


def test_wider_prefix_can_be_configured_but_special_space_inside_is_still_refused() -> None:
    wide = BlockPolicy(widest_v4=8)
    assert wide.check("45.0.0.0/8").allowed
    decision = wide.check("100.0.0.0/8")
    assert decision.refusal is Refusal.CGNAT and "100.64.0.0/10" in decision.reason


def test_bad_allowlist_entry_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not a valid"):
        BlockPolicy(allowlist=["not a valid entry!"])
    with pytest.raises(ConfigError):
        BlockPolicy(widest_v4=33)


# --- properties -------------------------------------------------------------------------------

ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(str)


@given(st.one_of(ipv4, ipv6))
def test_single_addresses_follow_classify_ip(addr: str) -> None:
    decision = BlockPolicy().check(addr)
    cls = classify_ip(addr)
    assert decision.type is EntryType.IP
    assert decision.allowed == (cls is IpClass.PUBLIC)
    if not decision.allowed:
        assert decision.refusal.value == cls.value  # type: ignore[union-attr]


@given(st.one_of(ipv4, ipv6), st.integers(0, 128))
def test_accepted_networks_hold_only_public_addresses(addr: str, prefix: int) -> None:
    ip = ipaddress.ip_address(addr)
    prefix = min(prefix, ip.max_prefixlen)
    net = ipaddress.ip_network(f"{addr}/{prefix}", strict=False)
    policy = BlockPolicy(widest_v4=0, widest_v6=0)
    decision = policy.check(str(net))
    if decision.allowed:
        for probe in (net.network_address, net.broadcast_address):
            assert classify_ip(str(probe)) is IpClass.PUBLIC
        assert ipaddress.ip_network(decision.value).num_addresses == net.num_addresses


@given(st.one_of(ipv4, ipv6), st.integers(0, 128))
def test_prefix_limit_is_enforced(addr: str, prefix: int) -> None:
    ip = ipaddress.ip_address(addr)
    prefix = min(prefix, ip.max_prefixlen)
    net = ipaddress.ip_network(f"{addr}/{prefix}", strict=False)
    widest = 24 if ip.version == 4 else 48
    decision = BlockPolicy().check(str(net))
    if prefix < widest:
        assert decision.refusal is Refusal.TOO_WIDE


@settings(max_examples=300)
@given(st.text(max_size=80), st.sampled_from([None, "ip", "domain", "fqdn", "url"]))
def test_never_raises_and_never_lets_line_breaks_through(text: str, type_hint: str | None) -> None:
    decision = POLICY.check(text, type_hint)
    if decision.allowed:
        assert not any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in decision.value)
        assert decision.value.isascii()


@given(st.from_regex(r"[a-z][a-z0-9-]{0,20}[a-z0-9]\.(com|net|org|de|co\.uk|io)", fullmatch=True))
def test_normalise_is_idempotent_for_domains(name: str) -> None:
    kind, once = normalise(name.upper() + ".", "fqdn")
    assert kind is EntryType.DOMAIN
    assert normalise(once, "domain") == (kind, once)


@given(
    st.from_regex(r"[a-z]{1,12}\.(com|net|org)", fullmatch=True),
    st.from_regex(r"(/[A-Za-z0-9._~-]{0,10}){0,3}", fullmatch=True),
    st.sampled_from(["http", "https", "HTTP", "hxxps"]),
)
def test_normalise_is_idempotent_for_urls(host: str, path: str, scheme: str) -> None:
    assume(not host.startswith("example."))
    kind, once = normalise(f"{scheme}://{host.upper()}{path}", "url")
    assert kind is EntryType.URL
    assert normalise(once, "url") == (kind, once)
    assert once.startswith(("http://", "https://")) and "#" not in once


def test_malformed_value_message_names_the_problem() -> None:
    with pytest.raises(MalformedValue, match="not an IP address"):
        normalise("1.2.3", "ip")


# --- issue 11: IPv4-mapped IPv6 and IDNA 2008 -----------------------------------------------------

@settings(max_examples=300)
@given(ipv4, st.integers(0, 32), ipv4)
def test_ipv4_mapped_ranges_get_the_ipv4_verdict(addr: str, prefix: int, allowed: str) -> None:
    """``::ffff:a.b.c.d/(96+n)`` is the IPv4 network a.b.c.d/n: same normal form, same verdict —
    allowlist, private space and --widest-v4 included."""
    policy = BlockPolicy(allowlist=[allowed])
    v4 = policy.check(f"{addr}/{prefix}")
    mapped = policy.check(f"::ffff:{addr}/{96 + prefix}")
    assert (mapped.value, mapped.refusal) == (v4.value, v4.refusal)


@pytest.mark.parametrize(
    ("value", "normalised"),
    [
        ("faß.de", "xn--fa-hia.de"),  # IDNA 2003 (Python's codec) said fass.de: another domain
        ("FASS.de", "fass.de"),
        ("Faß.DE.", "xn--fa-hia.de"),
        ("βόλος.com", "xn--nxasmm1c.com"),  # final sigma kept (IDNA 2003 folded it)
        ("ÖBB.at", "xn--bb-eka.at"),
        ("bücher。de", "xn--bcher-kva.de"),  # ideographic full stop is a label separator
        ("xn--fa-hia.de", "xn--fa-hia.de"),
        ("http://faß.de/a", "http://xn--fa-hia.de/a"),
    ],
)
def test_idn_names_follow_idna_2008_uts46(value: str, normalised: str) -> None:
    assert POLICY.check(value).value == normalised


@pytest.mark.parametrize("value", ["a\u200db.com", "ab--\u00e9.com", "\u0301x.com"])
def test_idn_names_idna_2008_refuses_are_malformed(value: str) -> None:
    decision = POLICY.check(value)
    assert decision.refusal is Refusal.MALFORMED and "internationalised" in decision.reason


def test_an_idn_allowlist_entry_covers_its_own_spelling_only() -> None:
    policy = BlockPolicy(allowlist=["faß.de"])
    assert policy.check("www.faß.de").refusal is Refusal.ALLOWLISTED
    assert policy.check("xn--fa-hia.de").refusal is Refusal.ALLOWLISTED
    assert policy.check("fass.de").allowed
