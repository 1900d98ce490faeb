"""Socflow_Block and Socflow_Unblock: put observables on (or take them off) the block lists.

The block-list service owns the policy (private ranges, allowlist, CIDR size) so every responder
and every administrator get the same answer; this responder only sends the observable(s) of the
TheHive object and reports, per value, what was blocked, what was refused and why.

Refusals are the policy working, not faults: a report lists them in ``refused`` (value, refusal
code, reason), and a job where every value was refused by the policy fails — TheHive shows the
analyst that nothing was blocked — with an errorMessage that starts with ``socflow.refusal``'s
mark and codes, the one part of a failed job Cortex keeps, so a playbook can tell it from a
service that is down or a token that is wrong.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from msgspec import Meta

from .... import refusal
from ....config import Secret
from ....errors import InputError, PolicyError
from ..base import SocflowResponder
from ._blocklist_client import BlocklistClient
from ._settings import ResponderSettings, settings_from
from ._thehive import KINDS, entity, observables, references

DONE = {"added", "exists", "extended", "removed", "absent"}
# TheHive data types the service's policy accepts (socflow.policy.block.THEHIVE_TYPES); kept as a
# literal so each responder process does not load the extraction stack just to filter types.
THEHIVE_TYPES = ("domain", "fqdn", "hostname", "ip", "url")
# The block-list policy's refusal codes (socflow.policy.block.Refusal, a literal for the same
# reason). "list-full" is not among them: a full list is a capacity problem someone must fix.
POLICY_REFUSALS = frozenset({
    "malformed", "private", "loopback", "link-local", "cgnat", "multicast", "documentation",
    "reserved", "too-wide", "public-suffix", "allowlisted",
})


class BlockSettings(ResponderSettings, kw_only=True):
    api_url: Annotated[str, Meta(pattern=r"^https?://")]
    api_token: Secret
    default_ttl_hours: Annotated[float, Meta(ge=0, le=87600)] = 168.0
    dry_run: bool = False
    timeout: Annotated[float, Meta(gt=0, le=300)] = 15.0
    verify_tls: bool = True

    def __post_init__(self) -> None:
        if not self.api_token.get_secret_value():
            raise ValueError("api_token: must not be empty")


class _BlockBase(SocflowResponder):
    DATA_TYPES = ("thehive:case_artifact", "thehive:alert")
    SECRET_CONFIG = frozenset({"api_token"})
    ACTION: ClassVar[str] = "block"
    TAG: ClassVar[str] = "socflow:blocked"

    def settings(self) -> BlockSettings:
        return settings_from(self, BlockSettings)

    def respond(self) -> dict[str, Any]:
        settings = self.settings()
        obj = entity(self.get_data(), self.data_type)
        client = BlocklistClient(
            settings.api_url,
            settings.api_token.get_secret_value(),
            timeout=settings.timeout,
            verify=settings.verify_tls,
        )
        refs = references(obj, self.data_type)
        results = []
        for obs in observables(obj, self.data_type):
            if obs.data_type not in THEHIVE_TYPES:
                results.append(
                    {
                        "dataType": obs.data_type,
                        "data": obs.data,
                        "status": "skipped",
                        "reason": f"{obs.data_type} observables cannot be blocked",
                    }
                )
                continue
            answer = self.call(
                client, settings, obs.data, obs.data_type, {**refs, "observable_ref": obs.id}
            )
            results.append({"dataType": obs.data_type, "data": obs.data, **_result(answer)})
        return self.report(settings, results)

    def call(
        self,
        client: BlocklistClient,
        settings: BlockSettings,
        value: str,
        type_: str,
        refs: dict[str, Any],
    ) -> dict[str, Any]:
        raise NotImplementedError

    @property
    def user(self) -> str:
        params = self._input.get("parameters")
        user = params.get("user") if isinstance(params, dict) else None
        return str(user) if user else "cortex"

    def report(self, settings: BlockSettings, results: list[dict[str, Any]]) -> dict[str, Any]:
        eligible = [r for r in results if r["status"] != "skipped"]
        if not eligible:
            kinds = ", ".join(sorted(THEHIVE_TYPES))
            raise InputError(
                f"nothing to {self.ACTION}: the {KINDS[self.data_type]} has no {kinds} observable"
            )
        done = [r for r in eligible if r["status"] in DONE or r["status"].startswith("would")]
        if not done:
            reasons = "; ".join(f"{r['data']}: {r['reason']}" for r in eligible)
            text = f"nothing was {self.ACTION}ed, every value was refused: {reasons}"
            codes = {str(r.get("refusal")) for r in eligible}
            if codes <= POLICY_REFUSALS:
                text = refusal.message(codes, text)
            raise PolicyError(text)
        counts: dict[str, int] = {}
        for r in results:
            counts[r["status"]] = counts.get(r["status"], 0) + 1
        return {
            "action": self.ACTION,
            "dry_run": settings.dry_run,
            "service": settings.api_url,
            "requested_by": self.user,
            "counts": counts,
            "refused": [
                {k: r.get(k) for k in ("dataType", "data", "refusal", "reason")}
                for r in results if r["status"] == "refused"
            ],
            "results": results,
        }

    def operations(self, raw: Any) -> list[dict[str, Any]]:
        if not isinstance(raw, dict) or raw.get("dry_run"):
            return []
        op = "AddTagToAlert" if self.data_type == "thehive:alert" else "AddTagToArtifact"
        return [self.build_operation(op, tag=self.TAG)]


def _result(answer: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"status": answer.get("status", "?"), "value": answer.get("value")}
    if answer.get("status") == "refused":
        out.update(refusal=answer.get("refusal"), reason=answer.get("reason", ""))
    if answer.get("still_listed"):  # the same firewall line is kept by another scheme's entry
        out["still_listed"] = answer["still_listed"]
    entry = answer.get("entry")
    if isinstance(entry, dict):
        out["expires_at"] = entry.get("expires_at")
    return out


class BlockResponder(_BlockBase):
    def call(
        self,
        client: BlocklistClient,
        settings: BlockSettings,
        value: str,
        type_: str,
        refs: dict[str, Any],
    ) -> dict[str, Any]:
        ttl = round(settings.default_ttl_hours * 3600)
        reason = f"TheHive {KINDS[self.data_type]} via Socflow_Block" + (
            f": {self._input['message']}" if self._input.get("message") else ""
        )
        return client.block(
            value,
            type_,
            reason=reason[:1000],
            requested_by=self.user[:200],
            ttl_seconds=ttl,
            dry_run=settings.dry_run,
            **refs,
        )


class UnblockResponder(_BlockBase):
    ACTION, TAG = "unblock", "socflow:unblocked"

    def call(
        self,
        client: BlocklistClient,
        settings: BlockSettings,
        value: str,
        type_: str,
        refs: dict[str, Any],
    ) -> dict[str, Any]:
        params = {"requested_by": self.user[:200], "reason": "Socflow_Unblock"}
        if settings.dry_run:
            params["dry_run"] = "true"
        return client.unblock(value, type_, **params)
