"""Attachments: real types, risky kinds, archives (listed, nested, encrypted), macros, PDFs."""

from __future__ import annotations

import io
import zipfile

import pytest
from mailmaker import attachment, eml, multipart

from socflow.mail import analyze_bytes
from socflow.mail.attachments import sniff

PE = b"MZ\x90\x00" + b"\x00" * 200
ISO = b"\x00" * 0x8001 + b"CD001" + b"\x00" * 16
LNK = b"L\x00\x00\x00\x01\x14\x02\x00" + b"\x00" * 64
ONE = bytes.fromhex("e4525c7b8cd8a74daeb15378d02996d3") + b"\x00" * 32


def zipped(members: dict[str, bytes], encrypted: bool = False) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    raw = bytearray(buf.getvalue())
    if encrypted:
        for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
            i = raw.find(sig)
            while i >= 0:
                raw[i + off] |= 1
                i = raw.find(sig, i + 4)
    return bytes(raw)


def analyse(name: str, data: bytes, text: str = "See attached.", ctype: str = "application/octet-stream"):
    mp_type, body = multipart([("text/plain; charset=utf-8", "", text), attachment(name, data, ctype)])
    return analyze_bytes(eml([], body=body, ctype=mp_type))


def codes(report) -> set[str]:
    return {f.code for f in report.findings}


@pytest.mark.parametrize("data,kind", [
    (PE, "pe"), (b"\x7fELF\x02", "elf"), (b"PK\x03\x04rest", "zip"), (b"%PDF-1.7\n", "pdf"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 8, "ole"), (ISO, "iso"), (LNK, "lnk"),
    (ONE, "onenote"), (b"<!DOCTYPE html><html>", "html"), (b"\x89PNG\r\n\x1a\n", "png"),
    (b"plain words\n", "text"), (b"\x00\x01\x02\x03", ""),
])
def test_sniff(data, kind):
    assert sniff(data) == kind


def test_hashes_and_size():
    r = analyse("a.bin", b"hello")
    att = r.attachments[0]
    assert att.sha256 == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    assert att.md5 == "5d41402abc4b2a76b9719d911017c592" and att.size == 5
    assert any(i["value"] == att.sha256 and "attachment" in i["where"] for i in r.indicators)


@pytest.mark.parametrize("name,data,code", [
    ("setup.exe", PE, "attachment.executable"),
    ("run.js", b"WScript.Echo(1)", "attachment.script"),
    ("invoice.pdf.exe", PE, "attachment.double_extension"),
    ("payment\u202efdp.exe", PE, "attachment.bidi_filename"),
    ("order.iso", ISO, "attachment.disk_image"),
    ("doc.lnk", LNK, "attachment.shortcut"),
    ("notes.one", ONE, "attachment.onenote"),
    ("fax.html", b"<html><body>x</body></html>", "attachment.html"),
    ("photo.jpg", PE, "attachment.type_mismatch"),
    ("photo.jpg", PE, "attachment.executable"),
])
def test_risky_kinds(name, data, code):
    r = analyse(name, data)
    assert code in codes(r)
    assert r.verdict != "safe"


