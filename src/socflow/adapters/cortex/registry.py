"""Which class runs which flavor.

Every flavor JSON carries ``"config": {"service": "<key>"}``; Cortex merges it into
``input.json``, so one container image (or one entry script) can pick the worker from the job
itself. Keys map to ``"module:Class"`` strings so nothing is imported until it is needed.
"""

from __future__ import annotations

import importlib

WORKERS: dict[str, str] = {
    "LogIOC": "socflow.adapters.cortex.analyzers.logioc:LogIocAnalyzer",
    "MailAnalysis": "socflow.adapters.cortex.analyzers.mail:MailAnalyzer",
    "VirusTotal_GetReport": "socflow.adapters.cortex.analyzers.virustotal:VirusTotalGetReport",
    "VirusTotal_Scan": "socflow.adapters.cortex.analyzers.virustotal:VirusTotalScan",
    "AbuseIPDB_Check": "socflow.adapters.cortex.analyzers.abuseipdb:AbuseIPDBCheck",
    "AbuseIPDB_CheckBlock": "socflow.adapters.cortex.analyzers.abuseipdb:AbuseIPDBCheckBlock",
    "OTX_Query": "socflow.adapters.cortex.analyzers.otx:OTXQuery",
    "Block": "socflow.adapters.cortex.responders.block:BlockResponder",
    "Unblock": "socflow.adapters.cortex.responders.block:UnblockResponder",
    "Notify_Mail": "socflow.adapters.cortex.responders.notify:NotifyMailResponder",
    "Notify_Webhook": "socflow.adapters.cortex.responders.notify:NotifyWebhookResponder",
}


def load_worker(service: str) -> type:
    try:
        target = WORKERS[service]
    except KeyError:
        known = ", ".join(sorted(WORKERS))
        raise LookupError(f"unknown service {service!r} in config.service (known: {known})") from None
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)  # type: ignore[no-any-return]
