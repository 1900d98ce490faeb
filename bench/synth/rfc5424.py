"""RFC 5424 syslog from a mixed fleet (structured data, FQDN / IP / nil host names)."""

from __future__ import annotations

from .core import Lines, Synth, register
from .labels import Labels, host, ip, mail, url
from .syslog import Msg, auth_messages, mail_messages

FQDN_HOSTS = ["web02.acme-widgets.com", "fw01.dc1.acme-widgets.com", "mail01.acme-widgets.com"]
OTHER_HOSTS = ["app01", "db-primary", "-", "db01.prod.internal", "10.0.0.7"]
FACILITY = {"sshd": 10, "sudo": 10, "su": 10, "CRON": 9, "systemd-logind": 4}


def _extra_messages(s: Synth) -> list[tuple[str, str, str, Labels]]:
    """(app, msgid, structured-data + message, labels) for events only RFC 5424 senders emit."""
    addr, local, site = s.pick("public_ip"), s.pick("private_ip"), s.pick("site_host")
    mbox, pid = s.pick("mailbox"), s.rng.randrange(100, 99999)
    stamp = s.now.strftime("%Y/%m/%d %H:%M:%S")
    return [s.rng.choice([
        ("filterlog", "TRAFFIC", f'[meta@32473 src="{addr}" dst="{local}" dport="22" action="block"] '
         "connection denied", ip(addr) | ip(local)),
        ("webapp", "AUTH", f'[origin ip="{local}" software="acme-shop" swVersion="4.12.0.3"] login '
         f"failed for email={mbox} from {addr} reason=bad_password", ip(local) | mail(mbox) | ip(addr)),
        ("nginx", "-", f"- {stamp} [error] {pid}#{pid}: *{s.rng.randrange(10**6)} open() "
         f'"/var/www/html/.env" failed (2: No such file or directory), client: {addr}, server: '
         f'{site}, request: "GET /.env HTTP/1.1", host: "{site}"', ip(addr) | host(site)),
        ("nginx", "-", f"- {stamp} [warn] {pid}#{pid}: *{s.rng.randrange(10**6)} an upstream "
         "response is buffered to a temporary file /var/cache/nginx/proxy_temp/1/00/0000000001 "
         f'while reading upstream, client: {addr}, server: {site}, request: "GET /api/v1/export.csv '
         f'HTTP/2.0", upstream: "http://{local}:8080/api/v1/export.csv", host: "{site}"',
         ip(addr) | host(site) | url(f"http://{local}:8080/api/v1/export.csv")),
        ("rsyslogd", "-", '[origin software="rsyslogd" swVersion="8.2102.0" x-pid="812" '
         'x-info="https://www.rsyslog.com"] start', url("https://www.rsyslog.com")),
    ])]


def _host(s: Synth) -> tuple[str, Labels]:
    name = s.rng.choice(FQDN_HOSTS) if s.chance(0.5) else s.rng.choice(OTHER_HOSTS)
    return name, (set() if name == "-" else host(name))


def _frame(s: Synth, hostname: str, app: str, msgid: str, body: str, facility: int) -> str:
    ts = s.tick().isoformat(timespec="microseconds").replace("+00:00", "Z")
    pri = facility * 8 + s.rng.choice([3, 4, 5, 6])
    return f"<{pri}>1 {ts} {hostname} {app} {s.rng.randrange(100, 99999)} {msgid} {body}"


@register("syslog5424", "syslog5424.log", [
    ("<165>1 2024-03-12T06:50:00.000000Z - evntslog - ID47 [exampleSDID@32473 iut=\"3\" "
     "eventSource=\"Application\" eventID=\"1011\"] \ufeffAn application event log entry from "
     "host.local build 12:34:56", set()),
    ("<38>1 2024-03-12T06:51:00.000000Z bastion.acme-widgets.com sshd 4242 - - Failed password for "
     "invalid user oracle from 2a01:4f8:c17:b8f::2 port 50123 ssh2",
     host("bastion.acme-widgets.com") | ip("2a01:4f8:c17:b8f::2") | {("username", "oracle")}),
    ("<134>1 2024-03-12T06:52:00.000000Z 10.0.0.7 dhcpd 77 - - DHCPACK on 10.0.2.15 to "
     "00:1a:2b:3c:4d:5e (workstation-12) via eth1", ip("10.0.0.7") | ip("10.0.2.15")),
])
def syslog5424(s: Synth) -> Lines:
    hostname, hlabels = _host(s)
    roll = s.rng.random()
    out = []
    if roll < 0.75:
        msgs: list[Msg] = auth_messages(s) if roll < 0.5 else mail_messages(s)
        for prog, msg, labels in msgs:
            facility = 2 if prog.startswith("postfix") else FACILITY.get(prog, 3)
            out.append((_frame(s, hostname, prog, "-", f"- {msg}", facility), labels | hlabels))
        return out
    for app, msgid, body, labels in _extra_messages(s):
        out.append((_frame(s, hostname, app, msgid, body, 16), labels | hlabels))
    return out
