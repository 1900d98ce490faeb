"""Export a case's indicators: a MISP event (pymisp objects, offline) or a STIX 2.1 bundle (stix2).

Core code: it reads TheHive JSON dicts, builds documents and never sends anything; pushing an
event to a MISP server is the adapter ``socflow.adapters.misp``. Values attackers wrote (URLs,
addresses, subjects) are checked per type and either exported verbatim as data or refused with a
reason (``skipped``); the output is valid JSON / STIX whatever they hold.

    case = from_thehive(case_json, observables_json, instance="https://thehive.example")
    misp_event(case, distribution=0, only_ioc=False).to_json()   # {"Event": …}
    stix_bundle(case).to_json()                                   # {"type": "bundle", …}
    export_case(case_json, observables_json, fmt="stix", output="case.stix.json")  # the step
"""

from .case import build, export_case, summary, write_atomic
from .indicators import CaseIndicators, Indicator, from_thehive, instance_key, refusal
from .misp import MispExport, attribute_uuid, event_uuid, misp_event, misp_type
from .stix import StixExport, pattern, stix_bundle

FORMATS = ("misp", "stix")

__all__ = [
    "FORMATS", "CaseIndicators", "Indicator", "MispExport", "StixExport", "attribute_uuid", "build",
    "event_uuid", "export_case", "from_thehive", "instance_key", "misp_event", "misp_type", "pattern",
    "refusal", "stix_bundle", "summary", "write_atomic",
]
