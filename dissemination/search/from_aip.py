"""Search documents from what the storage root holds: an AIP's head version's case.json and
per-page text files. Reading only the storage root is what lets ``reindex`` rebuild a lost index."""

from __future__ import annotations

from collections.abc import Iterator

from archive.package import CASE_JSON, CaseRecord
from archive.storage import Store
from dissemination.search.base import IndexPage


def aip_id_of_object(object_id: str) -> str:
    return object_id.removeprefix("urn:uuid:")


def pages_of_object(store: Store, object_id: str, aip_id: str) -> Iterator[IndexPage]:
    """Every page of every document of the object's head version, one at a time."""
    record = CaseRecord.model_validate_json(store.path(object_id, CASE_JSON).read_bytes())
    case = record.case
    parties = tuple(p.name for p in case.parties)
    for doc in record.documents:
        texts = {t.page: t.file.path for t in doc.text}
        for page in doc.pages:
            rel = texts.get(page.page)
            text = store.path(object_id, rel).read_text(encoding="utf-8") if rel else ""
            yield IndexPage(
                aip_id=aip_id, case_number=case.case_number, document_id=doc.document_id,
                source_path=doc.entry.path, title=doc.entry.document.title, page=page.page,
                text=text, court=case.court, case_type=case.case_type,
                cause_of_action=case.cause_of_action, volume=doc.entry.document.volume,
                disclosable=doc.disclosable, doc_type=doc.entry.document.doc_type,
                parties=parties, filing_date=case.filing_date, closing_date=case.closing_date)
