"""Recreate the catalog from what the archive keeps elsewhere, and say what could not be.

    storage root  -> cases, AIPs, versions, documents, pages, signing certificates, root identities
    preservation log (chain verified) -> events, review acceptances, the signed heads' record
    registry journal -> principals, stations, batches, requests, issued copies, outbox

Keys are files (``keys/``) and never were in the catalog: they are reported as something to
back up, as are the audit history (its reports stay under ``$HOME/audit``) and the indexing
queue (run ``juanzong reindex`` when unsure). Each stage writes rows into the session it is
given; the caller commits once, so a rebuild that fails leaves no half catalog behind.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from pydantic import BaseModel
from sqlmodel import Session, select

from archive.auditlog import HEADS_DIR, LogHead, logged_versions, read_entries, verify_log
from archive.bag import manifest_digest
from archive.catalog import registry
from archive.catalog.models import (
    Aip,
    AipVersion,
    Document,
    LogHead as LogHeadRow,
    Page,
    PreservationEvent,
    StorageRoot,
)
from archive.catalog.record import record_certificate, upsert_case
from archive.package import CASE_JSON, CaseRecord, DocumentRecord
from archive.review import EVENT_TYPE as REVIEW_EVENT
from archive.signing import SIGNATURE_NAME, signature_info
from archive.storage import OcflStore
from archive.storage.identity import read_root_id
from schemas.errors import Problem

ARCHIVING_PREFIX = "archive "  # the OCFL message of a 归档 version (flows.archive_case)


class RebuildReport(BaseModel):
    catalog: str
    set_aside: str | None = None  # where the replaced catalog file was moved
    cases: int = 0
    aips: int = 0
    versions: int = 0
    documents: int = 0
    pages: int = 0
    events: int = 0
    reviewed_pages: int = 0
    log_heads: int = 0
    certificates: int = 0
    registry: dict[str, int] = {}
    not_recovered: list[Problem] = []


# ---- storage root ------------------------------------------------------------------------------

def rebuild_objects(s: Session, store: OcflStore, report: RebuildReport) -> None:
    """Every object of the storage root: its case, AIP, versions, documents and pages."""
    fingerprints: set[str] = set()
    for object_id in sorted(store.object_ids()):
        try:
            _rebuild_object(s, store, object_id, report, fingerprints)
        except (OSError, ValueError, KeyError) as exc:
            report.not_recovered.append(Problem.of("E415", object_id, reason=f"{type(exc).__name__}: {exc}"[:200]))
    report.certificates = len(fingerprints)


def _rebuild_object(s: Session, store: OcflStore, object_id: str, report: RebuildReport,
                    fingerprints: set[str]) -> None:
    record = CaseRecord.model_validate_json(store.path(object_id, CASE_JSON).read_bytes())
    head = store.head(object_id)
    assert head is not None
    case = upsert_case(s, record.case)
    if record.archival_code:
        case.archival_code, case.status = record.archival_code, "archived"
    case.aip_id = record.aip_id
    s.add(case)
    s.add(Aip(aip_id=record.aip_id, case_number=record.case_number, ocfl_id=object_id, head_version=head,
              created_at=store.version_info(object_id, 1).created))
    s.flush()
    for version in range(1, head + 1):
        s.add(_version_row(s, store, object_id, record.aip_id, version, fingerprints))
    for doc in record.documents:
        report.pages += _add_document(s, store, object_id, record, doc)
    report.cases, report.aips = report.cases + 1, report.aips + 1
    report.versions += head
    report.documents += len(record.documents)


def _version_row(s: Session, store: OcflStore, object_id: str, aip_id: str, version: int,
                 fingerprints: set[str]) -> AipVersion:
    files = store.files(object_id, version)
    info = store.version_info(object_id, version)
    cert, _signed = signature_info(files[SIGNATURE_NAME].path.read_bytes())
    fingerprint = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    if fingerprint not in fingerprints:
        fingerprints.add(fingerprint)
        record_certificate(s, fingerprint, "aip-signing", cert.subject.rfc4514_string(),
                           cert.public_bytes(serialization.Encoding.PEM).decode(),
                           cert.not_valid_before_utc, cert.not_valid_after_utc)
    archiving = info.message.startswith(ARCHIVING_PREFIX)
    batch_id = None if archiving else _bag_info(files["bag-info.txt"].path).get("Internal-Sender-Identifier")
    return AipVersion(aip_id=aip_id, version=version, batch_id=batch_id,
                      payload_digest=manifest_digest(files["manifest-sha256.txt"].path),
                      tagmanifest_sha256=hashlib.sha256(files["tagmanifest-sha256.txt"].path.read_bytes()).hexdigest(),
                      certificate_fingerprint=fingerprint,
                      message=info.message if archiving else f"batch {batch_id}", created_at=info.created)


def _bag_info(path: Path) -> dict[str, str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in lines) if v}


def _add_document(s: Session, store: OcflStore, object_id: str, record: CaseRecord, doc: DocumentRecord) -> int:
    """The document's row and its pages (text from the stored page files); returns pages added."""
    entry = doc.entry
    s.add(Document(document_id=doc.document_id, aip_id=record.aip_id, case_number=record.case_number,
                   source_path=entry.path, sha256=entry.sha256, title=entry.document.title,
                   doc_type=entry.document.doc_type, volume=entry.document.volume, disclosable=doc.disclosable,
                   seq=entry.document.seq, page_count=entry.page_count, batch_id=doc.batch_id,
                   ocr_status=doc.ocr.status))
    texts = {t.page: t.file.path for t in doc.text}
    pages = [Page(document_id=doc.document_id, page=p.page, confidence=p.confidence, flags=list(p.flags),
                  unsure=[u.model_dump() for u in p.unsure],
                  text=store.path(object_id, texts[p.page]).read_text(encoding="utf-8") if p.page in texts else "")
             for p in doc.pages]
    if doc.ocr.status == "failed" and not doc.pages:  # as the ingest records it: each page waits for review
        pages = [Page(document_id=doc.document_id, page=n, text="", flags=["ocr_failed"])
                 for n in range(1, entry.page_count + 1)]
    s.add_all(pages)
    s.flush()
    return len(pages)


