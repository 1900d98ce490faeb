"""Mail analysis benchmark: messages per second (typical and 20 MB messages), peak RSS.

Usage: ``.venv/bin/python bench/mail.py [--rounds 10] [--big-mb 20] [--jobs 7] [--json]``

1. Typical messages: the labelled corpus (tests/mail/corpus, 121 messages of 1-6 KB: newsletters,
   reports, attachments), analysed ``--rounds`` times in one process with the shipped policy and
   no enrichment: messages per CPU-second, the median message's size and CPU time.
2. A ~120 KB HTML newsletter with 400 links, analysed ``2 * --rounds`` times.
3. A ``--big-mb`` message (a short text body and one random attachment, base64) analysed in a
   fresh process: CPU seconds, messages per second, peak RSS.
4. Cold start: a fresh process importing socflow.mail and analysing one corpus message.
5. Analyzer job cold start: ``Socflow_MailAnalysis`` run ``--jobs`` times per message as Cortex's
   process runner runs it (tests/support/cortexjob.py: job folder, the command as a process),
   for a signed legitimate message (DKIM verified) and a lookalike phishing message: the median
   CPU time (user + system) of the job process. Target < 400 ms.

Results go to stdout and ``bench/out/mail.json``. CPU time is ``time.process_time``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "mail" / "corpus"

CHILD = r"""
import json, resource, sys, time


def peak_mb():
    # VmHWM belongs to this program's memory map; ru_maxrss would also count the parent's pages
    # at exec time (Linux keeps the fork's high-water mark across execve).
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


t0 = time.perf_counter(); c0 = time.process_time()
from socflow.mail import analyze_bytes
data = open(sys.argv[1], "rb").read()
c1 = time.process_time()
report = analyze_bytes(data, sys.argv[1])
c2 = time.process_time()
print(json.dumps({"cpu_s": c2 - c1, "import_and_read_cpu_s": c1 - c0,
                  "wall_s": time.perf_counter() - t0, "verdict": report.verdict,
                  "attachment_bytes": sum(a.size for a in report.attachments),
                  "peak_rss_mb": peak_mb()}))
"""


def peak_mb() -> float:
    """This process's peak RSS (VmHWM; ru_maxrss would include the parent's at exec time)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(path: Path) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True,
                          text=True, timeout=600, check=True)
    return json.loads(proc.stdout)


