"""Running a playbook on one alert or case: durable, resumable, each effect once.

The engine walks the steps from the first one. Every step and every effect inside it is written
to the journal before it starts and after it ends; a step found ``done`` is not run again, its
recorded outcome is used instead (so a resumed run takes the decisions it took before). An effect
found ``started`` — the process died between asking for it and recording its answer — is first
looked for where it lands, by its idempotency key (``socflow:<run>:<step>``): a Cortex job whose
message is the key, a task log that carries it, the case the alert is already linked to. Only
when none is found is it done again. Tags, severity, assignment and closing are idempotent by
nature (TheHive's PATCH sets a value).

Calls that find a service down (``UnavailableError``) are retried with exponential back-off and
jitter (tenacity), within the playbook's ``retry`` bounds; any other failure, or one that
outlasts the retries, fails the run: the reason is journaled, the alert or case gets the tag
``socflow:playbook-failed`` when TheHive takes it, and nothing is closed, so an analyst can take
over. Running the same playbook on the same target again resumes the failed run.

The side effects themselves are behind ``Services`` (TheHive and Cortex in
``socflow.adapters.playbook``); this module never talks to the network.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from .. import markdown, refusal
from ..errors import RefusedError, SocflowError, UnavailableError
from . import conditions, local
from .conditions import Facts
from .journal import Journal, StepRecord
from .model import (
    ActStep,
    Action,
    AnalyzeStep,
    DecideStep,
    ExportStep,
    Playbook,
    RecordStep,
    ResponderAction,
)
from .verdict import aggregate

FAILED_TAG = "socflow:playbook-failed"


class StepFailed(SocflowError):
    """A step failed for good; the run stops and is marked failed with this reason."""


class Services(Protocol):
    """TheHive and Cortex, as the engine needs them (implemented in the adapters)."""

    def entity(self, kind: str, entity_id: str) -> dict[str, Any]: ...
    def observables(self, kind: str, entity_id: str) -> list[dict[str, Any]]: ...
    def analyze(self, analyzer: str, observable: dict[str, Any], *, key: str,
                timeout: float) -> dict[str, Any]: ...
    def file_bytes(self, observable: dict[str, Any], limit: int) -> bytes: ...
    def responder_job(self, name: str, key: str) -> dict[str, Any] | None: ...
    def run_responder(self, name: str, data_type: str, obj: dict[str, Any], *, key: str,
                      timeout: float) -> dict[str, Any]: ...
    def linked_case(self, alert_id: str) -> str | None: ...
    def open_case_with_tag(self, tag: str) -> str | None: ...
    def promote(self, alert_id: str, template: str | None) -> str: ...
    def merge(self, alert_id: str, case_id: str) -> str: ...
    def update(self, kind: str, entity_id: str, fields: dict[str, Any]) -> None: ...
    def find_task(self, case_id: str, title: str) -> dict[str, Any] | None: ...
    def create_task(self, case_id: str, title: str, group: str) -> dict[str, Any]: ...
    def task_logs(self, task_id: str) -> list[dict[str, Any]]: ...
    def add_log(self, task_id: str, message: str) -> str: ...
    def update_task(self, task_id: str, fields: dict[str, Any]) -> None: ...
    def export(self, case_id: str, fmt: str, output: str | None, ioc_only: bool) -> dict[str, Any]: ...


def run_id_for(playbook: str, kind: str, target: str) -> str:
    return f"{playbook}:{kind}:{target}"


def marker(run_id: str, key: str) -> str:
    """The idempotency key of one effect: short, unique per run and step, safe in any field."""
    digest = hashlib.sha256(run_id.encode("utf-8")).hexdigest()[:12]
    return f"socflow:{digest}:{key}"


def ref(obs: dict[str, Any]) -> str:
    """Observables keep their type and value when an alert becomes a case, not their id (a
    file: its attachment id, the SHA-256 of its bytes)."""
    value = obs.get("data")
    if value is None and isinstance(obs.get("attachment"), dict):
        value = obs["attachment"].get("id")
    return f"{obs.get('dataType')}|{value}"


def shown(obs: dict[str, Any]) -> str:
    """How an observable is named in logs and plans: its type and value (a file: its name)."""
    value = obs.get("data")
    if value is None and isinstance(obs.get("attachment"), dict):
        value = obs["attachment"].get("name", "")
    return f"{obs.get('dataType', '')} {value or ''}"


@dataclass
class RunResult:
    run_id: str
    status: str  # done | failed | already-done
    reason: str = ""
    case_id: str | None = None
    verdict: str | None = None
    path: list[str] = field(default_factory=list)
    plan: list[dict[str, Any]] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)  # values a policy would not act on

    def as_dict(self) -> dict[str, Any]:
        return {
            "run": self.run_id, "status": self.status, "reason": self.reason,
            "case": self.case_id, "verdict": self.verdict, "path": self.path, "plan": self.plan,
            "refused": self.refused,
        }


Event = Callable[..., None]


class Engine:
    def __init__(
        self,
        playbook: Playbook,
        services: Services,
        journal: Journal,
        *,
        on_event: Event | None = None,
        sleep: Callable[[float], None] = time.sleep,
        dry_run: bool = False,
        escalate_to: str | None = None,
    ) -> None:
        self.pb, self.svc, self.journal = playbook, services, journal
        self.escalate_to = escalate_to  # the L2 login escalations without an assignee go to
        self.emit: Event = on_event or (lambda *a, **k: None)
        self.sleep, self.dry_run = sleep, dry_run
        self.plan: list[dict[str, Any]] = []

    # ---- calls with bounded retries
    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        policy = self.pb.retry
        retrying = Retrying(
            stop=stop_after_attempt(policy.attempts),
            wait=wait_exponential(multiplier=policy.backoff, max=policy.max_backoff)
            + wait_random(0, policy.backoff / 2),
            retry=retry_if_exception_type(UnavailableError),
            sleep=self.sleep,
            before_sleep=lambda rs: self.emit(
                "retry", what=what, attempt=rs.attempt_number,
                error=str(rs.outcome.exception()) if rs.outcome else "",
            ),
            reraise=True,
        )
        try:
            return retrying(fn)
        except RetryError as exc:  # pragma: no cover - reraise=True
            raise StepFailed(f"{what}: {exc}") from None
        except UnavailableError as exc:
            raise StepFailed(f"{what}: gave up after {policy.attempts} attempt(s): {exc}") from None
        except SocflowError as exc:
            if isinstance(exc, StepFailed):
                raise
            raise StepFailed(f"{what}: {exc}") from None

    # ---- the run
    def run(self, kind: str, target_id: str) -> RunResult:
        run_id = run_id_for(self.pb.name, kind, target_id)
        record = self.journal.open_run(run_id, self.pb.name, self.pb.digest, kind, target_id)
        if record.status == "done":
            return RunResult(run_id, "already-done", case_id=record.state.get("case_id"),
                             verdict=record.state.get("verdict"), path=record.state.get("path", []),
                             refused=record.state.get("refused") or [])
        with self.journal.lease(run_id):
            self.emit("run-start", run=run_id, playbook=self.pb.name, target=f"{kind}:{target_id}",
                      attempt=record.attempts)
            state: dict[str, Any] = {"kind": kind, "target": target_id, "path": []}
            if kind == "case":
                state["case_id"] = target_id
            try:
                self._walk(run_id, state)
            except StepFailed as exc:
                reason = str(exc)
                self.journal.set_state(run_id, _public_state(state))
                self.journal.finish_run(run_id, "failed", reason)
                self.emit("run-failed", run=run_id, reason=reason)
                self._flag_failure(state)
                return RunResult(run_id, "failed", reason, state.get("case_id"),
                                 state.get("verdict"), state["path"], self.plan,
                                 state.get("refused", []))
            if record.attempts > 1 and not self.dry_run:
                self._unflag(state)
            self.journal.set_state(run_id, _public_state(state))
            self.journal.finish_run(run_id, "done")
            self.emit("run-done", run=run_id, verdict=state.get("verdict"), case=state.get("case_id"))
            return RunResult(run_id, "done", "", state.get("case_id"), state.get("verdict"),
                             state["path"], self.plan, state.get("refused", []))

    def _flag_failure(self, state: dict[str, Any]) -> None:
        if self.dry_run:
            return
        kind, target = ("case", state["case_id"]) if state.get("case_id") else (
            state["kind"], state["target"])
        try:
            self.svc.update(kind, target, {"addTags": [FAILED_TAG]})
        except SocflowError:
            pass  # TheHive down: the journal has the reason; history shows it

    def _unflag(self, state: dict[str, Any]) -> None:
        """A resumed run that finishes takes off the flag an earlier failure put on."""
        for kind, target in {("case", state.get("case_id")), (state["kind"], state["target"])}:
            if not target:
                continue
            try:
                tags = self.svc.entity(kind, target).get("tags") or []
                if FAILED_TAG in tags:
                    self.svc.update(kind, target, {"removeTags": [FAILED_TAG]})
            except SocflowError:
                pass  # best effort: the journal says the run is done

    def _walk(self, run_id: str, state: dict[str, Any]) -> None:
        steps = self.pb.steps
        index = {s.id: i for i, s in enumerate(steps)}
        i: int | None = 0
        budget = len(steps) + 1  # a DAG visits each step at most once
        while i is not None and budget > 0:
            budget -= 1
            step = steps[i]
            rec = self.journal.step(run_id, step.id)
            if rec is not None and rec.status in ("done", "skipped"):
                outcome = rec.outcome
                self.emit("step-replayed", step=step.id, status=rec.status)
            else:
                outcome = self._run_step(run_id, step, state)
            state["path"].append(step.id)
            _fold(state, step, outcome)
            goto = outcome.get("goto")
            if goto:
                i = index[goto]
            elif step.end:
                i = None
            elif step.next:
                i = index[step.next]
            else:
                i = i + 1 if i + 1 < len(steps) else None

    def _run_step(self, run_id: str, step: Any, state: dict[str, Any]) -> dict[str, Any]:
        cond = step.condition
        if cond is not None:
            facts = self._facts(state)
            if not conditions.evaluate(cond, facts):
                why = conditions.describe(cond)
                self.journal.begin(run_id, step.id, step.kind, {"when": why})
                outcome = {"skipped": True, "why": f"not {why}"}
                self.journal.end(run_id, step.id, "skipped", outcome)
                self.emit("step-skipped", step=step.id, why=why)
                self.plan.append({"step": step.id, "kind": step.kind, "skipped": why})
                return outcome
        self.journal.begin(run_id, step.id, step.kind, {"kind": step.kind})
        self.emit("step-start", step=step.id, kind=step.kind)
        try:
            if isinstance(step, AnalyzeStep):
                outcome = self._analyze(run_id, step, state)
            elif isinstance(step, DecideStep):
                outcome = self._decide(step, state)
            elif isinstance(step, ActStep):
                outcome = self._act(run_id, step, state)
            elif isinstance(step, RecordStep):
                outcome = self._record(run_id, step, state)
            elif isinstance(step, ExportStep):
                outcome = self._export(run_id, step, state)
            else:  # pragma: no cover - the schema allows no other kind
                raise StepFailed(f"unknown step kind {step.kind}")
        except StepFailed as exc:
            self.journal.end(run_id, step.id, "failed", error=str(exc))
            raise StepFailed(f"step {step.id}: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - a bug or a broken install: the run says so
            reason = f"unexpected error: {type(exc).__name__}: {str(exc)[:300]}"
            self.journal.end(run_id, step.id, "failed", error=reason)
            raise StepFailed(f"step {step.id}: {reason}") from None
        self.journal.end(run_id, step.id, "done", outcome)
        self.emit("step-done", step=step.id, kind=step.kind,
                  **{k: outcome[k] for k in ("verdict", "goto") if k in outcome})
        return outcome

    # ---- one effect, once
    def _effect(
        self,
        run_id: str,
        key: str,
        kind: str,
        inputs: dict[str, Any],
        do: Callable[[str], dict[str, Any]],
        find: Callable[[str], dict[str, Any] | None] | None = None,
    ) -> dict[str, Any]:
        rec: StepRecord | None = self.journal.step(run_id, key)
        if rec is not None and rec.status == "done":
            return rec.outcome
        idem = marker(run_id, key)
        self.plan.append({"step": key, "kind": kind, **inputs})
        if rec is not None and rec.status == "started" and find is not None:
            found = self._call(f"{kind} (looking for an earlier attempt)", lambda: find(idem))
            if found is not None:
                self.journal.end(run_id, key, "done", {**found, "recovered": True}, _external(found))
                self.emit("effect-recovered", key=key, kind=kind)
                return {**found, "recovered": True}
        self.journal.begin(run_id, key, kind, inputs)
        tried = [False]

        def attempt() -> dict[str, Any]:
            # a retry after an answer that never came (timeout, connection lost, 5xx after the
            # fact) looks for the effect first, exactly as a resumed run does
            if tried[0] and find is not None:
                found = find(idem)
                if found is not None:
                    return {**found, "recovered": True}
            tried[0] = True
            return do(idem)

        try:
            out = self._call(kind, attempt)
        except StepFailed as exc:
            self.journal.end(run_id, key, "failed", error=str(exc))
            raise
        self.journal.end(run_id, key, "done", out, _external(out))
        self.emit("effect-done", key=key, kind=kind, **_external(out))
        return out

    # ---- facts for conditions
    def _facts(self, state: dict[str, Any]) -> Facts:
        kind, eid = self._current(state)
        entity = self._call("read the target", lambda: self.svc.entity(kind, eid))
        verdict = aggregate(state.get("results", []), self._remap(None))
        obs = [
            {"dataType": o.get("dataType"), "tags": list(o.get("tags") or []),
             "verdict": verdict.observables.get(ref(o), "info")}
            for o in state.get("observables", [])
        ]
        return Facts(
            verdict=state.get("verdict") or verdict.level,
            fields=entity, tags=list(entity.get("tags") or []),
            observables=obs, taxonomies=verdict.taxonomies,
        )

    def _remap(self, step: DecideStep | None) -> dict[str, dict[str, str]]:
        table = {k: dict(v) for k, v in self.pb.remap.items()}
        if step is not None:
            for k, v in step.remap.items():
                table.setdefault(k, {}).update(v)
        return table

    def _observables(self, state: dict[str, Any]) -> list[dict[str, Any]]:
        if "observables" not in state:
            kind, eid = self._current(state)
            state["observables"] = _slim(
                self._call("read the observables", lambda: self.svc.observables(kind, eid)))
        return state["observables"]  # type: ignore[no-any-return]

    # ---- steps
    def _analyze(self, run_id: str, step: AnalyzeStep, state: dict[str, Any]) -> dict[str, Any]:
        observables = self._observables(state)
        chosen = [o for o in observables if o.get("dataType") in step.data_types
                  and (o.get("data") or o.get("attachment"))]
        chosen = chosen[: step.max_observables]
        results, failures = [], []
        for obs in chosen:
            for name in step.analyzers:
                key = f"{step.id}/{name}/{ref(obs)}"
                rec = self.journal.step(run_id, key)
                if rec is not None and rec.status == "done":
                    results.append(rec.outcome)
                    continue
                self.journal.begin(run_id, key, "analysis",
                                   {"analyzer": name, "dataType": obs["dataType"]})
                try:
                    if local.is_local(name):
                        out = self._local(name, obs)
                    else:
                        out = self._call(
                            f"analyzer {name}",
                            lambda name=name, obs=obs, key=key: self.svc.analyze(
                                name, obs, key=marker(run_id, key), timeout=step.timeout),
                        )
                except StepFailed as exc:
                    self.journal.end(run_id, key, "failed", error=str(exc))
                    if not step.optional:
                        raise
                    failures.append(f"{name} on a {obs['dataType']}: {exc}")
                    self.emit("analysis-failed", analyzer=name, error=str(exc))
                    continue
                result = {
                    "analyzer": name, "observable": ref(obs), "dataType": obs["dataType"],
                    "taxonomies": list(out.get("taxonomies") or [])[:100],
                    "job": out.get("job"), "status": out.get("status"),
                }
                self.journal.end(run_id, key, "done", result, {"cortex_job": out.get("job")})
                results.append(result)
        return {"results": results, "failures": failures, "observables": observables,
                "analyzed": len(chosen)}

    def _local(self, name: str, obs: dict[str, Any]) -> dict[str, Any]:
        """socflow's own analysis in this process (``socflow:mail``): no Cortex job."""
        types, analyse = local.LOCAL[name]
        if obs.get("dataType") not in types:
            return {"status": "Skipped", "taxonomies": []}
        data = self._call("read the file", lambda: self.svc.file_bytes(obs, local.MAX_BYTES))
        attachment = obs.get("attachment") if isinstance(obs.get("attachment"), dict) else {}
        try:
            taxonomies = analyse(data, str(attachment.get("name") or ""))
        except SocflowError as exc:
            raise StepFailed(f"{name}: {exc}") from None
        return {"status": "Success", "taxonomies": taxonomies, "job": None}

    def _decide(self, step: DecideStep, state: dict[str, Any]) -> dict[str, Any]:
        self._observables(state)
        verdict = aggregate(state.get("results", []), self._remap(step))
        state["verdict"] = verdict.level
        facts = self._facts(state)
        goto, why, branch = step.default, "no branch matched", None
        for n, br in enumerate(step.branches):
            if conditions.evaluate(br.condition, facts):
                goto, why, branch = br.goto, conditions.describe(br.condition), n
                break
        self.plan.append({"step": step.id, "kind": "decide", "verdict": verdict.level,
                          "goto": goto, "why": why})
        return {"verdict": verdict.level, "reasons": verdict.reasons, "branch": branch,
                "goto": goto, "why": why, "observable_verdicts": verdict.observables}

    def _act(self, run_id: str, step: ActStep, state: dict[str, Any]) -> dict[str, Any]:
        done = []
        for n, action in enumerate(step.actions):
            key = f"{step.id}/{n}"
            done.extend(self._action(run_id, key, action, state))
        return {"actions": done}

    def _current(self, state: dict[str, Any]) -> tuple[str, str]:
        if state.get("case_id") and not state.get("dry_case"):
            return "case", state["case_id"]
        return state["kind"], state["target"]

    def _action(self, run_id: str, key: str, action: Action, state: dict[str, Any]
                ) -> list[dict[str, Any]]:
        kind = action.kind
        if kind == "promote":
            return [self._promote(run_id, key, action, state)]
        if kind == "responder":
            assert action.responder is not None
            return self._responders(run_id, key, action.responder, state)
        target_kind, target = self._current(state)
        if kind == "tag":
            fields: dict[str, Any] = {"addTags": list(action.tag or [])}
        elif kind == "severity":
            fields = {"severity": action.severity}
        elif kind == "assign":
            fields = {"assignee": action.assign}
        elif kind == "close":
            close = action.close
            assert close is not None
            fields = {"status": close.status, "summary": close.summary or _summary(state)}
            if target_kind == "case":
                fields["impactStatus"] = close.impact
        elif kind == "escalate":
            esc = action.escalate
            assert esc is not None
            out = []
            fields = {"addTags": list(esc.tags)}
            if esc.severity:
                fields["severity"] = esc.severity
            if esc.assignee or self.escalate_to:
                fields["assignee"] = esc.assignee or self.escalate_to
            out.append(self._update(run_id, f"{key}/update", "escalate", target_kind, target, fields))
            if esc.responder:
                out.extend(self._responders(run_id, f"{key}/notify", esc.responder, state))
            return out
        else:  # pragma: no cover
            raise StepFailed(f"unknown action {kind}")
        return [self._update(run_id, key, kind, target_kind, target, fields)]

    def _update(self, run_id: str, key: str, kind: str, target_kind: str, target: str,
                fields: dict[str, Any]) -> dict[str, Any]:
        def do(_idem: str) -> dict[str, Any]:
            if not self.dry_run:
                self.svc.update(target_kind, target, fields)
            return {"action": kind, "entity": f"{target_kind}:{target}", "fields": fields}

        return self._effect(run_id, key, kind, {"entity": f"{target_kind}:{target}",
                                                "fields": fields}, do)

    def _promote(self, run_id: str, key: str, action: Action, state: dict[str, Any]
                 ) -> dict[str, Any]:
        promote = action.promote
        assert promote is not None
        if state["kind"] != "alert" or state.get("case_id"):
            return {"action": "promote", "skipped": "the target is already a case",
                    "case": state.get("case_id")}
        alert_id = state["target"]

        def find(_idem: str) -> dict[str, Any] | None:
            case = self.svc.linked_case(alert_id)
            return {"action": "promote", "case": case} if case else None

        def do(_idem: str) -> dict[str, Any]:
            if self.dry_run:
                return {"action": "promote", "case": "(new case)", "template": promote.template,
                        "dry": True}
            linked = self.svc.linked_case(alert_id)  # TheHive's own answer to a repeated promote
            if linked:
                return {"action": "promote", "case": linked, "already": True}
            if promote.merge_by_tag:
                entity = self.svc.entity("alert", alert_id)
                tags = [t for t in entity.get("tags") or [] if str(t).startswith(promote.merge_by_tag)]
                for tag in tags[:1]:
                    case = self.svc.open_case_with_tag(tag)
                    if case:
                        return {"action": "merge", "case": self.svc.merge(alert_id, case),
                                "campaign": tag}
            return {"action": "promote", "case": self.svc.promote(alert_id, promote.template),
                    "template": promote.template}

        out = self._effect(run_id, key, "promote", {"alert": alert_id,
                                                    "template": promote.template}, do, find)
        state["case_id"] = out.get("case")
        if out.get("dry"):
            state["dry_case"] = True
        else:
            state.pop("observables", None)  # the case's observables (same values, new ids)
        return out

    def _responders(self, run_id: str, key: str, spec: ResponderAction, state: dict[str, Any]
                    ) -> list[dict[str, Any]]:
        target_kind, target = self._current(state)
        if spec.entity in ("case", "alert"):
            if spec.entity == "case" and target_kind != "case":
                raise StepFailed(f"responder {spec.name} runs on the case, and there is none yet")
            kind, eid = (spec.entity, target) if spec.entity == target_kind else (
                "alert", state["target"])
            obj = self._call("read the target", lambda: self.svc.entity(kind, eid))
            return [self._responder(run_id, key, spec, f"thehive:{kind}", obj, f"{kind}:{eid}")]
        verdict = aggregate(state.get("results", []), self._remap(None))
        out = []
        chosen = 0
        for obs in self._observables(state):
            if spec.data_types and obs.get("dataType") not in spec.data_types:
                continue
            if spec.level_test is not None and not spec.level_test(
                    verdict.observables.get(ref(obs), "info")):
                continue
            if spec.tags and not any(t in (obs.get("tags") or ()) for t in spec.tags):
                continue
            if any(t in (obs.get("tags") or ()) for t in spec.skip_tags):
                out.append({"action": "responder", "responder": spec.name, "skipped": "tagged",
                            "observable": obs.get("dataType")})
                continue
            chosen += 1
            if chosen > spec.max_observables:
                break
            sub = f"{key}/{ref(obs)}"
            out.append(self._responder(run_id, sub, spec, "thehive:case_artifact", obs, shown(obs)))
        return out

    def _responder(self, run_id: str, key: str, spec: ResponderAction, data_type: str,
                   obj: dict[str, Any], label: str) -> dict[str, Any]:
        def find(idem: str) -> dict[str, Any] | None:
            job = self.svc.responder_job(spec.name, idem)
            return {"action": "responder", "responder": spec.name, **job} if job else None

        def refused(codes: tuple[str, ...], reason: str, job: Any) -> dict[str, Any]:
            """The policy behind the responder said no (a private, allowlisted, own value): the
            step's outcome, recorded and shown, and the run goes on (``on_refusal: record``)."""
            self.emit("responder-refused", responder=spec.name, on=label, refusal=",".join(codes))
            return {"action": "responder", "responder": spec.name, "on": label, "status": "Refused",
                    "job": job, "refused": [{"on": label, "refusal": ",".join(codes),
                                             "reason": reason[:1000]}]}

        # socflow's own responders write the refusal mark before any observable text; another
        # responder's errorMessage may start with whatever a value held, so it cannot claim one
        record = spec.on_refusal == "record" and spec.name.startswith("Socflow_")

        def do(idem: str) -> dict[str, Any]:
            if self.dry_run:
                return {"action": "responder", "responder": spec.name, "on": label}
            try:
                job = self.svc.run_responder(spec.name, data_type, obj, key=idem,
                                             timeout=spec.timeout)
            except RefusedError as exc:
                if not record:
                    raise  # fails the step like any other failure
                return refused(exc.codes, exc.reason, exc.job)
            if job.get("status") not in ("Success", None):
                said = refusal.parse(job.get("error")) if job.get("status") == "Failure" else None
                if said is not None and record:
                    return refused(said.codes, said.reason, job.get("job"))
                raise StepFailed(f"responder {spec.name} ended {job.get('status')}: "
                                 f"{str(job.get('error', ''))[:300]}")
            return {"action": "responder", "responder": spec.name, "on": label, **job}

        return self._effect(run_id, key, "responder", {"responder": spec.name, "on": label},
                            do, find)

    def _need_case(self, state: dict[str, Any], what: str) -> str:
        case = state.get("case_id")
        if not case:
            raise StepFailed(f"{what} needs a case: promote the alert first")
        return str(case)

    def _record(self, run_id: str, step: RecordStep, state: dict[str, Any]) -> dict[str, Any]:
        case = self._need_case(state, "a task log")
        key = f"{step.id}/log"
        message = self._log_text(run_id, step, state)

        def locate() -> str:
            task = self.svc.find_task(case, step.task)
            if task is None:
                task = self.svc.create_task(case, step.task, step.group)
            return str(task["_id"])

        def find(idem: str) -> dict[str, Any] | None:
            task_id = locate()
            for log in self.svc.task_logs(task_id):
                if idem in str(log.get("message", "")):
                    return {"action": "record", "task": task_id, "log": log.get("_id")}
            return None

        def do(idem: str) -> dict[str, Any]:
            if self.dry_run:
                return {"action": "record", "task": step.task, "message": message}
            task_id = locate()
            log_id = self.svc.add_log(task_id, f"{message}\n\n---\n_{idem}_")
            return {"action": "record", "task": task_id, "log": log_id}

        out = self._effect(run_id, key, "record", {"task": step.task}, do, find)
        if step.task_status and not self.dry_run:
            task_id = out.get("task")
            self._effect(run_id, f"{step.id}/status", "task-status",
                         {"task": step.task, "status": step.task_status},
                         lambda _i: (self.svc.update_task(str(task_id), {"status": step.task_status})
                                     or {"task": task_id, "status": step.task_status}))
        return out

    def _log_text(self, run_id: str, step: RecordStep, state: dict[str, Any]) -> str:
        """What was done and why, for people: attacker-written values only as code spans."""
        verdict = aggregate(state.get("results", []), self._remap(None))
        lines = []
        if step.message:
            lines += [markdown.escape(step.message), ""]
        level = state.get("verdict") or verdict.level
        lines.append(f"**Playbook** {markdown.escape(self.pb.name)} · **verdict** {level}")
        if state.get("why"):
            lines.append(f"**Decision**: {markdown.escape(state['why'])}")
        reasons = state.get("reasons") or verdict.reasons
        if reasons:
            lines += ["", "**Why**:"] + [f"- {markdown.escape(r)}" for r in reasons[:20]]
        values = {ref(o): o for o in self._observables(state)}
        evidence = [t for t in verdict.taxonomies if t["level"] in ("suspicious", "malicious")]
        if evidence:
            lines += ["", "| analyzer | observable | finding | level |", "|---|---|---|---|"]
            for t in evidence[:30]:
                obs = values.get(t["observable"], {})
                finding = f"{t['namespace']}:{t['predicate']}"
                lines.append(
                    f"| {markdown.escape(t['analyzer'])} | {markdown.code(shown(obs), table=True)} | "
                    f"{markdown.code(finding, table=True)} | {t['level']} |"
                )
        actions = state.get("actions", [])
        if actions:
            lines += ["", "**Done**:"]
            for a in actions[:50]:
                lines.append("- " + _describe_action(a))
        refusals = [(a, r) for a in actions for r in (a.get("refused") or [])
                    if isinstance(r, dict)]
        if refusals:
            lines += ["", "**Refused by policy** (left as they were):"]
            for a, r in refusals[:50]:
                what = _refused_on(r)
                lines.append(
                    f"- {markdown.escape(str(a.get('responder', '')))} did not act on "
                    f"{markdown.code(str(what))} ({markdown.escape(str(r.get('refusal', '')))}): "
                    f"{markdown.escape(str(r.get('reason', '')))}"
                )
        failures = state.get("failures", [])
        if failures:
            lines += ["", "**Not done**:"] + [f"- {markdown.escape(f)}" for f in failures[:20]]
        return "\n".join(lines)

    def _export(self, run_id: str, step: ExportStep, state: dict[str, Any]) -> dict[str, Any]:
        case = self._need_case(state, "an export")

        def do(_idem: str) -> dict[str, Any]:
            if self.dry_run:
                return {"action": "export", "format": step.format, "output": step.output}
            return {"action": "export", **self.svc.export(case, step.format, step.output,
                                                          step.ioc_only)}

        return self._effect(run_id, f"{step.id}/export", "export",
                            {"format": step.format, "output": step.output}, do)


