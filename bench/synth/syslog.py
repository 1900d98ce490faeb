"""Syslog: OpenSSH auth.log, a mail server's RFC 3164 syslog (postfix, dovecot, kernel, DNS, NTP),
and RFC 5424 lines from a mixed fleet. Messages are built once and framed per RFC."""

from __future__ import annotations

import base64

from .core import Lines, Synth, register
from .labels import Labels, host, ip, mail, user

Msg = tuple[str, str, Labels]  # (program, message, labels)


def _b64(s: Synth, nbytes: int) -> str:
    return base64.b64encode(s.rng.randbytes(nbytes)).decode().rstrip("=")


def _attack_ip(s: Synth) -> str:
    return s.pick("public_ip") if s.chance(0.93) else s.pick("ipv6")


def auth_messages(s: Synth) -> list[Msg]:
    """One scenario of sshd / PAM / sudo / su / cron activity."""
    roll = s.rng.random()
    addr = _attack_ip(s)
    a = ip(addr)
    if roll < 0.22:  # invalid-user brute force
        out: list[Msg] = []
        for _ in range(s.rng.randrange(1, 4)):
            u, p = s.pick("attack_user"), s.port()
            out += [("sshd", f"Invalid user {u} from {addr} port {p}", a | user(u)),
                    ("sshd", "pam_unix(sshd:auth): check pass; user unknown", set()),
                    ("sshd", "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 "
                     f"tty=ssh ruser= rhost={addr}", a),
                    ("sshd", f"Failed password for invalid user {u} from {addr} port {p} ssh2",
                     a | user(u)),
                    ("sshd", f"Received disconnect from {addr} port {p}:11: Bye Bye [preauth]", a),
                    ("sshd", f"Disconnected from invalid user {u} {addr} port {p} [preauth]",
                     a | user(u))]
        return out
    if roll < 0.36:  # root brute force
        p = s.port()
        out = [("sshd", "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 "
                f"tty=ssh ruser= rhost={addr}  user=root", a | user("root"))]
        out += [("sshd", f"Failed password for root from {addr} port {p} ssh2",
                 a | user("root"))] * s.rng.randrange(1, 6)
        if s.chance(0.5):
            out += [("sshd", f"error: maximum authentication attempts exceeded for root from {addr} "
                     f"port {p} ssh2 [preauth]", a | user("root")),
                    ("sshd", f"Disconnecting authenticating user root {addr} port {p}: Too many "
                     "authentication failures [preauth]", a),
                    ("sshd", "PAM 5 more authentication failures; logname= uid=0 euid=0 tty=ssh "
                     f"ruser= rhost={addr}  user=root", a | user("root"))]
        return out
    if roll < 0.58:  # scanners that never authenticate
        p = s.port()
        return [s.rng.choice([
            ("sshd", f"Did not receive identification string from {addr} port {p}", a),
            ("sshd", f"Connection closed by {addr} port {p} [preauth]", a),
            ("sshd", f"Connection reset by {addr} port {p} [preauth]", a),
            ("sshd", f"Unable to negotiate with {addr} port {p}: no matching host key type found. "
             "Their offer: ssh-rsa,ssh-dss [preauth]", a),
            ("sshd", f"banner exchange: Connection from {addr} port {p}: invalid format", a),
            ("sshd", "kex_exchange_identification: read: Connection reset by peer", set()),
        ])]
    good, local = s.pick("good_user"), s.pick("private_ip")
    if roll < 0.72:  # a colleague logs in
        key = s.rng.choice(["ED25519", "RSA", "ECDSA"])
        n = s.rng.randrange(2, 900)
        return [("sshd", f"Accepted publickey for {good} from {local} port {s.port()} ssh2: {key} "
                 f"SHA256:{_b64(s, 32)}", ip(local)),
                ("sshd", f"pam_unix(sshd:session): session opened for user {good}(uid=1001) by "
                 "(uid=0)", set()),
                ("systemd-logind", f"New session {n} of user {good}.", set())]
    if roll < 0.80:
        return [("sudo", f"{good} : TTY=pts/0 ; PWD=/home/{good} ; USER=root ; "
                 "COMMAND=/usr/bin/systemctl restart nginx.service", set()),
                ("sudo", f"pam_unix(sudo:session): session opened for user root(uid=0) by "
                 f"{good}(uid=1001)", set())]
    if roll < 0.85:  # sudo with a wrong password
        return [("sudo", f"pam_unix(sudo:auth): authentication failure; logname={good} uid=1001 "
                 f"euid=0 tty=/dev/pts/1 ruser={good} rhost=  user={good}", user(good)),
                ("sudo", f"{good} : 3 incorrect password attempts ; TTY=pts/1 ; PWD=/home/{good} ; "
                 "USER=root ; COMMAND=/bin/cat /etc/shadow", user(good))]
    if roll < 0.89:  # su with a wrong password
        return [("su", f"pam_unix(su:auth): authentication failure; logname={good} uid=1001 euid=0 "
                 f"tty=pts/0 ruser={good} rhost=  user=root", user("root")),
                ("su", f"FAILED SU (to root) {good} on pts/0", user(good))]
    return [("CRON", "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
             set()),
            ("CRON", "(root) CMD (   cd / && run-parts --report /etc/cron.hourly)", set()),
            ("CRON", "pam_unix(cron:session): session closed for user root", set())]