def typical(rounds: int) -> dict:
    from socflow.mail import analyze_bytes

    messages = [p.read_bytes() for p in sorted(CORPUS.glob("*/*.eml"))]
    for data in messages:  # warm caches (policy, PSL, confusables) once
        analyze_bytes(data)
    from socflow.mail.content import _iocs

    per_message = []
    for _ in range(rounds):
        for data in messages:
            _iocs.cache_clear()  # no link text remembered from the previous round
            t = time.process_time()
            analyze_bytes(data)
            per_message.append(time.process_time() - t)
    cpu = sum(per_message)
    sizes = sorted(len(m) for m in messages)
    return {"messages": len(messages) * rounds, "distinct": len(messages), "cpu_s": round(cpu, 3),
            "messages_per_cpu_s": round(len(messages) * rounds / cpu, 1),
            "median_message_bytes": sizes[len(sizes) // 2],
            "median_message_ms": round(statistics.median(per_message) * 1000, 2),
            "p95_message_ms": round(sorted(per_message)[int(len(per_message) * 0.95)] * 1000, 2),
            "peak_rss_mb": round(peak_mb(), 1)}


def html_heavy(rounds: int) -> dict:
    """A ~120 KB HTML newsletter with 400 tracked links (bigger than most real newsletters)."""
    from socflow.mail import analyze_bytes

    rows = "".join(
        f'<tr><td><a href="https://click.sendwave-esp.com/c/{i:06x}?u=https%3A%2F%2Fshop.fabrikam.com%2Fp%2F{i}">'
        f"Product {i}: a longer description of the offer to make the row realistic</a></td>"
        f'<td><img src="https://img.fabrikam.com/p/{i}.jpg" alt="product {i}"></td></tr>\n'
        for i in range(400))
    data = ("From: Fabrikam News <news@fabrikam.com>\nTo: reader@contoso.com\nSubject: November\n"
            "MIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\n\n"
            f"<html><body><table>{rows}</table></body></html>\n").encode()
    from socflow.mail.content import _iocs

    analyze_bytes(data)
    cpu = 0.0
    for _ in range(rounds):
        _iocs.cache_clear()  # every link new, as in a stream of different newsletters
        start = time.process_time()
        analyze_bytes(data)
        cpu += time.process_time() - start
    return {"message_kb": round(len(data) / 1024, 1), "links": 400,
            "messages_per_cpu_s": round(rounds / cpu, 1), "ms_per_message": round(cpu / rounds * 1000, 1)}


def big(size_mb: float, workdir: Path) -> dict:
    raw = int(size_mb * (1 << 20) * 3 / 4) // 3 * 3  # base64 makes it size_mb on the wire
    path = workdir / "big.eml"
    with path.open("wb") as fh:
        fh.write(b"From: Bruno Sample <bruno.sample@fabrikam.com>\nTo: dana@contoso.com\n"
                 b"Subject: the scans\nMIME-Version: 1.0\n"
                 b'Content-Type: multipart/mixed; boundary="B"\n\n--B\nContent-Type: text/plain\n\n'
                 b"Scans attached, see https://portal.fabrikam.com/scans\n--B\n"
                 b'Content-Type: application/pdf; name="scans.pdf"\nContent-Transfer-Encoding: base64\n'
                 b'Content-Disposition: attachment; filename="scans.pdf"\n\n')
        block = os.urandom(3 * 349_525)
        left = raw
        first = True
        while left > 0:
            piece = block[: min(left, len(block))]
            if first:
                piece = b"%PDF-1.7\n" + piece[9:]
                first = False
            fh.write(base64.encodebytes(piece))
            left -= len(piece)
        fh.write(b"--B--\n")
    out = child(path)
    out["message_mb"] = round(path.stat().st_size / (1 << 20), 1)
    out["messages_per_cpu_s"] = round(1 / out["cpu_s"], 2) if out["cpu_s"] else None
    return out


def job_cold_start(jobs: int) -> dict:
    """Median CPU ms of a Socflow_MailAnalysis job process, as Cortex starts it."""
    import resource

    sys.path.insert(0, str(ROOT / "tests"))
    from support.cortexjob import run_job

    out = {}
    for name in ("ham/m365-colleague-0.eml", "phish/lookalike-0.eml"):
        cpu = []
        for _ in range(jobs):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            result = run_job("Socflow_MailAnalysis", data_type="file", file=CORPUS / name,
                             filename=Path(name).name, content_type="message/rfc822")
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if not result.output.get("success"):
                raise SystemExit(f"bench: the job on {name} failed: {result.output.get('errorMessage')}")
            cpu.append((after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000)
        out[name] = {"jobs": jobs, "median_cpu_ms": round(statistics.median(cpu)),
                     "verdict": result.output["full"]["verdict"]["level"]
                     if isinstance(result.output["full"].get("verdict"), dict)
                     else result.output["full"].get("verdict")}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--big-mb", type=float, default=20)
    parser.add_argument("--jobs", type=int, default=7,
                        help="analyzer jobs per message for the job cold start (0: skip)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = {
            "typical": typical(args.rounds),
            "html_heavy": html_heavy(max(args.rounds * 2, 2)),
            "big": big(args.big_mb, Path(tmp)),
            "cold_start": child(CORPUS / "phish" / "attachment-9.eml"),
            "job_cold_start": job_cold_start(args.jobs) if args.jobs > 0 else {},
            "python": sys.version.split()[0],
            "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "load_average": os.getloadavg()[0],
        }
    out_dir = ROOT / "bench" / "out"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "mail.json").write_text(json.dumps(result, indent=2) + "\n")
    if args.json:
        print(json.dumps(result))
        return 0
    t, b, c = result["typical"], result["big"], result["cold_start"]
    print(f"typical: {t['messages_per_cpu_s']} messages/CPU-s over {t['messages']} analyses "
          f"(median message {t['median_message_bytes']} B, {t['median_message_ms']} ms; "
          f"p95 {t['p95_message_ms']} ms); peak RSS {t['peak_rss_mb']} MB")
    h = result["html_heavy"]
    print(f"{h['message_kb']} KB HTML newsletter, {h['links']} links: {h['messages_per_cpu_s']} "
          f"messages/CPU-s ({h['ms_per_message']} ms)")
    print(f"{b['message_mb']} MB message: {b['cpu_s']:.2f} CPU-s ({b['messages_per_cpu_s']} messages/s), "
          f"peak RSS {b['peak_rss_mb']:.0f} MB")
    print(f"cold start (import + one message): {c['wall_s'] * 1000:.0f} ms wall, "
          f"peak RSS {c['peak_rss_mb']:.0f} MB")
    for name, job in result["job_cold_start"].items():
        print(f"Socflow_MailAnalysis job on {name}: median {job['median_cpu_ms']} ms CPU "
              f"over {job['jobs']} jobs (verdict {job['verdict']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
