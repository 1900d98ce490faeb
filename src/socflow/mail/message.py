"""Reading a message: bytes → ``email.message.EmailMessage`` with every access fenced.

The stdlib parser (``policy.default``) decodes RFC 2047 words (Microsoft writes encoded
Authentication-Results) and lists defects, but raises on some real headers (``IndexError``,
``AttributeError``; fact sheet §4): every header read goes through :func:`header_values`, which
falls back to the raw field text. Parts are walked without recursion, bounded by count and depth.
"""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Iterator
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from typing import Any

from ..errors import InputError

PARSE_POLICY = email.policy.default.clone(max_line_length=None)


BLOB_MIN = 256 << 10  # base64 runs longer than this are parsed as a placeholder
# A body that starts right after its part's blank line, made of base64 lines only.
_B64_RUN = re.compile(rb"(?:(?<=\n\n)|(?<=\n\r\n))(?:[A-Za-z0-9+/=]{1,998}\r?\n)++")
_BASE64_CTE = re.compile(rb"(?i)content-transfer-encoding:\s*base64")
_PLACEHOLDER = re.compile(r"^\s*SOCFLOW-BLOB-(\d+)\s*$")


class Blobs:
    """Large base64 bodies kept as (start, end) spans of the raw message instead of inside the
    parsed tree. The stdlib parser keeps each body line as its own string (~3x the size of the
    text) and then joins them again; a 70 MB message peaked at ~650 MB RSS. With the runs left
    out of the parse, a message costs about its own size, and an attachment is decoded from the
    raw bytes a slice at a time."""

    def __init__(self) -> None:
        # (raw message, start, end): a reported message's runs and its report's live side by side
        self.spans: list[tuple[bytes, int, int]] = []

    def hollow(self, data: bytes) -> bytes:
        if len(data) < BLOB_MIN:
            return data
        pieces = []
        last = 0
        for m in _B64_RUN.finditer(data):
            if m.end() - m.start() < BLOB_MIN or not _BASE64_CTE.search(
                    data, max(m.start() - 2048, last), m.start()):
                continue
            pieces.append(data[last : m.start()])
            pieces.append(b"SOCFLOW-BLOB-%d\n" % len(self.spans))
            self.spans.append((data, m.start(), m.end()))
            last = m.end()
        if not pieces:
            return data
        pieces.append(data[last:])
        return b"".join(pieces)

    def span_of(self, payload: object) -> tuple[bytes, int, int] | None:
        if not isinstance(payload, str) or len(payload) > 64 or "SOCFLOW-BLOB-" not in payload:
            return None
        m = _PLACEHOLDER.match(payload)
        if not m or int(m.group(1)) >= len(self.spans):
            return None
        return self.spans[int(m.group(1))]


def parse_bytes(data: bytes, blobs: Blobs | None = None) -> tuple[EmailMessage, list[str]]:
    """The parsed message and problems found while parsing (as text, for the report).

    A MIME tree nested deeper than the parser can follow is parsed for its headers only.
    With ``blobs``, long base64 bodies are left out of the parse (see :class:`Blobs`).
    """
    problems: list[str] = []
    if blobs is not None:
        data = blobs.hollow(data)
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


def text_of(part: Message, max_chars: int, blobs: Blobs | None = None) -> str:
    """A text part decoded with its charset; unknown or wrong charsets fall back to UTF-8 with
    replacement, never raise."""
    if blobs is not None and blobs.span_of(part.get_payload()) is not None:
        raw = b""
        for piece in payload_chunks(part, blobs):
            raw += piece
            if len(raw) >= max_chars * 4:
                break
    else:
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


def payload_chunks(part: Message, blobs: Blobs | None = None,
                   chunk: int = 1 << 20) -> Iterator[bytes]:
    """The decoded body of a leaf part in pieces: base64 is decoded a slice at a time so a large
    attachment is never held decoded in full next to its encoded text."""
    import base64
    import binascii

    cte = str(part.get("content-transfer-encoding", "")).strip().lower()
    payload: Any = part.get_payload()
    span = blobs.span_of(payload) if blobs is not None else None
    if span is not None:
        yield from _b64_span(span, chunk)
        return
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


def _b64_span(span: tuple[bytes, int, int], chunk: int) -> Iterator[bytes]:
    import base64
    import binascii

    data, start, end = span
    view = memoryview(data)
    pending = b""
    step = chunk // 3 * 4
    for pos in range(start, end, step):
        pending += bytes(view[pos : min(pos + step, end)]).translate(None, b"\r\n \t")
        usable = len(pending) // 4 * 4
        if usable:
            try:
                yield base64.b64decode(pending[:usable])
            except (binascii.Error, ValueError):
                yield _b64clean(pending[:usable].decode("ascii", "replace"))
            pending = pending[usable:]
    if pending.strip(b"="):
        try:
            yield base64.b64decode(pending + b"=" * (-len(pending) % 4))
        except (binascii.Error, ValueError):
            pass


def _b64clean(text: str) -> bytes:
    import base64
    import re

    cleaned = re.sub(r"[^A-Za-z0-9+/]", "", text)
    cleaned = cleaned[: len(cleaned) // 4 * 4]
    return base64.b64decode(cleaned) if cleaned else b""


def body_offset(data: bytes) -> int:
    """Where the body starts in the message as transmitted (for DKIM's body hash)."""
    found = [(i, sep) for sep in (b"\r\n\r\n", b"\n\n") if (i := data.find(sep)) >= 0]
    if not found:
        return len(data)
    i, sep = min(found)
    return i + len(sep)
