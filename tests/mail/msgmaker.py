"""Writing Outlook .msg files for the tests, without any sample from elsewhere.

A .msg is an OLE compound file of MAPI properties (MS-OXMSG): fixed-size values in a
``__properties_version1.0`` stream, strings and binaries in ``__substg1.0_<id><type>`` streams,
one ``__attach_version1.0_#N`` storage per attachment. extract-msg's own OLE writer lays out the
compound file; the properties are written here, as MS-OXMSG §2.4 describes them.
"""

from __future__ import annotations

import struct
from pathlib import Path

from extract_msg.ole_writer import OleWriter

PT_UNICODE, PT_BINARY, PT_LONG, PT_OBJECT = 0x001F, 0x0102, 0x0003, 0x000D


def _props(entries: list[tuple[int, object]], header: bytes) -> bytes:
    out = bytearray(header)
    for tag, value in entries:
        kind = tag & 0xFFFF
        if kind == PT_UNICODE:
            out += struct.pack("<IIII", tag, 6, len(value) + 2, 0)  # type: ignore[arg-type]
        elif kind in (PT_BINARY, PT_OBJECT):
            out += struct.pack("<IIII", tag, 6, len(value), 0)  # type: ignore[arg-type]
        else:
            out += struct.pack("<IIQ", tag, 6, value)
    return bytes(out)


def _strings(writer: OleWriter, base: str, values: dict[int, str]) -> list[tuple[int, object]]:
    entries: list[tuple[int, object]] = []
    for pid, text in values.items():
        tag = (pid << 16) | PT_UNICODE
        data = text.encode("utf-16-le")
        writer.addEntry(f"{base}__substg1.0_{tag:08X}", data)
        entries.append((tag, data))
    return entries


def _message(writer: OleWriter, base: str, eml_headers: str, body: str, subject: str,
             sender: str, attachments: list[tuple[str, str, bytes]], top: bool) -> None:
    entries = _strings(writer, base, {0x001A: "IPM.Note", 0x0037: subject, 0x007D: eml_headers,
                                      0x1000: body, 0x0C1F: sender, 0x0C1A: sender})
    for i, (name, mime, data) in enumerate(attachments):
        folder = f"{base}__attach_version1.0_#{i:08X}/"
        writer.addEntry(folder[:-1], storage=True)
        att = _strings(writer, folder, {0x3707: name, 0x3704: name, 0x370E: mime})
        tag = (0x3701 << 16) | PT_BINARY
        writer.addEntry(f"{folder}__substg1.0_{tag:08X}", data)
        att += [(tag, data), ((0x3705 << 16) | PT_LONG, 1)]  # attach method: by value
        writer.addEntry(f"{folder}__properties_version1.0", _props(att, b"\0" * 8))
    count = len(attachments)
    header = struct.pack("<8sIIII", b"\0" * 8, 0, count, 0, count) + (b"\0" * 8 if top else b"")
    writer.addEntry(f"{base}__properties_version1.0", _props(entries, header))


def write_msg(path: Path, headers: list[str], body: str, *,
              attachments: list[tuple[str, str, bytes]] = ()) -> Path:  # type: ignore[assignment]
    """An Outlook message whose transport headers are ``headers`` (as a server wrote them)."""
    fields = dict(line.split(": ", 1) for line in headers if ": " in line)
    writer = OleWriter()
    writer.addEntry("__nameid_version1.0", storage=True)
    for stream in ("00020102", "00030102", "00040102"):
        writer.addEntry(f"__nameid_version1.0/__substg1.0_{stream}", b"")
    _message(writer, "", "\r\n".join(headers) + "\r\n\r\n", body, fields.get("Subject", ""),
             fields.get("From", ""), list(attachments), top=True)
    writer.write(str(path))
    return path
