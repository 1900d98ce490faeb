"""Push a case's MISP event to a configured MISP server with PyMISP (the playbook ``export`` step).

The event is built offline by the core (:func:`socflow.export.misp_event`); this adapter only
sends it, once per case: ``HEAD events/view/{uuid}`` (PyMISP's ``event_exists``: 200 or 404) asks
whether MISP already holds the event's UUID — stable per case (the core derives it from the TheHive
instance and the case ``_id``) — then ``events/edit/{uuid}`` updates that event (MISP keeps the
attributes it has, updates those with the same UUID, adds the new ones) or ``events/add`` creates
it (unpublished, as TheHive's own export leaves it; an edit unpublishes too); ``events/publish/{id}``
only when asked. An add that MISP answers 404 "Event already exists" (another push won the race)
becomes the edit. A resumed playbook or a second ``socflow export --push`` thus leaves one event.
The key comes from ``SOCFLOW_MISP_KEY`` (or the caller) and never appears in a message. The URL
passes the outbound policy (:mod:`socflow.outbound`): loopback, link-local and metadata addresses
are refused unless ``allow_private`` is set, every connection PyMISP makes (its constructor calls
the server four times) goes through the guarded session, and redirects to another host are refused.
Errors are translated once, here: a refused key → :class:`AuthError`, a 4xx answer →
:class:`ProviderError`, a 5xx or an unreachable server → :class:`UnavailableError`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from ..errors import AuthError, ConfigError, PolicyError, ProviderError, UnavailableError
from ..outbound import check_target, guarded_session, origin

ENV_KEY = "SOCFLOW_MISP_KEY"
SERVICE = "MISP"
# pymisp logs every 4xx body at ERROR; without a handler of the application's, Python's last-resort
# handler would print them under our one-line messages. The application's own handlers still get them.
logging.getLogger("pymisp").addHandler(logging.NullHandler())


@dataclass(frozen=True)
class Pushed:
    event_id: str
    uuid: str
    url: str  # <MISP origin>/events/view/<id>
    published: bool
    attributes: int
    updated: bool = False  # MISP held the event already: it was edited, not added again
    idempotent: bool = True  # the UUID comes from the case (false: random, a re-push duplicates)


def _cause(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, kind):
            return cur
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return None


def _policy_cause(exc: BaseException) -> PolicyError | None:
    found = _cause(exc, PolicyError)
    return found if isinstance(found, PolicyError) else None


def _tls_failure(exc: BaseException, url: str) -> ConfigError | None:
    import ssl

    import requests

    if _cause(exc, requests.exceptions.SSLError) or _cause(exc, ssl.SSLError):
        return ConfigError(f"{SERVICE} {origin(url)}: TLS verification failed "
                           "(give MISP's CA certificate: --misp-ca-bundle or SOCFLOW_MISP_CA_BUNDLE)")
    return None


def _client(url: str, key: str, *, verify: bool | str, allow_private: bool, timeout: float) -> Any:
    from pymisp import PyMISP

    class GuardedPyMISP(PyMISP):  # type: ignore[misc]
        """PyMISP whose session is socflow's guarded one from the very first request."""

        def _prepare_request(self, *args: Any, **kwargs: Any) -> Any:
            session = self._PyMISP__session
            if not getattr(session, "socflow_guarded", False):
                guarded = guarded_session(allow_private=allow_private, max_retries=0)
                guarded.headers.update(session.headers)
                guarded.socflow_guarded = True
                self._PyMISP__session = guarded
            return super()._prepare_request(*args, **kwargs)

    return GuardedPyMISP(url, key, ssl=verify, timeout=timeout, tool="socflow")


def _scrub(text: str, key: str) -> str:
    return text.replace(key, "***") if key else text


def _errors(answer: Any, what: str, url: str, key: str) -> None:
    if not isinstance(answer, dict) or "errors" not in answer:
        return
    errors = answer["errors"]
    status = errors[0] if isinstance(errors, (tuple, list)) and errors and isinstance(errors[0], int) else None
    detail = errors[1] if status is not None and len(errors) > 1 else errors
    if isinstance(detail, dict):
        reason = detail.get("errors")  # a refused edit: {"message": "Could not edit Event", "errors": "…"}
        detail = detail.get("message") or detail.get("name") or ""
        if isinstance(reason, str) and reason and reason != detail:
            detail = f"{detail}: {reason}" if detail else reason
    detail = _scrub(str(detail), key)[:200]
    if status in (401, 403) and "Authentication failed" in detail:
        raise AuthError(f"{SERVICE} {origin(url)} refused the key (HTTP {status})", service=SERVICE)
    raise ProviderError(f"{SERVICE} {origin(url)}: {what} failed (HTTP {status}): {detail}", service=SERVICE)


def _status(answer: Any) -> int | None:
    if isinstance(answer, dict) and isinstance(answer.get("errors"), (tuple, list)) and answer["errors"] \
            and isinstance(answer["errors"][0], int):
        return int(answer["errors"][0])
    return None


def _already_exists(answer: Any) -> bool:
    """MISP's answer to ``events/add`` of a UUID it holds: 404 "Event already exists, …"."""
    if _status(answer) != 404:
        return False
    body = answer["errors"][1] if len(answer["errors"]) > 1 else None
    return isinstance(body, dict) and str(body.get("message", "")).startswith("Event already exists")