def check_rollbacks(store: OcflStore, log_dir: Path, report: RebuildReport) -> None:
    """A head older than the log's newest version of the object: rebuilt as stored, reported E409."""
    for object_id, logged in logged_versions(log_dir).items():
        head = store.head(object_id)
        if head is not None and head < logged.version:
            report.not_recovered.append(Problem.of("E409", object_id, expected=f"v{logged.version}", found=f"v{head}"))


def rebuild_roots(s: Session, roots: dict[str, Path], report: RebuildReport) -> None:
    """The storage roots' identities (``archive.storage.identity``), read from the roots: without
    them the rebuilt catalog would refuse its own root (E452)."""
    for role, root in roots.items():
        root_id = read_root_id(root)
        if root_id is None:
            report.not_recovered.append(Problem.of("E415", str(root), reason=f"the {role} root has no identity"))
            continue
        s.add(StorageRoot(role=role, root_id=root_id, first_path=str(root.absolute())))


# ---- preservation log ----------------------------------------------------------------------------

def rebuild_events(s: Session, log_dir: Path, report: RebuildReport) -> None:
    """Events from the chain up to its first break (reported), then the review acceptances they
    name, then the catalog's record of each signed head from the head files."""
    verified = verify_log(log_dir)
    good = verified.entries
    if not verified.ok:
        report.not_recovered += verified.problems
        report.not_recovered.append(Problem.of("E415", str(log_dir), reason=f"events after entry {good} of a broken log"))
    events = [json.loads(raw)["event"] for number, raw in read_entries(log_dir) if number <= good]
    rows = [_event_row(e) for e in events if "id" in e and "event_type" in e]
    s.add_all(rows)
    s.flush()
    report.events = len(rows)
    report.reviewed_pages = _mark_reviewed(s, [r for r in rows if r.event_type == REVIEW_EVENT])
    report.log_heads = _record_heads(s, log_dir)


def _event_row(event: dict) -> PreservationEvent:
    return PreservationEvent(id=event["id"], event_type=event["event_type"],
                             event_time=datetime.fromisoformat(event["event_time"]), agent=event.get("agent", ""),
                             outcome=event.get("outcome", "success"), detail=event.get("detail", ""),
                             aip_id=event.get("aip_id"), object_path=event.get("object_path"))


def _mark_reviewed(s: Session, reviews: list[PreservationEvent]) -> int:
    """``ocr review`` events name ``<source path>#p<page>`` of an AIP: those pages were accepted."""
    marked = 0
    for event in reviews:
        source, _, page = (event.object_path or "").rpartition("#p")
        doc = s.exec(select(Document).where(Document.aip_id == event.aip_id, Document.source_path == source)).first()
        row = s.exec(select(Page).where(Page.document_id == doc.document_id, Page.page == int(page))).first() \
            if doc is not None and page.isdigit() else None
        if row is not None and not row.reviewed:
            row.reviewed = True
            s.add(row)
            marked += 1
    return marked


def _record_heads(s: Session, log_dir: Path) -> int:
    heads = sorted((log_dir / HEADS_DIR).glob("*.json"))
    for path in heads:
        head = LogHead.model_validate_json(path.read_bytes())
        s.add(LogHeadRow(day=path.stem, seq=head.seq, digest=head.digest,
                         signed_at=datetime.fromisoformat(head.signed_at)))
    return len(heads)


# ---- registry journal ----------------------------------------------------------------------------

def rebuild_registry(s: Session, journal: Path | None, report: RebuildReport) -> None:
    if journal is None or not journal.is_file():
        report.not_recovered.append(Problem.of(
            "E415", str(journal or "registry journal"),
            reason="no registry journal: principals, stations, batches, reading requests, issued copies "
                   "and the outbox are not in storage and are lost"))
        return
    tables, problems = registry.replay(journal)
    report.not_recovered += problems
    report.registry = registry.restore(s, tables)


def report_outside(report: RebuildReport, keys: list[Path], audit_dir: Path) -> None:
    """What no catalog held and no rebuild recovers: say where it is, so it is backed up."""
    report.not_recovered.append(Problem.of(
        "E415", ", ".join(str(k) for k in keys),
        reason="signing and dissemination keys and the link and requester secrets are files, never in the "
               "catalog or storage: back them up with the registry journal"))
    report.not_recovered.append(Problem.of(
        "E415", str(audit_dir), reason="audit history (runs and findings) is not recovered; the JSON and HTML "
                                       "reports stay in this folder"))
