"""Syslog listener: messages accepted per CPU-second over UDP, TCP and RELP, and what a
``kill -9`` of the listener loses with rsyslog as the sender.

    python bench/syslog.py [--messages N] [--loss-messages N] [--no-loss] [--json]

**Throughput**: ``socflow ingest --listen`` runs as a process with the default rules and its
outbox (no TheHive); one Python sender on loopback sends N RFC 3164 lines (≈100 bytes; 1 in 20 a
failed SSH login, so the rules have work) as fast as it can: UDP datagrams, one TCP connection with
LF framing, or RELP with a window of 128 unacknowledged messages (librelp's default). The listener
is stopped with SIGTERM once the sender is done (it drains and commits what it holds). Reported:
messages that reached the pipeline, the listener's CPU seconds from its first message to its exit
(its start-up excluded), messages per CPU-second, wall time; for UDP the share received.

**Loss across kill -9** (needs Debian's rsyslog, rsyslog-relp): a private rsyslogd forwards with
the action docs/syslog.md shows for the transport; M messages (40 attackers × 10 failed logins,
≈200 msg/s) go in through its input socket; after a third of them the listener is SIGKILLed and
restarted 0.5 s later on the same port. Each attacker's alert says how many of its 10 events were
counted, so: lost = 10 × attackers − counted, duplicated = counts above 10.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
SOCFLOW = [sys.executable, "-m", "socflow.adapters.cli.main"]
TICK = os.sysconf("SC_CLK_TCK")


def _messages(n: int) -> list[bytes]:
    out = []
    for i in range(n):
        if i % 20 == 0:
            ip = f"45.{i // 5000 % 250}.{i // 20 % 250}.{i % 7 + 1}"
            out.append(
                b"<38>Dec  7 00:%02d:%02d web1 sshd[%d]: Failed password for root from %s port %d ssh2"
                % (i // 60 % 60, i % 60, 1000 + i % 9000, ip.encode(), 1024 + i % 60000)
            )
        else:
            out.append(
                b"<78>Dec  7 00:%02d:%02d web1 CRON[%d]: (root) CMD (run-parts --report /etc/cron.hourly %d)"
                % (i // 60 % 60, i % 60, 1000 + i % 9000, i)
            )
    return out


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


class _Listener:
    def __init__(self, url: str, state: Path, config: Path) -> None:
        env = dict(os.environ, SOCFLOW_STATE_DIR=str(state))
        env.pop("SOCFLOW_THEHIVE_URL", None)
        env.pop("SOCFLOW_THEHIVE_KEY", None)
        self.proc = subprocess.Popen(
            [*SOCFLOW, "ingest", "--config", str(config), "--listen", url, "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )
        first = json.loads(self.proc.stderr.readline())  # type: ignore[union-attr]
        self.started = time.monotonic()
        self.port = int(first["listeners"][0].rsplit(":", 1)[1])

    def stop(self) -> tuple[dict, float]:
        """SIGTERM; (the --json summary, CPU seconds of the whole process)."""
        self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.stdout.read(), self.proc.stderr.read()  # type: ignore[union-attr]
        _, status, usage = os.wait4(self.proc.pid, 0)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        if self.proc.returncode != 0:
            raise SystemExit(f"listener failed: {err.decode(errors='replace')[-500:]}")
        return json.loads(out), usage.ru_utime + usage.ru_stime


def _send_udp(port: int, messages: list[bytes]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for m in messages:
            s.sendto(m, ("127.0.0.1", port))


def _send_udp_paced(port: int, messages: list[bytes], rate: int = 50_000) -> None:
    """UDP at a steady ``rate`` per second (bursts of 500), below what one listener takes."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        t0 = time.perf_counter()
        for i in range(0, len(messages), 500):
            for m in messages[i : i + 500]:
                s.sendto(m, ("127.0.0.1", port))
            ahead = (i + 500) / rate - (time.perf_counter() - t0)
            if ahead > 0:
                time.sleep(ahead)


