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
import hashlib
import importlib.util
import json
import marshal
import os
import re
import socket
import stat as stat_mode
from socket import AF_INET
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
class _Kind:
    """Every enabled list of one kind merged into one structure, so one lookup answers for all
    lists: bit ``i`` of a mask stands for ``names[i]``. Addresses: disjoint sorted segments (IPv4
    starts/ends packed as 32-bit integers) with the mask of the lists covering each; names and
    hashes: value → mask. Built once per set of enabled lists and cached like the lists."""

    names: list[str] = field(default_factory=list)
    attrs: list[list[str]] = field(default_factory=list)  # per bit: the list's matching attributes
    v4: tuple[Sequence[int], Sequence[int], list[int]] | None = None
    v6: tuple[list[int], list[int], list[int]] | None = None
    exact: dict[str, int] = field(default_factory=dict)
    suffix: dict[str, int] = field(default_factory=dict)
    substring: list[tuple[int, list[str]]] = field(default_factory=list)
    _by_attrs: dict[frozenset[str], int] = field(default_factory=dict)
    _decoded: dict[int, list[str]] = field(default_factory=dict)

    def allowed(self, attrs: frozenset[str]) -> int:
        mask = self._by_attrs.get(attrs)
        if mask is None:
            mask = self._by_attrs[attrs] = sum(
                1 << i for i, a in enumerate(self.attrs) if attrs & set(a))
        return mask

    def decode(self, mask: int) -> list[str]:
        names = self._decoded.get(mask)
        if names is None:
            names = self._decoded[mask] = sorted(
                n for i, n in enumerate(self.names) if mask >> i & 1)
        return names


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
        self._cache = _private_cache(cache_dir() if cache is True else (cache or None))
        self._meta: dict[str, dict[str, Any]] = {}
        self._kinds: dict[str, _Kind] = {}
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
                compiled = marshal.loads(_read_own(cached))
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

    def _kind(self, kind: str) -> _Kind:
        merged = self._kinds.get(kind)
        if merged is None:
            merged = self._kinds[kind] = self._merged_kind(kind)
        return merged

    def _merged_kind(self, kind: str) -> _Kind:
        """The merged structure of ``kind`` from the cache, else built from the lists."""
        key = None
        if self._cache is not None:
            stamps = []
            for name in self.names:
                try:
                    st = ((self._dir or lists_dir()) / name / "list.json").stat()
                except OSError:
                    break  # _read says what is wrong
                stamps.append(f"{name}:{st.st_size}:{st.st_mtime_ns}")
            else:
                digest = hashlib.sha256("\n".join(stamps).encode()).hexdigest()[:24]
                key = self._cache / f"merged-{kind}-{digest}-{_FORMAT}.marshal"
                try:
                    data = marshal.loads(_read_own(key))
                    if isinstance(data, dict) and data.get("format") == _FORMAT:
                        return self._kind_from(data)
                except (OSError, ValueError, EOFError, TypeError, KeyError):
                    pass
        data = self._build_kind(kind)
        if key is not None:
            _write_atomically(key, marshal.dumps(data))
        return self._kind_from(data)

    @staticmethod
    def _kind_from(data: dict[str, Any]) -> _Kind:
        merged = _Kind(names=list(data["names"]), attrs=[list(a) for a in data["attrs"]],
                       exact=data["exact"], suffix=data["suffix"],
                       substring=[(bit, list(v)) for bit, v in data["substring"]])
        if data.get("v4"):
            starts, ends = array(_U32), array(_U32)
            starts.frombytes(data["v4"][0])
            ends.frombytes(data["v4"][1])
            merged.v4 = (starts, ends, list(data["v4"][2]))
        if data.get("v6"):
            merged.v6 = (list(data["v6"][0]), list(data["v6"][1]), list(data["v6"][2]))
        return merged

    def _build_kind(self, kind: str) -> dict[str, Any]:
        names: list[str] = []
        attrs: list[list[str]] = []
        spans: dict[int, list[tuple[int, Sequence[int], Sequence[int]]]] = {4: [], 6: []}
        exact: dict[str, int] = {}
        suffix: dict[str, int] = {}
        substring: list[tuple[int, list[str]]] = []
        for name in self.names:
            if not self._may_hold(kind, name):
                continue
            data = self._read(name)
            list_attrs, list_type = set(data["attrs"]), data["type"]
            if kind == "ip":
                if list_type != "cidr" or not list_attrs & _IP_ATTRS:
                    continue
            elif kind == "name":
                if list_type == "cidr" or not list_attrs & (_NAME_ATTRS | _URL_ATTRS | _MAIL_ATTRS):
                    continue
            elif list_type != "string" or not any(list_attrs & a for a in _HASH_ATTRS.values()):
                continue
            bit = len(names)
            names.append(name)
            attrs.append(sorted(list_attrs))
            if kind == "ip":
                if "v4" in data:
                    starts, ends = array(_U32), array(_U32)
                    starts.frombytes(data["v4"][0])
                    ends.frombytes(data["v4"][1])
                    spans[4].append((bit, starts, ends))
                if "v6" in data:
                    spans[6].append((bit, *data["v6"]))
                continue
            values = data["names"].split("\n") if data["names"] else []
            if list_type == "substring":
                substring.append((bit, values))
                continue
            zone = kind == "name" and (
                (list_type == "hostname" and name not in HOST_LISTS) or name in ZONE_LISTS)
            target = suffix if zone else exact
            flag = 1 << bit
            for value in values:
                target[value] = target.get(value, 0) | flag
        out: dict[str, Any] = {"format": _FORMAT, "names": names, "attrs": attrs, "exact": exact,
                               "suffix": suffix, "substring": substring}
        if spans[4]:
            starts4, ends4, masks4 = _segments(spans[4])
            out["v4"] = (array(_U32, starts4).tobytes(), array(_U32, ends4).tobytes(), masks4)
        if spans[6]:
            out["v6"] = _segments(spans[6])
        return out

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
            if not self._kind("name").allowed(_MAIL_ATTRS):
                return []  # no enabled list is about mail addresses (none of the defaults is)
            found = self._match_name(value.lower(), _MAIL_ATTRS)
            host = value.rsplit("@", 1)[-1].lower().rstrip(".")
            return sorted(set(found) | set(self._match_name(host, _MAIL_ATTRS)))
        if ioc_type in _HASH_ATTRS:
            kind = self._kind("hash")
            mask = kind.exact.get(value.lower(), 0)
            return kind.decode(mask & kind.allowed(_HASH_ATTRS[ioc_type])) if mask else []
        return []

    def _match_ip(self, value: str) -> list[str]:
        parsed = _ip_int(value)
        if parsed is None:
            return []
        version, number = parsed
        kind = self._kind("ip")
        table = kind.v4 if version == 4 else kind.v6
        if table is None:
            return []
        starts, ends, masks = table
        i = bisect.bisect_right(starts, number) - 1
        if i < 0 or number > ends[i]:
            return []
        return kind.decode(masks[i])

    def _match_name(self, value: str, attrs: frozenset[str]) -> list[str]:
        kind = self._kind("name")
        mask = kind.exact.get(value, 0)
        if kind.suffix:
            get = kind.suffix.get
            mask |= get(value, 0)
            dot = value.find(".")
            while dot >= 0:
                mask |= get(value[dot + 1:], 0)
                dot = value.find(".", dot + 1)
        for bit, entries in kind.substring:
            if any(e in value for e in entries):
                mask |= 1 << bit
        return kind.decode(mask & kind.allowed(attrs)) if mask else []

    def describe(self, name: str) -> str:
        """The list's own title (MISP ``name`` field)."""
        return str(self._read(name)["title"] or name)


