"""Write what the archive did into the catalog. Each function changes rows in one session;
the caller commits, so one stage's records land together or not at all."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, SQLModel, select

from archive.auditlog import queue_event
from archive.catalog.models import (
    Aip,
    AipVersion,
    Batch,
    Case,
    CaseChange,
    Certificate,
    Document,
    IndexQueueItem,
    Page,
    PreservationEvent,
    StationCertificate,
    utcnow,
)
from archive.case_changes import ProposedChange
from archive.package import CaseRecord
from archive.records import BuiltAip, CaseSubmission, SubmittedDocument, ocfl_id_for
from ingest.manifest import CaseMeta

Row = TypeVar("Row", bound=SQLModel)

_DIALECT_INSERTS: dict[str, Callable[[sa.Table], sqlite.Insert | postgresql.Insert]] = {
    "sqlite": sqlite.insert, "postgresql": postgresql.insert}


def _get_or_insert(s: Session, row: Row) -> Row:
    """The catalog's row with ``row``'s primary key, inserted from ``row`` when there is none.

    Two ingests may record one new row at once (the first versions of a case, the signing
    certificate on a fresh archive) and both find no row: the INSERT skips a row that exists or
    is being inserted (waiting for that transaction), where a plain INSERT would fail the second
    ingest with an IntegrityError; the re-read then sees it, and raises NoResultFound if the
    clash was another row's unique column, not this key."""
    model = type(row)
    key = sa.inspect(model).primary_key_from_instance(row)
    found = s.get(model, key)
    if found is None:
        _insert_unless_clashing(s, row)
        found = s.get_one(model, key)
    return found


def _insert_unless_clashing(s: Session, row: SQLModel) -> None:
    """INSERT .. ON CONFLICT DO NOTHING on every unique key: PostgreSQL checks a table's unique
    indexes in its own order, so naming only the primary key lets a racing INSERT fail on another
    unique column (Aip.case_number) first."""
    table = type(row).__table__
    values = {c.name: value for c in table.columns if (value := getattr(row, c.name)) is not None}
    s.execute(_insert(s, table).values(values).on_conflict_do_nothing())


def _insert(s: Session, table: sa.Table) -> sqlite.Insert | postgresql.Insert:
    """The session's dialect's INSERT, which has ON CONFLICT (the generic one has not)."""
    return _DIALECT_INSERTS[s.get_bind().dialect.name](table)


def upsert_case(s: Session, meta: CaseMeta) -> Case:
    """Cases are described again by every batch; the newest description wins, status and 档号 stay."""
    row = _get_or_insert(s, Case(case_number=meta.case_number, court=meta.court, court_code=meta.court_code,
                                 case_type=meta.case_type, procedure=meta.procedure,
                                 cause_of_action=meta.cause_of_action))
    row.court, row.court_code, row.case_type = meta.court, meta.court_code, meta.case_type
    row.procedure, row.cause_of_action = meta.procedure, meta.cause_of_action
    row.parties = [p.model_dump(exclude_none=True) for p in meta.parties]
    row.judge, row.panel, row.clerk = meta.judge, list(meta.panel), meta.clerk
    row.filing_date, row.closing_date = meta.filing_date, meta.closing_date
    row.effective_date = meta.effective_date or row.effective_date
    row.retention_period, row.security_class = meta.retention_period, meta.security_class
    if row.status != "archived":
        row.status = "closed" if meta.closing_date else "in_progress"
    s.add(row)
    return row


def head_version(s: Session, aip_id: str) -> AipVersion | None:
    return s.exec(select(AipVersion).where(AipVersion.aip_id == aip_id)
                  .order_by(AipVersion.version.desc())).first()


def record_certificate(s: Session, fingerprint: str, purpose: str, subject: str, pem: str,
                       not_before: datetime, not_after: datetime) -> None:
    """Keep a signing certificate; flows starting at once on a fresh archive all record it."""
    _get_or_insert(s, Certificate(fingerprint=fingerprint, purpose=purpose, subject=subject, pem=pem,
                                  not_before=not_before, not_after=not_after))


def register_station_certificate(s: Session, station_id: str, fingerprint: str, subject: str, pem: str,
                                 not_after: datetime) -> None:
    """Register a certificate the station signs its manifests with (kept when already known)."""
    _get_or_insert(s, StationCertificate(fingerprint=fingerprint, station_id=station_id, subject=subject, pem=pem,
                                         not_after=not_after))


def station_certificates(s: Session, station_id: str) -> list[str]:
    """The PEM of every certificate registered for the station (empty: an unauthenticated station)."""
    rows = s.exec(select(StationCertificate).where(StationCertificate.station_id == station_id)).all()
    return [r.pem for r in rows]


