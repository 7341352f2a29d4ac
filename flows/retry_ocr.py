"""Re-OCR documents whose OCR failed at ingest, each case as a new AIP version.

    find failed documents (catalog) -> check out the case's head version -> stage the archived
    originals beside their submission's manifest -> ocr_documents -> validate_derivatives
    (veraPDF) -> build_aip on the head ->
    sign -> commit (OCFL, refused if the head moved) -> verify -> catalog -> index

An ingest never fails a batch over OCR: the original is archived with ``ocr.status = failed``.
This flow takes those originals out of storage (byte-identical to what the station sent: the
package checks them against the manifest again) and, for each document read this time, the
new version gains its PDF/A, page texts and OCR record (the PREMIS OCR event follows from it).
A document that fails again changes nothing; its failure is recorded as an event.

Rerunnable: when a run died after its commit but before the catalog heard of it, the head
already holds the new reading; the next run records that head instead of reading again.
"""

from __future__ import annotations

import shutil
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from prefect import flow
from pydantic import BaseModel
from sqlmodel import select

from archive.bag import payload_digest
from archive.catalog import session
from archive.catalog.models import Case, Document
from archive.catalog.record import head_version, record_event
from archive.package import CaseRecord, DocumentRecord, SubmissionRecord, read_case_record
from archive.records import AipRecord, BuiltAip, CaseSubmission, SubmittedDocument, ocfl_id_for
from archive.storage import Store
from config import Settings
from flows._runtime import bind_journals, open_store
from flows._work import work_folder
from flows.progress import report as progress
from flows.indexing import index_queued
from flows.ingest_batch import SOFTWARE, commit_case, record
from ingest.conformance import validate_derivatives
from ingest.manifest import BatchManifest
from ingest.ocr import ocr_documents
from ingest.ocr.options import OcrOptions
from ingest.records import OcrResult, PageText
from schemas.errors import NotFound


class RetryOutcome(BaseModel):
    retried: list[str] = []  # document ids read this time (or by a run that died before recording)
    failed_again: dict[str, str] = {}  # document id -> error
    aips: list[AipRecord] = []


def failed_documents(settings: Settings, *, case_number: str | None = None,
                     document_id: str | None = None) -> dict[str, set[str]]:
    """AIP id -> ids of its documents whose OCR failed, narrowed to a case or one document;
    an unknown case (E503) or document (E310) is refused rather than silently matching nothing."""
    with session(settings.catalog_url) as s:
        if case_number is not None and s.get(Case, case_number) is None:
            raise NotFound("E503", case_number)
        if document_id is not None and s.get(Document, document_id) is None:
            raise NotFound("E310", document_id)
        query = select(Document).where(Document.ocr_status == "failed")
        if case_number is not None:
            query = query.where(Document.case_number == case_number)
        if document_id is not None:
            query = query.where(Document.document_id == document_id)
        found: dict[str, set[str]] = defaultdict(set)
        for doc in s.exec(query).all():
            found[doc.aip_id].add(doc.document_id)
    return dict(found)


@flow(name="retry-ocr")
def retry_ocr(settings: Settings, case_number: str | None = None,
              document_id: str | None = None) -> RetryOutcome:
    bind_journals(settings)
    outcome = RetryOutcome()
    failed = failed_documents(settings, case_number=case_number, document_id=document_id)
    store = open_store(settings)
    with work_folder(settings.work_root, "retry-ocr") as work:
        for aip_id, documents in sorted(failed.items()):
            _retry_case(aip_id, documents, work / aip_id, store, settings, outcome)
        index_queued(settings, store)  # an AIP not indexed stays queued; index_aip logs why
    return outcome


