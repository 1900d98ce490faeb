"""Hand-written pools of realistic values. Every domain here is on a public suffix; every
``*_NOT_DOMAINS`` entry looks like one but is not (see the labelling policy)."""

from __future__ import annotations

import ipaddress
import random

from .labels import host, url

# Hosts a web shop and its mail server would see.
SITE_HOSTS = ["www.acme-widgets.com", "shop.acme-widgets.com", "api.acme-widgets.com",
              "static.acme-widgets.com", "blog.acme-widgets.com"]
BENIGN_DOMAINS = [
    "www.google.com", "www.bing.com", "duckduckgo.com", "github.com", "t.co", "l.facebook.com",
    "www.linkedin.com", "news.ycombinator.com", "www.reddit.com", "stackoverflow.com",
    "cdn.jsdelivr.net", "fonts.googleapis.com", "ajax.googleapis.com", "yandex.ru",
    "www.baidu.com", "search.yahoo.com", "www.youtube.com", "out.reddit.com", "android-app.org",
    "mail.google.com", "outlook.live.com", "teams.microsoft.com", "api.ipify.org",
    "raw.githubusercontent.com", "pastebin.com", "www.ecosia.org", "www.qwant.com",
]
BAD_DOMAINS = [
    "login-microsoftonline.secure-auth.top", "paypa1-verify.com", "update-flashplayer.xyz",
    "cdn-jquery.info", "dropbox-share.click", "xn--pypal-4ve.com", "evil-c2.ru",
    "stat-counter.online", "files-download.site", "acme-widgets-support.com",
    "invoice-portal.cyou", "secure-docs.sbs", "wallet-sync.io", "ns1.bulletproof-host.su",
    "evil-redirect.com", "track.malvertiser.net",
]
MAIL_HOSTS = [  # (host, ip) pairs for postfix connect/relay lines
    ("mail-wr1-f54.google.com", "209.85.221.54"), ("mail-ed1-f41.google.com", "209.85.208.41"),
    ("mail-bn8nam12on2041.outbound.protection.outlook.com", "40.107.237.41"),
    ("mx1.mail.ovh.net", "188.165.36.237"), ("o1.email.sendgrid.net", "167.89.118.35"),
    ("smtp.mailgun.org", "166.78.71.131"), ("mx.yandex.ru", "77.88.21.249"),
    ("aspmx.l.google.com", "142.250.153.27"), ("mta7.am0.yahoodns.net", "67.195.204.74"),
    ("mail.acme-widgets-support.com", "91.219.236.166"), ("mx.spam-sender.ru", "185.234.219.12"),
]
MAILBOXES = [
    "alice@acme-widgets.com", "bob.smith@acme-widgets.com", "sales@acme-widgets.com",
    "orders@acme-widgets.com", "j.doe@gmail.com", "m.rossi@libero.it", "k.tanaka@yahoo.co.jp",
    "newsletter@mailer.shopify.com", "billing@paypa1-verify.com", "no-reply@github.com",
    "invoice@invoice-portal.cyou", "ceo.office@acme-widgets-support.com", "hr@acme-widgets.com",
    "noreply@accounts.google.com", "anna.kowalska@wp.pl", "support@dropbox-share.click",
    "postmaster@acme-widgets.com", "dmarc-reports@outlook.com",
]
USER_AGENTS = [  # (agent, labels-bearing URLs and mails inside it)
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/120.0.6099.109 Safari/537.36", [], []),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.1.2 Safari/605.1.15", [], []),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0", [], []),
    ("Mozilla/5.0 (Windows NT 6.1; WOW64; rv:1.9.0.14) Gecko/2009082707 Firefox/3.0.14", [], []),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 "
     "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1", [], []),
    ("Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/119.0.6045.163 Mobile Safari/537.36", [], []),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
     ["http://www.google.com/bot.html"], []),
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
     ["http://www.bing.com/bingbot.htm"], []),
    ("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
     ["http://ahrefs.com/robot/"], []),
    ("Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
     ["http://www.semrush.com/bot.html"], []),
    ("Mozilla/5.0 (compatible; CensysInspect/1.1; +https://about.censys.io/)",
     ["https://about.censys.io/"], []),
    ("Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)",
     ["https://nmap.org/book/nse.html"], []),
    ("Expanse, a Palo Alto Networks company, searches across the global IPv4 space multiple "
     "times per day to identify customers&#39; presences on the Internet. If you would like to be "
     "excluded from our scans, please send IP addresses/domains to: scaninfo@paloaltonetworks.com",
     [], ["scaninfo@paloaltonetworks.com"]),
    ("curl/7.68.0", [], []), ("curl/8.4.0", [], []), ("python-requests/2.31.0", [], []),
    ("Go-http-client/1.1", [], []), ("Wget/1.21.2", [], []), ("okhttp/4.9.3", [], []),
    ("Mozilla/5.0 zgrab/0.x", [], []), ("libwww-perl/6.67", [], []),
    ("curl/7.21.0 (i486-pc-linux-gnu) libcurl/7.21.0 OpenSSL/0.9.8o zlib/1.2.3.4 libidn/1.15 "
     "libssh2/1.2.6", [], []),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/119.0.0.0 Safari/537.36 Edg/119.0.2151.97", [], []),
]
REFERERS = [  # (referer as logged, indicators a human reads in it)
    ("-", set()),
    ("https://www.google.com/", url("https://www.google.com/")),
    ("https://www.bing.com/search?q=acme+widgets&form=QBLH",
     url("https://www.bing.com/search?q=acme+widgets&form=QBLH")),
    ("https://duckduckgo.com/", url("https://duckduckgo.com/")),
    ("https://www.acme-widgets.com/products/widget-pro?ref=nav",
     url("https://www.acme-widgets.com/products/widget-pro?ref=nav")),
    ("https://www.acme-widgets.com/", url("https://www.acme-widgets.com/")),
    ("https://t.co/Ab3dEfG9hK", url("https://t.co/Ab3dEfG9hK")),
    # an encoded URL inside a query parameter is decoded and reported too
    ("https://l.facebook.com/l.php?u=https%3A%2F%2Fwww.acme-widgets.com%2Fsale&h=AT0xQz1",
     url("https://l.facebook.com/l.php?u=https%3A%2F%2Fwww.acme-widgets.com%2Fsale&h=AT0xQz1")
     | url("https://www.acme-widgets.com/sale")),
    # %2F%2F decodes to a scheme-relative host: a domain, not "2fevil-redirect.com", not a URL
    ("https://www.acme-widgets.com/login?next=%2F%2Fevil-redirect.com%2Fphish",
     url("https://www.acme-widgets.com/login?next=%2F%2Fevil-redirect.com%2Fphish")
     | host("evil-redirect.com")),
    ("http://track.malvertiser.net/click?cid=88123&dest=acme",
     url("http://track.malvertiser.net/click?cid=88123&dest=acme")),
    ("https://news.ycombinator.com/item?id=38712345",
     url("https://news.ycombinator.com/item?id=38712345")),
    ("android-app://com.google.android.gm/", set()),  # not a web URL; reversed package name
]
PATHS = [
    "/", "/index.html", "/products/widget-pro", "/products/widget-mini?color=blue",
    "/static/css/main.3f9a2c1d.css", "/static/js/app.7c1e0b.js", "/favicon.ico", "/robots.txt",
    "/sitemap.xml", "/cart", "/checkout/payment", "/api/v1/products?page=2&per_page=24",
    "/blog/2024/03/why-widgets-matter/", "/images/hero@2x.png", "/search?q=blue+widget",
    "/account/login", "/feed.xml", "/contact", "/api/v1/cart/items/8812",
]
ATTACK_PATHS = [
    "/wp-login.php", "/xmlrpc.php", "/.env", "/.git/config", "/phpmyadmin/index.php",
    "/cgi-bin/.%2e/.%2e/.%2e/.%2e/bin/sh", "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
    "/boaform/admin/formLogin", "/HNAP1/", "/actuator/health", "/solr/admin/info/system?wt=json",
    "/owa/auth/logon.aspx", "/backup.zip", "/app.py", "/jkstatus/workers2.properties",
    "/downloads/setup.exe", "/files/report.pdf", "/wp-content/plugins/wp-file-manager/readme.txt",
    "/server-status", "/config.json", "/.aws/credentials", "/admin/config.php",
]
ATTACK_USERS = [
    "admin", "test", "oracle", "postgres", "ubuntu", "user", "git", "pi", "ftpuser", "guest",
    "support", "hadoop", "nagios", "minecraft", "steam", "deployer", "Administrator", "ubnt",
    "user1", "test.user", "admin123", "mysql", "teamspeak", "jenkins-ci", "0", "vagrant",
]
GOOD_USERS = ["alice", "bob", "deploy", "jenkins", "ansible", "carol", "svc_backup"]
RANDOM_HOSTNAMES = ["web01", "web02", "mail01", "bastion", "db-primary", "fw-edge", "app03"]
LOCAL_NOT_DOMAINS = ["printer.local", "fileserver.corp.internal", "nas.lan", "build.local",
                     "wpad.corp.internal", "dc01.ad.acme.corp"]


def public_ips(rng: random.Random, count: int) -> list[str]:
    """Addresses that are globally routable (so any class rule treats them as public)."""
    out: list[str] = []
    while len(out) < count:
        addr = ipaddress.IPv4Address(rng.getrandbits(32))
        if addr.is_global and not addr.is_multicast:
            out.append(str(addr))
    return out


def private_ips(rng: random.Random, count: int) -> list[str]:
    nets = ["10.0.0.0/16", "192.168.1.0/24", "172.16.0.0/16", "10.20.0.0/16"]
    out = []
    for i in range(count):
        net = ipaddress.ip_network(nets[i % len(nets)])
        out.append(str(net[rng.randrange(1, net.num_addresses - 1)]))
    return out


PUBLIC_IPV6 = ["2001:db8:85a3::8a2e:370:7334", "2a03:2880:f12f:83:face:b00c:0:25de",
               "2606:4700:4700::1111", "2001:4860:4860::8888", "2a01:4f8:c17:b8f::2",
               "2604:a880:400:d1::7a4:1"]