def queue_for_indexing(s: Session, aip_id: str, version: int) -> None:
    """Queue the AIP for indexing at ``version`` unless its entry already names this version or a
    newer one, in one INSERT .. ON CONFLICT DO UPDATE that compares with the committed entry: an
    ingest and a failed indexing may queue the AIP at once, and two ingests out of order, where a
    read-then-insert fails on the primary key (IntegrityError) and a write of the version read
    earlier lowers it. A newer version starts a fresh entry (attempts 0, no error, queued now):
    the failures counted were the older version's."""
    table = IndexQueueItem.__table__
    insert = _insert(s, table).values(
        aip_id=aip_id, version=version, attempts=0, last_error="", enqueued_at=utcnow())
    fresh = {name: insert.excluded[name] for name in ("version", "attempts", "last_error", "enqueued_at")}
    s.execute(insert.on_conflict_do_update(index_elements=[table.c.aip_id], set_=fresh,
                                           where=table.c.version < insert.excluded.version))


def record_indexing_failure(s: Session, aip_id: str, version: int, error: str) -> None:
    """Count a failed indexing on the AIP's queue entry, queued for ``version`` first (see
    ``queue_for_indexing``): an ingest of the AIP may queue it at the same time, and two
    failures may count at once (the count is raised in the UPDATE, not read and written back)."""
    queue_for_indexing(s, aip_id, version)
    s.execute(sa.update(IndexQueueItem).where(IndexQueueItem.aip_id == aip_id)
              .values(attempts=IndexQueueItem.attempts + 1, last_error=error[:2000])
              .execution_options(synchronize_session=False))


def dequeue_indexed(s: Session, aip_id: str, version: int) -> None:
    """Drop the AIP's queue entry if it names ``version`` or an older one, in one DELETE that
    compares with the committed entry: an ingest may queue a newer version while this one is
    indexed, and that entry must stay until its version is indexed too."""
    s.execute(sa.delete(IndexQueueItem).where(IndexQueueItem.aip_id == aip_id, IndexQueueItem.version <= version))


def record_aip_version(s: Session, sub: CaseSubmission, built: BuiltAip, version: int, *,
                       batch_id: str, tagmanifest_sha256: str, certificate: str) -> None:
    """The AIP, its new version, and the documents and pages this version brought."""
    aip = _get_or_insert(s, Aip(aip_id=built.aip_id, case_number=built.case_number,
                                ocfl_id=ocfl_id_for(built.aip_id)))
    _raise_head(s, aip, version)
    s.add(AipVersion(aip_id=built.aip_id, version=version, batch_id=batch_id,
                     payload_digest=built.payload_digest, tagmanifest_sha256=tagmanifest_sha256,
                     certificate_fingerprint=certificate, message=f"batch {batch_id}"))
    case = s.get(Case, built.case_number)
    if case is not None:
        case.aip_id = built.aip_id
        s.add(case)
    for doc in sub.documents:
        record_document(s, built.aip_id, batch_id, doc)


def record_archiving_version(s: Session, aip_id: str, version: int, *, payload_digest: str,
                             tagmanifest_sha256: str, certificate: str, message: str) -> None:
    """The version 归档 added, and its case archived. An ingest of the case may record a newer
    version at the same time, so the head is raised as an ingest raises it, never set."""
    aip = s.get_one(Aip, aip_id)
    _raise_head(s, aip, version)
    s.add(AipVersion(aip_id=aip_id, version=version, payload_digest=payload_digest,
                     tagmanifest_sha256=tagmanifest_sha256, certificate_fingerprint=certificate,
                     message=message))
    case = s.get_one(Case, aip.case_number)
    case.status = "archived"
    s.add(case)


def record_evidence_version(s: Session, aip_id: str, version: int, *, payload_digest: str,
                            tagmanifest_sha256: str, certificate: str, message: str) -> None:
    """A version that only adds evidence (archive timestamps); the case's status is unchanged."""
    _raise_head(s, s.get_one(Aip, aip_id), version)
    s.add(AipVersion(aip_id=aip_id, version=version, payload_digest=payload_digest,
                     tagmanifest_sha256=tagmanifest_sha256, certificate_fingerprint=certificate, message=message))


def hold_changes(s: Session, changes: list[ProposedChange]) -> None:
    """Keep what a batch asked to change of a protected value, pending an archivist; the same
    change of a batch run again is kept once."""
    for c in changes:
        _get_or_insert(s, CaseChange(id=c.change_id, case_number=c.case_number, kind=c.kind,
                                     document_path=c.document_path, old={"value": c.old}, new={"value": c.new},
                                     batch_id=c.batch_id, station_id=c.station_id, status="pending",
                                     created_at=utcnow(), reason=""))


