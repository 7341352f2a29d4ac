"""Archivists decide held changes over HTTP (``archive.case_changes``), with an archivist key:

    GET  /changes?status=pending&case=     the queue
    POST /changes/{id}/approve             a new AIP version applies it
    POST /changes/{id}/refuse              {reason}; the archived value stays

Any key the role matrix (``archive.permissions``, ``change.decide``) does not allow is refused (E509); the decision is logged with the archivist's principal id.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from api._http import JsonErrorRoute
from api.reading import Caller, caller_dependency
from archive.permissions import authorize
from config import Settings
from flows.case_change import ChangeView, approve_change, list_changes, refuse_change


class RefuseChange(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


def change_router(settings: Settings) -> APIRouter:
    caller = caller_dependency(settings)

    def _archivist(who: Caller, target: str) -> str:
        authorize(settings.catalog_url, who.principal_id, "change.decide", target, code="E509")
        return who.principal_id

    router = APIRouter(tags=["changes"], route_class=JsonErrorRoute)

    @router.get("/changes", response_model=list[ChangeView])
    def queue(status: str | None = "pending", case: str | None = None,
              who: Caller = Depends(caller)) -> list[ChangeView]:
        """Held changes, oldest first (archivists only)."""
        _archivist(who, "changes")
        return list_changes(settings, status, case)

    @router.post("/changes/{change_id}/approve", response_model=ChangeView)
    def approve(change_id: str, who: Caller = Depends(caller)) -> ChangeView:
        """Approve: the change is made in a new AIP version, with a PREMIS event naming the archivist."""
        return approve_change(settings, change_id, _archivist(who, change_id))

    @router.post("/changes/{change_id}/refuse", response_model=ChangeView)
    def refuse(change_id: str, body: RefuseChange, who: Caller = Depends(caller)) -> ChangeView:
        """Refuse with a reason; the archived value stays."""
        return refuse_change(settings, change_id, _archivist(who, change_id), body.reason)

    return router
