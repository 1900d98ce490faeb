"""MISP warning lists (issue 12 §6): offline, lazy, and matching as pymispwarninglists itself does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socflow.errors import ConfigError
from socflow.models import Ioc, IocType
from socflow.warninglists import (
    DEFAULT_LISTS,
    HOST_LISTS,
    ZONE_LISTS,
    WarningLists,
    WarningListSettings,
    annotate,
    available,
    lists_dir,
)

DEFAULTS = WarningLists.from_settings(WarningListSettings())


def test_every_default_list_is_installed_and_supported():
    installed = set(available())
    assert set(DEFAULT_LISTS) <= installed
    kinds = set(DEFAULT_LISTS.values())
    assert kinds == {"top domains", "public resolvers", "cloud and CDN ranges", "documentation and RFC ranges"}
    for name in DEFAULT_LISTS:
        data = json.loads((lists_dir() / name / "list.json").read_text())
        assert data["type"] in {"cidr", "string", "hostname"} and data["list"], name


@pytest.mark.parametrize(("ioc_type", "value", "expected"), [
    (IocType.IPV4, "8.8.8.8", ["public-dns-v4"]),
    (IocType.IPV4, "52.95.110.1", ["amazon-aws"]),
    (IocType.IPV4, "104.16.0.1", ["cloudflare"]),
    (IocType.IPV4, "192.0.2.10", ["rfc5735"]),
    (IocType.IPV4, "10.1.2.3", ["rfc1918", "rfc5735"]),
    (IocType.IPV4, "100.64.0.1", ["rfc6598"]),
    (IocType.IPV4, "193.32.162.157", []),
    (IocType.IPV6, "2001:DB8::1", ["rfc3849"]),
    (IocType.IPV6, "2001:4860:4860:0:0:0:0:8888", ["public-dns-v6"]),  # any spelling of the address
    (IocType.IPV6, "fe80::1", ["ipv6-linklocal"]),
    (IocType.DOMAIN, "google.com", ["cisco_top10k", "tranco10k"]),
    (IocType.DOMAIN, "mail.google.com", ["cisco_top10k", "tranco10k"]),
    (IocType.DOMAIN, "deep.sub.example.org", ["rfc6761", "tranco10k"]),  # RFC 6761 zones
    (IocType.DOMAIN, "login-micros0ft.top", []),
    (IocType.URL, "https://www.google.com/search?q=x", ["cisco_top10k", "tranco10k"]),
    (IocType.URL, "http://192.0.2.1:8080/x.sh", ["rfc5735"]),
    (IocType.URL, "http://[2001:db8::1]/x", ["rfc3849"]),
    (IocType.URL, "http://194.26.29.113/x.sh", []),
    (IocType.MAIL, "someone@gmail.com", []),  # no default list covers mail addresses
    (IocType.SHA256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", []),
    (IocType.USERNAME, "root", []),
])
def test_defaults_match(ioc_type, value, expected):
    assert DEFAULTS.match(ioc_type, value) == expected


def test_sub_domains_match_hostname_lists_only():
    cisco = json.loads((lists_dir() / "cisco_top10k" / "list.json").read_text())["list"]
    exact = next(e for e in cisco if e.count(".") >= 2 and not DEFAULTS.match(IocType.DOMAIN, "zz9." + e))
    assert "cisco_top10k" in DEFAULTS.match(IocType.DOMAIN, exact)  # a string list: exact values
    assert "cisco_top10k" not in DEFAULTS.match(IocType.DOMAIN, "zz9." + exact)
    # public-dns-hostname holds single resolver hosts: never their whole zone
    assert "public-dns-hostname" in HOST_LISTS and "rfc6761" in ZONE_LISTS
    hosts = json.loads((lists_dir() / "public-dns-hostname" / "list.json").read_text())["list"]
    zone = next(h for h in hosts if h.count(".") == 1 and h.isascii() and h == h.lower())
    assert "public-dns-hostname" in DEFAULTS.match(IocType.DOMAIN, zone)
    assert "public-dns-hostname" not in DEFAULTS.match(IocType.DOMAIN, "customer42." + zone)


def test_added_and_disabled_lists():
    lists = WarningLists.from_settings(WarningListSettings(add=("url-shortener", "empty-hashes"),
                                                           disable=("cisco_top10k",)))
    assert "cisco_top10k" not in lists.names and "url-shortener" in lists.names
    assert lists.match(IocType.DOMAIN, "bit.ly") == ["tranco10k", "url-shortener"]
    assert lists.match(IocType.DOMAIN, "google.com") == ["tranco10k"]
    empty_sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert lists.match(IocType.SHA256, empty_sha256.upper()) == ["empty-hashes"]
    assert lists.match(IocType.MD5, "d41d8cd98f00b204e9800998ecf8427e") == ["empty-hashes"]
    assert lists.match(IocType.MD5, "d41d8cd98f00b204e9800998ecf8427f") == []
    none = WarningLists.from_settings(WarningListSettings(enabled=False))
    assert none.names == () and none.match(IocType.IPV4, "8.8.8.8") == []
    only = WarningLists.from_settings(WarningListSettings(defaults=False, add=("rfc1918",)))
    assert only.names == ("rfc1918",) and only.match(IocType.IPV4, "8.8.8.8") == []


@pytest.mark.parametrize(("settings", "message"), [
    (WarningListSettings(add=("no-such-list",)), "unknown warning list 'no-such-list'"),
    (WarningListSettings(disable=("tranco-10k",)), "unknown warning list 'tranco-10k'"),
])
def test_unknown_names_are_a_clear_config_error(settings, message):
    with pytest.raises(ConfigError, match=message):
        settings.names()


def test_regex_lists_are_refused_when_loaded():
    lists = WarningLists(["phone_numbers"])
    with pytest.raises(ConfigError, match="regex list"):
        lists.match(IocType.DOMAIN, "example.com")


def test_lists_load_lazily_and_only_the_kind_needed(tmp_path):
    lists = WarningLists(WarningListSettings().names(), cache=tmp_path)
    assert lists.loaded == []
    annotate([Ioc(IocType.USERNAME, "root"), Ioc(IocType.CVE, "CVE-2023-4966")], lists)
    assert lists.loaded == []  # nothing to check: nothing read
    lists.match(IocType.IPV4, "8.8.8.8")
    assert "public-dns-v4" in lists.loaded and "tranco10k" not in lists.loaded
    lists.match(IocType.DOMAIN, "google.com")
    assert "tranco10k" in lists.loaded
    # a later process finds each kind merged in the cache: no list is read or compiled again
    later = WarningLists(WarningListSettings().names(), cache=tmp_path)
    assert later.match(IocType.IPV4, "8.8.8.8") == ["public-dns-v4"]
    assert later.match(IocType.DOMAIN, "google.com") == ["cisco_top10k", "tranco10k"]
    assert later.loaded == [] and later.compiled == []
    assert len(list(tmp_path.glob("merged-*.marshal"))) == 2


def test_annotate_sets_the_names_on_each_indicator():
    iocs = [Ioc(IocType.IPV4, "8.8.8.8"), Ioc(IocType.DOMAIN, "login-micros0ft.top")]
    assert annotate(iocs, DEFAULTS) == 1
    assert iocs[0].warninglists == ("public-dns-v4",) and iocs[1].warninglists == ()
    assert iocs[0].to_dict()["warninglists"] == ["public-dns-v4"]


def test_nothing_is_downloaded_and_the_package_is_never_imported(tmp_path):
    """Loading every default list with sockets forbidden; pymispwarninglists (which imports
    requests and can fetch newer lists) stays unimported."""
    script = (
        "import socket, sys\n"
        "def refuse(*a, **k):\n    raise RuntimeError('network used')\n"
        "socket.socket = refuse; socket.create_connection = refuse; socket.getaddrinfo = refuse\n"
        "from socflow.models import IocType\n"
        "from socflow.warninglists import WarningLists, WarningListSettings\n"
        "w = WarningLists.from_settings(WarningListSettings(add=('url-shortener',)))\n"
        "assert w.match(IocType.IPV4, '8.8.8.8') and w.match(IocType.DOMAIN, 'google.com')\n"
        "assert w.match(IocType.SHA1, 'a' * 40) == []\n"
        "assert sorted(w.loaded) == sorted(w.names), w.loaded\n"
        "assert sorted(w.compiled) == sorted(w.names), w.compiled  # a fresh cache\n"
        "bad = [m for m in ('pymispwarninglists', 'requests', 'urllib3') if m in sys.modules]\n"
        "assert not bad, bad\n"
        "print('ok')\n"
    )
    env = {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                          timeout=60, check=False)
    assert proc.stdout.strip() == "ok", proc.stderr
    assert not (tmp_path / "data").exists()  # no XDG copy of the lists was made (the library's update)
    # the compiled lists went to ~/.cache/socflow/warninglists, one file per list
    cached = tmp_path / ".cache" / "socflow" / "warninglists"
    assert len(list(cached.glob("*.marshal"))) == len(DEFAULT_LISTS) + 1 + 3  # each list, 3 merged kinds


def test_compiled_lists_are_cached_and_checked_against_the_installed_file(tmp_path):
    first = WarningLists(["rfc1918", "tranco10k"], cache=tmp_path)
    assert first.match(IocType.IPV4, "10.0.0.1") == ["rfc1918"] and first.compiled == ["rfc1918"]
    second = WarningLists(["rfc1918", "tranco10k"], cache=tmp_path)
    assert second.match(IocType.IPV4, "10.0.0.1") == ["rfc1918"] and second.compiled == []
    assert second.match(IocType.DOMAIN, "google.com") == ["tranco10k"] and second.compiled == ["tranco10k"]
    # a changed list (another pymispwarninglists release) is compiled again, never read stale
    copy = tmp_path / "lists" / "rfc1918"
    copy.mkdir(parents=True)
    data = json.loads((lists_dir() / "rfc1918" / "list.json").read_text())
    data["list"] = ["10.0.0.0/8"]
    (copy / "list.json").write_text(json.dumps(data, sort_keys=True))
    changed = WarningLists(["rfc1918"], directory=tmp_path / "lists", cache=tmp_path)
    assert changed.match(IocType.IPV4, "192.168.1.1") == [] and changed.compiled == ["rfc1918"]
    # a corrupt cache file is compiled again; an unwritable cache only costs the compile
    for f in tmp_path.glob("tranco10k-*.marshal"):
        f.write_bytes(b"\x00garbage")
    again = WarningLists(["tranco10k"], cache=tmp_path)
    assert again.match(IocType.DOMAIN, "google.com") == ["tranco10k"] and again.compiled == ["tranco10k"]
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    nowhere = WarningLists(["rfc1918"], cache=blocked / "sub")
    assert nowhere.match(IocType.IPV4, "10.0.0.1") == ["rfc1918"]
    none = WarningLists(["rfc1918"], cache=None)
    assert none.match(IocType.IPV4, "10.0.0.1") == ["rfc1918"] and none.compiled == ["rfc1918"]


def test_a_cache_others_could_write_is_never_read(tmp_path):
    # The compiled lists decide what is never looked up: a cache folder or file another local user
    # could have written is ignored (compiled again in memory), never believed.
    shared = tmp_path / "shared"
    shared.mkdir()
    WarningLists(["rfc1918"], cache=shared).match(IocType.IPV4, "10.0.0.1")  # fills the cache
    shared.chmod(0o777)
    loose = WarningLists(["rfc1918"], cache=shared)
    assert loose.match(IocType.IPV4, "10.0.0.1") == ["rfc1918"] and loose.compiled == ["rfc1918"]
    shared.chmod(0o700)
    for f in shared.glob("*.marshal"):  # files others may write
        f.chmod(0o666)
    writable = WarningLists(["rfc1918"], cache=shared)
    assert writable.match(IocType.IPV4, "10.0.0.1") == ["rfc1918"] and writable.compiled == ["rfc1918"]
    for f in shared.glob("*.marshal"):  # a link planted in a file's place
        real = tmp_path / f.name
        f.rename(real)
        f.symlink_to(real)
    linked = WarningLists(["rfc1918"], cache=shared)
    assert linked.match(IocType.IPV4, "10.0.0.1") == ["rfc1918"] and linked.compiled == ["rfc1918"]
    if os.geteuid() == 0:  # a file another user owns (only root can make one here)
        other = tmp_path / "other"
        other.mkdir(mode=0o700)
        WarningLists(["rfc1918"], cache=other).match(IocType.IPV4, "10.0.0.1")
        for f in other.glob("*.marshal"):
            os.chown(f, 4242, 4242)
        foreign = WarningLists(["rfc1918"], cache=other)
        assert foreign.match(IocType.IPV4, "10.0.0.1") == ["rfc1918"]
        assert foreign.compiled == ["rfc1918"]


# ---- parity with the library's own matching (its slow_search is MISP's semantics)

def _library() -> dict:
    """The library's own WarningList objects for the default lists (the oracle: only in tests;
    built one by one, as loading all 119 lists with slow_search takes ~20 s)."""
    from pymispwarninglists.api import WarningList

    return {name: WarningList(json.loads((lists_dir() / name / "list.json").read_text()), slow_search=True)
            for name in DEFAULT_LISTS}


LIBRARY = _library()
CIDR_LISTS = [n for n in DEFAULT_LISTS if LIBRARY[n].type == "cidr"]


def _ipv4(n: int) -> str:
    return ".".join(str((n >> s) & 255) for s in (24, 16, 8, 0))


def _near_entries(name: str) -> list[str]:
    """Addresses at, inside and just outside the first networks of a list."""
    import ipaddress

    out = []
    for entry in LIBRARY[name].list[:40]:
        net = ipaddress.ip_network(entry, strict=False)
        first, last = int(net.network_address), int(net.broadcast_address)
        for n in (first, last, (first + last) // 2, first - 1, last + 1):
            if 0 <= n < 2 ** net.max_prefixlen:
                out.append(str(ipaddress.ip_address(n) if net.version == 6 else _ipv4(n)))
    return out


@pytest.mark.parametrize("name", CIDR_LISTS)
def test_cidr_lists_agree_with_pymispwarninglists(name):
    ours = WarningLists([name])
    for value in _near_entries(name):
        kind = IocType.IPV6 if ":" in value else IocType.IPV4
        assert (name in ours.match(kind, value)) == (value in LIBRARY[name]), value


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_random_ipv4_agree_with_pymispwarninglists(number):
    value = _ipv4(number)
    ours = set(DEFAULTS.match(IocType.IPV4, value))
    theirs = {n for n in CIDR_LISTS if value in LIBRARY[n]}
    assert ours == theirs


@pytest.mark.parametrize("name", ["tranco10k", "cisco_top10k", "rfc6761"])
def test_name_lists_agree_with_pymispwarninglists(name):
    ours = WarningLists([name])
    library = LIBRARY[name]
    entries = [e for e in library.list[:300] if e == e.lower()]
    for entry in entries:
        for value in (entry, "www." + entry, "x" + entry):
            expected = value in library
            if name in ZONE_LISTS and value.endswith("." + entry):
                expected = True  # RFC 6761 zones: our documented override
            assert (name in ours.match(IocType.DOMAIN, value)) == expected, value