def _send_tcp(port: int, messages: list[bytes]) -> None:
    with socket.create_connection(("127.0.0.1", port)) as s:
        batch: list[bytes] = []
        for m in messages:
            batch.append(m)
            if len(batch) == 500:
                s.sendall(b"\n".join(batch) + b"\n")
                batch = []
        if batch:
            s.sendall(b"\n".join(batch) + b"\n")
        s.shutdown(socket.SHUT_WR)
        s.settimeout(60)
        s.recv(1)  # the listener closes it when it stops


def _send_relp(port: int, messages: list[bytes], window: int = 128) -> None:
    with socket.create_connection(("127.0.0.1", port)) as s:
        offer = b"relp_version=0\nrelp_software=bench\ncommands=syslog"
        s.sendall(b"1 open %d %s\n" % (len(offer), offer))
        buf = b""
        while b"commands=syslog\n" not in buf:
            buf += s.recv(4096)
        acked = [0]
        done = threading.Event()
        cond = threading.Condition()

        def read() -> None:
            rest = b""
            while acked[0] < len(messages):
                data = s.recv(65536)
                if not data:
                    break
                rest += data
                lines = rest.split(b"\n")
                rest = lines.pop()
                with cond:
                    acked[0] += sum(1 for ln in lines if b" rsp 6 200 OK" in ln)
                    cond.notify()
            done.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        txnr, sent = 2, 0
        while sent < len(messages):
            with cond:
                while sent - acked[0] >= window:
                    cond.wait(5)
            frames = []
            room = window - (sent - acked[0])
            for m in messages[sent : sent + room]:
                frames.append(b"%d syslog %d %s\n" % (txnr, len(m), m))
                txnr += 1
            sent += len(frames)
            s.sendall(b"".join(frames))
        done.wait(120)
        s.sendall(b"%d close 0\n" % txnr)


def throughput(n: int) -> list[dict]:
    rows = []
    messages = _messages(n)
    size = sum(len(m) for m in messages) / n
    runs = (("udp", _send_udp), ("udp", _send_udp_paced), ("tcp", _send_tcp), ("relp", _send_relp))
    for transport, send in runs:
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "bridge.yml"
            config.write_text("window_grace: 0\n")
            listener = _Listener(f"{transport}://127.0.0.1:0", Path(tmp) / "state", config)
            time.sleep(0.3)
            start_cpu = _cpu(listener.proc.pid)
            t0 = time.perf_counter()
            send(listener.port, messages)
            if transport == "udp":
                time.sleep(0.5)  # the last datagrams are read
            summary, cpu = listener.stop()
            wall = time.perf_counter() - t0
            got = sum(p["messages"] for p in summary["peers"])
            dropped = sum(p["dropped"] for p in summary["peers"])
            lines = summary["sources"][0]["lines"]
            used = cpu - start_cpu
            rows.append(
                {
                    "transport": transport + (" at 50k/s" if send is _send_udp_paced else ""),
                    "sent": n,
                    "bytes_per_message": round(size, 1),
                    "received": got,
                    "into_pipeline": lines,
                    "queue_full_drops": dropped,
                    "received_share": round(got / n, 4),
                    "listener_cpu_s": round(used, 3),
                    "messages_per_cpu_s": round(lines / used) if used > 0 else None,
                    "wall_s": round(wall, 3),
                    "messages_per_s_wall": round(lines / wall),
                }
            )
    return rows


