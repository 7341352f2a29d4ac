"""An archivist decides a held change (``archive.case_changes``): approve it into a new AIP
version, or refuse it.

    load the pending change -> checkout head -> apply_change + amend_bag (case.json, PREMIS
    event naming the archivist, rights, METS) -> sign -> commit (rebuilt on the new head when
    an ingest committed meanwhile) -> verify -> record version, catalog rows, event -> index

Both decisions enter the hash-chained log with the archivist as agent. Only a principal the
role matrix lets decide (``archive.permissions``, action ``change.decide``) decides (E509); an unknown change is E160, a decided one E167, and a 副卷
document is never made disclosable (E161, nothing written).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from archive.amend import amend_bag
from archive.permissions import authorize
from archive.bag import payload_digest
from archive.case_changes import apply_change, change_event
from archive.catalog import session
from archive.catalog.models import CaseChange, utcnow
from archive.catalog.record import queue_for_indexing, record_amended_version, record_event
from archive.package import read_case_record
from archive.records import aip_id_for, ocfl_id_for
from archive.signing import Signer, sign_bag
from archive.storage import StaleHead, Store
from archive.verify import verify_object
from config import Settings
from flows._runtime import fingerprint, open_signer, open_store, trusted_certificates
from flows._work import work_folder
from flows.indexing import index_aip
from schemas.errors import InputRejected, NotFound, VerificationFailed

SOFTWARE = "juanzong"
COMMIT_ATTEMPTS = 3


class ChangeView(BaseModel):
    """A held change as the archivist's queue shows it."""

    change_id: str
    case_number: str
    kind: str
    document_path: str
    old: object
    new: object
    batch_id: str
    station_id: str
    status: str
    decided_by: str | None = None
    reason: str = ""
    version: int | None = None

    @classmethod
    def of(cls, row: CaseChange) -> ChangeView:
        return cls(change_id=row.id, case_number=row.case_number, kind=row.kind, document_path=row.document_path,
                   old=(row.old or {}).get("value"), new=(row.new or {}).get("value"), batch_id=row.batch_id,
                   station_id=row.station_id, status=row.status, decided_by=row.decided_by, reason=row.reason,
                   version=row.version)


def list_changes(settings: Settings, status: str | None = "pending", case: str | None = None) -> list[ChangeView]:
    from sqlmodel import select

    query = select(CaseChange).order_by(CaseChange.created_at)
    query = query.where(CaseChange.status == status) if status else query
    query = query.where(CaseChange.case_number == case) if case else query
    with session(settings.catalog_url) as s:
        return [ChangeView.of(r) for r in s.exec(query).all()]


def pending_change(settings: Settings, change_id: str, archivist: str) -> ChangeView:
    """The change to decide, once the archivist is known to be one."""
    authorize(settings.catalog_url, archivist, "change.decide", change_id, code="E509")
    with session(settings.catalog_url) as s:
        row = s.get(CaseChange, change_id)
        if row is None:
            raise NotFound("E160", change_id[:100])
        if row.status != "pending":
            raise InputRejected("E167", change_id, found=row.status)
        return ChangeView.of(row)


def _amended_bag(store: Store, ocfl_id: str, base: int | None, dest: Path, signer: Signer,
                 change: ChangeView, archivist: str) -> Path:
    bag = store.checkout(ocfl_id, dest, version=base)
    when = datetime.now(timezone.utc)
    record = apply_change(read_case_record(bag), change.kind, change.document_path, change.new, (base or 0) + 1)

    def events_for(case_json, _added):
        return [change_event(change.change_id, change.kind, change.document_path, change.old, change.new,
                             archivist, when, case_json, SOFTWARE)]

    amend_bag(bag, record, added=[], events_for=events_for, archivist=archivist, when=when, software=SOFTWARE)
    sign_bag(bag, signer)
    return bag


