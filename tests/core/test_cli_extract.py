"""``socflow extract`` as users run it: a real process, real files, exit codes, one-line errors."""

import gzip
import json
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "logs"
SOCFLOW = [sys.executable, "-m", "socflow.adapters.cli.main"]


def run(*args, stdin=None):
    return subprocess.run([*SOCFLOW, *args], capture_output=True, input=stdin, timeout=120)


def test_table_on_the_examples():
    proc = run("extract", str(EXAMPLES))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode()
    assert "193.32.162.157" in out and "login-micros0ft.top" in out and "sources" in out


def test_json_output_and_output_file(tmp_path):
    proc = run("extract", "--json", str(EXAMPLES / "eve.json"))
    data = json.loads(proc.stdout)
    assert data["sources"][0]["format"] == "json"
    assert "c2.badcdn.xyz" in {i["value"] for i in data["iocs"]["domain"]}
    target = tmp_path / "iocs.json"
    assert run("extract", "--output", str(target), str(EXAMPLES / "auth.log")).returncode == 0
    assert json.loads(target.read_text())["iocs"]["username"]


def test_stdin_and_type_filter():
    proc = run("extract", "--json", "--type", "ipv4", "-",
               stdin=gzip.compress((EXAMPLES / "auth.log").read_bytes()))
    data = json.loads(proc.stdout)
    assert set(data["iocs"]) == {"ipv4"} and data["sources"][0]["compression"] == "gzip"


def test_missing_file_is_one_line_exit_1():
    proc = run("extract", "/nonexistent/x.log")
    assert proc.returncode == 1
    assert proc.stderr.decode().strip() == "socflow: error: /nonexistent/x.log: no such file or directory"


def test_usage_errors_exit_2():
    assert run("extract").returncode == 2
    assert run("extract", "--type", "ipv5", str(EXAMPLES)).returncode == 2
    bad = run("extract", "--allow", "10.0.0.0/99", str(EXAMPLES))
    assert bad.returncode == 2 and b"not a valid IP or CIDR" in bad.stderr
    assert b"Traceback" not in bad.stderr


def test_corrupt_gzip_keeps_lines_and_fails(tmp_path):
    blob = gzip.compress(b"".join(b"8.8.%d.%d x\n" % (i % 200, i % 250) for i in range(200000)))
    bad = tmp_path / "cut.log.gz"
    bad.write_bytes(blob[: len(blob) // 2])
    proc = run("extract", "--json", str(bad))
    assert proc.returncode == 1
    assert b"read failed" in proc.stderr and b"Traceback" not in proc.stderr
    assert json.loads(proc.stdout)["iocs"]["ipv4"]


def test_binary_and_invalid_utf8_are_reported_not_fatal(tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 400 + b"\n\xff\xfe 8.8.8.8\n")
    proc = run("extract", "--json", str(junk))
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["sources"][0]["invalid_utf8_lines"] >= 1
    assert b"invalid UTF-8" in proc.stderr


def test_tracking_limit_is_reported():
    proc = run("extract", "--max-iocs", "3", str(EXAMPLES))
    assert proc.returncode == 0 and b"--max-iocs limit was reached" in proc.stderr


def test_parallel_jobs_flag():
    one = json.loads(run("extract", "--json", str(EXAMPLES)).stdout)
    two = json.loads(run("extract", "--json", "--jobs", "2", str(EXAMPLES)).stdout)
    assert one["totals"] == two["totals"]


def test_warninglisted_indicators_are_tagged_in_json_and_table():
    data = json.loads(run("extract", "--json", str(EXAMPLES / "eve.json")).stdout)
    domains = {i["value"]: i["warninglists"] for i in data["iocs"]["domain"]}
    assert domains["update.microsoft.com"] == ["cisco_top10k", "tranco10k"]
    assert domains["www.example.org"] == ["rfc6761", "tranco10k"]
    assert domains["c2.badcdn.xyz"] == []
    assert {i["value"]: i["warninglists"] for i in data["iocs"]["ipv4"]}["104.21.45.67"] == ["cloudflare"]
    assert data["warninglists"]["listed"] == 4 and "tranco10k" in data["warninglists"]["checked"]
    table = run("extract", str(EXAMPLES / "eve.json")).stdout.decode()
    assert "warning lists" in table and "cloudflare" in table
    assert "4 indicator(s) on MISP warning lists" in table


def test_warninglist_options():
    added = json.loads(run("extract", "--json", "--warninglist", "url-shortener", "--no-warninglist", "tranco10k",
                           "-", stdin=b"see https://bit.ly/x and google.com\n").stdout)
    got = {i["value"]: i["warninglists"] for kind in added["iocs"].values() for i in kind}
    assert got["https://bit.ly/x"] == ["cisco_top10k", "url-shortener"] and got["google.com"] == ["cisco_top10k"]
    assert "tranco10k" not in added["warninglists"]["checked"]
    off = json.loads(run("extract", "--json", "--no-warninglists", str(EXAMPLES / "eve.json")).stdout)
    assert off["warninglists"] == {"checked": [], "listed": 0}
    assert all(not i["warninglists"] for kind in off["iocs"].values() for i in kind)
    bad = run("extract", "--warninglist", "nope", str(EXAMPLES))
    assert bad.returncode == 2 and b"unknown warning list 'nope'" in bad.stderr and b"Traceback" not in bad.stderr


def test_the_readme_warninglist_commands():
    shown = run("extract", "--json", "--warninglist", "url-shortener", "--no-warninglist", "cisco_top10k",
                str(EXAMPLES / "eve.json"))
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert "url-shortener" in data["warninglists"]["checked"] and "cisco_top10k" not in data["warninglists"]["checked"]
    assert {i["value"]: i["warninglists"] for i in data["iocs"]["domain"]}["api.github.com"] == ["tranco10k"]
    off = run("extract", "--no-warninglists", str(EXAMPLES))
    assert off.returncode == 0 and b"warning lists" not in off.stdout
