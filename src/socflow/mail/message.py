"""Reading a message: bytes → ``email.message.EmailMessage`` with every access fenced.

The stdlib parser (``policy.default``) decodes RFC 2047 words (Microsoft writes encoded
Authentication-Results) and lists defects, but raises on some real headers (``IndexError``,
``AttributeError``; fact sheet §4): every header read goes through :func:`header_values`, which
falls back to the raw field text. Parts are walked without recursion, bounded by count and depth.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from typing import Any

from ..errors import InputError

PARSE_POLICY = email.policy.default.clone(max_line_length=None)


def parse_bytes(data: bytes) -> tuple[EmailMessage, list[str]]:
    """The parsed message and problems found while parsing (as text, for the report).

    A MIME tree nested deeper than the parser can follow is parsed for its headers only.
    """
    problems: list[str] = []
    try:
        msg = email.message_from_bytes(data, policy=PARSE_POLICY)
    except RecursionError:
        problems.append("MIME structure nested too deeply to parse; headers only")
        head = data.split(b"\r\n\r\n", 1)[0] if b"\r\n\r\n" in data[:1 << 20] else \
            data.split(b"\n\n", 1)[0]
        msg = email.message_from_bytes(head + b"\n\n", policy=PARSE_POLICY)
    except Exception as exc:  # noqa: BLE001 - the stdlib parser's failures are not documented
        raise InputError(f"not a readable e-mail message: {type(exc).__name__}: {exc}") from None
    return msg, problems  # type: ignore[return-value]


def _raw_fields(msg: Message, name: str) -> list[str]:
    lname = name.lower()
    out = []
    for key, value in getattr(msg, "_headers", []):
        if key.lower() == lname:
            out.append(value if isinstance(value, str) else str(value))
    return out


def header_values(msg: Message, name: str) -> list[str]:
    """Every value of header ``name``, top first, RFC 2047-decoded; never raises."""
    try:
        values = msg.get_all(name) or []
        return [_decoded(str(v)) for v in values]
    except Exception:  # noqa: BLE001 - e.g. IndexError on "< [an10]. …>" Message-Ids
        return [_decode_words(v) for v in _raw_fields(msg, name)]


def header(msg: Message, name: str) -> str:
    values = header_values(msg, name)
    return values[0] if values else ""


def _decoded(value: str) -> str:
    return _decode_words(value) if "=?" in value else value


def _decode_words(value: str) -> str:
    if "=?" not in value:
        return _unfold(value)
    try:
        return _unfold(str(make_header(decode_header(value))))
    except Exception:  # noqa: BLE001 - malformed encoded words stay as written
        return _unfold(value)


def _unfold(value: str) -> str:
    return " ".join(value.replace("\r", " ").replace("\n", " ").split()) if (
        "\n" in value or "\r" in value) else value


def addresses(msg: Message, name: str) -> list[tuple[str, str]]:
    """``[(display name, address)]`` of an address header, tolerant of broken syntax."""
    out: list[tuple[str, str]] = []
    for value in header_values(msg, name):
        try:
            parsed = msg.policy.header_factory(name, value)  # type: ignore[attr-defined]
            for addr in getattr(parsed, "addresses", ()):
                out.append((str(addr.display_name or ""), str(addr.addr_spec or "").strip("<>")))
            if getattr(parsed, "addresses", None):
                continue
        except Exception:  # noqa: BLE001
            pass
        out.extend(_loose_addresses(value))
    return [(n, a) for n, a in out if a or n]


def _loose_addresses(value: str) -> list[tuple[str, str]]:
    """Fallback for headers the structured parser rejects: ``name <addr>`` or a bare addr."""
    value = value.strip()
    if "<" in value and ">" in value.rsplit("<", 1)[1]:
        name, _, rest = value.rpartition("<")
        return [(name.strip().strip('"').strip(), rest.split(">", 1)[0].strip())]
    token = next((t for t in value.replace(",", " ").split() if "@" in t), "")
    return [("", token.strip("<>\"'"))] if token else []


def walk(msg: Message, max_parts: int, max_depth: int) -> tuple[list[tuple[Message, int]], int]:
    """Leaf and container parts (depth-first, document order) up to the caps; and how many
    parts were left unread."""
    out: list[tuple[Message, int]] = []
    skipped = 0
    stack: list[tuple[Message, int]] = [(msg, 0)]
    while stack:
        part, depth = stack.pop()
        if len(out) >= max_parts or depth > max_depth:
            skipped += 1
            continue
        out.append((part, depth))
        if part.is_multipart():
            try:
                children = part.get_payload()
            except Exception:  # noqa: BLE001
                children = []
            if isinstance(children, list):
                if part.get_content_type() == "message/rfc822":
                    continue  # an attached message is analysed on its own, not as our parts
                stack.extend((c, depth + 1) for c in reversed(children) if isinstance(c, Message))
    return out, skipped


def content_type(part: Message) -> str:
    try:
        return part.get_content_type()
    except Exception:  # noqa: BLE001
        return "application/octet-stream"


def filename(part: Message) -> str:
    try:
        name = part.get_filename() or ""
    except Exception:  # noqa: BLE001
        name = ""
    if not name:
        try:
            name = part.get_param("name", header="content-type") or ""  # type: ignore[assignment]
        except Exception:  # noqa: BLE001
            name = ""
        if isinstance(name, tuple):
            name = email.utils.collapse_rfc2231_value(name)
    return _decode_words(str(name)).strip()


def is_attachment(part: Message) -> bool:
    try:
        disposition = (part.get_content_disposition() or "").lower()
    except Exception:  # noqa: BLE001
        disposition = ""
    if disposition == "attachment" or filename(part):
        return True
    ctype = content_type(part)
    return not (ctype.startswith("text/") or ctype.startswith("multipart/")
                or ctype == "message/rfc822")


def text_of(part: Message, max_chars: int) -> str:
    """A text part decoded with its charset; unknown or wrong charsets fall back to UTF-8 with
    replacement, never raise."""
    try:
        raw = part.get_payload(decode=True) or b""
    except Exception:  # noqa: BLE001
        payload = part.get_payload()
        raw = payload.encode("utf-8", "replace") if isinstance(payload, str) else b""
    if not isinstance(raw, bytes):
        return ""
    raw = raw[: max_chars * 4]
    charset = "utf-8"
    try:
        charset = part.get_content_charset() or "utf-8"
    except Exception:  # noqa: BLE001
        pass
    try:
        text = raw.decode(charset, "replace")
    except (LookupError, ValueError):
        text = raw.decode("utf-8", "replace")
    return text[:max_chars]


def payload_chunks(part: Message, chunk: int = 1 << 20) -> Iterator[bytes]:
    """The decoded body of a leaf part in pieces: base64 is decoded a slice at a time so a large
    attachment is never held decoded in full next to its encoded text."""
    import base64
    import binascii

    cte = str(part.get("content-transfer-encoding", "")).strip().lower()
    payload: Any = part.get_payload()
    if cte == "base64" and isinstance(payload, str):
        # Keep only base64 alphabet characters; decode in slices of a multiple of 4.
        pending = ""
        step = chunk // 3 * 4
        for start in range(0, len(payload), step):
            piece = "".join(payload[start : start + step].split())
            pending += piece
            usable = len(pending) // 4 * 4
            if usable:
                try:
                    yield base64.b64decode(pending[:usable], validate=False)
                except (binascii.Error, ValueError):
                    yield base64.b64decode(_b64clean(pending[:usable]))
                pending = pending[usable:]
        if pending.strip("="):
            try:
                yield base64.b64decode(pending + "=" * (-len(pending) % 4))
            except (binascii.Error, ValueError):
                pass
        return
    try:
        data = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001
        data = None
    if isinstance(data, bytes):
        for start in range(0, len(data), chunk):
            yield data[start : start + chunk]


def _b64clean(text: str) -> bytes:
    import base64
    import re

    cleaned = re.sub(r"[^A-Za-z0-9+/]", "", text)
    cleaned = cleaned[: len(cleaned) // 4 * 4]
    return base64.b64decode(cleaned) if cleaned else b""


def split_raw(data: bytes) -> tuple[bytes, bytes]:
    """Header block and body as transmitted (for DKIM's body hash)."""
    found = [(i, sep) for sep in (b"\r\n\r\n", b"\n\n") if (i := data.find(sep)) >= 0]
    if not found:
        return data, b""
    i, sep = min(found)
    return data[:i], data[i + len(sep):]
