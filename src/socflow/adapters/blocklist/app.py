"""The block-list HTTP service: plain-text lists for firewalls, a JSON API for responders.

Status codes the responders rely on: 201 added, 200 already there / extended / removed / absent /
dry run, 422 refused by the block policy (``{"status": "refused", "refusal": <code>, "reason"}``),
400 request not understood, 401 missing or wrong token. Handlers are plain ``def`` functions:
FastAPI runs them in its thread pool and the store serialises writers in SQLite.
"""

import base64
import hmac
import logging
import threading
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


def create_app(settings: ServiceSettings) -> FastAPI:
    store = BlockStore(settings.db_path)
    policy = settings.policy()
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

    def unauthorized(reason: str) -> JSONResponse:
        return JSONResponse(
            Problem(status="unauthorized", reason=reason).model_dump(),
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="socflow-blocklist"'},
        )

    class Unauthorized(Exception):
        pass

    @app.exception_handler(Unauthorized)
    def _on_unauthorized(request: Request, exc: Unauthorized) -> JSONResponse:
        return unauthorized(str(exc))

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
                status="would-remove" if present else "absent", type=kind.value, value=norm
            )
        gone = store.remove(kind.value, norm, actor=requested_by, reason=reason)
        log.info(
            "%s %s %s by %s", "removed" if gone else "absent", kind.value, norm, requested_by or "?"
        )
        return RemoveResult(status="removed" if gone else "absent", type=kind.value, value=norm)

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
        """Every change (add, extend, remove, expire) in order; page with ``after_id``."""
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
            raise Unauthorized("the lists need HTTP basic authentication")

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

    return app


def _http_date(ts: float) -> str:
    from email.utils import formatdate

    return formatdate(ts, usegmt=True)


__all__ = ["create_app"]
