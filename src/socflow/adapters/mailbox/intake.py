"""Reported mail → one TheHive alert per message, exactly once across crashes.

For each message the mailbox still shows as not done (IMAP: without the intake's flag; a
folder: every file), in this order:

1. the outbox is asked whether (mailbox, item) was taken in already — IMAP items are
   ``<UIDVALIDITY>.<UID>``, folder items file names;
2. if not: the message is read (at most the policy's size cap), judged by the mail stage
   (``socflow.mail.analyze_bytes``: a user's report is unwrapped), the reported message is
   written under the state dir for the alert's file observable, and the alert
   (``socflow.mail.alert``) and the item are committed to the outbox **in one transaction**;
3. the reporter is acknowledged when that is configured (once per message);
4. only then is the message flagged (or moved) in the mailbox, and the item marked done.

A kill -9 anywhere leaves a state step 1 resumes from: before 2's commit nothing happened; after
it the message is only flagged (its alert is not built again); a re-read after a UIDVALIDITY
change builds the same alert, whose deterministic sourceRef the outbox and TheHive already know.
Delivery to TheHive is the bridge's: the outbox's Deliverer and the thehive4py sender.
"""

from __future__ import annotations

import hashlib
import os
import signal
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...emit.delivery import FILES
from ...emit.outbox import COMMITTED, DONE, Outbox
from ...errors import InputError, SocflowError, UnavailableError
from ...mail import analyze_bytes
from ...mail.alert import (ALERT_TYPE, EML_KEY, message_id, phishing_alert, reporter_address,
                           source_ref, unreadable_alert)
from ...mail.msg import is_msg
from ...mail.policy import MailPolicy
from ...state import private_dir

FILES_DIR = "mail-intake"
# Fault injection for the crash tests: the process kills itself (SIGKILL) at this step.
CRASH_ENV = "SOCFLOW_TEST_CRASH_AT"


@dataclass
class IntakeReport:
    messages: int = 0  # taken in now (alert committed)
    new_alerts: int = 0
    same_alert: int = 0  # an alert with this sourceRef was already in the outbox
    resumed: int = 0  # committed by an earlier run, flagged now
    unreadable: int = 0
    acknowledged: int = 0
    ack_failures: int = 0
    ack_skipped: int = 0  # reporter outside the organisation's domains
    verdicts: Counter[str] = field(default_factory=Counter)
    uidvalidity_changes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"messages": self.messages, "new_alerts": self.new_alerts,
                "already_in_outbox": self.same_alert, "resumed": self.resumed,
                "unreadable": self.unreadable, "acknowledged": self.acknowledged,
                "ack_failures": self.ack_failures, "ack_skipped": self.ack_skipped, "verdicts": dict(self.verdicts),
                "uidvalidity_changes": self.uidvalidity_changes}


