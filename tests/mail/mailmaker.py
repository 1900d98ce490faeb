"""Small helpers to write test messages (header lines top first, then a body)."""

from __future__ import annotations

import base64

EDGE_MS = ("Received: from mail.sender-co.com (198.51.100.20) by "
           "BN8NAM11FT012.mail.protection.outlook.com (10.13.177.138) with Microsoft SMTP Server "
           "id 15.20.6792.20; Tue, 3 Nov 2026 09:00:02 +0000")
INTERNAL_MS = ("Received: from BN9PR03CA0023.namprd03.prod.outlook.com (2603:10b6:408:e6::28) by "
               "SA3PR19MB7370.namprd19.prod.outlook.com (2603:10b6:806:317::17) with Microsoft SMTP "
               "Server id 15.20.6792.27; Tue, 3 Nov 2026 09:00:03 +0000")
EDGE_GOOGLE = ("Received: from mail.sender-co.com (mail.sender-co.com. [198.51.100.20]) by "
               "mx.google.com with ESMTPS id a1si2.2026.11.03.09.00.02 for <u@gmail.com>; "
               "Tue, 3 Nov 2026 09:00:02 +0000")
TOP_GOOGLE = ("Received: by 2002:a05:6a10:a98c:b0:4f0:f7c1:2bd5 with SMTP id x1csp2; "
              "Tue, 3 Nov 2026 09:00:03 +0000")


def eml(top: list[str], headers: list[str] | None = None, body: str = "Hello.\n",
        ctype: str = "text/plain; charset=utf-8", bottom: list[str] | None = None) -> bytes:
    headers = headers if headers is not None else [
        "From: Bruno Sample <bruno.sample@fabrikam.com>", "To: dana@contoso.com",
        "Subject: Test", "Date: Tue, 3 Nov 2026 09:00:00 +0000", "Message-ID: <t1@fabrikam.com>"]
    lines = [*top, *headers, *(bottom or []), "MIME-Version: 1.0", f"Content-Type: {ctype}"]
    return ("\n".join(lines) + "\n\n" + body).encode("utf-8", "surrogateescape")


def ms_auth(spf="pass", dkim="pass", dmarc="pass", d="fabrikam.com", hfrom="fabrikam.com",
            compauth="pass reason=100") -> str:
    return (f"Authentication-Results: spf={spf} (sender IP is 198.51.100.20) smtp.mailfrom={d}; "
            f"dkim={dkim} (signature was verified) header.d={d};dmarc={dmarc} action=none "
            f"header.from={hfrom};compauth={compauth}")


def ms_top(**kw: str) -> list[str]:
    return [INTERNAL_MS, ms_auth(**kw), EDGE_MS]


def multipart(parts: list[tuple[str, str, str]], boundary: str = "BOUNDARY") -> tuple[str, str]:
    body = "".join(f"--{boundary}\nContent-Type: {c}\n{extra}\n{b}\n" for c, extra, b in parts)
    return f'multipart/mixed; boundary="{boundary}"', body + f"--{boundary}--\n"


def attachment(name: str, data: bytes, ctype: str = "application/octet-stream") -> tuple[str, str, str]:
    return (f'{ctype}; name="{name}"',
            f'Content-Transfer-Encoding: base64\nContent-Disposition: attachment; filename="{name}"\n',
            base64.encodebytes(data).decode())
