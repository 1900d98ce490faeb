"""Socflow_LogIOC: detections and indicators from a log file attached in TheHive or pasted text.

One read of the input feeds both the extractor and the bridge's rule engine
(``classify.detect.Detector``: default rules plus the flavor's ``rule_files``/``rules``, minus
``disable_rules``). The report lists the detections first — what happened, who, how often, when,
evidence lines — then the indicators; the taxonomies follow from the detections.
"""

from __future__ import annotations

from typing import Any

from ....errors import ConfigError, InputError, validation_summary
from ....extract import ExtractConfig
from ....models import Ioc, IocType
from ....pipeline import ExtractResult, extract_paths, extract_text
from ....report import (
    detection_index,
    findings,
    observable_message,
    observable_tags,
    taxonomies,
    verdict,
)
from ....warninglists import WarningLists, WarningListSettings, annotate
from ..base import SocflowAnalyzer


class LogIocAnalyzer(SocflowAnalyzer):
    DATA_TYPES = ("file", "other")

    def analyze(self) -> dict[str, Any]:
        config = self._extract_config()
        lists = self._warninglists()
        detector = self._detector()
        observed: list[Any] = []

        def observe(lines: list[bytes], fmt: Any) -> None:
            _, ready = detector.feed(b"\n".join(lines), fmt.name)
            observed.extend(ready)

        if self.data_type == "file":
            path = self.get_param("file")
            if not path:
                raise InputError("the attached file is missing from the job folder")
            result = extract_paths([path], config, observer=observe)
            source = self.get_param("filename", "file")
        else:
            text = self.get_data()
            if not isinstance(text, str):
                raise InputError("data must be text")
            result, source = extract_text(text, config, observer=observe), "pasted text"
        observed.extend(detector.flush())
        annotate(result.iocs, lists)
        self._source = source
        self._result = result
        self._findings = findings(observed, int(self.config("brute_force_threshold", 10)))
        self._index = detection_index(self._findings)
        self._skipped_rules = detector.engine.skipped
        return self._full_report(result, source)

    def _extract_config(self) -> ExtractConfig:
        types = self.config("types") or [t.value for t in IocType]
        try:
            return ExtractConfig(
                types=frozenset(IocType(t) for t in types),
                include_private=bool(self.config("include_private", False)),
                allowlist=tuple(self.config("allowlist") or ()),
                max_line_bytes=int(self.config("max_line_bytes", 1 << 20)),
                max_samples=int(self.config("max_samples", 2)),
                format=self.config("log_format", "auto"),
            )
        except ValueError as exc:
            raise ConfigError(f"invalid configuration: {validation_summary(exc)}") from None

    def _warninglists(self) -> WarningLists:
        settings = WarningListSettings(
            enabled=bool(self.config("warninglists", True)),
            add=tuple(self.config("warninglists_add") or ()),
            disable=tuple(self.config("warninglists_disable") or ()),
        )
        return WarningLists.from_settings(settings)

    def _detector(self) -> Any:
        # imported here: only jobs that get this far pay for YAML, the rule schema and RE2
        from ....classify import Engine, load_rule_files
        from ....classify.detect import Detector

        inline = [(str(text), f"rules[{i}]") for i, text in enumerate(self.config("rules") or [])]
        rules = load_rule_files(
            [str(p) for p in self.config("rule_files") or []],
            defaults=bool(self.config("default_rules", True)),
            texts=inline,
            check_templates=False,  # the analyzer never renders alert titles
        )
        disabled = set(self.config("disable_rules") or [])
        # a whole file is one run: every window closes at its end, none is left open
        return Detector(Engine([r for r in rules if r.id not in disabled], grace=0))

    def _full_report(self, result: ExtractResult, source: str) -> dict[str, Any]:
        full = result.to_dict()
        per_type = int(self.config("max_report_iocs", 1000))
        for kind, items in full["iocs"].items():
            if len(items) > per_type:
                full.setdefault("truncated", {})[kind] = len(items) - per_type
                del items[per_type:]
        max_evidence = int(self.config("max_evidence", 3))
        listed = {i.value: list(i.warninglists) for i in result.iocs if i.warninglists}
        taxes = taxonomies(result.iocs, self._findings)
        full["detections"] = [f.to_dict(max_evidence, listed) for f in self._findings]
        full["rules_inactive"] = list(self._skipped_rules)
        full["taxonomies"] = [t.to_dict() for t in taxes]
        full["level"] = verdict(taxes).value
        full["warninglisted"] = sum(1 for i in result.iocs if i.warninglists)
        full["source"] = source
        for stats in full["sources"]:  # the job folder's attachment path means nothing to analysts
            stats["source"] = source
        return full

    def summary(self, raw: dict[str, Any]) -> dict[str, Any]:
        return {"taxonomies": raw["taxonomies"]}

    def artifacts(self, raw: dict[str, Any]) -> list[dict[str, Any]]:
        limit = int(self.config("max_artifacts", 500))
        tlp = min(max(int(self.tlp), 0), 3)  # Cortex accepts artifact TLP 0-3 only
        named = [i for i in self._result.iocs if self._rules_of(i)]
        rest = [i for i in self._result.iocs if not self._rules_of(i)]
        return [
            {
                "dataType": ioc.type.thehive_type,
                "data": ioc.value,
                "tlp": tlp,
                "tags": observable_tags(ioc, "logioc", self._rules_of(ioc)),
                "message": observable_message(ioc, self._source, self._rules_of(ioc)),
            }
            for ioc in (named + rest)[:limit]  # indicators a detection names come first
        ]

    def _rules_of(self, ioc: Ioc) -> list[str]:
        return self._index.get(ioc.value.lower(), [])

