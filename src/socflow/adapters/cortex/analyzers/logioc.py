"""Socflow_LogIOC: indicators from a log file attached in TheHive or from pasted text."""

from __future__ import annotations

from typing import Any

from ....errors import ConfigError, InputError, validation_summary
from ....extract import ExtractConfig
from ....models import IocType
from ....pipeline import ExtractResult, extract_paths, extract_text
from ....report import observable_message, observable_tags, taxonomies
from ..base import SocflowAnalyzer


class LogIocAnalyzer(SocflowAnalyzer):
    DATA_TYPES = ("file", "other")

    def analyze(self) -> dict[str, Any]:
        config = self._extract_config()
        if self.data_type == "file":
            path = self.get_param("file")
            if not path:
                raise InputError("the attached file is missing from the job folder")
            result, source = extract_paths([path], config), self.get_param("filename", "file")
        else:
            text = self.get_data()
            if not isinstance(text, str):
                raise InputError("data must be text")
            result, source = extract_text(text, config), "pasted text"
        self._source = source
        self._result = result
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

    def _full_report(self, result: ExtractResult, source: str) -> dict[str, Any]:
        full = result.to_dict()
        per_type = int(self.config("max_report_iocs", 1000))
        for kind, items in full["iocs"].items():
            if len(items) > per_type:
                full.setdefault("truncated", {})[kind] = len(items) - per_type
                del items[per_type:]
        full["source"] = source
        for stats in full["sources"]:  # the job folder's attachment path means nothing to analysts
            stats["source"] = source
        threshold = int(self.config("brute_force_threshold", 10))
        found = taxonomies(result.iocs, threshold)
        full["taxonomies"] = [t.to_dict() for t in found]
        full["level"] = max((t.level for t in found), key=lambda lvl: lvl.rank).value
        return full

    def summary(self, raw: dict[str, Any]) -> dict[str, Any]:
        return {"taxonomies": raw["taxonomies"]}

    def artifacts(self, raw: dict[str, Any]) -> list[dict[str, Any]]:
        limit = int(self.config("max_artifacts", 500))
        tlp = min(max(int(self.tlp), 0), 3)  # Cortex accepts artifact TLP 0-3 only
        return [
            {
                "dataType": ioc.type.thehive_type,
                "data": ioc.value,
                "tlp": tlp,
                "tags": observable_tags(ioc, "logioc"),
                "message": observable_message(ioc, self._source),
            }
            for ioc in self._result.iocs[:limit]
        ]