def _msgid(s: Synth, mail_host: str) -> tuple[str, Labels]:
    """A Message-ID is not a mailbox; its right-hand side is a host name."""
    roll = s.rng.random()
    if roll < 0.4:
        return f"{s.now:%Y%m%d%H%M%S}.{s.hex(10).upper()}@{mail_host}", host(mail_host)
    if roll < 0.7:
        return f"CAF{_b64(s, 24).replace('/', '_')}@mail.gmail.com", host("mail.gmail.com")
    return f"{s.hex(8)}.{s.hex(4)}@EXCH01.corp.local", set()


def mail_messages(s: Synth) -> list[Msg]:
    roll = s.rng.random()
    qid = s.hex(10).upper()
    mh, mip = s.pick("mail_host")
    conn = host(mh) | ip(mip)
    if roll < 0.3:  # inbound delivery
        sender, rcpt = s.pick("mailbox"), s.pick("mailbox")
        msgid, mlabels = _msgid(s, mh)
        return [("postfix/smtpd", f"connect from {mh}[{mip}]", conn),
                ("postfix/smtpd", f"{qid}: client={mh}[{mip}]", conn),
                ("postfix/cleanup", f"{qid}: message-id=<{msgid}>", mlabels),
                ("postfix/qmgr", f"{qid}: from=<{sender}>, size={s.rng.randrange(900, 90000)}, "
                 "nrcpt=1 (queue active)", mail(sender)),
                ("postfix/lmtp", f"{qid}: to=<{rcpt}>, relay=mail01[private/dovecot-lmtp], "
                 "delay=0.32, delays=0.2/0.01/0.01/0.1, dsn=2.0.0, status=sent (250 2.0.0 "
                 f"<{rcpt}> {_b64(s, 16)} Saved)", mail(rcpt)),
                ("postfix/qmgr", f"{qid}: removed", set()),
                ("postfix/smtpd", f"disconnect from {mh}[{mip}] ehlo=2 starttls=1 mail=1 rcpt=1 "
                 "data=1 quit=1 commands=7", conn)]
    if roll < 0.48:  # outbound order confirmation
        rcpt = s.pick("mailbox")
        return [("postfix/pickup", f"{qid}: uid=33 from=<www-data>", set()),
                ("postfix/cleanup", f"{qid}: message-id=<{s.now:%Y%m%d%H%M%S}.{qid}@acme-widgets.com>",
                 host("acme-widgets.com")),
                ("postfix/qmgr", f"{qid}: from=<orders@acme-widgets.com>, size=5120, nrcpt=1 "
                 "(queue active)", mail("orders@acme-widgets.com")),
                ("postfix/smtp", f"{qid}: to=<{rcpt}>, relay={mh}[{mip}]:25, delay=1.2, "
                 "delays=0.1/0.01/0.5/0.6, dsn=2.0.0, status=sent (250 2.0.0 OK  "
                 f"{int(s.now.timestamp())} a{s.rng.randrange(1, 99)}si{s.rng.randrange(10**5, 10**6)}"
                 "wrx.12 - gsmtp)", mail(rcpt) | conn)]
    addr = s.pick("public_ip")
    a = ip(addr)
    if roll < 0.66:  # relay attempts from spam bots
        rcpt, spam = s.pick("mailbox"), s.pick("mailbox")
        helo, hlabels = s.rng.choice([("ylmf-pc", set()), ("User", set()), ("WIN-7K3M1Q2P", set()),
                                      ("localhost", set()), ("mx.spam-sender.ru",
                                                             host("mx.spam-sender.ru")),
                                      (f"[{addr}]", a)])
        return [("postfix/smtpd", f"connect from unknown[{addr}]", a),
                ("postfix/smtpd", f"NOQUEUE: reject: RCPT from unknown[{addr}]: 554 5.7.1 <{rcpt}>: "
                 f"Relay access denied; from=<{spam}> to=<{rcpt}> proto=ESMTP helo=<{helo}>",
                 a | mail(rcpt) | mail(spam) | hlabels),
                ("postfix/smtpd", f"disconnect from unknown[{addr}] ehlo=1 mail=1 rcpt=0/1 quit=1 "
                 "commands=3/4", a)]
    if roll < 0.78:  # password spraying over SMTP AUTH
        return [("postfix/smtpd", f"connect from unknown[{addr}]", a),
                ("postfix/smtpd", f"warning: unknown[{addr}]: SASL LOGIN authentication failed: "
                 "UGFzc3dvcmQ6", a),
                ("postfix/smtpd", f"lost connection after AUTH from unknown[{addr}]", a),
                ("postfix/smtpd", f"disconnect from unknown[{addr}] ehlo=1 auth=0/1 commands=1/2", a)]
    if roll < 0.83:
        bad = s.pick("bad_domain")
        return [("postfix/smtp", f"{qid}: to=<info@{bad}>, relay=none, delay=0.5, "
                 "delays=0.1/0/0.4/0, dsn=5.4.4, status=bounced (Host or domain name not found. "
                 f"Name service error for name={bad} type=MX: Host not found)", mail(f"info@{bad}")),
                ("postfix/bounce", f"{qid}: sender non-delivery notification: {s.hex(10).upper()}",
                 set())]
    return [_daemon_message(s, addr)]


