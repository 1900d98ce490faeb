"""The block-list HTTP service: plain-text lists for firewalls, a JSON API for responders.

Status codes the responders rely on: 201 added, 200 already there / extended / removed / absent /
dry run, 422 refused by the block policy (``{"status": "refused", "refusal": <code>, "reason"}``),
400 request not understood, 401 missing or wrong token, 413 body too large. Handlers are plain
``def`` functions: FastAPI runs them in its thread pool and the store serialises writers in SQLite.

:class:`_Gate` sits in front of the framework: it checks the token of every ``/api/`` request and
the declared body size *before a byte of the body is read*, so an unauthenticated or oversized
upload costs the service nothing (it used to be buffered whole, then refused).
"""

import base64
import hmac
import json
import logging
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from ... import __version__
from ...policy import EntryType
from ...policy.block import MalformedValue, normalise
from . import formats
from .settings import ServiceSettings
from .store import BlockStore, Entry, ListFull

log = logging.getLogger("socflow.blocklist")

ListType = Literal["ip", "domain", "url"]
InputType = Literal["ip", "domain", "fqdn", "hostname", "url"]
MAX_TTL = 10 * 365 * 86400
# The largest request body the API needs: value 2100 + reason 1000 + refs, JSON-escaped at worst.
MAX_BODY = 64 * 1024
BEARER_CHALLENGE = 'Bearer realm="socflow-blocklist"'
BASIC_CHALLENGE = 'Basic realm="socflow-blocklist lists", charset="UTF-8"'

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
_TEXT: dict[str, Any] = {"content": {"text/plain": {"schema": {"type": "string"}}}}


class EntryIn(BaseModel):
    value: str = Field(min_length=1, max_length=2100, description="IP, CIDR, domain or URL")
    type: InputType | None = Field(
        None, description="list type or TheHive data type; guessed if absent"
    )
    reason: str = Field("", max_length=1000)
    requested_by: str = Field("", max_length=200)
    ttl_seconds: int | None = Field(
        None, ge=0, le=MAX_TTL, description="absent: the service default; 0: never expires"
    )
    case_ref: str | None = Field(None, max_length=200, description="TheHive case id or number")
    alert_ref: str | None = Field(None, max_length=200, description="TheHive alert id")
    observable_ref: str | None = Field(None, max_length=200, description="TheHive observable id")
    dry_run: bool = Field(False, description="check the policy, change nothing")


class EntryOut(BaseModel):
    type: ListType
    value: str
    reason: str
    requested_by: str
    case_ref: str | None
    alert_ref: str | None
    observable_ref: str | None
    created_at: str
    updated_at: str
    expires_at: str | None


class AddResult(BaseModel):
    status: Literal["added", "exists", "extended", "would-add"]
    type: ListType
    value: str
    entry: EntryOut | None = None


class RemoveResult(BaseModel):
    status: Literal["removed", "absent", "would-remove"]
    type: ListType
    value: str
    still_listed: list[str] = Field(
        default_factory=list,
        description="URL entries with another scheme that keep the same line on the scheme-less "
        "/edl/url list (firewalls match host and path, not the scheme)",
    )


class Refused(BaseModel):
    status: Literal["refused"] = "refused"
    refusal: str
    reason: str
    type: str | None
    value: str


class Problem(BaseModel):
    status: Literal["invalid", "unauthorized", "not-found", "error"]
    reason: str


class EntryList(BaseModel):
    count: int
    entries: list[EntryOut]


class AuditOut(BaseModel):
    id: int
    at: str
    action: str
    type: str
    value: str
    actor: str
    detail: dict[str, Any]


class AuditList(BaseModel):
    events: list[AuditOut]


def _refused(decision: Any) -> JSONResponse:
    body = Refused(
        refusal=decision.refusal.value,
        reason=decision.reason,
        type=decision.type.value if decision.type else None,
        value=decision.value,
    )
    return JSONResponse(body.model_dump(), status_code=422)


def bearer_ok(header: bytes, token: bytes) -> bool:
    """``Authorization: Bearer <token>`` with the right token (constant-time comparison)."""
    scheme, _, given = header.partition(b" ")
    if scheme.lower() != b"bearer":
        return False
    return hmac.compare_digest(given.strip(), token)


