"""阅卷申请: requests waiting for an archivist — the requester, their identity check, the
documents a copy would contain (disclosable 正卷 only, shown against the whole case) — and the
decision: approve (the copy is issued) or refuse with a reason the requester is told."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlmodel import col, select

from api.console.operations import Operations
from api.console.web import Viewer, form_page, page, redirect, render
from archive.catalog import session
from archive.catalog.models import Document, PreservationEvent
from config import Settings
from dissemination import requests as rq
from dissemination.notify import OutboxNotifier


def case_documents(settings: Settings, case_number: str) -> list[dict]:
    """Every document of the case in 卷内顺序 with whether a reader's copy includes it."""
    with session(settings.catalog_url) as s:
        docs = s.exec(select(Document).where(Document.case_number == case_number)
                      .order_by(col(Document.volume).desc(), Document.seq)).all()
    return [{"title": d.title, "volume": d.volume, "disclosable": d.disclosable, "pages": d.page_count,
             "included": d.volume == "正卷" and d.disclosable} for d in docs]


def request_events(settings: Settings, request_id: str) -> list[PreservationEvent]:
    """The request's trail: identity check and decision at creation, later decisions, downloads."""
    with session(settings.catalog_url) as s:
        return list(s.exec(select(PreservationEvent)
                           .where(col(PreservationEvent.detail).startswith(f"{request_id} "))
                           .order_by(PreservationEvent.event_time)).all())


def add_routes(router: APIRouter, settings: Settings, ops: Operations) -> None:
    url = settings.catalog_url

    @router.get("/requests")
    def queue(request: Request, status: str = "pending_approval",
              viewer: Viewer = Depends(page(settings, "request.read"))) -> Response:
        return render(request, "requests_list.html", viewer=viewer, title_key="requests.title",
                      requests=rq.list_requests(url, status or None), status=status)

    @router.get("/requests/{request_id}")
    def one(request: Request, request_id: str,
            viewer: Viewer = Depends(page(settings, "request.read"))) -> Response:
        view = rq.get_request(url, request_id)
        return render(request, "request.html", viewer=viewer, title_key="requests.one_title", req=view,
                      documents=case_documents(settings, view.case_number),
                      events=request_events(settings, request_id), four_eyes=settings.four_eyes_approval,
                      files=rq.issued_files(url, request_id) if view.status == "issued" else [])

    @router.post("/requests/{request_id}/approve")
    def approve(request_id: str, viewer: Viewer = Depends(form_page(settings, "request.decide"))) -> Response:
        from flows.disseminate import issue_request

        rq.approve(url, request_id, principal_id=viewer.principal_id,
                   issue=lambda rid: issue_request(rid, settings), notifier=OutboxNotifier(url),
                   four_eyes=settings.four_eyes_approval)
        return redirect(f"/console/requests/{request_id}")

    @router.post("/requests/{request_id}/refuse")
    def refuse(request_id: str, reason: str = Form(""),
               viewer: Viewer = Depends(form_page(settings, "request.decide"))) -> Response:
        rq.refuse(url, request_id, principal_id=viewer.principal_id, reason=reason, notifier=OutboxNotifier(url))
        return redirect(f"/console/requests/{request_id}")