def annotate(iocs: Iterable[Ioc], lists: WarningLists) -> int:
    """Set ``ioc.warninglists`` on each distinct indicator (a post-pass); return how many are on one.

    IPv4 addresses, most of a log's indicators, take a tight loop (one bisect each over the
    merged segments); the other types go through :meth:`WarningLists.match`."""
    if not lists.names:
        return 0
    tagged = 0
    ipv4: list[Ioc] = []
    for ioc in iocs:
        if ioc.type is IocType.IPV4:
            ipv4.append(ioc)
            continue
        names = lists.match(ioc.type, ioc.value)
        ioc.warninglists = tuple(names)
        tagged += bool(names)
    if ipv4:
        kind = lists._kind("ip")
        if kind.v4 is None:
            for ioc in ipv4:
                ioc.warninglists = ()
            return tagged
        starts, ends, masks = kind.v4
        pton, from_bytes, find, decode = socket.inet_pton, int.from_bytes, bisect.bisect_right, kind.decode
        for ioc in ipv4:
            try:
                number = from_bytes(pton(AF_INET, ioc.value), "big")
            except OSError:
                ioc.warninglists = tuple(lists.match(ioc.type, ioc.value))
                tagged += bool(ioc.warninglists)
                continue
            i = find(starts, number) - 1
            if i >= 0 and number <= ends[i]:
                ioc.warninglists = tuple(decode(masks[i]))
                tagged += 1
            else:
                ioc.warninglists = ()
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


def _segments(per_list: list[tuple[int, Sequence[int], Sequence[int]]]) -> tuple[list[int], list[int], list[int]]:
    """Disjoint sorted segments and, for each, the mask of the lists covering it. Each list's
    ranges are merged (never adjacent), so a boundary toggles its list's bit."""
    events: list[tuple[int, int]] = []
    for bit, starts, ends in per_list:
        flag = 1 << bit
        events.extend((start, flag) for start in starts)
        events.extend((end + 1, flag) for end in ends)
    events.sort()
    seg_starts: list[int] = []
    seg_ends: list[int] = []
    masks: list[int] = []
    mask, prev, i, count = 0, 0, 0, len(events)
    while i < count:
        pos = events[i][0]
        if mask and prev < pos:
            seg_starts.append(prev)
            seg_ends.append(pos - 1)
            masks.append(mask)
        while i < count and events[i][0] == pos:
            mask ^= events[i][1]
            i += 1
        prev = pos
    return seg_starts, seg_ends, masks


def _private_cache(directory: Path | None) -> Path | None:
    """``directory`` when only this user can write it (created 0700 if missing), else None.

    A compiled list decides which values are never looked up, so a cache another local user
    could write (a shared /tmp, a group-writable home) is not used: the lists are compiled in
    memory instead, which costs time, never a wrong answer."""
    if directory is None:
        return None
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = os.lstat(directory)
    except OSError:
        return None
    if not stat_mode.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
        return None
    return directory


def _read_own(path: Path) -> bytes:
    """A cache file's bytes, if it is a regular file of this user that nobody else may write
    (not a link planted in its place); OSError otherwise, which callers treat as a miss."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat_mode.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
            raise OSError(f"{path}: not a private file")
        return fh.read()


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
