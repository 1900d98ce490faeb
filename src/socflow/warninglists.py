"""MISP warning lists: which indicators are known-benign or special-use values.

The lists come from the ``pymispwarninglists`` package, which ships them offline as JSON files
(``pymispwarninglists/data/misp-warninglists/lists/<name>/list.json``). We read those files
directly and never import the package: its import loads ``requests`` (~95 ms of an analyzer's
start) and it can download newer lists from GitHub (``update_warninglists``), which a job must
never do. Nothing here opens a socket.

Loading is lazy: nothing is read until an indicator is checked. Each list is compiled once to a
compact form (``compile_list``: merged, sorted integer ranges for addresses and networks, IPv4
packed as 32-bit integers; normalised names joined by newlines) and cached, marshalled, under
``cache_dir()`` keyed by the size and modification time of the installed list, so a later job
loads it with a read, an ``array.frombytes`` and a set built in C instead of parsing 3 MB of JSON
(public-dns-v4 alone has 60,000 entries). Without a writable cache every process compiles what
it needs. Matching is a post-pass over the distinct indicators of a run (never per line), with
sets and bisect over sorted ranges, microseconds per indicator; the library's own hostname
matching loops over the whole list for every value.

How an entry matches follows the list's MISP ``type`` and ``matching_attributes``:

* ``cidr``: networks and single addresses; an IP (or a URL's IP host) inside one matches;
* ``string``: the exact value (a domain, a URL's or mail address's host, a hash);
* ``hostname``: the name and every sub-domain of it;
* ``substring``: the entry occurs in the value;
* ``regex`` lists are not supported (none is enabled by default; naming one is a config error).

Two overrides: RFC 6761 reserves whole zones (``example.com`` *and* its sub-domains), so the
``rfc6761`` list matches sub-domains although MISP types it ``string``; ``public-dns-hostname``
names single resolver hosts, so it matches exactly although MISP types it ``hostname``.
"""

from __future__ import annotations

import bisect
import importlib.util
import json
import marshal
import os
import re
import socket
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .models import Ioc, IocType

TAG_PREFIX = "warninglist:"

# The lists socflow checks unless told otherwise: the four kinds of values issue 12 names.
DEFAULT_LISTS: dict[str, str] = {
    # top domains (popularity lists): the values analysts should not spend lookups on
    "tranco10k": "top domains",
    "cisco_top10k": "top domains",
    # public DNS resolvers, by address and by name
    "public-dns-v4": "public resolvers",
    "public-dns-v6": "public resolvers",
    "public-dns-hostname": "public resolvers",
    # cloud and CDN ranges
    "amazon-aws": "cloud and CDN ranges",
    "google-gcp": "cloud and CDN ranges",
    "microsoft-azure": "cloud and CDN ranges",
    "cloudflare": "cloud and CDN ranges",
    "akamai": "cloud and CDN ranges",
    "fastly": "cloud and CDN ranges",
    # documentation, private and special-use ranges and names (RFCs)
    "rfc1918": "documentation and RFC ranges",
    "rfc3849": "documentation and RFC ranges",
    "rfc5735": "documentation and RFC ranges",
    "rfc6598": "documentation and RFC ranges",
    "rfc6761": "documentation and RFC ranges",
    "multicast": "documentation and RFC ranges",
    "ipv6-linklocal": "documentation and RFC ranges",
}
ZONE_LISTS = frozenset({"rfc6761"})
# Lists of single hosts that MISP types ``hostname``: public-dns-hostname holds the reverse-DNS
# names of resolvers, some of them registrable domains (``3gwin.net``); matching their
# sub-domains would mark whole ISP zones as "public resolver".
HOST_LISTS = frozenset({"public-dns-hostname"})

_IP_ATTRS = frozenset({"ip-src", "ip-dst", "domain|ip", "ip-src|port", "ip-dst|port"})
_NAME_ATTRS = frozenset({"domain", "hostname", "domain|ip", "hostname|port"})
_URL_ATTRS = frozenset({"url", "uri"})
_MAIL_ATTRS = frozenset({"email", "email-src", "email-dst", "target-email",
                         "whois-registrant-email", "dns-soa-email"})
_HASH_ATTRS = {
    IocType.MD5: frozenset({"md5", "filename|md5"}),
    IocType.SHA1: frozenset({"sha1", "filename|sha1", "x509-fingerprint-sha1"}),
    IocType.SHA256: frozenset({"sha256", "filename|sha256", "x509-fingerprint-sha256"}),
}
_IP_TYPES = (IocType.IPV4, IocType.IPV6)
_FORMAT = 1  # of the compiled form; a change invalidates every cached file
_U32 = "I" if array("I").itemsize == 4 else "L"
_TYPE_FIELD = re.compile(rb'"type"\s*:\s*"([a-z]+)"')


