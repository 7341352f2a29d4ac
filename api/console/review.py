"""OCR 复核: a flagged page's image beside its recognised text; accept the page or every flagged
page of its document. Accepting is ``archive.review.accept`` (logged with the person)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from pydantic import BaseModel

from api.console.operations import Operations
from api.console.web import Viewer, form_page, page, redirect, render
from archive import review
from archive.records import ocfl_id_for
from config import Settings
from flows._runtime import open_store
from ingest._exec.pdftoppm import page_png


class TextRun(BaseModel):
    text: str
    low: bool = False
    conf: int | None = None


def marked_text(item: review.ReviewItem) -> list[TextRun]:
    """The page text cut into runs, the engine's unsure words as their own (marked) runs; empty
    when the page has no unsure words, so the template shows the plain text."""
    if not item.unsure:
        return []
    runs, at = [], 0
    for span in sorted(item.unsure, key=lambda u: u.start):
        if span.start < at or span.end > len(item.text):
            return []  # spans that do not fit this text: show it unmarked rather than wrongly
        if span.start > at:
            runs.append(TextRun(text=item.text[at:span.start]))
        runs.append(TextRun(text=item.text[span.start:span.end], low=True, conf=span.confidence))
        at = span.end
    if at < len(item.text):
        runs.append(TextRun(text=item.text[at:]))
    return runs


def add_routes(router: APIRouter, settings: Settings, ops: Operations) -> None:
    url = settings.catalog_url

    @router.get("/review")
    def queue(request: Request, case: str | None = None, flag: str | None = None,
              viewer: Viewer = Depends(page(settings, "review.read"))) -> Response:
        return render(request, "review_list.html", viewer=viewer, title_key="review.title",
                      items=review.pending(url, case_number=case or None, flag=flag or None),
                      flags=review.REVIEW_FLAGS, case=case or "", flag=flag or "")

    @router.get("/review/{document_id}/{page_number}")
    def one(request: Request, document_id: str, page_number: int,
            viewer: Viewer = Depends(page(settings, "review.read"))) -> Response:
        item = review.show(url, document_id, page_number)
        return render(request, "review_page.html", viewer=viewer, title_key="review.page_title", item=item,
                      threshold=settings.ocr_confidence_threshold, words=marked_text(item))

    @router.get("/review/{document_id}/{page_number}/image.png")
    def image(document_id: str, page_number: int,
              viewer: Viewer = Depends(page(settings, "review.read"))) -> Response:
        item = review.show(url, document_id, page_number)
        pdf = open_store(settings).path(ocfl_id_for(item.aip_id), item.image_path)
        return Response(page_png(pdf, item.page, dpi=100), media_type="image/png",
                        headers={"Cache-Control": "private, no-store"})

    @router.post("/review/{document_id}/{page_number}/accept")
    def accept_page(document_id: str, page_number: int, note: str = Form(""),
                    viewer: Viewer = Depends(form_page(settings, "review.accept"))) -> Response:
        review.accept(url, document_id, [page_number], principal_id=viewer.principal_id, note=note)
        return redirect("/console/review")

    @router.post("/review/{document_id}/accept")
    def accept_document(document_id: str, note: str = Form(""),
                        viewer: Viewer = Depends(form_page(settings, "review.accept"))) -> Response:
        review.accept(url, document_id, None, principal_id=viewer.principal_id, note=note)
        return redirect("/console/review")