class _Gate:
    """ASGI middleware: authenticate and size-check a request before its body is read.

    * ``/api/…`` without the right bearer token: 401 at once, body never read;
    * a declared ``Content-Length`` above ``max_body``: 413 at once;
    * a body without a length (chunked): read up to ``max_body`` bytes, 413 beyond that.
    The server closes a connection whose request body was left unread, so nothing is buffered.
    """

    def __init__(self, app: Any, token: bytes, max_body: int = MAX_BODY) -> None:
        self.app = app
        self.token = token
        self.max_body = max_body

    @staticmethod
    async def _answer(send: Send, status: int, problem: str, reason: str, challenge: str = "") -> None:
        body = json.dumps({"status": problem, "reason": reason}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        if challenge:
            headers.append((b"www-authenticate", challenge.encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        if scope.get("path", "").startswith("/api/") and not bearer_ok(
            headers.get(b"authorization", b""), self.token
        ):
            reason = (
                "the token is not valid"
                if headers.get(b"authorization", b"").lower().startswith(b"bearer ")
                else "an 'Authorization: Bearer <token>' header is required"
            )
            await self._answer(send, 401, "unauthorized", reason, BEARER_CHALLENGE)
            return
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_body
            except ValueError:
                await self._answer(send, 400, "invalid", "Content-Length is not a number")
                return
            if too_big:
                await self._answer(send, 413, "invalid", self._too_big())
                return
            await self.app(scope, receive, send)
            return
        if b"chunked" not in headers.get(b"transfer-encoding", b"").lower():
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message]), send)
                return
            size += len(message.get("body", b""))
            if size > self.max_body:
                await self._answer(send, 413, "invalid", self._too_big())
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        whole = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([whole], receive), send)

    def _too_big(self) -> str:
        return f"the request body is larger than {self.max_body} bytes"


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        if then is None:
            return {"type": "http.disconnect"}
        return await then()

    return receive


