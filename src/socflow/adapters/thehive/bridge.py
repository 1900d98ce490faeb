"""Assembling the bridge from its configuration: state dir, outbox, rules engine, sender, enricher.

Shared by ``socflow ingest`` and ``socflow alerts`` so both find the same outbox and TheHive.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from pydantic import SecretStr

from ...classify import Engine, load_rule_files
from ...classify.intel import AnyIntel, EnrichmentIntel, FeedIntel
from ...emit.alert import AlertBuilder
from ...emit.delivery import Deliverer
from ...emit.ingest import Ingestor
from ...emit.outbox import Outbox
from ...errors import ConfigError
from ...state import default_dir, private_dir
from ...statestore import open_windows, resolve
from ...warninglists import WarningLists
from .config import BridgeConfig
from .sender import TheHiveSender

OUTBOX_FILE = "outbox.sqlite"


def state_dir(config: BridgeConfig) -> Path:
    if config.state_dir:
        return Path(config.state_dir).expanduser()
    return default_dir()


def open_outbox(config: BridgeConfig, *, memory: bool = False) -> Outbox:
    return Outbox(":memory:" if memory else state_dir(config) / OUTBOX_FILE)


def lock_state(config: BridgeConfig, name: str = "ingest.lock",
               busy: str = "another socflow ingest is running") -> IO[Any]:
    """One process per lock ``name`` in the state dir (two ``socflow ingest`` would read the same
    files twice, two mail intakes of one mailbox take in the same message). Released on exit;
    ``busy`` starts the error when another holds it."""
    directory = private_dir(state_dir(config))
    try:
        handle = open(directory / name, "w")  # noqa: SIM115 - held for the process lifetime
    except OSError as exc:
        raise ConfigError(f"state dir {directory}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise ConfigError(f"{busy} with the state dir {directory}") from None
    return handle


def build_sender(config: BridgeConfig) -> TheHiveSender | None:
    """None when no TheHive is configured (alerts stay in the outbox)."""
    if not config.thehive.url:
        if config.thehive.key():
            raise ConfigError("a TheHive API key is set but no TheHive URL")
        return None
    return TheHiveSender(config.thehive)


def build_enricher(config: BridgeConfig) -> Any | None:
    if not config.enrichment.enabled:
        return None
    from ...enrich import build_enricher as build  # imported only when enrichment is on

    if not config.enrichment.config.provider_settings():
        raise ConfigError(
            "enrichment.enabled is true but no provider (virustotal, abuseipdb, otx) is configured"
        )
    enrich_config = config.enrichment.config
    if config.state_url and not enrich_config.state_url:  # the workers share the intel cache too
        target, password = resolve(config.state_url)
        enrich_config = enrich_config.model_copy(
            update={"state_url": config.state_url,
                    "state_password": SecretStr(password) if password else None})
    return build(enrich_config)


def build_ingestor(
    config: BridgeConfig,
    outbox: Outbox,
    *,
    enricher: Any | None = None,
    on_alert: Callable[[dict[str, Any], bool], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
    on_state_down: Callable[[str, float], None] | None = None,
) -> Ingestor:
    rules = [
        r
        for r in load_rule_files(config.rules, defaults=config.default_rules)
        if r.id not in set(config.disable_rules)
    ]
    if not rules:
        raise ConfigError("no detection rule is enabled")
    lists = WarningLists.from_settings(config.warninglists.settings())  # read on first use
    sources: list[FeedIntel | EnrichmentIntel] = []
    if config.intel_feeds:
        sources.append(FeedIntel(config.intel_feeds))
    if enricher is not None and config.enrichment.intel_rule:
        skip = None if config.enrichment.warninglisted else (lambda kind, value: bool(lists.match(kind, value)))
        sources.append(EnrichmentIntel(enricher, skip=skip))
    intel = AnyIntel(sources) if sources else None
    shared = None
    if config.state_url:
        target, password = resolve(config.state_url)
        assert target is not None
        shared = open_windows(target, password)
    engine = Engine(rules, intel=intel, grace=config.window_grace, shared=shared,
                    owner=outbox.worker_id() if shared is not None else "")
    return Ingestor(
        engine,
        AlertBuilder(config.alerts, lists),
        outbox,
        enricher=enricher,
        enrich_warninglisted=config.enrichment.warninglisted,
        intel_prefilter=intel.prefilter() if intel else None,
        max_line_bytes=config.max_line_bytes,
        commit_bytes=config.commit_bytes,
        max_alerts_per_rule=config.max_alerts_per_rule,
        on_alert=on_alert,
        on_progress=on_progress,
        on_state_down=on_state_down,
    )


def build_deliverer(outbox: Outbox, sender: TheHiveSender, **kwargs: Any) -> Deliverer:
    return Deliverer(outbox, sender, parallel=sender.settings.parallel, **kwargs)
