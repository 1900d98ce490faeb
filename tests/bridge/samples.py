"""Synthetic sshd and access logs with attacks at known places, and the detections they must give."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

BASE = datetime(2026, 3, 10, 0, 0, 0, tzinfo=UTC)
USERS = ["root", "admin", "test", "oracle", "ubuntu", "git", "postgres", "pi"]


def attacker_ip(i: int) -> str:
    return f"45.{10 + i // 250}.{i % 250 + 1}.7"


def web_ip(i: int) -> str:
    return f"91.{20 + i // 250}.{i % 250 + 1}.9"


@dataclass
class Expected:
    groups: set[tuple[str, str]] = field(default_factory=set)  # (rule id, group value)

    def add(self, rule: str, value: str) -> None:
        self.groups.add((rule, value))


def _syslog(ts: datetime, msg: str, pid: int) -> str:
    return f"{ts.strftime('%Y-%m-%dT%H:%M:%S')}+00:00 web1 sshd[{pid}]: {msg}"


def _access(
    ts: datetime, ip: str, request: str, status: int, agent: str = "Mozilla/5.0 (X11; Linux x86_64)"
) -> str:
    return (
        f'{ip} - - [{ts.strftime("%d/%b/%Y:%H:%M:%S")} +0000] "{request} HTTP/1.1" {status} 512 '
        f'"-" "{agent}"'
    )


def write_logs(
    directory: Path,
    *,
    brute_forcers: int = 20,
    web_attackers: int = 10,
    noise: int = 2000,
    seed: int = 7,
) -> tuple[list[Path], Expected]:
    """``auth.log`` and ``access.log`` in ``directory``; each attacker acts in its own 10-minute window."""
    rnd = random.Random(seed)
    expected = Expected()
    auth: list[tuple[datetime, str]] = []
    for i in range(brute_forcers):
        start = BASE + timedelta(minutes=10 * i, seconds=30)
        ip = attacker_ip(i)
        for k in range(6):
            auth.append(
                (
                    start + timedelta(seconds=5 * k),
                    _syslog(
                        start + timedelta(seconds=5 * k),
                        f"Failed password for invalid user {USERS[(i + k) % len(USERS)]} from {ip} port {40000 + k} ssh2",
                        1000 + i,
                    ),
                )
            )
        expected.add("ssh-brute-force", ip)
    for i in range(brute_forcers):  # below the threshold: no alert
        ts = BASE + timedelta(minutes=10 * i, seconds=200)
        auth.append(
            (
                ts,
                _syslog(
                    ts, f"Failed password for root from 185.{i % 200}.3.4 port 1 ssh2", 5000 + i
                ),
            )
        )
    span = max(brute_forcers, web_attackers, 1) * 600
    for n in range(noise):
        ts = BASE + timedelta(seconds=rnd.randrange(span))
        auth.append(
            (
                ts,
                _syslog(
                    ts,
                    f"Accepted publickey for deploy from 10.0.{n % 200}.{n % 250 + 1} port 22 ssh2",
                    9000 + n,
                ),
            )
        )
    access: list[tuple[datetime, str]] = []
    for i in range(web_attackers):
        ts = BASE + timedelta(minutes=10 * i, seconds=90)
        ip = web_ip(i)
        access.append(
            (
                ts,
                _access(
                    ts,
                    ip,
                    "GET /item.php?id=1%27%20UNION%20SELECT%20password%20FROM%20users--",
                    200,
                ),
            )
        )
        expected.add("web-sqli", ip)
    for n in range(noise):
        ts = BASE + timedelta(seconds=rnd.randrange(span))
        access.append(
            (ts, _access(ts, f"10.1.{n % 200}.{n % 250 + 1}", f"GET /page/{n}.html", 200))
        )
    files = []
    for name, lines in (("auth.log", auth), ("access.log", access)):
        lines.sort(key=lambda pair: pair[0])
        path = directory / name
        path.write_text("".join(line + "\n" for _, line in lines), encoding="utf-8")
        files.append(path)
    return files, expected


def groups_of(alerts: list[dict]) -> list[tuple[str, str]]:
    """(rule id, first group value) of alerts as stored by TheHive (rule from the socflow:rule= tag)."""
    out = []
    for alert in alerts:
        rule = next(t.split("=", 1)[1] for t in alert["tags"] if t.startswith("socflow:rule="))
        value = alert["title"].split(" from ")[-1].split(" ")[0]
        out.append((rule, value))
    return out
