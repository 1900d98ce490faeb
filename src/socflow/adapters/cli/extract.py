"""``socflow extract``: indicators from logs or text, as a table or JSON."""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timezone

import click
from rich.table import Table

from ...errors import validation_summary
from ...extract import ExtractConfig
from ...models import IocType
from ...pipeline import ExtractResult, extract_paths
from ...read import expand_paths, skipped_note
from ...warninglists import annotate
from .common import byte_progress, console, on_interrupt, warn, warninglist_options, warninglists_from

TYPE_NAMES = [t.value for t in IocType]


@click.command("extract")
@click.argument("paths", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write JSON to this file.")
@click.option("--type", "types", multiple=True, type=click.Choice(TYPE_NAMES),
              help="Only these indicator types (repeatable).")
@click.option("--include-private", is_flag=True, help="Keep private, loopback and reserved IPs.")
@click.option("--allow", "allowlist", multiple=True, metavar="CIDR|DOMAIN",
              help="Never report this network or domain (repeatable).")
@click.option("--format", "fmt", default="auto", show_default=True,
              type=click.Choice(["auto", "access", "syslog", "json", "plain"]),
              help="Log format (auto-detected per file).")
@click.option("--max-line-bytes", type=click.IntRange(min=256), default=1 << 20,
              show_default=True, help="Longer lines are truncated (and counted).")
@click.option("--samples", type=click.IntRange(0, 100), default=2, show_default=True,
              help="Sample lines kept per indicator.")
@click.option("--max-iocs", type=click.IntRange(min=1), default=40_000, show_default=True,
              help="Distinct indicators tracked (bounds memory); more are counted and reported.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True,
              help="Rows per type in the table (JSON has all).")
@click.option("--jobs", "-j", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Processes to use (large plain files are split into byte ranges).")
@click.option("--progress/--no-progress", default=True, help="Progress bar on a terminal.")
@warninglist_options
def extract(paths: tuple[str, ...], as_json: bool, output: str | None, types: tuple[str, ...],
            include_private: bool, allowlist: tuple[str, ...], fmt: str, max_line_bytes: int,
            samples: int, max_iocs: int, limit: int, jobs: int, progress: bool,
            warninglists_add: tuple[str, ...], warninglists_disable: tuple[str, ...],
            warninglists_off: bool) -> int:
    """Extract indicators (IPs, domains, URLs, e-mails, hashes, CVEs, failed-login usernames)
    from PATHS: files, .gz/.bz2, directories, globs, or - for stdin. Indicators on MISP warning
    lists (top domains, public resolvers, cloud/CDN and documentation ranges) are tagged."""
    try:
        config = ExtractConfig(
            types=frozenset(IocType(t) for t in types) if types else frozenset(IocType),
            include_private=include_private, allowlist=allowlist, format=fmt,
            max_line_bytes=max_line_bytes, max_samples=samples, max_iocs=max_iocs,
        )
    except ValueError as exc:
        raise click.BadParameter(validation_summary(exc)) from None
    lists = warninglists_from(warninglists_add, warninglists_disable, warninglists_off)
    skipped: list[str] = []
    files = expand_paths(paths, skipped)
    if skipped:
        warn(skipped_note(skipped))
    total = sum(os.path.getsize(p) for p in files if p != "-")
    partial: list[ExtractResult] = []

    def show(result: ExtractResult) -> None:
        listed = annotate(result.iocs, lists)  # a post-pass over the distinct indicators
        summary = {"checked": list(lists.names), "listed": listed}
        if as_json or output:
            _stream_json(result, output, summary)
        else:
            _print_tables(result, limit, summary)

    # Ctrl-C: the indicators found so far, printed as the finished run would print them
    with on_interrupt(lambda: partial and show(partial[0])):
        try:
            with byte_progress(total or None, progress and not as_json) as advance:
                result = extract_paths(files, config, progress=advance, jobs=jobs)
        except KeyboardInterrupt as exc:
            partial.extend([exc.partial] if hasattr(exc, "partial") else [])
            raise
    show(result)
    return _report_problems(result)


def _stream_json(result: ExtractResult, output: str | None, warninglists: dict) -> None:
    """The same document as ``ExtractResult.to_dict()``, written one indicator at a time so a
    large result is never held twice in memory as text."""
    fh = open(output, "w", encoding="utf-8") if output and output != "-" else sys.stdout  # noqa: SIM115
    try:
        by_type: dict[str, list] = {}
        for ioc in result.iocs:
            by_type.setdefault(ioc.type.value, []).append(ioc)
        fh.write('{\n  "iocs": {')
        for t, (kind, iocs) in enumerate(by_type.items()):
            fh.write(f'{"," if t else ""}\n    {json.dumps(kind)}: [')
            for i, ioc in enumerate(iocs):
                fh.write(("," if i else "") + "\n      " + json.dumps(ioc.to_dict(), ensure_ascii=False))
            fh.write("\n    ]")
        rest = result.to_dict(include_iocs=False)
        rest["warninglists"] = warninglists
        fh.write("\n  },\n" + json.dumps(rest, indent=2, ensure_ascii=False)[2:] + "\n")
    finally:
        if fh is not sys.stdout:
            fh.close()


def _print_tables(result: ExtractResult, limit: int, warninglists: dict) -> None:
    by_type: dict[IocType, list] = {}
    for ioc in result.iocs:
        by_type.setdefault(ioc.type, []).append(ioc)
    if not by_type:
        console.print("No indicators found.")
    for kind, iocs in by_type.items():
        table = Table(title=f"{kind.value} ({len(iocs)})", title_justify="left")
        listed = any(i.warninglists for i in iocs)
        columns = ("value", "count", "first seen", "last seen", "contexts") + (
            ("warning lists",) if listed else ())
        for col in columns:
            table.add_column(col, overflow="fold", justify="right" if col == "count" else "left")
        for ioc in iocs[:limit]:
            table.add_row(
                ioc.value, str(ioc.count),
                _when(ioc.first_seen), _when(ioc.last_seen),
                ", ".join(sorted(ioc.contexts)),
                *((", ".join(ioc.warninglists),) if listed else ()),
            )
        if len(iocs) > limit:
            table.caption = f"{len(iocs) - limit} more (use --json or --limit)"
        console.print(table)
    sources = Table(title="sources", title_justify="left")
    for col in ("source", "format", "lines", "bytes", "invalid UTF-8", "truncated"):
        sources.add_column(col, justify="left" if col in ("source", "format") else "right")
    for s in result.stats:
        sources.add_row(s.source, s.format, str(s.lines), str(s.bytes), str(s.invalid_utf8),
                        str(s.truncated))
    console.print(sources)
    if warninglists["listed"]:
        console.print(f"{warninglists['listed']} indicator(s) on MISP warning lists "
                      "(known-benign or special-use values; --no-warninglists to skip the check)")


def _when(ts: datetime | None) -> str:
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S") if ts else ""


def _report_problems(result: ExtractResult) -> int:
    failed = False
    for s in result.stats:
        if s.invalid_utf8:
            warn(f"{s.source}: {s.invalid_utf8} lines with invalid UTF-8 (decoded with U+FFFD)")
        if s.truncated:
            warn(f"{s.source}: {s.truncated} lines longer than the cap were truncated")
        for error in s.errors:
            warn(error)
            failed = True
    if result.counters.dropped_over_limit:
        warn(f"the --max-iocs limit was reached: {result.counters.dropped_over_limit} sightings of "
             "further indicators were counted but not reported (raise --max-iocs)")
    return 1 if failed else 0
