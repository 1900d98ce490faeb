"""The generator state (random source, clock, pools with Zipf-like reuse) and the format registry."""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from . import pools as P
from .labels import Labels

Lines = list[tuple[str, Labels]]


class Synth:
    """Picks values from named pools and advances a clock.

    With ``zipf`` set, pool item *k* is chosen with weight ``1/(k+1)**zipf`` so a few addresses and
    domains dominate, as in real traffic; without it every item is equally likely (eval set).
    """

    def __init__(self, seed: int, pools: dict[str, list[Any]], zipf: float | None = None,
                 start: datetime | None = None, mean_gap_s: float = 4.0) -> None:
        self.rng = random.Random(seed)
        self.pools = pools
        self.zipf = zipf
        self.now = start or datetime(2024, 3, 12, 6, 25, 1, tzinfo=timezone.utc)
        self.mean_gap_s = mean_gap_s
        self._cum: dict[str, list[float]] = {}
        if zipf is not None:
            for name, pool in pools.items():
                weights = (1.0 / (k + 1) ** zipf for k in range(len(pool)))
                self._cum[name] = list(itertools.accumulate(weights))
        self.pid = itertools.count(self.rng.randrange(1000, 30000))

    def pick(self, name: str) -> Any:
        pool = self.pools[name]
        if self.zipf is None:
            return pool[self.rng.randrange(len(pool))]
        cum = self._cum[name]
        return pool[bisect.bisect_left(cum, self.rng.random() * cum[-1])]

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def tick(self) -> datetime:
        self.now += timedelta(seconds=self.rng.expovariate(1.0 / self.mean_gap_s))
        return self.now

    def hex(self, length: int) -> str:
        return f"{self.rng.getrandbits(4 * length):0{length}x}"

    def port(self) -> int:
        return self.rng.randrange(1024, 65535)

    def client_ip(self) -> str:
        roll = self.rng.random()
        if roll < 0.82:
            return self.pick("public_ip")
        if roll < 0.93:
            return self.pick("private_ip")
        return self.pick("ipv6")


def eval_pools(rng: random.Random) -> dict[str, list[Any]]:
    """Small hand-written pools: every value is one a human labelled (see labels.py)."""
    return {
        "public_ip": P.public_ips(rng, 60), "private_ip": P.private_ips(rng, 12),
        "ipv6": P.PUBLIC_IPV6, "site_host": P.SITE_HOSTS, "benign_domain": P.BENIGN_DOMAINS,
        "bad_domain": P.BAD_DOMAINS, "mail_host": P.MAIL_HOSTS, "mailbox": P.MAILBOXES,
        "ua": P.USER_AGENTS, "referer": P.REFERERS, "path": P.PATHS,
        "attack_path": P.ATTACK_PATHS, "attack_user": P.ATTACK_USERS, "good_user": P.GOOD_USERS,
        "hostname": P.RANDOM_HOSTNAMES, "not_domain": P.LOCAL_NOT_DOMAINS,
    }


def bench_pools(rng: random.Random) -> dict[str, list[Any]]:
    """Large pools for the speed corpus: many distinct IPs, domains and mailboxes."""
    pools = eval_pools(rng)
    words = ["cloud", "secure", "update", "cdn", "mail", "login", "portal", "data", "static",
             "files", "shop", "media", "api", "sync", "auth", "track", "news", "docs"]
    tlds = ["com", "net", "org", "ru", "xyz", "top", "info", "io", "de", "co.uk", "site", "online"]
    domains = [f"{rng.choice(words)}-{rng.choice(words)}{rng.randrange(1000)}.{rng.choice(tlds)}"
               for _ in range(20000)]
    pools["public_ip"] = P.public_ips(rng, 30000)
    pools["private_ip"] = P.private_ips(rng, 2000)
    pools["bad_domain"] = P.BAD_DOMAINS + domains
    pools["mailbox"] = P.MAILBOXES + [f"{rng.choice(words)}.{rng.choice(words)}@{d}"
                                      for d in domains[:5000]]
    pools["attack_user"] = P.ATTACK_USERS + [f"{rng.choice(words)}{i}" for i in range(3000)]
    return pools


Generator = Callable[[Synth], Lines]
FORMATS: dict[str, tuple[str, Generator, Lines]] = {}  # name -> (file name, generator, traps)


def register(name: str, filename: str, traps: Lines) -> Callable[[Generator], Generator]:
    def wrap(func: Generator) -> Generator:
        FORMATS[name] = (filename, func, traps)
        return func
    return wrap


def generate(fmt: str, synth: Synth, trap_every: int = 0) -> Iterator[tuple[str, Labels]]:
    """Endless (line, labels) of one format; a hand-written trap line every ``trap_every`` lines."""
    _, func, traps = FORMATS[fmt]
    trap_cycle = itertools.cycle(traps) if traps and trap_every else None
    n = 0
    while True:
        for item in func(synth):
            yield item
            n += 1
            if trap_cycle is not None and n % trap_every == 0:
                yield next(trap_cycle)


def _load_formats() -> None:
    from . import eve, rfc5424, syslog, web  # noqa: F401  (registers the formats)


_load_formats()