# ---- loss across kill -9, with rsyslog as the sender
def loss(total: int, transports: list[str]) -> list[dict]:
    import shutil

    from bridge.syslog_support import RSYSLOGD, Rsyslog, doc_snippet, point_at

    if not shutil.which(RSYSLOGD):
        return [{"transport": t, "note": "rsyslog not installed"} for t in transports]
    rows = []
    attackers = total // 10
    for transport in transports:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            config = root / "bridge.yml"
            config.write_text("window_grace: 0\n")
            listener = _Listener(f"{transport}://127.0.0.1:0", root / "state", config)
            port = listener.port
            snippet = {"udp": "udp", "tcp": "tcp", "relp": "relp"}[transport]
            rs = Rsyslog(root / "rsyslog", point_at(doc_snippet(snippet), port)).start()
            when = dt.datetime.now() - dt.timedelta(hours=1)
            sent, holder, killed_at = 0, [], 0.0
            began = time.monotonic()
            try:
                for k in range(10):
                    for a in range(attackers):
                        rs.log(
                            f"Failed password for root from 45.78.{a // 200}.{a % 200 + 1} port {k} ssh2",
                            when=when,
                        )
                        sent += 1
                        time.sleep(0.005)
                        if sent == total // 3:  # the sending goes on while it is down
                            listener.proc.send_signal(signal.SIGKILL)
                            listener.proc.wait()
                            killed_at = time.monotonic()
                            restart = threading.Thread(target=lambda: (time.sleep(0.5), holder.append(
                                _Listener(f"{transport}://127.0.0.1:{port}", root / "state", config))))
                            restart.start()
                send_end = time.monotonic()
                restart.join()
                down = holder[0].started - killed_at
                time.sleep(3 if transport != "relp" else 5)  # rsyslog's queue catches up
                rs.log("Failed password for deploy from 10.0.0.1 port 1 ssh2")  # closes the windows
                time.sleep(2)
                holder[0].stop()
            finally:
                rs.stop()
            env = dict(os.environ, SOCFLOW_STATE_DIR=str(root / "state"))
            listing = subprocess.run(
                [*SOCFLOW, "alerts", "list", "--json", "--rule", "ssh-brute-force"],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            counts = {}
            for alert in json.loads(listing.stdout):
                title = alert.get("title", "")
                m = re.search(r"from (\S+) \((\d+) failed", title)
                if m and m.group(1).startswith("45.78."):
                    counts[m.group(1)] = int(m.group(2))
            counted = sum(min(c, 10) for c in counts.values())
            rows.append(
                {
                    "transport": transport,
                    "sent_through_rsyslog": sent,
                    "kill9_after": total // 3,
                    "listener_down_s": round(down, 2),
                    "send_rate_per_s": round(sent / (send_end - began)),
                    "attackers_alerted": len(counts),
                    "attackers": attackers,
                    "lost": 10 * attackers - counted,
                    "duplicated": sum(max(c - 10, 0) for c in counts.values()),
                    "note": "an attacker with more than 5 of its 10 messages lost raises no alert: "
                    "lost is then exact only if no attacker lost more than 5",
                }
            )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=200_000, help="messages per throughput run")
    ap.add_argument("--loss-messages", type=int, default=1200, help="messages per kill -9 run (×10 per attacker)")
    ap.add_argument("--no-loss", action="store_true", help="skip the kill -9 runs with rsyslog")
    ap.add_argument("--loss-transports", default="udp,tcp,relp", help="comma-separated, of udp,tcp,relp")
    ap.add_argument("--no-throughput", action="store_true", help="only the kill -9 runs")
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = ap.parse_args()
    result = {
        "machine": f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}",
        "throughput": [] if args.no_throughput else throughput(args.messages),
        "loss": [] if args.no_loss else loss(args.loss_messages, args.loss_transports.split(",")),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(result["machine"])
    for row in result["throughput"]:
        print(
            f"{row['transport']:5} received {row['received']:>8,}/{row['sent']:,} "
            f"({row['received_share']:.1%})  {row['messages_per_cpu_s']:>8,} msg per CPU-s  "
            f"{row['messages_per_s_wall']:>8,} msg/s wall"
        )
    for row in result["loss"]:
        print(row)


if __name__ == "__main__":
    main()