class Intake:
    def __init__(self, source: Any, outbox: Outbox, policy: MailPolicy, state_dir: Path, *,
                 alert_source: str = "socflow-mail", tags: list[str] | None = None,
                 ack: Any = None,
                 on_event: Callable[[str, dict[str, Any]], None] | None = None) -> None:
        self.source, self.outbox, self.policy = source, outbox, policy
        self.files = private_dir(state_dir / FILES_DIR)
        self.alert_source, self.tags, self.ack = alert_source, tags or [], ack
        self.on_event = on_event or (lambda kind, data: None)
        self.report = IntakeReport()
        self._crash_at = os.environ.get(CRASH_ENV, "")
        # what an acknowledgement needs, kept from the commit to the ack of the same message
        self._ack_values: dict[str, tuple[str, dict[str, Any], dict[str, str]]] = {}

    # ---- one pass over what the mailbox shows as not done
    def run_once(self) -> int:
        """Take in every pending message; returns how many were looked at."""
        self.prune()
        self._check_uidvalidity()
        items = self.source.pending()
        for item in items:
            self.take(item)
        return len(items)

    def _key(self, item: Any) -> str:
        uv = self.source.uidvalidity
        return f"{uv}.{item}" if uv is not None else str(item)

    def _check_uidvalidity(self) -> None:
        uv = self.source.uidvalidity
        if uv is None:
            return
        key = f"uidvalidity:{self.source.mailbox}"
        known = self.outbox.meta(key)
        if known is not None and known != str(uv):
            # Every stored UID is void (RFC 9051 §2.3.1.1): the folder is read again; messages
            # already alerted come back with the same sourceRef, which the outbox ignores.
            self.report.uidvalidity_changes += 1
            self.on_event("uidvalidity-changed", {"mailbox": self.source.mailbox,
                                                  "old": known, "new": str(uv)})
        self.outbox.set_meta(key, str(uv))

    def take(self, item: Any) -> None:
        mailbox, key = self.source.mailbox, self._key(item)
        state = self.outbox.message_state(mailbox, key)
        if state is not None and state[0] == DONE:
            self.source.mark_done(item)  # a person removed the flag, or a folder without --move-to
            return
        if state is None:
            committed = self._commit(item, mailbox, key)
            if committed is None:
                return  # gone from the mailbox meanwhile
            state = committed
        else:
            self.report.resumed += 1
            self.on_event("resumed", {"item": key, "sourceRef": state[1]})
        self._crash("committed")
        if self.ack is not None and not state[2]:
            self._acknowledge(mailbox, key, state[1], item)
        self.source.mark_done(item)
        self._crash("flagged")
        self.outbox.set_message_state(mailbox, key, state=DONE)

    def _commit(self, item: Any, mailbox: str, key: str) -> tuple[str, str, bool] | None:
        fetched = self.source.fetch(item)
        if fetched is None:
            return None
        data = fetched.data
        name = f"{mailbox} {key}"
        context = {"source": name, "alert_source": self.alert_source, "tags": self.tags,
                   "date_ms": fetched.date_ms}
        try:
            if not data.strip():
                raise InputError("empty message")
            try:
                report = analyze_bytes(data, name, self.policy)
            except (InputError, MemoryError, RecursionError):
                raise
            except Exception as exc:  # noqa: BLE001 - one hostile message must not stop the
                # intake for good (it would fail again on every restart): it becomes its alert
                text = " ".join(str(exc).split())[:200]
                raise InputError(f"analysis failed: {type(exc).__name__}: {text}") from None
        except (InputError, MemoryError, RecursionError) as exc:
            reporter = ""
            ref = "sha256-" + hashlib.sha256(data).hexdigest()[:48]
            path = self._store(ref, data)
            why = str(exc) if isinstance(exc, InputError) else f"{type(exc).__name__} while analysing"
            alert = unreadable_alert(why, ref=ref, file_name=path.name, **context)
            self.report.unreadable += 1
            verdict = "unreadable"
        else:
            message = report.reported_message or data
            ref = source_ref(report, message)
            path = self._store(ref, message)
            alert = phishing_alert(report, ref=ref, file_name=path.name, policy=self.policy,
                                   **context)
            verdict = report.verdict
            reporter = reporter_address(report)
        alert[FILES] = {EML_KEY: str(path)}
        new = self.outbox.commit([alert], [ALERT_TYPE], messages=[(mailbox, key, ref)])
        self.report.messages += 1
        self.report.verdicts[verdict] += 1
        if new:
            self.report.new_alerts += 1
        else:
            self.report.same_alert += 1
        self.on_event("alert", {"item": key, "sourceRef": ref, "new": bool(new),
                                "verdict": verdict, "title": alert["title"]})
        if verdict != "unreadable":
            self._ack_values[key] = (reporter, alert, {
                "verdict": verdict, "subject": str(report.headers.get("subject") or ""),
                "reporter": reporter, "message_id": message_id(report)})
        return COMMITTED, ref, False

    def _acknowledge(self, mailbox: str, key: str, ref: str, item: Any) -> None:
        values = self._ack_values.pop(key, None)
        if values is None:  # resumed after a crash: rebuild what the template needs
            values = self._values_from_outbox(ref, self._reporter_of(item))
        reporter, alert, extra = values if values else ("", {}, {})
        if not reporter:
            self.outbox.set_message_state(mailbox, key, acked=True)  # nobody to thank
            return
        if not self.ack.allowed(reporter):  # a "report" from outside: never mail a stranger
            self.outbox.set_message_state(mailbox, key, acked=True)
            self.report.ack_skipped += 1
            self.on_event("ack-skipped", {"item": key, "reason": "reporter outside reporter_domains"})
            return
        try:
            self.ack.send(reporter, alert, extra)
        except SocflowError as exc:
            self.report.ack_failures += 1
            self.on_event("ack-failed", {"item": key, "error": str(exc)})
            return
        self.outbox.set_message_state(mailbox, key, acked=True)
        self.report.acknowledged += 1
        self.on_event("acknowledged", {"item": key})

    def _reporter_of(self, item: Any) -> str | None:
        """The reporter of this very message, read again (None when it cannot be): the alert in
        the outbox names only the first person who reported the same mail."""
        fetched = self.source.fetch(item)  # a mailbox gone away raises, as for the commit
        if fetched is None or not fetched.data.strip():
            return None
        try:
            return reporter_address(analyze_bytes(fetched.data, "resumed", self.policy))
        except Exception:  # noqa: BLE001 - the commit made such a message its alert already
            return None

    def _values_from_outbox(self, ref: str, reporter: str | None = None
                            ) -> tuple[str, dict[str, Any], dict[str, str]] | None:
        try:
            alert = self.outbox.get(ref).payload
        except InputError:
            return None
        if reporter is None:
            reporter = next((o["data"] for o in alert.get("observables", [])
                             if "mail:reporter" in o.get("tags", [])), "")
        subject = next((o["data"] for o in alert.get("observables", [])
                        if o.get("dataType") == "mail-subject"), "")
        verdict = next((t.split("=", 1)[1] for t in alert.get("tags", [])
                        if t.startswith("mail:verdict=")), "")
        return reporter, alert, {"verdict": verdict, "subject": subject, "reporter": reporter,
                                 "message_id": ""}

    def prune(self) -> int:
        """Remove the stored messages of alerts TheHive has (delivered): the copy there is the
        evidence now. Pending and dead-lettered alerts keep theirs (a requeue sends them again)."""
        removed = 0
        for path in self.files.iterdir():
            if path.suffix not in (".eml", ".msg"):
                continue
            try:
                alert = self.outbox.get(path.stem)
            except InputError:
                continue  # written before a crash, its alert never committed: the retry reuses it
            if alert.state == "delivered":
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def _store(self, ref: str, data: bytes) -> Path:
        """The reported message, where the sender finds it: written whole before the commit."""
        path = self.files / f"{ref}{'.msg' if is_msg(data) else '.eml'}"
        if path.exists() and path.stat().st_size == len(data):
            return path
        tmp = path.with_suffix(path.suffix + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        os.replace(tmp, path)
        return path

    def _crash(self, step: str) -> None:
        if self._crash_at == step:
            os.kill(os.getpid(), signal.SIGKILL)

    # ---- service mode
    def serve(self, stop: threading.Event, *, retry_cap: float = 300.0) -> None:
        """Take in, wait for new mail (IDLE or polling), again, until ``stop``. A mailbox that
        goes away (server restart, network) is reconnected with a growing pause; a refused login
        or a configuration problem ends the service (raised)."""
        pause = 1.0
        connected = True
        while not stop.is_set():
            try:
                if not connected:
                    self.source.connect()
                    connected = True
                    self.on_event("reconnected", {"mailbox": self.source.mailbox})
                self.run_once()
                pause = 1.0
                if stop.is_set():
                    break
                self.on_event("waiting", {"idle": self.source.uses_idle})
                self.source.wait(stop)
            except UnavailableError as exc:
                self.source.close()
                connected = False
                self.on_event("mailbox-unavailable", {"error": str(exc), "retry_in": pause})
                stop.wait(pause)
                pause = min(pause * 2, retry_cap)
