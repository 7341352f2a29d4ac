"""Reading requests after the access decision: list them, and an archivist's approval or
refusal of a ``pending_approval`` request.

    pending_approval --approve--> approved --issue--> issued
    pending_approval --refuse (reason)--> refused
    pending_approval | approved | issued --the case is disposed of (销毁)--> withdrawn

Each decision is one catalog transaction: the request row (who decided, when) and a
PREMIS-shaped ``access decision`` event. Issuing the copy is the flow's job and is passed
in (``issue(request_id) -> files``), so this module never imports ``flows``. The requester
is notified once the outcome is final.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict
from sqlmodel import Session, SQLModel, col, select

from archive.catalog import session
from archive.catalog.models import (
    Case,
    DisseminationRequest,
    IssuedCopy,
    LawyerAuthorisation,
    utcnow,
)
from archive.catalog.record import record_event
from archive.permissions import authorize
from dissemination.keyed_id import is_same_requester
from dissemination.notify import Notifier, status_message
from schemas.errors import InputRejected, NotFound

ARCHIVIST = "archivist"
Issue = Callable[[str], list[str]]


class RequestView(BaseModel):
    """What a requester, the reading service or an archivist sees of a request."""

    model_config = ConfigDict(frozen=True)

    request_id: str
    case_number: str
    requester_name: str
    requester_id: str  # masked
    role: str
    status: str
    reason: str
    created_at: datetime
    created_by: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None

    @classmethod
    def of(cls, row: DisseminationRequest) -> RequestView:
        return cls(request_id=row.id, case_number=row.case_number, requester_name=row.requester_name,
                   requester_id=row.requester_id, role=row.role, status=row.status, reason=row.reason,
                   created_at=row.created_at, created_by=row.created_by, decided_by=row.decided_by,
                   decided_at=row.decided_at)


class IssuedFile(BaseModel):
    model_config = ConfigDict(frozen=True)

    document_id: str
    name: str
    sha256: str
    trace_id: str
    issued_at: datetime


def _load(s: Session, request_id: str) -> DisseminationRequest:
    row = s.get(DisseminationRequest, request_id)
    if row is None:
        raise NotFound("E507", request_id)
    return row


def get_request(catalog_url: str, request_id: str) -> RequestView:
    with session(catalog_url) as s:
        return RequestView.of(_load(s, request_id))


def list_requests(catalog_url: str, status: str | None = None) -> list[RequestView]:
    """Oldest first, so the archivist's queue reads in arrival order."""
    query = select(DisseminationRequest).order_by(DisseminationRequest.created_at)
    if status:
        query = query.where(DisseminationRequest.status == status)
    with session(catalog_url) as s:
        return [RequestView.of(r) for r in s.exec(query).all()]


def issued_files(catalog_url: str, request_id: str) -> list[IssuedFile]:
    with session(catalog_url) as s:
        row = _load(s, request_id)
        if row.status != "issued":
            raise InputRejected("E512", request_id, found=row.status)
        copies = s.exec(select(IssuedCopy).where(IssuedCopy.request_id == request_id)
                        .order_by(IssuedCopy.id)).all()
    return [IssuedFile(document_id=c.document_id, name=c.path.rsplit("/", 1)[-1], sha256=c.sha256,
                       trace_id=c.trace_id, issued_at=c.issued_at) for c in copies]


def check_requester(catalog_url: str, request_id: str, secret: bytes, id_number: str | None) -> None:
    """E513 unless ``id_number`` is the whole ID of the request's requester (its keyed hash);
    E517 for a request made before keyed hashes, whose whole ID was never kept."""
    with session(catalog_url) as s:
        stored = _load(s, request_id).requester_id_hmac
    if stored is None:
        raise InputRejected("E517", request_id)
    if not is_same_requester(secret, id_number, stored):
        raise InputRejected("E513", request_id)


def _decide(catalog_url: str, request_id: str, principal_id: str, status: str,
            reason: str, four_eyes: bool = True) -> RequestView:
    """Move a pending request to ``status`` and record who did it, in one transaction. With
    ``four_eyes`` nobody approves a request they created (a one-person archive turns it off)."""
    authorize(catalog_url, principal_id, "request.decide", request_id, code="E509")
    with session(catalog_url) as s:
        row = _load(s, request_id)
        if row.status != "pending_approval":
            raise InputRejected("E508", request_id, found=row.status)
        if four_eyes and status == "approved" and row.created_by == principal_id:
            raise InputRejected("E518", request_id, found=principal_id)
        row.status, row.decided_by, row.decided_at = status, principal_id, utcnow()
        row.reason = reason
        s.add(row)
        record_event(s, "access decision", agent=principal_id,
                     outcome="success" if status == "approved" else "failure",
                     detail=f"{request_id} {row.case_number}: {status} by archivist {principal_id}"
                            + (f": {reason}" if reason else ""), when=row.decided_at)
        s.commit()
        return RequestView.of(row)


