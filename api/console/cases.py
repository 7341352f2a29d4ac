"""案卷: cases, search with highlights, and one AIP — its versions with their PREMIS events and
signature status, documents by volume with their pages, and its 四性检测 reports."""

from __future__ import annotations

import html
import json
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from markupsafe import Markup, escape
from sqlmodel import col, select

from api.console.operations import Operations
from api.console.web import Viewer, page, render
from archive.catalog import session
from archive.catalog.models import Aip, AipVersion, Case, Document, Page, PreservationEvent
from archive.records import ocfl_id_for
from archive.signing import SIGNATURE_NAME, signature_info
from config import Settings
from dissemination.search_access import search_as
from archive.trusted_time import check_signature_timestamp
from flows._runtime import open_store, tsa_roots
from schemas.errors import NotFound


def safe_highlight(snippet: str) -> Markup:
    """A search snippet with only its ``<em>`` marks kept as markup, whatever the backend sent."""
    text = str(escape(html.unescape(snippet)))
    return Markup(text.replace("&lt;em&gt;", "<em>").replace("&lt;/em&gt;", "</em>"))


def version_signature(settings: Settings, aip_id: str, version: int) -> dict:
    """Who signed a version and when they said so (``verify`` checks it; this only reads it)."""
    store = open_store(settings)
    try:
        signature = store.path(ocfl_id_for(aip_id), SIGNATURE_NAME, version).read_bytes()
        cert, when = signature_info(signature)
    except (OSError, ValueError, KeyError) as exc:
        return {"ok": False, "detail": str(exc)[:200]}
    stamp = check_signature_timestamp(signature, tsa_roots(settings))
    time = {"state": "none"} if stamp is None else {
        "state": "valid" if stamp.valid else "untrusted" if stamp.intact else "broken",
        "at": stamp.time, "tsa": stamp.tsa, "detail": stamp.detail}
    return {"ok": True, "subject": cert.subject.rfc4514_string(), "signed_at": when, "time": time}


def check4_reports(settings: Settings, aip_id: str) -> list[dict]:
    """The 四性检测 reports kept for this AIP (``home/check4/<aip_id>``), newest first."""
    folder = settings.home / "check4" / aip_id
    reports = []
    for path in sorted(folder.glob("*.json"), reverse=True) if folder.is_dir() else []:
        data = json.loads(path.read_text(encoding="utf-8"))
        items = data.get("items", [])
        reports.append({"name": path.name, "stage": data.get("stage"), "items": items,
                        "ok": not any(i.get("outcome") == "fail" for i in items)})
    return reports


def add_routes(router: APIRouter, settings: Settings, ops: Operations) -> None:
    url = settings.catalog_url

    @router.get("/cases")
    def cases(request: Request, q: str = "", viewer: Viewer = Depends(page(settings, "content.read"))) -> Response:
        hits, total = [], 0
        if q.strip():
            result = search_as(settings, q.strip(), None, size=20)
            total = result.total
            hits = [h.model_dump() | {"snippet": safe_highlight(h.highlight)} for h in result.hits]
        with session(url) as s:
            rows = s.exec(select(Aip, Case).join(Case, col(Case.case_number) == col(Aip.case_number))
                          .order_by(col(Aip.created_at).desc()).limit(200)).all()
        return render(request, "cases.html", viewer=viewer, title_key="cases.title", q=q, hits=hits,
                      total=total, cases=[{"aip": a, "case": c} for a, c in rows])

    @router.get("/cases/{aip_id}")
    def one(request: Request, aip_id: str, viewer: Viewer = Depends(page(settings, "content.read"))) -> Response:
        with session(url) as s:
            aip = s.get(Aip, aip_id)
            if aip is None:
                raise NotFound("E406", aip_id)
            case = s.get(Case, aip.case_number)
            versions = s.exec(select(AipVersion).where(AipVersion.aip_id == aip_id)
                              .order_by(AipVersion.version)).all()
            events = s.exec(select(PreservationEvent).where(PreservationEvent.aip_id == aip_id)
                            .order_by(PreservationEvent.event_time)).all()
            docs = s.exec(select(Document).where(Document.aip_id == aip_id)
                          .order_by(col(Document.volume).desc(), Document.seq)).all()
        volumes: dict[str, list[Document]] = {}
        for d in docs:
            volumes.setdefault(d.volume, []).append(d)
        return render(request, "case.html", viewer=viewer, title_key="cases.one_title", aip=aip, case=case,
                      versions=[{"row": v, "signature": version_signature(settings, aip_id, v.version)}
                                for v in versions],
                      events=events, volumes=volumes, reports=check4_reports(settings, aip_id))

    @router.get("/documents/{document_id}")
    def document(request: Request, document_id: str,
                 viewer: Viewer = Depends(page(settings, "content.read"))) -> Response:
        with session(url) as s:
            doc = s.get(Document, document_id)
            if doc is None:
                raise NotFound("E310", document_id)
            pages = s.exec(select(Page).where(Page.document_id == document_id).order_by(Page.page)).all()
        return render(request, "document.html", viewer=viewer, title_key="cases.document_title", doc=doc,
                      pages=pages, source=Path(doc.source_path).name)
