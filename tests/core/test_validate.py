
import classify_reference as reference
import pytest
from hypothesis import given, settings, strategies as st

from socflow.extract.validate import classify_ip, is_domain, registered_domain
from socflow.models import IpClass


@pytest.mark.parametrize("value, expected", [
    ("8.8.8.8", IpClass.PUBLIC), ("10.1.2.3", IpClass.PRIVATE), ("192.168.0.1", IpClass.PRIVATE),
    ("172.16.5.4", IpClass.PRIVATE), ("127.0.0.1", IpClass.LOOPBACK), ("::1", IpClass.LOOPBACK),
    ("169.254.1.1", IpClass.LINK_LOCAL), ("fe80::1%eth0", IpClass.LINK_LOCAL),
    ("100.64.0.1", IpClass.CGNAT), ("192.0.2.5", IpClass.DOCUMENTATION),
    ("198.51.100.7", IpClass.DOCUMENTATION), ("203.0.113.9", IpClass.DOCUMENTATION),
    ("2001:db8::1", IpClass.DOCUMENTATION), ("0.0.0.0", IpClass.RESERVED),
    ("240.0.0.1", IpClass.RESERVED), ("198.18.0.1", IpClass.RESERVED),
    ("224.0.0.1", IpClass.MULTICAST), ("2a00:1450:4007:80f::200e", IpClass.PUBLIC),
    ("::ffff:8.8.8.8", IpClass.PUBLIC), ("999.1.1.1", None), ("evil.com", None),
])
def test_ip_classes(value, expected):
    assert classify_ip(value) is expected


@given(st.ip_addresses())
def test_every_address_gets_a_class(ip):
    assert classify_ip(str(ip)) is not None
    if classify_ip(str(ip)) is IpClass.PUBLIC:
        assert ip.is_global


@pytest.mark.parametrize("name", ["evil.com", "www.example.co.uk", "xn--80ak6aa92e.com",
                                  "login-micros0ft.top", "c2.badcdn.xyz", "a.b.c.d.example.org"])
def test_real_domains(name):
    assert is_domain(name)


@pytest.mark.parametrize("name", ["file.exe", "report.pdf", "workers2.properties", "host.local",
                                  "foo.internal", "app.py", "backup.zip", "Safari.app", "a..com",
                                  "-bad.com", "localhost", "1.2.3.4", "x" * 64 + ".com"])
def test_not_domains(name):
    assert not is_domain(name)


def test_file_like_tlds_count_in_host_position():
    assert is_domain("cdn.evil.zip", host_position=True)
    assert not is_domain("cdn.evil.zip")


def test_registered_domain():
    assert registered_domain("a.b.example.co.uk") == "example.co.uk"


@given(st.text(max_size=300))
def test_validators_never_raise(text):
    classify_ip(text)
    is_domain(text)
    is_domain(text, host_position=True)


_names = st.lists(st.text("aZ09-_.é٣ſK", max_size=8), min_size=1, max_size=4).map(".".join)


@settings(max_examples=500)
@given(st.one_of(_names, st.text(max_size=80)), st.booleans())
def test_is_domain_matches_its_frozen_original(name, host_position):
    # The label check lost its per-character generator; the answers must stay the same.
    expected = reference.is_domain(name, host_position=host_position)
    assert is_domain(name, host_position=host_position) == expected


@pytest.mark.parametrize("name", ["a-b.com", "a--b.com", "-.com", "a-.com", "--.com", "a.-",
                                  "é.com", "a_b.com", "٣.com", "x" * 63 + ".com", "1.com", ".com",
                                  "a..com"])
def test_label_edge_cases_match_the_frozen_original(name):
    assert is_domain(name) == reference.is_domain(name)
