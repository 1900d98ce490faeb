"""``socflow export``: a TheHive case's indicators as a MISP event or a STIX 2.1 bundle — to a
file, to stdout, or pushed to a MISP server (the playbook ``export`` step from the command line)."""

from __future__ import annotations

import json
from typing import Any

import click

from ...errors import InputError
from ...export import build, summary, write_atomic
from .common import secret_option, thehive_options, warn, write_json

MAX_CASE_FILE = 64 * 1024 * 1024


def _case_file(path: str) -> tuple[dict[str, Any], list[Any]]:
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_CASE_FILE + 1)
    except OSError as exc:
        raise InputError(f"--case-file {path}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_CASE_FILE:
        raise InputError(f"--case-file {path}: larger than {MAX_CASE_FILE // (1024 * 1024)} MiB")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise InputError(f"--case-file {path}: not JSON (UTF-8)") from None
    if not isinstance(data, dict) or not isinstance(data.get("case"), dict) or not isinstance(
            data.get("observables", []), list):
        raise InputError(f'--case-file {path}: expected {{"case": {{…}}, "observables": […]}}')
    return data["case"], data.get("observables", [])


def _from_thehive(case_id: str, url: str | None, key: str | None, organisation: str | None,
                  ca_bundle: str | None) -> tuple[dict[str, Any], list[Any], str | None]:
    from ..playbook.services import TheHiveCortex
    from ..thehive.sender import TheHiveSettings

    settings = TheHiveSettings(url=url, api_key=key, organisation=organisation, ca_bundle=ca_bundle)
    hive = TheHiveCortex(settings, None)
    return hive.entity("case", case_id), hive.observables("case", case_id), settings.url


@click.command("export")
@click.option("--case", "case_id", metavar="ID", help="TheHive case id (~123) or number.")
@click.option("--case-file", type=click.Path(dir_okay=False),
              help='A case as JSON instead: {"case": {…}, "observables": […]} as TheHive returns them '
                   '(with --thehive-url, the TheHive it came from, its MISP event UUID is stable).')
@click.option("--format", "fmt", type=click.Choice(["misp", "stix"]), default="misp", show_default=True,
              help="MISP event JSON or STIX 2.1 bundle.")
@click.option("--output", help="Write the document here ('-' or none: stdout).")
@click.option("--all-observables", is_flag=True,
              help="Export every observable (default: only those flagged IOC, as TheHive's MISP export).")
@click.option("--distribution", type=click.IntRange(0, 3), default=0, show_default=True,
              help="MISP distribution: 0 organisation, 1 community, 2 connected, 3 all.")
@click.option("--no-case-tags", is_flag=True, help="Do not copy the case tags onto the MISP event.")
@click.option("--identity", default="socflow", show_default=True, help="STIX identity (producer) name.")
@click.option("--push", is_flag=True,
              help="Send the MISP event to --misp-url (unpublished); again: updates the same event.")
@click.option("--publish", is_flag=True, help="With --push: publish the event too.")
@click.option("--misp-url", envvar="SOCFLOW_MISP_URL", help="MISP base URL [env SOCFLOW_MISP_URL].")
@secret_option("--misp-key", "SOCFLOW_MISP_KEY", "MISP API key")
@click.option("--misp-ca-bundle", type=click.Path(dir_okay=False), help="CA certificate(s) of MISP's TLS.")
@click.option("--allow-private-targets", is_flag=True,
              help="Let --misp-url be a loopback or link-local address (a local MISP, tests).")
@click.option("--json", "as_json", is_flag=True, help="The result (counts, reasons, MISP event) as JSON.")
@thehive_options
def export(case_id: str | None, case_file: str | None, fmt: str, output: str | None,
           all_observables: bool, distribution: int, no_case_tags: bool, identity: str, push: bool,
           publish: bool, misp_url: str | None, misp_key: str | None, misp_ca_bundle: str | None,
           allow_private_targets: bool, as_json: bool, thehive_url: str | None,
           thehive_key: str | None, organisation: str | None, ca_bundle: str | None) -> int:
    """A TheHive case's indicators as a MISP event or a STIX 2.1 bundle, TLP carried over.

    Values that fit no rule of their type (a hash that is not hex, an IP that is no address, text
    with control characters) are left out with their reason on stderr.
    """
    if (case_id is None) == (case_file is None):
        raise click.UsageError("give one of --case or --case-file")
    if push and fmt != "misp":
        raise click.UsageError("--push sends MISP events: use --format misp")
    if publish and not push:
        raise click.UsageError("--publish needs --push")
    if push and output:
        raise click.UsageError("--push or --output, not both")
    if push and not misp_url:
        raise click.UsageError("--push needs --misp-url (or SOCFLOW_MISP_URL)")
    if case_file is not None:  # the TheHive it came from, when given, identifies it with its _id
        case, observables = _case_file(case_file)
        instance = thehive_url
    else:
        case, observables, instance = _from_thehive(str(case_id), thehive_url, thehive_key, organisation,
                                                    ca_bundle)
    document = build(case, observables, fmt=fmt, ioc_only=not all_observables, distribution=distribution,
                     case_tags=not no_case_tags, identity=identity, instance=instance)
    result: dict[str, Any] = {"format": fmt, **summary(document)}
    refused = [(w, why) for w, why in document.skipped if why != "not flagged as IOC"]
    for what, why in refused[:20]:  # the IOC filter is a choice, counted below, not a warning
        warn(f"left out a {getattr(what, 'data_type', what)} observable: {why}")
    if fmt == "misp" and not result["idempotent"]:
        has_id = isinstance(case.get("_id"), str) and case["_id"].strip()
        missing = ("no _id" if not has_id else "no --thehive-url (the TheHive it came from)"
                   if not instance else "an unusable _id or TheHive URL")
        warn(f"the case has {missing}: its MISP event gets a random UUID, so pushing or importing "
             "it again makes another event")
    if push:
        from ..misp import push_event, pushed_fields

        pushed = push_event(document, url=str(misp_url), key=misp_key, allow_private=allow_private_targets,
                            verify=misp_ca_bundle or True, publish=publish)
        result["misp"] = pushed_fields(pushed)
        where = f"MISP event {pushed.event_id} ({pushed.url}{', updated' if pushed.updated else ''})"
    elif output and output != "-":
        result["output"] = str(write_atomic(output, document.to_json()))
        where = output
    else:
        click.echo(document.to_json())
        where = "stdout"
    if as_json and where != "stdout":
        write_json(result, None)
    else:
        click.echo(f"socflow: exported {result['exported']} indicator(s) to {where}, "
                   f"{result['skipped']} left out", err=True)
    return 0