def record_amended_version(s: Session, record: CaseRecord, version: int, *, payload_digest: str,
                           tagmanifest_sha256: str, certificate: str, message: str) -> None:
    """A metadata-only version (an approved change): the head raised, the case's parties and
    its documents' volume and disclosure as the new case.json says."""
    aip = s.get_one(Aip, record.aip_id)
    _raise_head(s, aip, version)
    s.add(AipVersion(aip_id=record.aip_id, version=version, payload_digest=payload_digest,
                     tagmanifest_sha256=tagmanifest_sha256, certificate_fingerprint=certificate,
                     message=message))
    case = s.get_one(Case, record.case_number)
    case.parties = [p.model_dump(exclude_none=True) for p in record.case.parties]
    s.add(case)
    for doc in record.documents:
        row = s.get(Document, doc.document_id)
        if row is not None:
            row.volume, row.disclosable = doc.entry.document.volume, doc.disclosable
            s.add(row)


def _raise_head(s: Session, aip: Aip, version: int) -> None:
    """Make ``version`` the AIP's head unless a newer one is, in one UPDATE that compares with the
    committed head: two ingests of one case may record at once and out of order, and a head
    computed from the value read earlier would write back an older version over a newer one
    committed meanwhile. The session's head is expired, so it reloads what the catalog holds."""
    s.execute(sa.update(Aip).where(Aip.aip_id == aip.aip_id, Aip.head_version < version)
              .values(head_version=version).execution_options(synchronize_session=False))
    s.expire(aip, ["head_version"])


def record_document(s: Session, aip_id: str, batch_id: str, doc: SubmittedDocument) -> None:
    """The document's row, made or brought up to date, and its pages replaced by this recording's.
    Two recordings of one case may bring the same file (its id comes from the case and the path)
    at once, so the row is inserted unless it exists, then updated."""
    entry, ocr = doc.entry, doc.ocr
    row = _get_or_insert(s, Document(
        document_id=doc.document_id, aip_id=aip_id, case_number=entry.case_number,
        source_path=entry.path, sha256=entry.sha256, title=entry.document.title,
        doc_type=entry.document.doc_type, volume=entry.document.volume,
        disclosable=entry.document.disclosable, seq=entry.document.seq,
        page_count=entry.page_count))
    row.sha256, row.title, row.volume = entry.sha256, entry.document.title, entry.document.volume
    row.disclosable = entry.document.disclosable and entry.document.volume == "正卷"
    row.seq, row.page_count, row.batch_id, row.ocr_status = (entry.document.seq, entry.page_count,
                                                             batch_id, ocr.status)
    s.add(row)
    s.flush()
    for old in s.exec(select(Page).where(Page.document_id == doc.document_id)).all():
        s.delete(old)
    s.flush()
    for p in ocr.pages:
        s.add(Page(document_id=doc.document_id, page=p.page, text=p.text,
                   confidence=p.confidence, flags=list(p.flags), unsure=[u.model_dump() for u in p.unsure]))
    if ocr.status == "failed" and not ocr.pages:  # unreadable as a whole: each page waits for review
        for n in range(1, entry.page_count + 1):
            s.add(Page(document_id=doc.document_id, page=n, text="", flags=["ocr_failed"]))


def record_event(s: Session, event_type: str, *, agent: str, outcome: str = "success",
                 detail: str = "", aip_id: str | None = None, object_path: str | None = None,
                 when: datetime | None = None, log_fields: dict | None = None) -> PreservationEvent:
    """Add a PREMIS-shaped event row; it also enters the hash-chained audit log when ``s`` commits,
    with ``log_fields`` (e.g. ``auditlog.version_event``) that only the log keeps."""
    ev = PreservationEvent(id=str(uuid.uuid4()), event_type=event_type, event_time=when or utcnow(),
                           agent=agent, outcome=outcome, detail=detail, aip_id=aip_id,
                           object_path=object_path)
    s.add(ev)
    queue_event(s, {**(log_fields or {}), "id": ev.id, "event_type": event_type,
                    "event_time": ev.event_time.isoformat(), "agent": agent, "outcome": outcome,
                    "detail": detail, "aip_id": aip_id, "object_path": object_path})
    return ev


def finish_batch(s: Session, batch: Batch, status: str, problems: list[dict]) -> Batch:
    batch.status, batch.problems, batch.finished_at = status, problems, utcnow()
    s.add(batch)
    return batch


def archived_path_of(s: Session, sha256: str) -> str | None:
    """Where a file with this content is already archived, for duplicate reporting."""
    doc = s.exec(select(Document).where(Document.sha256 == sha256)).first()
    return f"{doc.case_number}/{doc.source_path}" if doc else None