def _external(out: dict[str, Any]) -> dict[str, Any]:
    return {k: out[k] for k in ("case", "job", "log", "task") if out.get(k)}


def _slim(observables: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    keep = ("_id", "dataType", "data", "attachment", "tags", "tlp", "pap", "ioc", "message")
    return [{k: o[k] for k in keep if k in o} for o in observables if isinstance(o, dict)]


def _fold(state: dict[str, Any], step: Any, outcome: dict[str, Any]) -> None:
    """What a step's outcome adds to the run's state (the same whether run or replayed)."""
    if outcome.get("skipped"):
        return
    if isinstance(step, AnalyzeStep):
        state.setdefault("results", []).extend(outcome.get("results", []))
        state.setdefault("failures", []).extend(outcome.get("failures", []))
        if "observables" in outcome and "observables" not in state:
            state["observables"] = outcome["observables"]
    elif isinstance(step, DecideStep):
        state["verdict"] = outcome.get("verdict")
        state["reasons"] = outcome.get("reasons", [])
        state["why"] = outcome.get("why")
    elif isinstance(step, ExportStep):
        state.setdefault("actions", []).append(outcome)
    elif isinstance(step, ActStep):
        for a in outcome.get("actions", []):
            state.setdefault("actions", []).append(a)
            for r in a.get("refused") or []:  # shown by `socflow playbook history`
                if isinstance(r, dict):
                    what = _refused_on(r)
                    state.setdefault("refused", []).append(
                        {"step": step.id, "responder": a.get("responder"), "on": str(what)[:300],
                         "refusal": r.get("refusal"), "reason": str(r.get("reason", ""))[:300]})
            if a.get("action") in ("promote", "merge") and a.get("case"):
                if a.get("dry"):
                    state["case_id"], state["dry_case"] = a["case"], True
                elif state.get("case_id") != a["case"]:
                    state["case_id"] = a["case"]
                    state.pop("observables", None)


def _refused_on(r: dict[str, Any]) -> str:
    """What a refusal was about: a refused job's label, or a row of a job that did others."""
    return str(r.get("on") or f"{r.get('dataType', '')} {r.get('data', '')}")


def _public_state(state: dict[str, Any]) -> dict[str, Any]:
    return {k: state.get(k) for k in ("case_id", "verdict", "path", "reasons", "why", "refused")}


def _summary(state: dict[str, Any]) -> str:
    return f"socflow playbook: verdict {state.get('verdict') or 'info'}"


def _describe_action(a: dict[str, Any]) -> str:
    kind = a.get("action", "?")
    if a.get("skipped"):
        return f"{kind}: skipped ({markdown.escape(str(a['skipped']))})"
    if kind == "responder":
        text = (f"responder {markdown.escape(str(a.get('responder')))} on "
                f"{markdown.code(str(a.get('on', '')))}: {markdown.escape(str(a.get('status', 'done')))}")
        if a.get("refused"):
            text += f" ({len(a['refused'])} refused by policy, below)"
        sent = a.get("sent_to")
        if isinstance(sent, list) and sent:
            text += "; sent to " + ", ".join(markdown.code(str(x)) for x in sent[:20])
        for skip in (a.get("skipped_recipients") or [])[:20]:
            if isinstance(skip, dict):
                text += (f"; not sent to {markdown.code(str(skip.get('address', '')))} "
                         f"({markdown.escape(str(skip.get('reason', '')))})")
        return text
    if kind in ("promote", "merge"):
        return f"{kind} → case {markdown.code(str(a.get('case')))}"
    if kind == "export":
        where = a.get("output") or a.get("url") or a.get("skipped_export") or ""
        if a.get("url") and a.get("updated"):
            where = f"{where} (updated)"
        return (f"export {markdown.escape(str(a.get('format', '')))}: {a.get('exported', 0)} "
                f"indicator(s), {a.get('skipped', 0)} skipped; {markdown.escape(str(where))}")
    fields = a.get("fields") or {}
    return f"{kind}: " + ", ".join(f"{k}={markdown.code(str(v))}" for k, v in fields.items())
