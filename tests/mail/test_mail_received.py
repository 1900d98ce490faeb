"""Received chains: hop fields for each MTA's shape, the trusted edge, time order."""

from __future__ import annotations

import pytest
from mailmaker import EDGE_MS, INTERNAL_MS, eml, ms_auth

from socflow.mail import analyze_bytes
from socflow.mail.received import parse_hop

SHAPES = [
    ("from User (unknown [147.78.103.9]) by mail.x.com (Postfix) with SMTP id 6E01023FE574; "
     "Wed, 2 Aug 2023 19:27:40 +0000 (UTC)", "user", "147.78.103.9", "mail.x.com", "SMTP"),
    ("from [102.69.139.111] (port=52874 helo=[192.168.88.181]) by host4.ns.co.th with esmtpa "
     "(Exim 4.96) (envelope-from <a@b.c>) id 1qRBGp-0006S0-33; Wed, 2 Aug 2023 19:27:40 +0000",
     "102.69.139.111", "102.69.139.111", "host4.ns.co.th", "ESMTPA"),
    ("from www5194.sakura.ne.jp (localhost [127.0.0.1]) by www5194.sakura.ne.jp (8.16.1/8.16.1) "
     "with ESMTP id 2ABMo6G9036389 for <x@y.z>; Wed, 2 Aug 2023 19:27:40 +0900",
     "www5194.sakura.ne.jp", "127.0.0.1", "www5194.sakura.ne.jp", "ESMTP"),
    ("from BN0PR03CA0023.namprd03.prod.outlook.com (2603:10b6:408:e6::28) by "
     "SA3PR19MB7370.namprd19.prod.outlook.com (2603:10b6:806:317::17) with Microsoft SMTP Server "
     "(version=TLS1_2, cipher=TLS_ECDHE) id 15.20.6792.27 via Frontend Transport; "
     "Wed, 2 Aug 2023 19:27:40 +0000", "bn0pr03ca0023.namprd03.prod.outlook.com",
     "2603:10b6:408:e6::28", "sa3pr19mb7370.namprd19.prod.outlook.com", "MICROSOFT"),
    ("from mail-sor-f65.google.com (mail-sor-f65.google.com. [209.85.220.65]) by mx.google.com "
     "with SMTPS id h21-20020a05.2023.07.28.12.25.21 for <a@b.c> (Google Transport Security); "
     "Fri, 28 Jul 2023 12:25:21 -0700", "mail-sor-f65.google.com", "209.85.220.65",
     "mx.google.com", "SMTPS"),
    ("from jackson.jp (jackson.jp [IPv6:2001:db8::25]) by mx.q.net (Postfix) with ESMTP id 1; "
     "Wed, 2 Aug 2023 19:27:40 +0000", "jackson.jp", "2001:db8::25", "mx.q.net", "ESMTP"),
]


@pytest.mark.parametrize("raw,from_host,ip,by,proto", SHAPES)
def test_hop_shapes(raw, from_host, ip, by, proto):
    hop = parse_hop(0, raw)
    assert (hop.from_host, hop.from_ip, hop.by_host, hop.protocol) == (from_host, ip, by, proto)
    assert hop.time.startswith("20")


def test_exchange_build_number_and_google_ids_are_not_addresses():
    hop = parse_hop(0, "from mail.a.com by ex.b.com with Microsoft SMTP Server id 15.1.225.42; "
                       "Wed, 2 Aug 2023 19:27:40 +0000")
    assert hop.from_ip == ""
    hop = parse_hop(0, "by filterdrecv-7b9c with SMTP id fid.2023.12.14.06.48.20 "
                       "2023-07-28 19:32:25.928333532 +0000 UTC m=+6810983.8")
    assert hop.from_ip == "" and hop.time == ""  # SendGrid writes no ";" date


def test_qmail_line_without_from_or_by():
    hop = parse_hop(0, "(qmail 4441 invoked from network); 2 Feb 2023 01:42:45 -0000")
    assert hop.from_host == "" and hop.by_host == "" and hop.time.startswith("2023-02-02")


def test_helo_text_is_never_taken_for_the_address():
    hop = parse_hop(0, "from [1.2.3.4] (helo=[8.8.8.8]) by mx.a.com; Wed, 2 Aug 2023 19:27:40 +0000")
    assert hop.from_ip == "1.2.3.4"
    hop = parse_hop(0, "from 9.9.9.9 by mx.a.com; Wed, 2 Aug 2023 19:27:40 +0000")
    assert hop.from_ip == ""  # a bare name/number outside brackets is sender-chosen HELO


def test_edge_and_first_external_hop_with_forged_lower_hops():
    forged = ("Received: from evil.example.net ([203.0.113.66]) by fake.mail.protection.outlook.com "
              "with SMTP; Tue, 3 Nov 2026 08:00:00 +0000")
    report = analyze_bytes(eml([INTERNAL_MS, ms_auth(), EDGE_MS, forged]))
    assert report.headers["originating_ip"] == "198.51.100.20"  # from the real edge, not the forgery
    trusted = [h.by_host for h in report.hops if h.trusted]
    assert "fake.mail.protection.outlook.com" not in trusted
    assert len(report.hops) == 3 and report.hops[0].by_host == "fake.mail.protection.outlook.com"


def test_time_travel_and_private_relay_findings():
    top = [
        "Received: from mail.a.biz (mail.a.biz [198.51.100.9]) by mx1.contoso.com (Postfix); "
        "Tue, 3 Nov 2026 09:00:00 +0000",
        "Received: from [10.1.2.3] by mail.a.biz with SMTP; Tue, 3 Nov 2026 11:00:00 +0000",
    ]
    report = analyze_bytes(eml(top))
    codes = {f.code for f in report.findings}
    assert {"origin.time_travel", "origin.private_relay"} <= codes
    assert report.hops[1].delay == -7200.0


def test_no_received_fields():
    report = analyze_bytes(eml([]))
    assert report.hops == []
    assert "origin.no_received" in {f.code for f in report.findings}


def test_receiver_internal_relays_are_not_indicators():
    from mailmaker import ms_top

    report = analyze_bytes(eml(ms_top()))
    received = {i["value"] for i in report.indicators if "received" in i["where"]}
    # Exchange's own relays (2603:10b6:…, public addresses) are not the sender's; the edge's
    # sender 198.51.100.20 is a documentation address, which the extractor leaves out.
    assert received == set()