def create_app(settings: ServiceSettings) -> FastAPI:
    store = BlockStore(settings.db_path)
    policy = settings.policy()
    # The CLI's `blocklist add` reads this back: one policy for both ways into the lists.
    store.save_policy(settings.stored_policy(), actor="socflow blocklist serve")
    token = settings.token.get_secret_value().encode("utf-8")
    bearer = HTTPBearer(
        auto_error=False, description="the service token (--token / SOCFLOW_BLOCKLIST_TOKEN)"
    )
    app = FastAPI(
        title="socflow block-list service",
        version=__version__,
        description="External dynamic lists for firewalls, fed by the Socflow_Block responder.",
    )
    app.state.store = store
    app.add_middleware(_Gate, token=token)  # before routing, before any body is read

    def unauthorized(reason: str) -> JSONResponse:
        return JSONResponse(
            Problem(status="unauthorized", reason=reason).model_dump(),
            status_code=401,
            headers={"WWW-Authenticate": BEARER_CHALLENGE},
        )

    class Unauthorized(Exception):
        pass

    class ListUnauthorized(Exception):
        pass

    @app.exception_handler(Unauthorized)
    def _on_unauthorized(request: Request, exc: Unauthorized) -> JSONResponse:
        return unauthorized(str(exc))

    @app.exception_handler(ListUnauthorized)
    def _on_list_unauthorized(request: Request, exc: ListUnauthorized) -> JSONResponse:
        # RFC 7617: the lists use Basic, so the challenge names Basic; firewalls and curl only
        # send credentials after a Basic challenge.
        return JSONResponse(
            Problem(status="unauthorized", reason=str(exc)).model_dump(),
            status_code=401,
            headers={"WWW-Authenticate": BASIC_CHALLENGE},
        )

    @app.exception_handler(StarletteHTTPException)
    def _on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        status = {401: "unauthorized", 404: "not-found"}.get(
            exc.status_code, "invalid" if exc.status_code < 500 else "error"
        )
        return JSONResponse(
            Problem(status=status, reason=str(exc.detail)).model_dump(),  # type: ignore[arg-type]
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(RequestValidationError)
    def _on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        reason = (
            f"{where}: {first.get('msg', 'invalid request')}"
            if where
            else first.get("msg", "invalid")
        )
        return JSONResponse(Problem(status="invalid", reason=reason).model_dump(), status_code=400)

    def require_token(
        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> None:
        if creds is None:
            raise Unauthorized("an 'Authorization: Bearer <token>' header is required")
        if not hmac.compare_digest(creds.credentials.encode("utf-8"), token):
            raise Unauthorized("the token is not valid")

    auth = [Depends(require_token)]
    responses: dict[int | str, dict[str, Any]] = {
        400: {"model": Problem},
        401: {"model": Problem},
        422: {"model": Refused},
    }

    def effective_ttl(requested: int | None) -> int | None:
        ttl = settings.default_ttl_seconds if requested is None else (requested or None)
        if settings.max_ttl_seconds and (ttl is None or ttl > settings.max_ttl_seconds):
            ttl = settings.max_ttl_seconds
        return ttl

    @app.post(
        "/api/v1/entries",
        dependencies=auth,
        response_model=AddResult,
        status_code=201,
        responses={200: {"model": AddResult}, **responses},
        tags=["entries"],
    )
    def add_entry(body: EntryIn, response: Response) -> Any:
        """Block a value. Idempotent: adding it again answers 200 and keeps the later expiry."""
        decision = policy.check(body.value, body.type)
        if not decision.allowed:
            log.info("refused %s %s: %s", decision.type, decision.value, decision.reason)
            if not body.dry_run:
                store.refuse(
                    decision.type.value if decision.type else "",
                    decision.value,
                    actor=body.requested_by,
                    refusal=decision.refusal.value,  # type: ignore[union-attr]
                    reason=decision.reason,
                )
            return _refused(decision)
        assert decision.type is not None
        kind = decision.type.value
        if body.dry_run:
            present = any(e.value == decision.value for e in store.active(kind))
            response.status_code = 200
            return AddResult(
                status="exists" if present else "would-add", type=kind, value=decision.value
            )
        entry = Entry(
            kind,
            decision.value,
            body.reason,
            body.requested_by,
            body.case_ref,
            body.alert_ref,
            body.observable_ref,
        )
        try:
            status, stored = store.add(
                entry, effective_ttl(body.ttl_seconds), max_entries=settings.max_entries
            )
        except ListFull as exc:
            store.refuse(
                kind, decision.value, actor=body.requested_by, refusal="list-full", reason=str(exc)
            )
            body_out = Refused(
                refusal="list-full", reason=str(exc), type=kind, value=decision.value
            )
            return JSONResponse(body_out.model_dump(), status_code=422)
        if status != "added":
            response.status_code = 200
        log.info("%s %s %s by %s", status, kind, decision.value, body.requested_by or "?")
        return AddResult(
            status=status,
            type=kind,
            value=decision.value,  # type: ignore[arg-type]
            entry=EntryOut(**stored.to_dict()),
        )

    @app.delete(
        "/api/v1/entries",
        dependencies=auth,
        response_model=RemoveResult,
        responses=responses,
        tags=["entries"],
    )
    def remove_entry(
        value: Annotated[str, Query(min_length=1, max_length=2100)],
        type: Annotated[InputType, Query()] = None,  # type: ignore[assignment]
        requested_by: Annotated[str, Query(max_length=200)] = "",
        reason: Annotated[str, Query(max_length=1000)] = "",
        dry_run: bool = False,
    ) -> Any:
        """Unblock a value. Removing something that is not listed answers ``absent``."""
        try:
            kind, norm = normalise(value, type)
        except MalformedValue as exc:
            return JSONResponse(
                Refused(refusal="malformed", reason=str(exc), type=type, value=value).model_dump(),
                status_code=422,
            )
        if dry_run:
            present = any(e.value == norm for e in store.active(kind.value))
            return RemoveResult(
                status="would-remove" if present else "absent",
                type=kind.value,
                value=norm,
                still_listed=formats.same_line(norm, store.values(kind.value)),
            )
        gone = store.remove(kind.value, norm, actor=requested_by, reason=reason)
        log.info(
            "%s %s %s by %s", "removed" if gone else "absent", kind.value, norm, requested_by or "?"
        )
        return RemoveResult(
            status="removed" if gone else "absent",
            type=kind.value,
            value=norm,
            still_listed=formats.same_line(norm, store.values(kind.value))
            if kind.value == "url"
            else [],
        )

    @app.get(
        "/api/v1/entries",
        dependencies=auth,
        response_model=EntryList,
        responses=responses,
        tags=["entries"],
    )
    def list_entries(type: Annotated[ListType, Query()] = None) -> Any:  # type: ignore[assignment]
        """Every active (unexpired) entry, with its metadata."""
        entries = [EntryOut(**e.to_dict()) for e in store.active(type)]
        return EntryList(count=len(entries), entries=entries)

    @app.get(
        "/api/v1/audit",
        dependencies=auth,
        response_model=AuditList,
        responses=responses,
        tags=["audit"],
    )
    def audit(
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        after_id: Annotated[int, Query(ge=0, le=2**62)] = 0,
    ) -> Any:
        """Every change (add, extend, remove, expire), refusal and policy change in order; page
        with ``after_id``."""
        return AuditList(
            events=[AuditOut(**e.to_dict()) for e in store.audit(limit=limit, after_id=after_id)]
        )

    @app.get("/healthz", tags=["service"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    # Rendered lists, reused until the list's version (its last audit id) moves: firewalls poll
    # every few minutes and a 20,000-line list costs far more to sort than to serve.
    rendered: dict[tuple[str, bool], tuple[int, str, str]] = {}
    rendered_lock = threading.Lock()

    def current_list(list_type: str, keep_scheme: bool) -> tuple[str, str, float | None]:
        """(body, ETag, time of last change) of one list."""
        version, changed = store.version(list_type)
        with rendered_lock:
            hit = rendered.get((list_type, keep_scheme))
        if hit is None or hit[0] != version:
            body = formats.render(list_type, store.values(list_type), keep_scheme=keep_scheme)
            hit = (version, body, formats.etag(body))
            with rendered_lock:
                rendered[(list_type, keep_scheme)] = hit
        return hit[1], hit[2], changed

    def check_edl_auth(request: Request) -> None:
        if not settings.edl_user:
            return
        expected = f"{settings.edl_user}:{settings.edl_password.get_secret_value() if settings.edl_password else ''}"
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        try:
            given = base64.b64decode(value, validate=True) if scheme.lower() == "basic" else b""
        except ValueError:
            given = b""
        if not hmac.compare_digest(given, expected.encode("utf-8")):
            raise ListUnauthorized("the lists need HTTP basic authentication")

    @app.get(
        "/edl/{list_type}.md5",
        tags=["lists"],
        dependencies=[Depends(check_edl_auth)],
        responses={200: _TEXT, 400: {"model": Problem}, 401: {"model": Problem}},
    )
    def edl_md5(list_type: EntryType, keep_scheme: bool = False) -> Response:
        """MD5 of the list, for consumers that poll a checksum before the list (Cisco FMC)."""
        body, _, _ = current_list(list_type.value, keep_scheme)
        return PlainTextResponse(formats.md5(body) + "\n")

    @app.get(
        "/edl/{list_type}",
        tags=["lists"],
        dependencies=[Depends(check_edl_auth)],
        responses={
            200: _TEXT,
            304: {"description": "unchanged"},
            400: {"model": Problem},
            401: {"model": Problem},
        },
    )
    def edl(request: Request, list_type: EntryType, keep_scheme: bool = False) -> Response:
        """One entry per line (Palo Alto EDL, FortiGate threat feed, pfSense/OPNsense URL table)."""
        body, tag, changed = current_list(list_type.value, keep_scheme)
        headers = {"ETag": tag, "Cache-Control": "no-cache"}
        if changed:
            headers["Last-Modified"] = _http_date(changed)
        if request.headers.get("if-none-match") == tag:
            return Response(status_code=304, headers=headers)
        return PlainTextResponse(body, headers=headers)

    # HEAD on the list URLs (firewalls and monitoring probe them): same headers, no body; the
    # server drops the body of a HEAD answer. Left out of the OpenAPI document (one operation
    # per path and method there).
    for path, endpoint in (("/edl/{list_type}.md5", edl_md5), ("/edl/{list_type}", edl)):
        app.add_api_route(
            path,
            endpoint,
            methods=["HEAD"],
            dependencies=[Depends(check_edl_auth)],
            include_in_schema=False,
        )

    return app


def _http_date(ts: float) -> str:
    from email.utils import formatdate

    return formatdate(ts, usegmt=True)


__all__ = ["create_app"]