def _exists(misp: Any, uuid: str) -> bool:
    from pymisp.exceptions import MISPServerError

    try:
        return bool(misp.event_exists(uuid))  # HEAD events/view/{uuid}: 200 True, 404 False
    except MISPServerError as exc:  # PyMISP raises it for any other status, 4xx included
        text = str(exc)
        if text.startswith("Error code 4"):
            status = text.split()[2]
            raise ProviderError(f"{SERVICE}: looking the event up failed (HTTP {status})",
                                service=SERVICE) from None
        raise


def push_event(
    event: Any,
    *,
    url: str,
    key: str | None = None,
    verify: bool | str = True,
    allow_private: bool = False,
    timeout: float = 30.0,
    publish: bool = False,
) -> Pushed:
    """Send ``event`` (a ``MISPEvent`` or a :class:`socflow.export.MispExport`) to MISP at ``url``:
    add it, or update the event MISP already holds under its UUID (``Pushed.updated``)."""
    from pymisp.exceptions import MISPServerError, PyMISPError

    idempotent = bool(getattr(event, "idempotent", True))
    event = getattr(event, "event", event)
    key = key or os.environ.get(ENV_KEY, "")
    if not key.strip():
        raise ConfigError(f"no MISP key: set {ENV_KEY}")
    key = key.strip()
    check_target(url, allow_private=allow_private, what="the MISP url")
    try:
        misp = _client(url, key, verify=verify, allow_private=allow_private, timeout=timeout)
        updated = idempotent and _exists(misp, event.uuid)
        answer = None if updated else misp.add_event(event)
        if answer is not None and _already_exists(answer):  # added meanwhile, or hidden from this key
            updated = True
        if updated:
            answer = misp.update_event(event, event_id=event.uuid)  # POST events/edit/{uuid}
            if _status(answer) == 404:
                raise ProviderError(
                    f"{SERVICE} {origin(url)} holds an event with this case's UUID {event.uuid} that "
                    "this key cannot see or edit", service=SERVICE)
            _errors(answer, "updating the event", url, key)
        else:
            _errors(answer, "adding the event", url, key)
        stored = answer.get("Event", answer) if isinstance(answer, dict) else {}
        event_id = str(stored.get("id", ""))
        published = False
        if publish and event_id:
            _errors(misp.publish(event_id), "publishing the event", url, key)
            published = True
    except (AuthError, ProviderError):
        raise
    except (MISPServerError, PyMISPError, OSError, ValueError) as exc:
        policy = _policy_cause(exc)
        if policy is not None:
            raise PolicyError(_scrub(str(policy), key)) from None
        tls = _tls_failure(exc, url)
        if tls is not None:
            raise tls from None
        text = _scrub(str(exc), key)
        if "Authentication failed" in text or "Unable to get the user settings" in text and "403" in text:
            raise AuthError(f"{SERVICE} {origin(url)} refused the key", service=SERVICE) from None
        kind = "answered a server error" if isinstance(exc, MISPServerError) else "cannot be reached"
        raise UnavailableError(f"{SERVICE} {origin(url)} {kind}", service=SERVICE) from None
    except Exception as exc:  # requests' errors are not all OSError subclasses
        policy = _policy_cause(exc)
        if policy is not None:
            raise PolicyError(_scrub(str(policy), key)) from None
        tls = _tls_failure(exc, url)
        if tls is not None:
            raise tls from None
        raise UnavailableError(f"{SERVICE} {origin(url)} cannot be reached", service=SERVICE) from None
    return Pushed(event_id=event_id, uuid=str(stored.get("uuid", "")),
                  url=f"{origin(url)}/events/view/{event_id}", published=published,
                  attributes=len(stored.get("Attribute", [])), updated=updated, idempotent=idempotent)


def pushed_fields(pushed: Pushed) -> dict[str, Any]:
    """What a result shows of a push (CLI ``--json``, ``push_from_env``)."""
    return {"event_id": pushed.event_id, "uuid": pushed.uuid, "url": pushed.url,
            "published": pushed.published, "attributes": pushed.attributes,
            "updated": pushed.updated, "idempotent": pushed.idempotent}


ENV_URL = "SOCFLOW_MISP_URL"
ENV_ALLOW_PRIVATE = "SOCFLOW_MISP_ALLOW_PRIVATE"
ENV_CA_BUNDLE = "SOCFLOW_MISP_CA_BUNDLE"
ENV_PUBLISH = "SOCFLOW_MISP_PUBLISH"


def _flag(name: str) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if value in ("", "0", "false", "no"):
        return False
    if value in ("1", "true", "yes"):
        return True
    raise ConfigError(f"{name} must be true or false, not {value[:20]!r}")


def push_from_env(export: Any) -> dict[str, Any]:
    """:func:`push_event` configured by the environment — ``SOCFLOW_MISP_URL``,
    ``SOCFLOW_MISP_KEY``, ``SOCFLOW_MISP_CA_BUNDLE``, ``SOCFLOW_MISP_ALLOW_PRIVATE`` (loopback
    and link-local targets, for tests and local mirrors), ``SOCFLOW_MISP_PUBLISH`` — for the
    playbook's export step (``socflow.export.export_case(…, push=push_from_env)``; give it the
    case's TheHive as ``instance=`` so that a second push updates the event)."""
    url = os.environ.get(ENV_URL, "").strip()
    if not url:
        raise ConfigError(f"no MISP server: set {ENV_URL} (and {ENV_KEY}), or export to a file")
    pushed = push_event(export, url=url, verify=os.environ.get(ENV_CA_BUNDLE) or True,
                        allow_private=_flag(ENV_ALLOW_PRIVATE), publish=_flag(ENV_PUBLISH))
    return pushed_fields(pushed)
