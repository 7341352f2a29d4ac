"""待决变更: what a later batch asked to change in an archived case — a document's volume or
disclosure, the parties, the owning station — held until an archivist decides. The archived value
and the asked-for one side by side; approving makes a new AIP version (``flows.case_change``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from api.console.operations import Operations
from api.console.web import Viewer, form_page, page, redirect, render
from config import Settings
from flows.case_change import approve_change, list_changes, list_one, refuse_change


def add_routes(router: APIRouter, settings: Settings, ops: Operations) -> None:
    @router.get("/changes")
    def queue(request: Request, status: str = "pending",
              viewer: Viewer = Depends(page(settings, "change.decide"))) -> Response:
        return render(request, "changes_list.html", viewer=viewer, title_key="changes.title",
                      changes=list_changes(settings, status or None), status=status)

    @router.get("/changes/{change_id}")
    def one(request: Request, change_id: str,
            viewer: Viewer = Depends(page(settings, "change.decide"))) -> Response:
        return render(request, "change.html", viewer=viewer, title_key="changes.one_title",
                      change=list_one(settings, change_id))

    @router.post("/changes/{change_id}/approve")
    def approve(change_id: str, viewer: Viewer = Depends(form_page(settings, "change.decide"))) -> Response:
        approve_change(settings, change_id, viewer.principal_id)
        return redirect(f"/console/changes/{change_id}")

    @router.post("/changes/{change_id}/refuse")
    def refuse(change_id: str, reason: str = Form(""),
               viewer: Viewer = Depends(form_page(settings, "change.decide"))) -> Response:
        refuse_change(settings, change_id, viewer.principal_id, reason)
        return redirect(f"/console/changes/{change_id}")
