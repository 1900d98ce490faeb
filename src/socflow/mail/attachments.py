"""Attachments: hashes, the real type by content vs the name's extension, double extensions,
executables and scripts, archives listed (nested, encrypted), Office macros (oletools), PDF
actions, disk images, shortcuts, OneNote and HTML files.

Payloads are read a slice at a time (hashes over the whole file); only a file up to
``limits.max_attachment_scan_bytes`` is kept whole for the deeper look (zip directory, Office,
PDF). Archives are listed from their central directory; a member is only decompressed (nested
archives, one level) within the same cap, so a zip bomb costs the cap, not its claimed size.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from collections.abc import Iterable
from typing import Any

from .model import Attachment, Finding
from .policy import MailPolicy

EXECUTABLE_EXT = frozenset({
    "exe", "scr", "com", "pif", "cpl", "dll", "msi", "msix", "msp", "appx", "appxbundle",
    "jar", "gadget", "application", "xll", "sys", "elf", "apk", "dmg", "pkg", "app",
})
SCRIPT_EXT = frozenset({
    "js", "jse", "vbs", "vbe", "wsf", "wsh", "wsc", "ps1", "psm1", "bat", "cmd", "hta",
    "sct", "reg", "inf", "scf", "sh", "py", "pl", "vb", "chm", "settingcontent-ms", "library-ms",
})
DISK_IMAGE_EXT = frozenset({"iso", "img", "vhd", "vhdx", "udf"})
SHORTCUT_EXT = frozenset({"lnk", "url", "appref-ms", "desktop", "website"})
ONENOTE_EXT = frozenset({"one", "onepkg"})
HTML_EXT = frozenset({"htm", "html", "shtml", "xhtml", "svg", "mht", "mhtml", "xht"})
ARCHIVE_EXT = frozenset({"zip", "rar", "7z", "gz", "tgz", "bz2", "xz", "tar", "cab", "ace",
                         "arj", "lzh", "z", "zipx", "iso", "img"})
DECOY_EXT = frozenset({"pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "txt", "rtf", "jpg",
                       "jpeg", "png", "gif", "zip", "mp3", "mp4", "csv", "odt", "htm", "html"})
OFFICE_EXT = frozenset({"doc", "dot", "docx", "docm", "dotm", "xls", "xlt", "xlsx", "xlsm",
                        "xlsb", "xltm", "xla", "xlam", "ppt", "pot", "pps", "pptx", "pptm",
                        "potm", "ppsm", "rtf"})
BIDI = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f]")

# What each extension's content should look like (real types from sniff()).
EXPECTED = {
    "pdf": {"pdf"}, "zip": {"zip"}, "docx": {"zip"}, "xlsx": {"zip"}, "pptx": {"zip"},
    "docm": {"zip"}, "xlsm": {"zip"}, "pptm": {"zip"}, "odt": {"zip"}, "ods": {"zip"},
    "doc": {"ole", "rtf"}, "xls": {"ole"}, "ppt": {"ole"}, "msg": {"ole"},
    "jpg": {"jpeg"}, "jpeg": {"jpeg"}, "png": {"png"}, "gif": {"gif"}, "bmp": {"bmp"},
    "txt": {"text", "html"}, "csv": {"text"}, "rtf": {"rtf"}, "rar": {"rar"}, "7z": {"7z"},
    "gz": {"gzip"}, "tgz": {"gzip"}, "iso": {"iso"}, "exe": {"pe"}, "dll": {"pe"},
    "htm": {"html", "text"}, "html": {"html", "text"}, "lnk": {"lnk"}, "one": {"onenote"},
    "eml": {"text", "html"}, "ics": {"text"}, "xml": {"text", "html"}, "json": {"text"},
    "mp3": {"mp3"}, "mp4": {"mp4"}, "wav": {"wav"},
}
EXECUTABLE_TYPES = frozenset({"pe", "elf", "macho"})


def sniff(head: bytes) -> str:
    """The real type by content (magic bytes); "" when unknown. A short table instead of
    libmagic (a system library) or the pure-Python sniffers the fact sheet found wrong on
    ISO/LNK/OneNote/.msg."""
    if head.startswith(b"MZ"):
        return "pe"
    if head.startswith(b"\x7fELF"):
        return "elf"
    if head[:4] in (b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xfe\xed\xfa\xcf", b"\xca\xfe\xba\xbe"):
        return "macho"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return "zip"
    if head.startswith(b"%PDF") or b"%PDF-" in head[:1024]:
        return "pdf"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "ole"
    if head.startswith(b"Rar!\x1a\x07"):
        return "rar"
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return "7z"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh"):
        return "bzip2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head.startswith(b"MSCF"):
        return "cab"
    if head.startswith(b"L\x00\x00\x00\x01\x14\x02\x00"):
        return "lnk"
    if head.startswith(b"\xe4\x52\x5c\x7b\x8c\xd8\xa7\x4d\xae\xb1\x53\x78\xd0\x29\x96\xd3"):
        return "onenote"
    if len(head) > 0x8006 and head[0x8001:0x8006] == b"CD001":
        return "iso"
    if head.startswith(b"{\\rt"):
        return "rtf"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head.startswith(b"BM") and len(head) > 14:
        return "bmp"
    if head.startswith(b"ID3") or head[:2] == b"\xff\xfb":
        return "mp3"
    if head[4:8] == b"ftyp":
        return "mp4"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "wav"
    if head.startswith(b"#!"):
        return "script"
    sample = head[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if sample.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<script", b"<svg",
                          b"<?xml")) or b"<html" in sample[:512] or b"<script" in sample[:512]:
        return "html"
    if sample and not any(b < 9 or 13 < b < 32 for b in sample[:512] if b != 27):
        return "text"
    return ""


def extension(name: str) -> str:
    base = name.rstrip(" .").rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    return base.rsplit(".", 1)[1].lower() if "." in base else ""


def _exts(name: str) -> list[str]:
    base = name.rstrip(" .").rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    return [p.lower().strip() for p in base.split(".")[1:]]


class Scanned:
    """One attachment read once: hashes, size, head, and the whole data when under the cap."""

    def __init__(self, chunks: Iterable[bytes], keep_up_to: int) -> None:
        md5, sha1, sha256 = hashlib.md5(), hashlib.sha1(), hashlib.sha256()
        head = b""
        kept: list[bytes] | None = []
        size = 0
        for chunk in chunks:
            md5.update(chunk)
            sha1.update(chunk)
            sha256.update(chunk)
            size += len(chunk)
            if len(head) < 0x8800:
                head += chunk[: 0x8800 - len(head)]
            if kept is not None:
                if size <= keep_up_to:
                    kept.append(chunk)
                else:
                    kept = None  # over the cap: hashes only
        self.md5, self.sha1, self.sha256 = md5.hexdigest(), sha1.hexdigest(), sha256.hexdigest()
        self.size = size
        self.head = head
        self.data = b"".join(kept) if kept is not None else None


def examine(name: str, declared: str, scanned: Scanned, policy: MailPolicy, body_text: str,
            depth: int = 0) -> tuple[Attachment, list[Finding]]:
    real = sniff(scanned.head)
    att = Attachment(filename=name, declared_type=declared, size=scanned.size,
                     sha256=scanned.sha256, md5=scanned.md5, sha1=scanned.sha1, real_type=real)
    findings: list[Finding] = []
    shown = name or "(unnamed)"
    ext = extension(name)
    exts = _exts(name)
    ev = {"filename": name, "sha256": scanned.sha256, "real_type": real, "size": scanned.size}

    if BIDI.search(name):
        findings.append(Finding("attachment.bidi_filename",
                                f"{shown!r} hides its real extension with right-to-left characters", ev))
    if re.search(r"\s{6,}\.?\w{1,5}$", name) or name != name.rstrip(" ."):
        findings.append(Finding("attachment.double_extension",
                                f"{shown!r} pads its name to hide the extension", ev))
    if len(exts) >= 2 and exts[-2] in DECOY_EXT and (
            exts[-1] in EXECUTABLE_EXT | SCRIPT_EXT | SHORTCUT_EXT | DISK_IMAGE_EXT):
        findings.append(Finding("attachment.double_extension",
                                f"{shown!r} wears a .{exts[-2]} decoy before its real .{exts[-1]}", ev))
    if ext in EXECUTABLE_EXT or real in EXECUTABLE_TYPES:
        findings.append(Finding("attachment.executable", f"{shown} is an executable program", ev))
    elif ext in SCRIPT_EXT or real == "script":
        findings.append(Finding("attachment.script", f"{shown} is a script", ev))
    if ext in DISK_IMAGE_EXT or real == "iso":
        findings.append(Finding("attachment.disk_image",
                                f"{shown} is a disk image (mounts and bypasses mark-of-the-web)", ev))
    if ext in SHORTCUT_EXT or real == "lnk":
        findings.append(Finding("attachment.shortcut", f"{shown} is a Windows shortcut", ev))
    if ext in ONENOTE_EXT or real == "onenote":
        findings.append(Finding("attachment.onenote", f"{shown} is a OneNote notebook", ev))
    if ext in HTML_EXT or (real == "html" and ext not in ("txt", "xml", "ics", "csv", "json")):
        findings.append(Finding("attachment.html",
                                f"{shown} is an HTML/SVG file (opens in a browser, outside the mail client)", ev))
    expected = EXPECTED.get(ext)
    if real and expected and real not in expected and not (
            real in EXECUTABLE_TYPES and any(f.code == "attachment.executable" for f in findings)
            and ext in EXECUTABLE_EXT):
        findings.append(Finding("attachment.type_mismatch",
                                f"{shown} is named .{ext} but its content is {real}", ev))
    data = scanned.data
    if data is None and real in ("zip", "ole", "pdf", "html"):
        att.notes.append("larger than the scan cap: hashed but not opened")
    if data is not None:
        if real == "zip":
            findings += _zip(att, data, policy, body_text, depth)
        elif real in ("rar", "7z", "cab", "gzip", "bzip2", "xz"):
            att.notes.append(f"{real} archive: not listed (zip archives are)")
            findings.append(Finding("attachment.archive_unread",
                                    f"{shown} is a {real} archive socflow does not open", ev))
        elif real == "ole":
            findings += _office(att, data, shown, ev)
        elif real == "rtf" and b"\\objdata" in data[: 1 << 22]:
            att.notes.append("RTF with embedded objects")
            findings.append(Finding("attachment.macro", f"{shown} embeds OLE objects (RTF \\objdata)", ev))
        elif real == "pdf":
            findings += _pdf(att, data, shown, ev)
        elif real in ("png", "jpeg", "gif", "bmp"):
            from . import qr

            texts, note = qr.decode(data)
            if note:
                att.notes.append(note)
            if texts:
                att.members = [{"qr": t, "link": t} for t in texts]
                findings.append(Finding(
                    "content.qr_code", f"{shown} holds a QR code ({texts[0][:80]})",
                    {**ev, "codes": texts}))
        elif real == "html" or ext in HTML_EXT:
            from .content import check_html, parse_html

            html = data[: policy.limits.max_html_chars].decode("utf-8", "replace")
            doc = parse_html(html, policy.limits.max_links)
            att.notes.append(f"HTML: {len(doc.anchors)} links, {len(doc.forms)} forms")
            findings += check_html(doc, f"attachment {shown}")
            att.members = [{"link": a[0][:300]} for a in doc.anchors[:50] if a[0]]
    return att, findings


def _zip(att: Attachment, data: bytes, policy: MailPolicy, body_text: str,
         depth: int) -> list[Finding]:
    findings: list[Finding] = []
    shown = att.filename or "(unnamed)"
    ev: dict[str, Any] = {"filename": att.filename, "sha256": att.sha256}
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
        att.notes.append(f"zip directory unreadable: {exc}")
        return [Finding("attachment.archive_unread", f"{shown}: the zip directory cannot be read", ev)]
    names = {i.filename for i in infos}
    if "[Content_Types].xml" in names:  # OOXML: a document, not an archive
        att.real_type = "ooxml"
        macros = [n for n in names if n.lower().endswith("vbaproject.bin")]
        if macros:
            findings.append(Finding("attachment.macro", f"{shown} contains VBA macros", {**ev, "parts": macros}))
            try:
                inner = zf.open(macros[0]).read(policy.limits.max_attachment_scan_bytes)
                findings += _vba(att, inner, shown, ev, quiet=True)
            except (zipfile.BadZipFile, OSError, RuntimeError, ValueError, NotImplementedError):
                pass
        return findings
    limit = policy.limits.max_archive_members
    encrypted = []
    nested = []
    executables = []
    for info in infos[:limit]:
        member_ext = extension(info.filename)
        member = {"name": info.filename[:300], "size": info.file_size,
                  "compressed": info.compress_size, "encrypted": bool(info.flag_bits & 1)}
        att.members.append(member)
        if info.flag_bits & 1:
            encrypted.append(info.filename)
        if member_ext in EXECUTABLE_EXT | SCRIPT_EXT | SHORTCUT_EXT | ONENOTE_EXT | DISK_IMAGE_EXT:
            executables.append(info.filename)
        if member_ext in ARCHIVE_EXT:
            nested.append(info)
    if len(infos) > limit:
        att.notes.append(f"{len(infos) - limit} more members not listed")
    declared = sum(i.file_size for i in infos)
    if declared > 100 * max(len(data), 1) and declared > 100 << 20:
        att.notes.append(f"declares {declared} bytes uncompressed from {len(data)}: zip bomb shape")
    if encrypted:
        findings.append(Finding("attachment.archive_encrypted",
                                f"{shown} is password-protected (scanners cannot look inside)",
                                {**ev, "members": encrypted[:10]}))
        from .content import PASSWORD_HINT

        m = PASSWORD_HINT.search(body_text[:200_000])
        if m:
            findings.append(Finding("attachment.archive_password_in_body",
                                    f"the password for {shown} is given in the message",
                                    {**ev, "password_hint": m.group(0)[:60]}))
    if executables:
        findings.append(Finding("attachment.archive_executable",
                                f"{shown} contains programs or scripts ({', '.join(executables[:3])})",
                                {**ev, "members": executables[:10]}))
    if nested:
        findings.append(Finding("attachment.archive_nested", f"{shown} contains another archive",
                                {**ev, "members": [i.filename for i in nested[:10]]}))
        cap = policy.limits.max_attachment_scan_bytes
        if depth < 2:
            for info in nested[:5]:
                ratio = info.file_size / info.compress_size if info.compress_size else 0
                if info.flag_bits & 1 or info.file_size > cap or ratio > 200:
                    att.notes.append(
                        f"{info.filename}: not opened ("
                        + ("encrypted" if info.flag_bits & 1 else
                           f"{info.file_size} bytes, over the scan cap" if info.file_size > cap
                           else f"compression ratio {ratio:.0f}:1, zip bomb shape") + ")")
                    continue
                try:
                    inner = zf.open(info).read(cap + 1)
                except (zipfile.BadZipFile, OSError, RuntimeError, ValueError, EOFError,
                        NotImplementedError):
                    continue
                if len(inner) > cap:
                    continue
                sub, sub_findings = examine(info.filename, "archive member",
                                            Scanned([inner], cap), policy, body_text, depth + 1)
                att.notes.extend(f"{info.filename}: {note}" for note in sub.notes[:5])
                for member in sub.members[:100]:
                    att.members.append({**member, "name": f"{info.filename}/{member.get('name', '')}"})
                for f in sub_findings:
                    if f.code.startswith("attachment.archive") or f.code in (
                            "attachment.executable", "attachment.script", "attachment.shortcut"):
                        f.summary = f"inside {shown}: {f.summary}"
                        findings.append(f)
    return findings


def _office(att: Attachment, data: bytes, shown: str, ev: dict[str, Any]) -> list[Finding]:
    findings: list[Finding] = []
    try:
        import olefile

        ole = olefile.OleFileIO(data)
        streams = {"/".join(s).lower() for s in ole.listdir()}
        ole.close()
    except Exception as exc:  # noqa: BLE001 - olefile raises many kinds on broken files
        att.notes.append(f"OLE file unreadable: {type(exc).__name__}")
        return findings
    if "encryptedpackage" in streams:
        att.real_type = "ole-encrypted-ooxml"
        findings.append(Finding("attachment.office_encrypted",
                                f"{shown} is an encrypted Office document", ev))
        return findings
    if "__substg1.0_007d001f" in streams or any(s.startswith("__substg1.0_") for s in streams):
        att.real_type = "outlook-msg"
        att.notes.append("Outlook .msg message (not analysed)")
        return findings
    if any("vba" in s for s in streams) or "macros" in streams:
        findings += _vba(att, data, shown, ev, quiet=False)
    return findings


def _vba(att: Attachment, data: bytes, shown: str, ev: dict[str, Any], quiet: bool) -> list[Finding]:
    """olevba on a real OLE/OOXML file only (it calls any text file 'macros present')."""
    findings: list[Finding] = []
    try:
        import logging
        import warnings

        logging.getLogger("olevba").setLevel(logging.CRITICAL)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # oletools' pyparsing calls are deprecated names
            from oletools.olevba import VBA_Parser

        parser = VBA_Parser(att.filename or "attachment", data=data)
        try:
            if parser.detect_vba_macros():
                kinds: dict[str, list[str]] = {}
                for kind, keyword, _ in parser.analyze_macros():
                    kinds.setdefault(kind, []).append(keyword)
                att.notes.append("VBA: " + ", ".join(f"{k} {len(v)}" for k, v in kinds.items()))
                if not quiet:
                    findings.append(Finding("attachment.macro", f"{shown} contains VBA macros", ev))
                if "AutoExec" in kinds and "Suspicious" in kinds:
                    findings.append(Finding(
                        "attachment.macro_suspicious",
                        f"{shown}: macros run on open and do suspicious things "
                        f"({', '.join(kinds['AutoExec'][:2] + kinds['Suspicious'][:3])})",
                        {**ev, "autoexec": kinds["AutoExec"][:10], "suspicious": kinds["Suspicious"][:10]}))
        finally:
            parser.close()
    except Exception as exc:  # noqa: BLE001 - oletools raises many kinds on broken files
        att.notes.append(f"VBA analysis failed: {type(exc).__name__}")
    return findings


_PDF_JS = re.compile(rb"/(?:JavaScript|JS)\b")
_PDF_ACTION = re.compile(rb"/(?:OpenAction|Launch|EmbeddedFile|SubmitForm|AA)\b")
_PDF_URI = re.compile(rb"/URI\s*\(([^)]{1,2000})\)")


def _pdf(att: Attachment, data: bytes, shown: str, ev: dict[str, Any]) -> list[Finding]:
    findings: list[Finding] = []
    if _PDF_JS.search(data):
        findings.append(Finding("attachment.pdf_javascript", f"{shown} contains JavaScript", ev))
    actions = sorted({m.group(0).decode() for m in _PDF_ACTION.finditer(data)})
    if actions:
        findings.append(Finding("attachment.pdf_action",
                                f"{shown} acts on its own ({', '.join(actions)})", {**ev, "actions": actions}))
    uris = [m.group(1).decode("latin-1") for m in _PDF_URI.finditer(data)][:100]
    if uris:
        att.members = [{"link": u[:300]} for u in uris[:50]]
        att.notes.append(f"PDF: {len(uris)} links (uncompressed objects only)")
    return findings
