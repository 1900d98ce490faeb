"""Outlook ``.msg`` (OLE compound file) → RFC 5322 bytes, so the rest of the stage reads one format.

extract-msg (GPL-3.0, compatible with socflow's AGPL-3.0-or-later) reads the MAPI properties and
its ``asEmailMessage()`` rebuilds a MIME message: the transport headers Outlook kept
(``PR_TRANSPORT_MESSAGE_HEADERS``: Received, Authentication-Results, … as the server wrote them),
the text and HTML bodies, the attachments, and embedded ``.msg`` attachments as
``message/rfc822`` parts (so a report carrying a ``.msg`` is unwrapped like any other). It and
its dependencies load only when a ``.msg`` is met.
"""

from __future__ import annotations

import logging

from ..errors import InputError

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def is_msg(data: bytes) -> bool:
    """An OLE compound file: what Outlook saves (Office 97-2003 documents are OLE too; those are
    refused by :func:`to_eml` as not being messages)."""
    return data[:8] == OLE_MAGIC


def to_eml(data: bytes, name: str) -> bytes:
    """The message as RFC 5322 bytes; ``InputError`` naming ``name`` when it cannot be read."""
    try:
        import extract_msg
        from extract_msg.msg_classes import MessageBase
    except ImportError:  # pragma: no cover - a dependency of socflow
        raise InputError(f"{name}: an Outlook .msg file, but extract-msg is not installed") from None
    for logger in ("extract_msg", "RTFDE", "olefile"):
        logging.getLogger(logger).setLevel(logging.CRITICAL)  # a library's chatter is no output
    msg = None
    try:
        msg = extract_msg.openMsg(data, delayAttachments=False)
        if not isinstance(msg, MessageBase):
            kind = type(msg).__name__
            raise InputError(f"{name}: an Outlook item of another kind ({kind}), not a message")
        from email.generator import BytesGenerator
        from email.policy import SMTP
        import io

        out = io.BytesIO()
        BytesGenerator(out, mangle_from_=False, policy=SMTP.clone(max_line_length=0)).flatten(
            msg.asEmailMessage())
        return out.getvalue()
    except InputError:
        raise
    except RecursionError:
        raise InputError(f"{name}: the .msg nests too deeply to be read") from None
    except Exception as exc:  # noqa: BLE001 - any parse failure of a hostile file is one line
        text = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise InputError(f"{name}: not a readable Outlook .msg file ({text})") from None
    finally:
        if msg is not None:
            try:
                msg.close()
            except Exception:  # noqa: BLE001
                pass