def lists_dir() -> Path:
    """Where the installed ``pymispwarninglists`` keeps its lists (found without importing it)."""
    spec = importlib.util.find_spec("pymispwarninglists")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("warning lists need the pymispwarninglists package (pip install pymispwarninglists)")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "misp-warninglists" / "lists"
    if not path.is_dir():
        raise ConfigError(f"pymispwarninglists has no lists in {path}")
    return path


def available() -> list[str]:
    """Names (folder names, as MISP's ``misp-warninglists`` repository spells them) of every list."""
    return sorted(p.parent.name for p in lists_dir().glob("*/list.json"))


@dataclass(frozen=True)
class WarningListSettings:
    """Which lists are checked: the defaults (unless ``enabled`` is false or ``defaults`` is
    false), plus ``add``, minus ``disable``."""

    enabled: bool = True
    add: tuple[str, ...] = ()
    disable: tuple[str, ...] = ()
    defaults: bool = True

    def names(self) -> tuple[str, ...]:
        """The lists to check, validated against the installed ones (ConfigError names a bad one)."""
        if not self.enabled:
            return ()
        requested = [*self.add, *self.disable]
        if requested:
            known = set(available())
            unknown = [n for n in requested if n not in known]
            if unknown:
                raise ConfigError(
                    f"unknown warning list {unknown[0]!r} (lists are named as in MISP's "
                    f"misp-warninglists, e.g. {', '.join(list(DEFAULT_LISTS)[:3])}; "
                    f"{len(known)} are installed)"
                )
        names = dict.fromkeys(DEFAULT_LISTS if self.defaults else ())
        names.update(dict.fromkeys(self.add))
        for name in self.disable:
            names.pop(name, None)
        return tuple(names)


@dataclass
class _Loaded:
    """The entries of the lists of one kind, ready for lookups."""

    exact: list[tuple[str, set[str]]] = field(default_factory=list)  # (list, values)
    suffix: list[tuple[str, set[str]]] = field(default_factory=list)  # (list, names and zones)
    substring: list[tuple[str, list[str]]] = field(default_factory=list)
    ranges: dict[int, list[tuple[str, Sequence[int], Sequence[int]]]] = field(default_factory=dict)
    # version -> [(list name, sorted starts, ends)]: IPv4 as array("I"), bisected in C


def cache_dir() -> Path | None:
    """Where compiled lists are kept: ``SOCFLOW_CACHE_DIR``, else ``$XDG_CACHE_HOME/socflow``,
    else ``~/.cache/socflow`` (plus ``/warninglists``); None when no home is known."""
    base = os.environ.get("SOCFLOW_CACHE_DIR")
    if not base:
        xdg = os.environ.get("XDG_CACHE_HOME")
        home = os.environ.get("HOME")
        if xdg:
            base = os.path.join(xdg, "socflow")
        elif home:
            base = os.path.join(home, ".cache", "socflow")
        else:
            return None
    return Path(base) / "warninglists"


def compile_list(data: dict[str, Any]) -> dict[str, Any]:
    """One list in the compact form socflow matches with (and caches, marshalled): addresses
    and networks as merged, sorted ranges (IPv4 as packed unsigned 32-bit integers), names
    normalised and joined by newlines. Loading it costs a read and a set built in C."""
    attrs = sorted(set(data.get("matching_attributes") or ()))
    out: dict[str, Any] = {"format": _FORMAT, "type": data["type"], "title": str(data.get("name", "")),
                           "attrs": attrs}
    entries = [str(e).strip() for e in data.get("list") or [] if str(e).strip()]
    if data["type"] == "cidr":
        spans: dict[int, list[tuple[int, int]]] = {4: [], 6: []}
        for entry in entries:
            span = _span(entry)
            if span is not None:
                spans[span[0]].append((span[1], span[2]))
        for version, pairs in spans.items():
            starts, ends = _merged(pairs)
            if version == 4:
                out["v4"] = (array(_U32, starts).tobytes(), array(_U32, ends).tobytes())
            else:
                out["v6"] = (starts, ends)
    else:
        lowered = {e.lower() if data["type"] == "substring" else e.lower().strip(".") for e in entries}
        out["names"] = "\n".join(sorted(lowered - {""}))
    return out