def _daemon_message(s: Synth, addr: str) -> Msg:
    a, local, local2 = ip(addr), s.pick("private_ip"), s.pick("private_ip")
    dom, mbox = s.pick("bad_domain") if s.chance(0.5) else s.pick("benign_domain"), s.pick("mailbox")
    pid = s.rng.randrange(100, 99999)
    ntp = f"{s.rng.randrange(4)}.debian.pool.ntp.org"
    choices: list[Msg] = [
        ("kernel", f"[{s.rng.randrange(10**5, 10**7)}.{s.rng.randrange(10**6)}] [UFW BLOCK] IN=eth0 "
         "OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 "
         f"SRC={addr} DST={local} LEN=40 TOS=0x00 PREC=0x00 TTL=241 ID={s.rng.randrange(65535)} "
         f"PROTO=TCP SPT={s.port()} DPT=3389 WINDOW=1024 RES=0x00 SYN URGP=0", a | ip(local)),
        ("dnsmasq", f"query[A] {dom} from {local}", host(dom) | ip(local)),
        ("dnsmasq", f"reply {dom} is {addr}", host(dom) | a),
        ("dnsmasq", f"cached {s.pick('not_domain')} is NXDOMAIN", set()),
        ("dovecot", f"imap-login: Login: user=<{mbox}>, method=PLAIN, rip={addr}, lip={local}, "
         f"mpid={pid}, TLS, session=<{_b64(s, 9)}>", mail(mbox) | a | ip(local)),
        ("dovecot", "imap-login: Disconnected: Connection closed (auth failed, 1 attempts in 2 secs): "
         f"user=<{mbox}>, method=PLAIN, rip={addr}, lip={local}, TLS, session=<{_b64(s, 9)}>",
         mail(mbox) | a | ip(local)),
        ("chronyd", f"Selected source {addr} ({ntp})", a | host(ntp)),
        ("named", f"client @0x7f3a{s.hex(8)} {local}#{s.port()} ({dom}): query: {dom} IN A +E(0)K "
         f"({local2})", ip(local) | host(dom) | ip(local2)),
        ("snmpd", f"Connection from UDP: [{local}]:{s.port()}->[{local2}]:161",
         ip(local) | ip(local2)),
        ("systemd", f"Started Session {s.rng.randrange(2, 999)} of User {s.pick('good_user')}.", set()),
    ]
    return s.rng.choice(choices)


def _rfc3164(s: Synth, msgs: list[Msg], hostname: str) -> Lines:
    out = []
    pid = next(s.pid)
    for prog, msg, labels in msgs:
        ts = s.tick()
        tag = prog if prog == "kernel" else f"{prog}[{pid}]"
        out.append((f"{ts:%b} {ts.day:>2} {ts:%H:%M:%S} {hostname} {tag}: {msg}", labels))
    return out