def _retry_case(aip_id: str, documents: set[str], work: Path, store: Store, settings: Settings,
                outcome: RetryOutcome) -> None:
    ocfl_id = ocfl_id_for(aip_id)
    version = store.head(ocfl_id)
    head = store.checkout(ocfl_id, work / "head")
    case = read_case_record(head)
    mine = [d for d in case.documents if d.document_id in documents]
    read_before = [d for d in mine if d.ocr.status != "failed"]
    if read_before and version is not None:
        _record_head(head, case, read_before, version, settings, outcome)
    by_batch: dict[str, list[DocumentRecord]] = defaultdict(list)
    for doc in mine:
        if doc.ocr.status == "failed":
            by_batch[doc.batch_id].append(doc)
    for batch_id, docs in sorted(by_batch.items()):
        staged, manifest = _stage(head, case.submissions, batch_id, docs, work / "staging" / batch_id)
        results = validate_derivatives(ocr_documents(
            [(d.entry.path, staged / d.entry.path) for d in docs], work / "ocr" / batch_id,
            OcrOptions.from_settings(settings), on_page=lambda done, total: progress("OCR", done, total, "pages")))
        pairs = list(zip(docs, results, strict=True))
        failures = [(d, r.error or "failed") for d, r in pairs if r.status == "failed"]
        outcome.failed_again.update({d.document_id: error for d, error in failures})
        _record_failures(settings, aip_id, failures)
        read = [SubmittedDocument(entry=d.entry, ocr=r) for d, r in pairs if r.status != "failed"]
        if read:
            sub = CaseSubmission(manifest=manifest, case=case.case, documents=tuple(read))
            outcome.aips.append(commit_case(sub, work / "build" / batch_id, store, batch_id, settings))
            outcome.retried += [d.document_id for d in read]


def _record_head(head: Path, case: CaseRecord, docs: Sequence[DocumentRecord], version: int,
                 settings: Settings, outcome: RetryOutcome) -> None:
    """The catalog still says failed but the head holds a reading: a run died between its
    commit and its catalog record. Record the head (once: the catalog may already be there)."""
    with session(settings.catalog_url) as s:
        known = head_version(s, case.aip_id)
    if known is not None and known.version >= version:
        return
    sub = CaseSubmission(manifest=BatchManifest.model_validate_json(
                             (head / _submission(case.submissions, docs[0].batch_id).manifest.path).read_bytes()),
                         case=case.case, documents=tuple(_as_submitted(head, d) for d in docs))
    built = BuiltAip(aip_id=case.aip_id, case_number=case.case_number, bag_dir=head,
                     payload_digest=payload_digest(head))
    record(sub, built, version, docs[0].batch_id, settings)
    outcome.aips.append(AipRecord(aip_id=case.aip_id, case_number=case.case_number, version=version,
                                  created=False))
    outcome.retried += [d.document_id for d in docs]


def _as_submitted(head: Path, doc: DocumentRecord) -> SubmittedDocument:
    """A stored document as the OCR stage would have handed it over (texts read back from the bag)."""
    texts = {t.page: (head / t.file.path).read_text("utf-8") for t in doc.text}
    pages = tuple(PageText(page=p.page, text=texts.get(p.page, ""), confidence=p.confidence,
                           rotation=p.rotation, flags=p.flags, unsure=p.unsure) for p in doc.pages)
    ocr = OcrResult(source_path=doc.entry.path, original=head / doc.original.path,
                    pdfa=head / doc.pdfa.path if doc.pdfa else None, pages=pages, **doc.ocr.model_dump())
    return SubmittedDocument(entry=doc.entry, ocr=ocr)


def _submission(submissions: Sequence[SubmissionRecord], batch_id: str) -> SubmissionRecord:
    return next(s for s in submissions if s.batch_id == batch_id)


def _stage(head: Path, submissions: Sequence[SubmissionRecord], batch_id: str, docs: list[DocumentRecord],
           staging: Path) -> tuple[Path, BatchManifest]:
    """The batch's manifest and the archived originals laid out as the station sent them, so
    the new version keeps the submission's manifest bytes as they were."""
    staging.mkdir(parents=True, exist_ok=True)
    raw = (head / _submission(submissions, batch_id).manifest.path).read_bytes()
    (staging / "manifest.json").write_bytes(raw)
    for doc in docs:
        target = staging / doc.entry.path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(head / doc.original.path, target)
    return staging, BatchManifest.model_validate_json(raw)


def _record_failures(settings: Settings, aip_id: str, failures: list[tuple[DocumentRecord, str]]) -> None:
    if not failures:
        return
    with session(settings.catalog_url) as s:
        for doc, error in failures:
            record_event(s, "ocr", agent=SOFTWARE, outcome="failure", aip_id=aip_id,
                         object_path=doc.entry.path, detail=f"retry failed again: {error}")
        s.commit()