class WarningLists:
    """The enabled lists; load on first use. ``match(ioc_type, value)`` -> list names."""

    def __init__(self, names: Sequence[str], directory: Path | None = None,
                 cache: Path | None | bool = True) -> None:
        self.names = tuple(names)
        self._dir = directory
        self._cache = cache_dir() if cache is True else (cache or None)
        self._meta: dict[str, dict[str, Any]] = {}
        self._kinds: dict[str, _Loaded] = {}
        self.loaded: list[str] = []  # lists read so far (for tests and reports)
        self.compiled: list[str] = []  # lists compiled from their JSON in this process

    @classmethod
    def from_settings(cls, settings: WarningListSettings | None) -> WarningLists:
        return cls((settings or WarningListSettings()).names())

    # ---- loading
    def _read(self, name: str) -> dict[str, Any]:
        """The compact form of list ``name``: from the cache when it matches the installed file
        (same size and modification time), else compiled from the JSON and cached."""
        if name in self._meta:
            return self._meta[name]
        path = (self._dir or lists_dir()) / name / "list.json"
        try:
            stat = path.stat()
        except OSError as exc:
            raise ConfigError(f"warning list {name!r}: cannot read {path}: {exc.strerror or exc}") from None
        cached = self._cache / f"{name}-{stat.st_size}-{stat.st_mtime_ns}-{_FORMAT}.marshal" \
            if self._cache else None
        compiled = None
        if cached is not None:
            try:
                compiled = marshal.loads(cached.read_bytes())
            except (OSError, ValueError, EOFError, TypeError):
                compiled = None
            if not isinstance(compiled, dict) or compiled.get("format") != _FORMAT:
                compiled = None
        if compiled is None:
            try:
                data = json.loads(path.read_bytes())
            except (OSError, ValueError) as exc:
                raise ConfigError(f"warning list {name!r}: cannot read {path}: {exc}") from None
            if data.get("type") == "regex":
                raise ConfigError(f"warning list {name!r} is a regex list, which socflow does not support")
            compiled = compile_list(data)
            self.compiled.append(name)
            if cached is not None:
                _write_atomically(cached, marshal.dumps(compiled))
        self._meta[name] = compiled
        self.loaded.append(name)
        return compiled

    def _kind(self, kind: str) -> _Loaded:
        loaded = self._kinds.get(kind)
        if loaded is None:
            loaded = self._kinds[kind] = _Loaded()
            for name in self.names:
                self._load_into(loaded, kind, name)
        return loaded

    def _may_hold(self, kind: str, name: str) -> bool:
        """Whether list ``name`` can hold values of ``kind``, read from the tail of its JSON file
        (the lists are written with sorted keys: ``type`` follows the entries) without loading
        it; when in doubt, True. Saves reading public-dns-v4 when only domains are checked, and
        the name lists when only addresses are."""
        if name in self._meta:
            list_type = self._meta[name]["type"]
        else:
            try:
                with open((self._dir or lists_dir()) / name / "list.json", "rb") as fh:
                    fh.seek(0, 2)
                    fh.seek(max(0, fh.tell() - 4096))
                    found = _TYPE_FIELD.findall(fh.read())
            except OSError:
                return True  # _read says what is wrong
            if len(found) != 1:
                return True
            list_type = found[0].decode()
        if kind == "ip":
            return list_type == "cidr"
        if kind == "name":
            return list_type != "cidr"
        return list_type == "string"

    def _load_into(self, loaded: _Loaded, kind: str, name: str) -> None:
        if not self._may_hold(kind, name):
            return
        data = self._read(name)
        attrs = set(data["attrs"])
        list_type = data["type"]
        if kind == "ip":
            if list_type != "cidr" or not attrs & _IP_ATTRS:
                return
            if "v4" in data:
                starts, ends = array(_U32), array(_U32)
                starts.frombytes(data["v4"][0])
                ends.frombytes(data["v4"][1])
                loaded.ranges.setdefault(4, []).append((name, starts, ends))
            if "v6" in data:
                loaded.ranges.setdefault(6, []).append((name, *data["v6"]))
        elif kind == "name":
            if list_type == "cidr" or not attrs & (_NAME_ATTRS | _URL_ATTRS | _MAIL_ATTRS):
                return
            values = data["names"].split("\n") if data["names"] else []
            if list_type == "substring":
                loaded.substring.append((name, values))
                return
            zone = (list_type == "hostname" and name not in HOST_LISTS) or name in ZONE_LISTS
            (loaded.suffix if zone else loaded.exact).append((name, set(values)))
        elif list_type == "string" and any(attrs & a for a in _HASH_ATTRS.values()):
            loaded.exact.append((name, set(data["names"].split("\n"))))

    # ---- matching
    def match(self, ioc_type: IocType, value: str) -> list[str]:
        """Names of the enabled lists ``value`` is on (empty when none, or no list is enabled)."""
        if not self.names:
            return []
        if ioc_type in _IP_TYPES:
            return self._match_ip(value)
        if ioc_type is IocType.DOMAIN:
            return self._match_name(value.lower().rstrip("."), _NAME_ATTRS)
        if ioc_type is IocType.URL:
            host = _url_host(value)
            if not host:
                return []
            if _looks_like_ip(host):
                return self._match_ip(host.strip("[]"))
            return self._match_name(host, _URL_ATTRS)
        if ioc_type is IocType.MAIL:
            found = self._match_name(value.lower(), _MAIL_ATTRS)
            host = value.rsplit("@", 1)[-1].lower().rstrip(".")
            return sorted(set(found) | set(self._match_name(host, _MAIL_ATTRS)))
        if ioc_type in _HASH_ATTRS:
            low = value.lower()
            return sorted(name for name, values in self._kind("hash").exact
                          if low in values and _HASH_ATTRS[ioc_type] & set(self._meta[name]["attrs"]))
        return []

    def _match_ip(self, value: str) -> list[str]:
        parsed = _ip_int(value)
        if parsed is None:
            return []
        version, number = parsed
        out = []
        for name, starts, ends in self._kind("ip").ranges.get(version, ()):
            i = bisect.bisect_right(starts, number) - 1
            if i >= 0 and number <= ends[i]:
                out.append(name)
        return sorted(out)

    def _match_name(self, value: str, attrs: frozenset[str]) -> list[str]:
        loaded = self._kind("name")
        hits = {name for name, values in loaded.exact if value in values}
        if loaded.suffix:
            labels = value.split(".")
            suffixes = [".".join(labels[i:]) for i in range(len(labels))]
            hits.update(name for name, values in loaded.suffix
                        if any(s in values for s in suffixes))
        hits.update(name for name, entries in loaded.substring if any(e in value for e in entries))
        return sorted(n for n in hits if attrs & set(self._meta[n]["attrs"]))

    def describe(self, name: str) -> str:
        """The list's own title (MISP ``name`` field)."""
        return str(self._read(name)["title"] or name)


