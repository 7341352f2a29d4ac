"""销毁 one case after an approved appraisal: tombstone first, then the content goes.

    approved_disposal (catalog: approved dispose decision, due, no hold)
    -> write the signed tombstone into the storage root (and the replica root)
    -> purge the OCFL object (primary and replica) -> drop the copy templates made from it
    -> delete it from the search index -> catalog: pages and documents deleted, case disposed,
       tombstone row, ``deaccession`` event (and so the log)

The tombstone is written before anything is removed: a disposal cut short (a crash, the
search cluster down) is finished by running it again, which finds the tombstone and goes on.
The case row, its versions and its events stay: they are the record that the case existed and
how it ended. Its reading requests end ``withdrawn``: the copies still held for download go and
their links stop working (copies already downloaded are outside the archive; the issued-copy
records say what went out).
"""

from __future__ import annotations

import hashlib
from datetime import date

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel
from sqlmodel import delete, select

from archive.catalog import session
from archive.catalog.models import Appraisal, Case, Document, IndexQueueItem, Page, Tombstone, utcnow
from archive.catalog.record import record_event
from archive.records import ocfl_id_for
from archive.retention import approved_disposal, today
from archive.signing import SIGNED_FILE
from archive.storage import Store
from archive.tombstone import (
    TombstoneBody,
    read_tombstone,
    signature_text,
    tombstone_dir,
    tombstoned_ids,
    write_tombstone,
)
from config import Settings
from dissemination.notify import OutboxNotifier
from dissemination.requests import withdraw_for_disposal
from dissemination.search.registry import open_index
from dissemination.template import template_path
from flows._runtime import open_signer, open_store

SOFTWARE = "juanzong"


class DisposalOutcome(BaseModel):
    case_number: str
    aip_id: str
    archival_code: str | None
    disposed_at: str
    tombstone: str  # path in the storage root
    index_documents_removed: int
    withdrawn_requests: list[str]
    resumed: bool


def _describe(store: Store, case: Case, appraisal: Appraisal, due: date, basis: str, by: str) -> TombstoneBody:
    """What is about to go, read from the stored object before it goes."""
    object_id = ocfl_id_for(case.aip_id or "")
    head = store.head(object_id) or 0
    files = store.files(object_id) if head else {}
    tag = files.get(SIGNED_FILE)
    return TombstoneBody(
        aip_id=case.aip_id or "", object_id=object_id, case_number=case.case_number,
        archival_code=case.archival_code, retention_period=case.retention_period, retention_basis=basis,
        title=f"{case.case_number}{case.cause_of_action}一案", due_date=due.isoformat(), versions=head,
        files=len(files), bytes=sum(f.path.stat().st_size for f in files.values()),
        head_tagmanifest_sha256=hashlib.sha256(tag.path.read_bytes()).hexdigest() if tag else "",
        appraisal_id=appraisal.id, reason=appraisal.reason, appraised_by=appraisal.appraised_by,
        approved_by=appraisal.approved_by or "", disposed_by=by, disposed_at=utcnow(),
        removed_from=["storage", "replica", "search index", "catalog pages and documents", "copy templates"])


@task(cache_policy=NO_CACHE)
def write_tombstones(settings: Settings, case_number: str, by: str, as_of: date) -> tuple[TombstoneBody, str, bool]:
    """The tombstone, written now or found from an earlier run cut short; (body, signature, resumed)."""
    from archive.retention import case_due_date

    with session(settings.catalog_url) as s:
        case, appraisal, due = approved_disposal(s, case_number, as_of)
        _, basis = case_due_date(s, case)
    aip_id = case.aip_id or ""
    if aip_id in tombstoned_ids(settings.storage_root):
        body = read_tombstone(settings.storage_root, aip_id)
        signature = (tombstone_dir(settings.storage_root) / f"{aip_id}.json.p7s").read_bytes()
        return body, signature_text(signature), True
    body = _describe(open_store(settings), case, appraisal, due, basis, by)
    signer = open_signer(settings)
    _, signature = write_tombstone(settings.storage_root, body, signer)
    if settings.replica_root:
        write_tombstone(settings.replica_root, body, signer)
    return body, signature_text(signature), False


@task(cache_policy=NO_CACHE)
def remove_content(settings: Settings, aip_id: str) -> int:
    """Copy templates, the OCFL object (primary and replica), the index entries; returns index hits removed."""
    store = open_store(settings)
    object_id = ocfl_id_for(aip_id)
    if store.head(object_id):
        for record in store.files(object_id).values():
            if record.logical_path.endswith(".pdf"):
                template_path(record.path, settings.copy_template_root).unlink(missing_ok=True)
    store.purge(object_id)
    return open_index(settings).delete_aip(aip_id)


@task(cache_policy=NO_CACHE)
def withdraw_copies(settings: Settings, body: TombstoneBody) -> list[str]:
    return withdraw_for_disposal(settings.catalog_url, body.case_number, by=body.disposed_by, when=body.disposed_at,
                                 dip_root=settings.dip_root, notifier=OutboxNotifier(settings.catalog_url))


@task(cache_policy=NO_CACHE)
def record_disposal(settings: Settings, body: TombstoneBody, signature: str) -> None:
    with session(settings.catalog_url) as s:
        documents = [d.document_id for d in s.exec(select(Document).where(Document.aip_id == body.aip_id)).all()]
        if documents:
            s.exec(delete(Page).where(Page.document_id.in_(documents)))  # type: ignore[attr-defined]
        s.exec(delete(Document).where(Document.aip_id == body.aip_id))  # type: ignore[arg-type]
        s.exec(delete(IndexQueueItem).where(IndexQueueItem.aip_id == body.aip_id))  # type: ignore[arg-type]
        case = s.get_one(Case, body.case_number)
        case.status = "disposed"
        appraisal = s.get_one(Appraisal, body.appraisal_id)
        appraisal.status = "executed"
        s.add_all([case, appraisal, Tombstone(aip_id=body.aip_id, case_number=body.case_number,
                                              archival_code=body.archival_code, appraisal_id=body.appraisal_id,
                                              disposed_at=body.disposed_at, body=body.canonical().decode("utf-8"),
                                              signature=signature)])
        record_event(s, "deaccession", agent=body.disposed_by, aip_id=body.aip_id, object_path=body.object_id,
                     when=body.disposed_at,
                     detail=f"{body.case_number} ({body.archival_code or 'no 档号'}) disposed of: {body.versions} versions, "
                            f"{body.files} files, {body.bytes} bytes; appraised by {body.appraised_by}, approved by "
                            f"{body.approved_by}; tombstone sha256 {hashlib.sha256(body.canonical()).hexdigest()}")
        s.commit()


@flow(name="dispose-case")
def dispose_case(settings: Settings, case_number: str, by: str) -> DisposalOutcome:
    """Dispose of ``case_number`` as its approved appraisal decided; ``by`` is the person doing it."""
    from archive.permissions import require_person

    with session(settings.catalog_url) as s:
        by = require_person(s, by, "retention.dispose", case_number)
    body, signature, resumed = write_tombstones(settings, case_number, by, today())
    removed = remove_content(settings, body.aip_id)
    withdrawn = withdraw_copies(settings, body)
    record_disposal(settings, body, signature)
    return DisposalOutcome(case_number=case_number, aip_id=body.aip_id, archival_code=body.archival_code,
                           disposed_at=body.disposed_at.isoformat(), index_documents_removed=removed,
                           withdrawn_requests=withdrawn,
                           tombstone=str(tombstone_dir(settings.storage_root) / f"{body.aip_id}.json"),
                           resumed=resumed)
