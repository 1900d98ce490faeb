"""Indicator helpers the providers share: canonical values, Cortex data types, public-IP test.

IP classes come from the core validator (its Public Suffix List loads only when a domain is
checked, so an analyzer answering from the cache still starts fast).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from ..errors import InputError
from ..extract.validate import classify_ip
from ..models import IocType, IpClass

HASH_TYPES = {32: IocType.MD5, 40: IocType.SHA1, 64: IocType.SHA256}
IP_TYPES = frozenset({IocType.IPV4, IocType.IPV6})
HASHES = frozenset(HASH_TYPES.values())


def ioc_type_of(data_type: str, value: str) -> IocType:
    """Map a Cortex/TheHive ``dataType`` and its value to an :class:`IocType`."""
    value = value.strip()
    if data_type == "ip":
        try:
            ip = ipaddress.ip_address(value)
        except ValueError:
            raise InputError(f"{value!r} is not an IP address") from None
        return IocType.IPV4 if ip.version == 4 else IocType.IPV6
    if data_type in ("domain", "fqdn", "hostname"):
        if not value or "/" in value or " " in value or "." not in value:
            raise InputError(f"{value!r} is not a domain name")
        return IocType.DOMAIN
    if data_type == "url":
        if "://" not in value:
            raise InputError(f"{value!r} is not a URL (no scheme)")
        return IocType.URL
    if data_type == "hash":
        kind = HASH_TYPES.get(len(value))
        if kind is None or any(c not in "0123456789abcdefABCDEF" for c in value):
            raise InputError(f"{value!r} is not an MD5, SHA-1 or SHA-256 hash")
        return kind
    raise InputError(f"data type {data_type!r} cannot be looked up")


def canonical(ioc_type: IocType, value: str) -> str:
    """The form used as cache key and in API paths (hashes and domains lower-cased, IPs compressed)."""
    value = value.strip()
    if ioc_type in IP_TYPES:
        return str(ipaddress.ip_address(value))
    if ioc_type in HASHES or ioc_type is IocType.DOMAIN:
        return value.lower().rstrip(".")
    return value


def is_public_ip(value: str) -> bool:
    """True for a globally routable address (the core's classification, one source of truth)."""
    return classify_ip(value) is IpClass.PUBLIC


def ip_scope(value: str) -> str:
    """A short word for a non-public address (shown in reports instead of a lookup)."""
    ip_class = classify_ip(value)
    return ip_class.value if ip_class is not None else "invalid"


def vt_url_id(url: str) -> str:
    """VirusTotal's URL identifier: unpadded base64url of the URL."""
    import base64  # here and in sha256_file: a job answered from the cache needs neither

    return base64.urlsafe_b64encode(url.encode("utf-8")).decode("ascii").rstrip("=")


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file, streamed (files are hashed locally and never uploaded by GetReport)."""
    import hashlib

    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while block := fh.read(chunk):
                digest.update(block)
    except OSError as exc:
        raise InputError(f"cannot read the file to hash: {exc.strerror}") from None
    return digest.hexdigest()