def annotate(iocs: Iterable[Ioc], lists: WarningLists) -> int:
    """Set ``ioc.warninglists`` on each distinct indicator (a post-pass); return how many are on one."""
    if not lists.names:
        return 0
    tagged = 0
    for ioc in iocs:
        names = lists.match(ioc.type, ioc.value)
        ioc.warninglists = tuple(names)
        tagged += bool(names)
    return tagged


def tags(names: Iterable[str]) -> list[str]:
    return [f"{TAG_PREFIX}{n}" for n in names]


def listed_in(tag_list: Iterable[str]) -> list[str]:
    """List names from observable tags (``warninglist:<name>``)."""
    return [t[len(TAG_PREFIX):] for t in tag_list if t.startswith(TAG_PREFIX)]


def _span(entry: str) -> tuple[int, int, int] | None:
    """(version, first, last) of an address or a network ``a.b.c.d/n``; None when malformed."""
    address, slash, bits = entry.partition("/")
    parsed = _ip_int(address)
    if parsed is None:
        return None
    version, first = parsed
    width = 32 if version == 4 else 128
    if not slash:
        return version, first, first
    if not bits.isdigit() or int(bits) > width:
        return None
    host = (1 << (width - int(bits))) - 1
    first &= ~host
    return version, first, first | host


def _merged(pairs: list[tuple[int, int]]) -> tuple[list[int], list[int]]:
    starts: list[int] = []
    ends: list[int] = []
    for start, end in sorted(pairs):
        if ends and start <= ends[-1] + 1:
            ends[-1] = max(ends[-1], end)
        else:
            starts.append(start)
            ends.append(end)
    return starts, ends


def _write_atomically(path: Path, blob: bytes) -> None:
    """Best effort: a cache that cannot be written (read-only home, full disk) is skipped."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(blob)
        os.replace(tmp, path)
    except OSError:
        pass


def _ip_int(value: str) -> tuple[int, int] | None:
    try:
        return 4, int.from_bytes(socket.inet_pton(socket.AF_INET, value), "big")
    except OSError:
        pass
    try:
        return 6, int.from_bytes(socket.inet_pton(socket.AF_INET6, value.split("%", 1)[0]), "big")
    except OSError:
        return None


def _url_host(url: str) -> str:
    rest = url.split("://", 1)[-1]
    authority = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    host = authority.rsplit("@", 1)[-1]
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.split(":", 1)[0].lower().rstrip(".")


def _looks_like_ip(host: str) -> bool:
    return host.startswith("[") or _ip_int(host) is not None