def _commit_on_head(store: Store, ocfl_id: str, work: Path, signer: Signer, change: ChangeView,
                    archivist: str) -> tuple[int, Path]:
    """Commit the amended head unless an ingest moved the head meanwhile; then amend the new one."""
    attempt = 1
    while True:
        base = store.head(ocfl_id)
        bag = _amended_bag(store, ocfl_id, base, work / f"attempt-{attempt}", signer, change, archivist)
        try:
            return store.commit(ocfl_id, bag, message=f"change {change.kind} ({change.change_id})",
                                expected_head=base, agent=archivist), bag  # the OCFL user is the person
        except StaleHead:
            if attempt == COMMIT_ATTEMPTS:
                raise
            attempt += 1


def _decided(s, change: ChangeView, archivist: str, status: str, reason: str = "",
             version: int | None = None) -> CaseChange:
    row = s.get_one(CaseChange, change.change_id)
    row.status, row.decided_by, row.decided_at = status, archivist, utcnow()
    row.reason, row.version = reason, version
    s.add(row)
    return row


@task(cache_policy=NO_CACHE)
def commit_change(settings: Settings, change: ChangeView, archivist: str) -> int:
    store = open_store(settings)
    aip_id = aip_id_for(change.case_number)
    ocfl_id = ocfl_id_for(aip_id)
    signer = open_signer(settings)
    with work_folder(settings.work_root, f"change-{change.change_id}") as work:
        version, bag = _commit_on_head(store, ocfl_id, work, signer, change, archivist)
        findings = verify_object(store, ocfl_id, trusted_certificates(settings))
        if findings:
            raise VerificationFailed("E402", findings[0].path, expected=findings[0].expected,
                                     found=findings[0].actual)
        tagmanifest = hashlib.sha256((bag / "tagmanifest-sha256.txt").read_bytes()).hexdigest()
        with session(settings.catalog_url) as s:
            record_amended_version(s, read_case_record(bag), version, payload_digest=payload_digest(bag),
                                   tagmanifest_sha256=tagmanifest, certificate=fingerprint(signer.certificate()),
                                   message=f"change {change.change_id}")
            record_event(s, "metadata modification", agent=archivist, aip_id=aip_id,
                         detail=f"{change.kind} {change.document_path or change.case_number}: approved by "
                                f"{archivist} (change {change.change_id}, batch {change.batch_id}), v{version}")
            _decided(s, change, archivist, "approved", version=version)
            queue_for_indexing(s, aip_id, version)
            s.commit()
    index_aip(aip_id, settings, store)
    return version


@flow(name="approve-case-change")
def approve_change(settings: Settings, change_id: str, archivist: str) -> ChangeView:
    change = pending_change(settings, change_id, archivist)
    if change.kind == "owner":
        store = open_store(settings)
        if store.head(ocfl_id_for(aip_id_for(change.case_number))) is None:
            raise NotFound("E406", change.case_number)
    commit_change(settings, change, archivist)
    return list_one(settings, change_id)


def refuse_change(settings: Settings, change_id: str, archivist: str, reason: str) -> ChangeView:
    """Refuse a held change: the archived value stays; the refusal is logged with the archivist."""
    change = pending_change(settings, change_id, archivist)
    if not reason.strip():
        raise InputRejected("E516", change_id)
    with session(settings.catalog_url) as s:
        _decided(s, change, archivist, "refused", reason=reason.strip())
        record_event(s, "metadata modification", agent=archivist, outcome="failure",
                     aip_id=aip_id_for(change.case_number),
                     detail=f"{change.kind} {change.document_path or change.case_number}: refused by "
                            f"{archivist} (change {change_id}): {reason.strip()}")
        s.commit()
    return list_one(settings, change_id)


def list_one(settings: Settings, change_id: str) -> ChangeView:
    with session(settings.catalog_url) as s:
        row = s.get(CaseChange, change_id)
        if row is None:
            raise NotFound("E160", change_id[:100])
        return ChangeView.of(row)