def test_harmless_attachments_stay_safe():
    r = analyse("plan.docx", zipped({"[Content_Types].xml": b"<T/>", "word/document.xml": b"<d/>"}))
    assert r.attachments[0].real_type == "ooxml"
    assert r.verdict == "safe", [f.code for f in r.reasons]
    assert analyse("photo.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 30).verdict == "safe"


def test_zip_listing_encrypted_with_password_in_body():
    data = zipped({"statement.vbs": b"MsgBox 1"}, encrypted=True)
    r = analyse("statement.zip", data, text="The archive password is: Stm4412")
    c = codes(r)
    assert {"attachment.archive_encrypted", "attachment.archive_password_in_body",
            "attachment.archive_executable"} <= c
    assert r.attachments[0].members[0]["encrypted"] is True
    assert "attachment.archive_password_in_body" not in codes(analyse("s.zip", data, text="hi"))


def test_nested_archives_are_opened_one_level():
    inner = zipped({"run.bat": b"@echo off"})
    r = analyse("outer.zip", zipped({"inner.zip": inner}))
    assert {"attachment.archive_nested", "attachment.archive_executable"} <= codes(r)
    assert any(m["name"] == "inner.zip/run.bat" for m in r.attachments[0].members)


def test_macro_documents():
    docm = zipped({"[Content_Types].xml": b"<T/>", "word/vbaProject.bin": b"\xd0\xcf\x11\xe0" + b"\x00" * 100})
    r = analyse("report.docm", docm)
    assert "attachment.macro" in codes(r)


def test_oletools_gated_on_a_real_office_type():
    # oletools calls any text file "macros present"; a text attachment must not reach it.
    r = analyse("notes.txt", b"Sub AutoOpen()\nShell \"cmd\"\nEnd Sub\n", ctype="text/plain")
    assert not codes(r) & {"attachment.macro", "attachment.macro_suspicious"}


def test_pdf_javascript_actions_and_links():
    pdf = (b"%PDF-1.7\n1 0 obj << /OpenAction 2 0 R >> endobj\n2 0 obj << /S /JavaScript /JS (x) >> "
           b"endobj\n3 0 obj << /A << /URI (https://docs-share.online/pdf) >> >> endobj\n%%EOF")
    r = analyse("receipt.pdf", pdf, ctype="application/pdf")
    assert {"attachment.pdf_javascript", "attachment.pdf_action"} <= codes(r)
    assert any(i["value"] == "https://docs-share.online/pdf" for i in r.indicators)


def test_html_attachment_with_credential_form_and_smuggling():
    html = (b"<html><form action='https://auth-renew.live/p'><input type=password></form>"
            b"<script>var b=new Blob([atob('TVqQ')]);URL.createObjectURL(b)</script></html>")
    c = codes(analyse("voicemail.htm", html, ctype="text/html"))
    assert {"attachment.html", "content.credential_form", "content.html_smuggling"} <= c


def test_rar_is_named_but_not_opened():
    r = analyse("a.rar", b"Rar!\x1a\x07\x00" + b"\x00" * 20)
    assert "attachment.archive_unread" in codes(r)
    assert r.attachments[0].real_type == "rar"


def test_olevba_analysis_path_reports_autoexec_and_suspicious():
    # No Office macro document can be written here (no CFB writer); oletools reads VBA source
    # given as text the same way (fact sheet §4), which runs the real analysis path behind
    # attachment.macro_suspicious. The attachment code itself only calls it for OLE/OOXML.
    from socflow.mail.attachments import _vba
    from socflow.mail.model import Attachment

    att = Attachment("m.bas", "", 0, "0" * 64, "", "")
    source = b'Attribute VB_Name = "M"\r\nSub AutoOpen()\r\n  Shell "cmd /c calc"\r\nEnd Sub\r\n'
    found = _vba(att, source, "m.bas", {}, quiet=False)
    assert {f.code for f in found} == {"attachment.macro", "attachment.macro_suspicious"}
    assert "AutoOpen" in found[1].evidence["autoexec"]


def _qr_png(text: str) -> bytes:
    import zxingcpp
    from PIL import Image

    img = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode).to_image(scale=4)
    view = memoryview(img)
    buf = io.BytesIO()
    Image.frombuffer("L", (view.shape[1], view.shape[0]), bytes(view), "raw", "L", 0, 1).save(buf, "PNG")
    return buf.getvalue()


def test_qr_code_in_an_image_is_read_and_its_link_checked():
    r = analyse("scan.png", _qr_png("https://paypa1.com/verify?u=7"), ctype="image/png")
    c = codes(r)
    assert {"content.qr_code", "content.lookalike_url"} <= c
    assert any(link.url == "https://paypa1.com/verify?u=7" and link.where == "QR code in scan.png"
               for link in r.links)
    assert any(i["value"] == "https://paypa1.com/verify?u=7" for i in r.indicators)


def test_qr_reader_refuses_pixel_bombs():
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (6000, 6000)).save(buf, "PNG")  # 36 M pixels, a few kB compressed
    r = analyse("huge.png", buf.getvalue(), ctype="image/png")
    assert r.attachments[0].notes == ["image has too many pixels to scan for QR codes"]
    assert "content.qr_code" not in codes(r)
    broken = analyse("broken.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, ctype="image/png")
    assert broken.attachments[0].notes[0].startswith("image unreadable")
