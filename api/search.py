"""``GET /search``: the CLI's ``juanzong search`` over HTTP, with the same parameters
(``q``, ``case``, ``as``, ``size``, ``offset``) and the same access rules
(``dissemination.search_access.search_as``).

Callers authenticate with ``X-API-Key`` as for the reading routes. The reading service searches
on behalf of a reader and must say whom (``as=party:ID`` or ``as=lawyer:LICENCE``); only an
archivist may search as an archivist, which is also what omitting ``as`` means, as at the console.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from config import Settings
from dissemination.search.base import SearchResult
from dissemination.search_access import search_as
from api._http import JsonErrorRoute
from api.reading import Caller, ErrorBody, caller_dependency
from schemas.errors import InputRejected

ARCHIVIST_ROLES = ("archivist", "auditor")  # access_for gives these everything
MAX_WINDOW = 10_000  # offset + size, as Elasticsearch's index.max_result_window


def reader_as(who: Caller, as_: str | None) -> str | None:
    """The ``as`` a caller may search with: an archivist any (none means archivist), the reading
    service only a reader's; an unknown role is left to ``access_for`` (E504)."""
    if who.is_archivist:
        return as_
    if not as_ or as_.partition(":")[0] in ARCHIVIST_ROLES:
        raise InputRejected("E509", "search without as=party:… or as=lawyer:…", found=who.principal_id)
    return as_


def search_router(settings: Settings) -> APIRouter:
    caller = caller_dependency(settings)
    errors = {code: {"model": ErrorBody} for code in (401, 403, 422, 503)}
    router = APIRouter(tags=["search"], route_class=JsonErrorRoute, responses=errors)

    @router.get("/search", response_model=SearchResult)
    def search(q: str = Query(..., max_length=200, description="Words, each matched as a phrase, all "
                              "required; empty lists every page the principal may see."),
               case: str | None = Query(None, max_length=100, description="Only this 案号."),
               as_: str | None = Query(None, alias="as", max_length=200,
                                       description="ROLE:PRINCIPAL_ID (party:ID number or "
                                                   "lawyer:licence number); archivists may omit it."),
               size: int = Query(10, ge=1, le=100),
               offset: int = Query(0, ge=0, le=MAX_WINDOW - 100),
               who: Caller = Depends(caller)) -> SearchResult:
        """Full-text search, filtered in the index by what the principal may see."""
        return search_as(settings, q, reader_as(who, as_), case=case, size=size, offset=offset)

    return router
