"""Socflow_MailAnalysis: an e-mail (.eml) attached in TheHive, or pasted message text, judged."""

from __future__ import annotations

from typing import Any

from ....errors import InputError
from ..base import SocflowAnalyzer


class MailAnalyzer(SocflowAnalyzer):
    DATA_TYPES = ("file", "other")

    def analyze(self) -> dict[str, Any]:
        from ....mail import analyze_bytes
        from ....mail.policy import policy_from_settings

        policy = policy_from_settings(self.config("policy", "") or "", {
            k: self.config(k) for k in ("own_domains", "trusted_authserv_ids", "receiving_hosts",
                                        "protected_domains") if self.config(k)})
        if self.data_type == "file":
            path = self.get_param("file")
            if not path:
                raise InputError("the attached file is missing from the job folder")
            with open(path, "rb") as fh:
                data = fh.read(policy.limits.max_message_bytes + 1)
            source = self.get_param("filename", "file")
        else:
            data = str(self.get_data() or "").encode("utf-8", "surrogateescape")
            source = "pasted message"
        if not data.strip():
            raise InputError(f"{source}: empty, not an e-mail message")
        from ....mail.observables import taxonomies

        self._report = analyze_bytes(data, source, policy)
        full = self._report.to_dict()
        full["level"] = self._report.verdict  # safe / suspicious / malicious: the template's colour
        full["taxonomies"] = [t.to_dict() for t in taxonomies(self._report)]
        return full

    def summary(self, raw: dict[str, Any]) -> dict[str, Any]:
        return {"taxonomies": raw["taxonomies"]}

    def artifacts(self, raw: dict[str, Any]) -> list[dict[str, Any]]:
        from ....mail.observables import observables

        tlp = min(max(int(self.tlp), 0), 3)
        return [{**o, "tlp": tlp} for o in observables(self._report, int(self.config("max_artifacts", 500)))]