SSH_TRAPS: Lines = [
    ("Mar 12 06:30:00 bastion sshd[812]: Server listening on 0.0.0.0 port 22.", set()),
    ("Mar 12 06:30:00 bastion sshd[812]: Server listening on :: port 22.", set()),
    ("Mar 12 06:30:01 bastion sshd[813]: Invalid user  from 203.0.113.99 port 40022", ip("203.0.113.99")),
    ("Mar 12 06:31:15 bastion sshd[815]: Accepted publickey for deploy from ::1 port 50110 ssh2: "
     "RSA SHA256:uZ3x1yQ8eVbL4rT0pK9mN2hJ6gF5dS7aW1cX3vB8nM0", ip("::1")),
    ("Mar 12 06:32:40 bastion sshd[820]: pam_unix(sshd:auth): authentication failure; logname= "
     "uid=0 euid=0 tty=ssh ruser= rhost=static.153.11.219.61.clients.your-server.de  user=oracle",
     host("static.153.11.219.61.clients.your-server.de") | user("oracle")),
    ("Mar 12 06:33:02 bastion sshd[821]: Failed password for invalid user admin@123 from "
     "192.0.2.201 port 51234 ssh2", ip("192.0.2.201") | user("admin@123")),
    ("Mar 12 06:34:00 bastion sshd[822]: Accepted password for carol from 10.0.8.15 port 60001 ssh2",
     ip("10.0.8.15")),
    ("Mar 12 06:35:10 bastion sshd[830]: Connection from 198.51.100.7 port 41234 on 10.0.0.4 port 22 "
     "rdomain \"\"", ip("198.51.100.7") | ip("10.0.0.4")),
    ("Mar 12 06:35:11 bastion sshd[830]: Remote protocol version 2.0, remote software version "
     "OpenSSH_8.9p1 Ubuntu-3ubuntu0.6", set()),
    ("Mar 12 06:35:12 bastion sshd[831]: Failed publickey for git from fe80::1%eth0 port 40100 ssh2: "
     "RSA SHA256:Jq1h2G3f4D5s6A7p8O9i0U1y2T3r4E5w6Q7z8X9c0V1", ip("fe80::1") | user("git")),
]


@register("auth", "auth.log", SSH_TRAPS)
def auth(s: Synth) -> Lines:
    return _rfc3164(s, auth_messages(s), s.pick("hostname"))


MAIL_TRAPS: Lines = [
    ("Mar 12 06:40:00 mail01 postfix/smtpd[2201]: NOQUEUE: reject: RCPT from unknown[45.143.200.10]: "
     "450 4.7.1 Client host rejected: cannot find your reverse hostname, [45.143.200.10]; "
     "from=<> to=<sales@acme-widgets.com> proto=ESMTP helo=<WIN-CLJ1B0GQ6JP>",
     ip("45.143.200.10") | mail("sales@acme-widgets.com")),
    ("Mar 12 06:41:00 mail01 snmpd[771]: Received TRAP from 10.0.0.12: OID 1.3.6.1.4.1.9.9.41.2.0.1 "
     "value 0x1A2B", ip("10.0.0.12")),
    ("Mar 12 06:42:00 mail01 kernel: [612.004512] martian source 10.0.0.255 from 256.10.10.10, on "
     "dev eth0", ip("10.0.0.255")),
    ("Mar 12 06:43:00 mail01 ntpd[640]: Listen normally on 3 eth0 [fe80::5054:ff:fe12:3456%2]:123",
     ip("fe80::5054:ff:fe12:3456")),
    ("Mar 12 06:43:00 mail01 ntpd[640]: Listen and drop on 1 v4wildcard 0.0.0.0:123", set()),
    ("Mar 12 06:43:00 mail01 ntpd[640]: Listen normally on 2 lo 127.0.0.1:123", ip("127.0.0.1")),
    ("Mar 12 06:44:00 mail01 vsftpd[2411]: [ftpuser] FAIL LOGIN: Client \"::ffff:203.0.113.99\"",
     ip("203.0.113.99")),
    ("Mar 12 06:45:00 mail01 postfix/smtpd[2210]: warning: hostname 61-219-11-153.hinet-ip.hinet.net "
     "does not resolve to address 61.219.11.153: Name or service not known",
     host("61-219-11-153.hinet-ip.hinet.net") | ip("61.219.11.153")),
    ("Mar 12 06:46:00 mail01 postfix/cleanup[2220]: 4F2A31C0B2: warning: header Subject: Invoice "
     "INV-2024-0311.pdf from unknown[91.219.236.166]; from=<billing@paypa1-verify.com> "
     "to=<hr@acme-widgets.com> proto=ESMTP helo=<mail.acme-widgets-support.com>",
     ip("91.219.236.166") | mail("billing@paypa1-verify.com") | mail("hr@acme-widgets.com")
     | host("mail.acme-widgets-support.com")),
]


@register("syslog3164", "mail.log", MAIL_TRAPS)
def mail_log(s: Synth) -> Lines:
    return _rfc3164(s, mail_messages(s), "mail01")
