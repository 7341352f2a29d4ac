"""The reading-service API (电子阅卷): the court's reading platform asks for copies on behalf of
verified parties and lawyers; archivists approve or refuse requests for archived cases.

    POST /requests                     create: verify identity, decide, issue or hold
    GET  /requests                     the queue (archivists), ?status=pending_approval
    GET  /requests/{id}                status and reason
    GET  /requests/{id}/files          the issued files with SHA-256 and trace id
    GET  /requests/{id}/link           a signed download link, valid ``dip_link_ttl_hours``
    GET  /requests/{id}/dip            the DIP zip, by signed link only (no API key)
    POST /requests/{id}/approve        archivists: approve, issue, notify
    POST /requests/{id}/refuse         archivists: refuse with a reason, notify

Callers authenticate with ``X-API-Key`` as stations do (only the SHA-256 is stored in
``Principal.api_key_hash``): the reading service is a principal of kind ``service``, an
archivist one with the ``archivist`` role. A link is ``expires`` plus an HMAC-SHA256 over the
request id and ``expires`` with a secret kept beside the dissemination key (never in the
catalog or logs); a link opens only its own request, and an expired link answers 410.
Every decision, issued copy and download is a PREMIS-shaped event in the catalog.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, Field
from sqlmodel import select

from archive.catalog import session
from archive.catalog.models import Principal
from archive.catalog.record import record_event
from archive.permissions import authorize, is_allowed
from config import Settings
from dissemination import requests as rq
from dissemination.access import Decision, Requester, Role
from dissemination.identity import CatalogVerifier, IdentityVerifier
from dissemination.keyed_id import requester_secret, server_secret
from dissemination.notify import Notifier, OutboxNotifier
from api.stations import hash_api_key, new_api_key
from api._http import JsonErrorRoute
from schemas.errors import InputRejected, describe

LINK_SECRET_NAME = "dip-link.secret"


# --- principals and links --------------------------------------------------------------------

def add_principal(catalog_url: str, name: str, *, kind: str, roles: list[str]) -> str:
    """Create a reading-service or archivist principal; return its API key (shown once)."""
    key = new_api_key()
    with session(catalog_url) as s:
        if s.get(Principal, f"{kind}:{name}") is not None:
            raise InputRejected("E154", name)
        s.add(Principal(id=f"{kind}:{name}", kind=kind, name=name, roles=roles,
                        api_key_hash=hash_api_key(key)))
        s.commit()
    return key


class Caller(BaseModel):
    principal_id: str
    roles: list[str]

    def may(self, action: str) -> bool:
        return is_allowed(self.roles, action)

    @property
    def is_archivist(self) -> bool:
        """Decides requests and reads every request (``archive.permissions``)."""
        return self.may("request.decide")


def caller_of_key(catalog_url: str, key: str | None) -> Caller:
    """The reading service or archivist a key belongs to, or E515."""
    if not key:
        raise InputRejected("E515", "X-API-Key")
    with session(catalog_url) as s:
        p = s.exec(select(Principal).where(Principal.api_key_hash == hash_api_key(key),
                                           Principal.kind.in_(("service", "archivist")))).first()
    if p is None:
        raise InputRejected("E515", "X-API-Key")
    return Caller(principal_id=p.id, roles=list(p.roles or []))


def caller_dependency(settings: Settings) -> Callable[..., Caller]:
    """The route dependency that turns ``X-API-Key`` into the calling service or archivist."""
    key_header = APIKeyHeader(name="X-API-Key", auto_error=False,
                              description="The reading service's or an archivist's API key.")

    def caller(key: str | None = Depends(key_header)) -> Caller:
        return caller_of_key(settings.catalog_url, key)

    return caller


def link_secret(settings: Settings) -> bytes:
    """The HMAC key for download links, created once beside the dissemination key (0600)."""
    assert settings.dissemination_key is not None  # derived by Settings
    return server_secret(settings.dissemination_key.with_name(LINK_SECRET_NAME))


def sign_link(secret: bytes, request_id: str, expires: int) -> str:
    return hmac.new(secret, f"{request_id}\n{expires}".encode(), hashlib.sha256).hexdigest()


def check_link(secret: bytes, request_id: str, expires: int, token: str, now: float) -> None:
    """E511 for a link of another request or a changed one; E510 once it has expired."""
    if not hmac.compare_digest(sign_link(secret, request_id, expires), token):
        raise InputRejected("E511", request_id)
    if now >= expires:
        raise InputRejected("E510", request_id,
                            found=datetime.fromtimestamp(expires, timezone.utc).isoformat())


# --- bodies --------------------------------------------------------------------------------

class RequesterIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    id_number: str = Field(min_length=1, max_length=64)
    role: Role
    licence_number: str | None = Field(default=None, max_length=64)


class CreateRequest(BaseModel):
    case_number: str = Field(min_length=1, max_length=100)
    requester: RequesterIn
    evidence: dict[str, str] = {}


class CreatedRequest(BaseModel):
    request_id: str
    status: str
    code: str | None = None
    reason: str = ""
    files: list[str] = []


class RefuseBody(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class Decided(BaseModel):
    request: rq.RequestView
    files: list[str] = []


class Link(BaseModel):
    url: str
    expires_at: datetime


class ErrorBody(BaseModel):
    error: dict


# --- the work behind the routes ----------------------------------------------------------------

class _Reading:
    def __init__(self, settings: Settings, verifier: IdentityVerifier, notifier: Notifier,
                 clock: Callable[[], float]) -> None:
        self.settings, self.verifier, self.notifier, self.clock = settings, verifier, notifier, clock

    def create(self, body: CreateRequest, caller: Caller) -> CreatedRequest:
        from flows.disseminate import ReadingRequest, case_facts, disseminate, record_decision

        r = body.requester
        requester = Requester(name=r.name, id_number=r.id_number, role=r.role,
                              licence_number=r.licence_number)
        request = ReadingRequest(case_number=body.case_number, requester=requester,
                                 out_dir=self.settings.dip_root, created_by=caller.principal_id)
        refusal = self.refusal(requester, caller, case_facts(self.settings, body.case_number), body)
        if refusal is not None:
            rid = record_decision.fn(request, refusal, self.settings)
            self.notify(rid)
            return CreatedRequest(request_id=rid, status="refused", code=refusal.code,
                                  reason=refusal.reason)
        out = disseminate(request, self.settings)
        self.notify(out.request_id)
        code = "E502" if out.status == "pending_approval" else None
        return CreatedRequest(request_id=out.request_id, status=out.status, code=code,
                              reason=out.reason or rq.get_request(self.settings.catalog_url,
                                                                  out.request_id).reason,
                              files=[Path(f).name for f in out.files])

    def refusal(self, requester: Requester, caller: Caller, facts, body: CreateRequest) -> Decision | None:
        """Identity first: an archivist request needs an archivist caller, others the verifier."""
        if requester.role == "archivist":
            if caller.is_archivist:
                return None
            found = {"path": body.case_number, "found": caller.principal_id}
            return Decision(status="refused", code="E509", reason=f"{describe('E509', 'zh', **found)} / "
                                                                 f"{describe('E509', 'en', **found)}")
        v = self.verifier.verify(requester, facts, body.evidence)
        return None if v.verified else Decision(status="refused", code=v.code, reason=v.reason)

    def notify(self, request_id: str) -> None:
        rq.notify_status(self.notifier, rq.get_request(self.settings.catalog_url, request_id))

    def link(self, request_id: str, caller: Caller, requester_id: str | None, base: str) -> Link:
        view = rq.get_request(self.settings.catalog_url, request_id)
        if view.status != "issued":
            raise InputRejected("E512", request_id, found=view.status)
        if not caller.is_archivist:
            rq.check_requester(self.settings.catalog_url, request_id, requester_secret(self.settings),
                               requester_id)
        expires = int(self.clock()) + self.settings.dip_link_ttl_hours * 3600
        token = sign_link(link_secret(self.settings), request_id, expires)
        return Link(url=f"{base}requests/{request_id}/dip?expires={expires}&token={token}",
                    expires_at=datetime.fromtimestamp(expires, timezone.utc))

    def download(self, request_id: str, expires: int, token: str) -> Path:
        check_link(link_secret(self.settings), request_id, expires, token, self.clock())
        view = rq.get_request(self.settings.catalog_url, request_id)
        path = self.settings.dip_root / request_id / f"{request_id}.zip"
        if view.status != "issued" or not path.is_file():
            raise InputRejected("E512", request_id, found=view.status)
        with session(self.settings.catalog_url) as s:
            record_event(s, "download", agent=f"{view.role}:{view.requester_id}",
                         detail=f"{request_id} {view.case_number}: DIP downloaded by signed link",
                         object_path=f"dip/{request_id}/{path.name}")
            s.commit()
        return path

    def approve(self, request_id: str, caller: Caller) -> Decided:
        from flows.disseminate import issue_request

        view, files = rq.approve(self.settings.catalog_url, request_id, principal_id=caller.principal_id,
                                 issue=lambda rid: issue_request(rid, self.settings),
                                 notifier=self.notifier, four_eyes=self.settings.four_eyes_approval)
        return Decided(request=view, files=[Path(f).name for f in files])


# --- the router ----------------------------------------------------------------------------

def reading_router(settings: Settings, *, verifier: IdentityVerifier | None = None,
                   notifier: Notifier | None = None,
                   clock: Callable[[], float] = time.time) -> APIRouter:
    """The reading-service routes; defaults verify against the catalog and notify by outbox."""
    api = _Reading(settings, verifier or CatalogVerifier(),
                   notifier or OutboxNotifier(settings.catalog_url), clock)
    caller = caller_dependency(settings)

    def archivist(who: Caller = Depends(caller)) -> Caller:
        authorize(settings.catalog_url, who.principal_id, "request.decide", "archivist endpoint",
                  code="E509")
        return who

    errors = {code: {"model": ErrorBody} for code in (401, 403, 404, 409, 410, 422)}
    router = APIRouter(tags=["reading"], route_class=JsonErrorRoute, responses=errors)

    @router.post("/requests", status_code=201, response_model=CreatedRequest)
    def create_request(body: CreateRequest, who: Caller = Depends(caller)) -> CreatedRequest:
        """Verify the requester, decide, and issue now, hold for approval, or refuse with a reason."""
        return api.create(body, who)

    @router.get("/requests", response_model=list[rq.RequestView])
    def list_requests(status: str | None = None, who: Caller = Depends(archivist)) -> list[rq.RequestView]:
        """The archivist's queue, oldest first; ``status=pending_approval`` for what waits."""
        return rq.list_requests(settings.catalog_url, status)

    @router.get("/requests/{request_id}", response_model=rq.RequestView)
    def request_status(request_id: str, who: Caller = Depends(caller)) -> rq.RequestView:
        """Status, reason, and who decided when."""
        return rq.get_request(settings.catalog_url, request_id)

    @router.get("/requests/{request_id}/files", response_model=list[rq.IssuedFile])
    def request_files(request_id: str, who: Caller = Depends(caller)) -> list[rq.IssuedFile]:
        """The issued PDFs with their SHA-256 and trace id."""
        return rq.issued_files(settings.catalog_url, request_id)

    @router.get("/requests/{request_id}/link", response_model=Link)
    def request_link(request: Request, request_id: str,
                     requester_id: str | None = Query(None, description="The requester's ID number; "
                                                      "must match the request (archivists may omit it)."),
                     who: Caller = Depends(caller)) -> Link:
        """A signed link to the DIP zip that expires after ``dip_link_ttl_hours``."""
        return api.link(request_id, who, requester_id, str(request.base_url))

    @router.get("/requests/{request_id}/dip", response_class=FileResponse,
                responses={200: {"content": {"application/zip": {}}}})
    def request_dip(request_id: str, expires: int, token: str) -> FileResponse:
        """The DIP zip; opened by a signed link, each download recorded."""
        path = api.download(request_id, expires, token)
        return FileResponse(path, media_type="application/zip", filename=path.name)

    @router.post("/requests/{request_id}/approve", response_model=Decided)
    def approve_request(request_id: str, who: Caller = Depends(archivist)) -> Decided:
        """Approve a pending request: the copy is issued and the requester notified."""
        return api.approve(request_id, who)

    @router.post("/requests/{request_id}/refuse", response_model=Decided)
    def refuse_request(request_id: str, body: RefuseBody, who: Caller = Depends(archivist)) -> Decided:
        """Refuse a pending request with the reason the requester is told."""
        return Decided(request=rq.refuse(settings.catalog_url, request_id, principal_id=who.principal_id,
                                         reason=body.reason, notifier=api.notifier))

    return router