def mark_issued(catalog_url: str, request_id: str) -> RequestView:
    with session(catalog_url) as s:
        row = _load(s, request_id)
        row.status = "issued"
        s.add(row)
        s.commit()
        return RequestView.of(row)


def recipient_of(view: RequestView) -> str:
    return f"{view.role}:{view.requester_id} {view.requester_name}"


def notify_status(notifier: Notifier, view: RequestView) -> str:
    return notifier.notify(status_message(view.request_id, recipient_of(view), view.case_number,
                                          view.status, view.reason))


def approve(catalog_url: str, request_id: str, *, principal_id: str, issue: Issue,
            notifier: Notifier, four_eyes: bool = True) -> tuple[RequestView, list[str]]:
    """Approve (never one's own request while ``four_eyes``), issue the copy, then tell the
    requester it is ready."""
    _decide(catalog_url, request_id, principal_id, "approved", "", four_eyes)
    files = issue(request_id)
    view = get_request(catalog_url, request_id)
    notify_status(notifier, view)
    return view, files


def refuse(catalog_url: str, request_id: str, *, principal_id: str, reason: str,
           notifier: Notifier) -> RequestView:
    """Refuse with a reason the requester is told."""
    if not reason.strip():
        raise InputRejected("E516", request_id)
    view = _decide(catalog_url, request_id, principal_id, "refused", reason.strip())
    notify_status(notifier, view)
    return view


WITHDRAWABLE = ("pending_approval", "approved", "issued")


def withdraw_for_disposal(catalog_url: str, case_number: str, *, by: str, when: datetime, dip_root: Path,
                          notifier: Notifier) -> list[str]:
    """Every open or issued request of a case being disposed of ends ``withdrawn``: the copies the
    archive still holds for download (``dip_root/<request>``) are deleted, the signed links stop
    working, the requester is told, and each withdrawal is a ``deletion`` event by ``by``. Copies
    already downloaded are outside the archive; the issued-copy records stay, saying what went out.
    Idempotent (a disposal cut short is run again)."""
    with session(catalog_url) as s:
        rows = s.exec(select(DisseminationRequest).where(DisseminationRequest.case_number == case_number,
                                                         col(DisseminationRequest.status).in_(WITHDRAWABLE))).all()
        for row in rows:
            shutil.rmtree(dip_root / row.id, ignore_errors=True)
            was = row.status
            row.status, row.decided_by, row.decided_at = "withdrawn", by, when
            row.reason = f"案卷已于 {when:%Y-%m-%d} 依鉴定销毁 / the case file was disposed of on {when:%Y-%m-%d}"
            s.add(row)
            record_event(s, "deletion", agent=by, object_path=f"dip/{row.id}", when=when,
                         detail=f"{row.id} {case_number}: {was} request withdrawn, the case was disposed of"
                                + ("; the copies held for download were deleted" if was == "issued" else ""))
        s.commit()
        views = [RequestView.of(row) for row in rows]
    for view in views:
        notify_status(notifier, view)
    return [view.request_id for view in views]


def _check_lengths(row: SQLModel) -> None:
    """Refuse (E155) a value longer than its column's ``max_length`` (PostgreSQL would fail the
    insert, SQLite would store it whole)."""
    for name, field in type(row).model_fields.items():
        limit = next((m.max_length for m in field.metadata if getattr(m, "max_length", None)), None)
        value = getattr(row, name)
        if limit and isinstance(value, str) and len(value) > limit:
            raise InputRejected("E155", name, reason=f"{name} is longer than {limit} characters")
        if isinstance(value, str) and not value:
            raise InputRejected("E155", name, reason=f"{name} is empty")


def authorise_lawyer(catalog_url: str, *, case_number: str, lawyer_name: str, licence_number: str,
                     party_name: str, recorded_by: str = "juanzong") -> int:
    """Record a lawyer's authorisation (委托书) for a case the archive holds (E503 otherwise);
    returns its id. Each value must fit its catalog column (E155), as the manifest schema's
    limits make every other field fit."""
    row = LawyerAuthorisation(case_number=case_number, lawyer_name=lawyer_name.strip(),
                              licence_number=licence_number.strip(), party_name=party_name.strip())
    _check_lengths(row)
    with session(catalog_url) as s:
        if s.get(Case, case_number) is None:
            raise NotFound("E503", case_number[:200])
        s.add(row)
        record_event(s, "authorisation", agent=recorded_by,
                     detail=f"{case_number}: lawyer {row.lawyer_name} ({row.licence_number}) "
                            f"for {row.party_name}")
        s.commit()
        return row.id
