"""The archivist's review of pages the OCR stage could not vouch for.

OCR never fails a batch over one page: a page read with low confidence, a blank sheet, or a
page whose recognition failed is archived, flagged (``Page.flags``) and waits here. The
archivist looks at it (``show``: its text, confidence and where its image lies in the AIP) and
accepts it; who accepted what, when and why goes into the hash-chained preservation log, the
catalog keeps only ``Page.reviewed``. Accepting does not change the AIP: a page that needs a
better reading is re-OCR'd as a new AIP version instead.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from sqlmodel import Session, col, select

from archive.catalog import session
from archive.catalog.models import Aip, Document, Page
from archive.catalog.record import record_event
from archive.permissions import authorize
from ingest.records import UnsureSpan
from schemas.errors import InputRejected, NotFound

REVIEW_FLAGS = ("low_confidence", "blank", "ocr_failed")
EVENT_TYPE = "ocr review"


class ReviewItem(BaseModel):
    """One flagged page, as the archivist sees it in the list and in ``show``."""

    model_config = ConfigDict(frozen=True)

    document_id: str
    page: int
    case_number: str
    aip_id: str
    aip_version: int | None = None  # the head version, which ``juanzong export`` writes out
    source_path: str
    title: str
    flags: tuple[str, ...]
    confidence: float | None
    reviewed: bool
    ocr_status: str
    text: str = ""
    unsure: tuple[UnsureSpan, ...] = ()  # spans of ``text`` read under the review threshold
    image_path: str = ""  # the scan as sent, by its path in the AIP's bag; the page is page ``page`` of it


def pending(catalog_url: str, *, case_number: str | None = None, flag: str | None = None,
            include_reviewed: bool = False) -> list[ReviewItem]:
    """Flagged pages awaiting review, in case, document and page order."""
    if flag is not None and flag not in REVIEW_FLAGS:
        raise InputRejected("E311", flag, expected=", ".join(REVIEW_FLAGS))
    with session(catalog_url) as s:
        query = select(Page, Document).join(Document, col(Document.document_id) == col(Page.document_id))
        if case_number is not None:
            query = query.where(Document.case_number == case_number)
        if not include_reviewed:
            query = query.where(col(Page.reviewed).is_(False))
        rows = s.exec(query.order_by(Document.case_number, Document.seq, Page.page)).all()
        return [_item(s, page, doc, with_text=False) for page, doc in rows
                if _needs_review(page, flag)]


def show(catalog_url: str, document_id: str, page: int) -> ReviewItem:
    """One page with its text and the path of its image in the AIP."""
    with session(catalog_url) as s:
        row, doc = _load(s, document_id, page)
        aip = s.get(Aip, doc.aip_id)
        return _item(s, row, doc, with_text=True).model_copy(
            update={"aip_version": aip.head_version if aip else None})


def accept(catalog_url: str, document_id: str, pages: list[int] | None, *, principal_id: str,
           note: str = "") -> list[ReviewItem]:
    """Mark pages reviewed (every flagged page not yet reviewed when ``pages`` is None) and log it.

    A page that carries no review flag is refused (E312): accepting it would log a review that
    never had anything to look at, most likely a mistyped page number."""
    authorize(catalog_url, principal_id, "review.accept", f"review accept {document_id}", code="E509")
    with session(catalog_url) as s:
        doc = s.get(Document, document_id)
        if doc is None:
            raise NotFound("E310", f"{document_id}")
        if pages is None:
            rows = [p for p in s.exec(select(Page).where(Page.document_id == document_id)
                                      .order_by(Page.page)).all()
                    if _needs_review(p, None) and not p.reviewed]
        else:
            rows = [_load(s, document_id, n)[0] for n in dict.fromkeys(pages)]
            unflagged = next((r for r in rows if not _needs_review(r, None)), None)
            if unflagged is not None:
                raise InputRejected("E312", f"{document_id}#p{unflagged.page}",
                                    found=", ".join(unflagged.flags or ()) or "-")
        for row in rows:
            row.reviewed = True
            s.add(row)
            record_event(s, EVENT_TYPE, agent=principal_id, aip_id=doc.aip_id,
                         object_path=f"{doc.source_path}#p{row.page}",
                         detail=f"accepted page {row.page} ({', '.join(row.flags) or 'no flags'}); "
                                f"confidence {row.confidence}; {note}".rstrip("; "))
        s.commit()
        return [_item(s, row, doc, with_text=False) for row in rows]


def _needs_review(page: Page, flag: str | None) -> bool:
    flags = set(page.flags or ())
    return bool(flags & {flag}) if flag else bool(flags & set(REVIEW_FLAGS))


def _load(s: Session, document_id: str, page: int) -> tuple[Page, Document]:
    doc = s.get(Document, document_id)
    row = s.exec(select(Page).where(Page.document_id == document_id, Page.page == page)).first()
    if doc is None or row is None:
        raise NotFound("E310", f"{document_id}#p{page}")
    return row, doc


def _item(s: Session, page: Page, doc: Document, *, with_text: bool) -> ReviewItem:
    return ReviewItem(
        document_id=doc.document_id, page=page.page, case_number=doc.case_number, aip_id=doc.aip_id,
        source_path=doc.source_path, title=doc.title, flags=tuple(page.flags or ()),
        confidence=page.confidence, reviewed=page.reviewed, ocr_status=doc.ocr_status,
        text=page.text if with_text else "",
        unsure=tuple(UnsureSpan(**u) for u in page.unsure or ()) if with_text else (),
        image_path=f"data/original/{doc.source_path}")
